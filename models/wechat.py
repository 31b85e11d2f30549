"""WeChat followers of the official account, the template messages sent to them, and the
account's menu as staff saved it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSONType, Model, UTCDateTime, enum_type, utcnow


class WechatFollower(Model):
    __tablename__ = "wechat_followers"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscribed: Mapped[bool] = mapped_column(default=True)
    # Set when the follower arrived through a unit's QR code (scene ``unit:<code>``).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    last_scene: Mapped[str | None] = mapped_column(String(64))
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TemplateMessageStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"  # accepted by WeChat
    DELIVERED = "delivered"  # WeChat's TEMPLATESENDJOBFINISH said it reached the follower
    FAILED = "failed"
    SKIPPED = "skipped"  # the learner has no WeChat bound


class TemplateMessage(Model):
    __tablename__ = "template_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learners.id"), index=True)
    openid: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))
    # At most one message per key (for example one deadline reminder per learner and date).
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[TemplateMessageStatus] = mapped_column(
        enum_type(TemplateMessageStatus), default=TemplateMessageStatus.QUEUED
    )
    wechat_msgid: Mapped[str | None] = mapped_column(String(32), index=True)
    error: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReminderSubscription(Model):
    """A learner's consent, given on WeChat's 订阅通知 page, to one deadline notice for a plan
    they have not bought. WeChat lets one notice through per consent; ``used_at`` is set when
    that notice is queued, and a new consent may follow."""

    __tablename__ = "reminder_subscriptions"
    __table_args__ = (
        Index(
            "uq_reminder_subscriptions_open",
            "learner_id",
            "plan_id",
            unique=True,
            postgresql_where=text("used_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    openid: Mapped[str] = mapped_column(String(64))
    template_id: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WechatMenu(Model):
    """The official account's menu as staff saved it in the console: one row at most.
    ``buttons`` is None when staff went back to the default (``services/wechat/menu.toml``);
    ``revision`` grows with every save, so a form opened before another save is refused."""

    __tablename__ = "wechat_menus"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The buttons in the file's shape: name and path, key or sub_button.
    buttons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    revision: Mapped[int] = mapped_column(default=0)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
