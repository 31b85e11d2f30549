"""Deadline reminders: the year's training closes on its plan's deadline (31 December in
Chongqing); learners who have not finished, and those registered who have not bought, get a
template message. At most one per learner per reminder round (the round is the day it runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, select

from infra.extensions import db
from models.accounts import Learner, WechatBinding
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentStatus
from services.display import local_date
from services.errors import NotFound
from services.wechat import notify


@dataclass(frozen=True)
class ReminderTarget:
    learner_id: int
    earned_hours: int | None  # None: registered but has not bought the plan


def current_plan(year: int) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.year == year, Plan.kind == PlanKind.CURRENT))
    if plan is None:
        raise NotFound(f"{year}年度没有公需科目学习计划。")
    return plan


def reminder_targets(plan: Plan, *, batch_size: int = 1000) -> Iterator[list[ReminderTarget]]:
    """Learners with WeChat bound who have not finished the plan, in batches by id."""
    enrollment = and_(
        Enrollment.learner_id == Learner.id,
        Enrollment.plan_id == plan.id,
        Enrollment.status == EnrollmentStatus.ACTIVE,
    )
    statement = (
        select(Learner.id, Enrollment.earned_hours, Enrollment.id)
        .join(WechatBinding, WechatBinding.learner_id == Learner.id)
        .outerjoin(Enrollment, enrollment)
        .where(Enrollment.completed_at.is_(None))
        .order_by(Learner.id)
    )
    last_id = 0
    while True:
        rows = db.session.execute(statement.where(Learner.id > last_id).limit(batch_size)).all()
        if not rows:
            return
        last_id = rows[-1][0]
        yield [
            ReminderTarget(learner_id, earned if enrollment_id is not None else None)
            for learner_id, earned, enrollment_id in rows
        ]


def queue_reminders(plan: Plan, targets: list[ReminderTarget], *, today: date) -> int:
    """Queue one reminder per target for today's round; returns how many were new."""
    deadline = local_date(plan.study_ends_at)
    queued = 0
    for target in targets:
        if target.earned_hours is None:
            progress, path = "您尚未购买本年度学习计划", "/h5/plans"
        else:
            progress, path = (
                f"已获{target.earned_hours}/{plan.required_hours}学时，请尽快完成",
                "/h5/study",
            )
        message = notify.deadline_reminder(
            learner_id=target.learner_id,
            plan_title=plan.title,
            deadline_text=deadline,
            progress_text=progress,
            path=path,
            round_key=f"{plan.id}:{today.isoformat()}",
        )
        queued += message is not None
    return queued
