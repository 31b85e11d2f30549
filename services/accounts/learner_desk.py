"""What the help desk does for one learner: reset the password to the initial one, change the
phone, unbind WeChat, and read the chapter study records a dispute starts from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from infra.extensions import db
from infra.transaction import after_commit
from models.accounts import Learner, WechatBinding
from models.base import utcnow
from models.catalog import Chapter, Course
from models.study import ChapterProgress
from services.accounts import sessions
from services.accounts.identity import parse_mobile
from services.audit import Actor, record_action
from services.display import mask_phone
from services.errors import Conflict, NotFound, ValidationError


def _learner(learner_id: int, unit_id: int | None) -> Learner:
    learner = db.session.get(Learner, learner_id)
    if learner is None or (unit_id is not None and learner.unit_id != unit_id):
        raise NotFound("学员不存在。")
    if learner.erased_at is not None:
        raise Conflict("该学员已按本人申请删除个人信息，不能再修改。")
    return learner


def record_login(learner: Learner) -> None:
    """Every way in (password, WeChat, 扫码登录, a text-message code) records the moment."""
    learner.last_login_at = utcnow()
    db.session.flush()


def reset_to_initial_password(
    learner_id: int, *, actor: Actor, unit_id: int | None = None
) -> Learner:
    """Back to the initial password (the ID number's last 6 characters), to be changed at the
    next login; every open login of the account ends."""
    learner = _learner(learner_id, unit_id)
    learner.password_hash = None
    learner.must_change_password = True
    db.session.flush()
    record_action(
        actor,
        action="learner.reset_password",
        target_type="learner",
        target_id=learner.id,
        after={"must_change_password": True},
    )
    after_commit(sessions.close_all_logins, sessions.LEARNER, learner.id)
    return learner


def change_phone(
    learner_id: int, raw_phone: str, *, actor: Actor, unit_id: int | None = None
) -> Learner:
    learner = _learner(learner_id, unit_id)
    phone = parse_mobile(raw_phone)
    if phone == learner.phone:
        raise ValidationError("phone", "新手机号码与原号码相同。")
    taken = db.session.scalar(select(Learner.id).where(Learner.phone == phone))
    if taken is not None:
        raise ValidationError("phone", "该手机号码已被其他账号使用。")
    before = mask_phone(learner.phone)
    learner.phone = phone
    db.session.flush()
    record_action(
        actor,
        action="learner.change_phone",
        target_type="learner",
        target_id=learner.id,
        before={"phone": before},
        after={"phone": mask_phone(phone)},
    )
    return learner


def unbind_wechat(learner_id: int, *, actor: Actor, unit_id: int | None = None) -> Learner:
    """The account no longer opens from that WeChat; the learner binds again at the next login."""
    learner = _learner(learner_id, unit_id)
    binding = db.session.scalar(select(WechatBinding).where(WechatBinding.learner_id == learner.id))
    if binding is None:
        raise Conflict("该学员未绑定微信。")
    db.session.delete(binding)
    db.session.flush()
    db.session.expire(learner, ["binding"])
    record_action(
        actor,
        action="learner.unbind_wechat",
        target_type="learner",
        target_id=learner.id,
        before={"wechat": "已绑定"},
        after={"wechat": "未绑定"},
    )
    after_commit(sessions.close_all_logins, sessions.LEARNER, learner.id)
    return learner


@dataclass(frozen=True)
class ChapterRecord:
    course_title: str
    chapter_title: str
    duration_seconds: int
    covered_seconds: int
    credited_seconds: int
    last_position: int
    finished_at: datetime | None
    updated_at: datetime

    @property
    def covered_percent(self) -> int:
        if self.duration_seconds <= 0:
            return 100 if self.finished_at else 0
        return min(100, self.covered_seconds * 100 // self.duration_seconds)


def chapter_records(learner_id: int) -> list[ChapterRecord]:
    """Each chapter the learner has played, by course and chapter order (one query)."""
    rows = db.session.execute(
        select(ChapterProgress, Chapter)
        .join(Chapter, Chapter.id == ChapterProgress.chapter_id)
        .join(Course, Course.id == Chapter.course_id)
        .options(joinedload(Chapter.course))
        .where(ChapterProgress.learner_id == learner_id)
        .order_by(Course.sort_order, Course.id, Chapter.sort_order, Chapter.id)
    )
    return [
        ChapterRecord(
            course_title=chapter.course.title,
            chapter_title=chapter.title,
            duration_seconds=chapter.duration_seconds,
            covered_seconds=progress.covered_seconds,
            credited_seconds=progress.credited_seconds,
            last_position=progress.last_position,
            finished_at=progress.finished_at,
            updated_at=progress.updated_at,
        )
        for progress, chapter in rows
    ]
