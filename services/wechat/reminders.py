"""Deadline reminders: the year's training closes on its plan's deadline (31 December in
Chongqing); learners who bought the plan and have not finished get a template message. At most
one per learner per reminder round (the round is the day it runs).

Only buyers: a template message to someone who has not bought would be marketing, which
WeChat forbids in template messages. Those who have not bought get a 订阅通知 instead, once,
when they asked for it (``subscriptions``). The messages are sent paced, within
``WECHAT_REMINDER_DAILY_QUOTA`` a day and stopping when WeChat answers 45009; what is left is
sent by the next day's ``resume_reminders`` (``tasks.send_queued_messages``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, or_, select

from infra.extensions import db
from infra.jobs import enqueue
from infra.transaction import after_commit
from models.accounts import Learner, WechatBinding
from models.base import utcnow
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentStatus
from models.wechat import ReminderSubscription, TemplateMessage, TemplateMessageStatus
from services.errors import NotFound
from services.wechat import notify, subscriptions, tasks


@dataclass(frozen=True)
class ReminderTarget:
    learner_id: int
    # None: has not bought, and asked for the deadline's 订阅通知 (``subscriptions``).
    earned_hours: int | None


def current_plan(year: int) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.year == year, Plan.kind == PlanKind.CURRENT))
    if plan is None:
        raise NotFound(f"{year}年度没有公需科目学习计划。")
    return plan


def reminder_targets(plan: Plan, *, batch_size: int = 1000) -> Iterator[list[ReminderTarget]]:
    """Learners with WeChat bound who bought the plan and have not finished it, and those who
    have not bought it but asked for its 订阅通知, in batches by id."""
    enrollment = and_(
        Enrollment.learner_id == Learner.id,
        Enrollment.plan_id == plan.id,
        Enrollment.status == EnrollmentStatus.ACTIVE,
    )
    consent = and_(
        ReminderSubscription.learner_id == Learner.id,
        ReminderSubscription.plan_id == plan.id,
        ReminderSubscription.used_at.is_(None),
    )
    statement = (
        select(Learner.id, Enrollment.earned_hours, Enrollment.id)
        .join(WechatBinding, WechatBinding.learner_id == Learner.id)
        .outerjoin(Enrollment, enrollment)
        .outerjoin(ReminderSubscription, consent)
        .where(
            or_(
                and_(Enrollment.id.is_not(None), Enrollment.completed_at.is_(None)),
                and_(Enrollment.id.is_(None), ReminderSubscription.id.is_not(None)),
            )
        )
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
    """Queue one reminder per target for today's round; returns how many were new. They are
    sent after commit, paced under the day's quota."""
    queued = 0
    still_waiting = set(
        db.session.scalars(
            select(TemplateMessage.learner_id).where(
                TemplateMessage.kind == notify.MessageKind.DEADLINE_REMINDER.value,
                TemplateMessage.status == TemplateMessageStatus.QUEUED,
                TemplateMessage.learner_id.in_([target.learner_id for target in targets]),
            )
        )
    )
    for target in targets:
        if target.learner_id in still_waiting:
            continue  # an earlier round's reminder still waits for the quota: not two
        if target.earned_hours is None:
            queued += _queue_subscribed_notice(plan, target.learner_id)
            continue
        progress = f"已获{target.earned_hours}/{plan.required_hours}学时，请尽快完成"
        message = notify.deadline_reminder(
            learner_id=target.learner_id,
            plan_title=plan.title,
            deadline_text=plan.study_ends_at,
            progress_text=progress,
            path="/h5/study",
            round_key=f"{plan.id}:{today.isoformat()}",
        )
        queued += message is not None
    if queued:
        after_commit(enqueue, tasks.send_queued_messages, today.isoformat())
    return queued


def _queue_subscribed_notice(plan: Plan, learner_id: int) -> bool:
    """The 订阅通知 of a learner who has not bought: only with a consent, which it uses."""
    consent = subscriptions.open_subscription(learner_id, plan.id)
    if consent is None:
        return False  # no template message to those who have not bought (see above)
    consent.used_at = utcnow()
    message = notify.deadline_subscription(
        learner_id=learner_id,
        subscription_id=consent.id,
        plan_title=plan.title,
        deadline=plan.study_ends_at,
        path=f"/h5/plans/{plan.id}",
    )
    db.session.flush()
    return message is not None


def resume_reminders(*, today: date) -> None:
    """Send, after commit, the reminders an earlier day's quota held back (run daily)."""
    after_commit(enqueue, tasks.send_queued_messages, today.isoformat())


def waiting_reminders() -> int:
    """Reminders queued and not yet sent (held back by the daily quota)."""
    return (
        db.session.scalar(
            select(func.count(TemplateMessage.id)).where(
                TemplateMessage.kind.in_(tasks.PACED_KINDS),
                TemplateMessage.status == TemplateMessageStatus.QUEUED,
            )
        )
        or 0
    )
