"""A learner's rights over their personal data (PIPL): the consents they gave, and their
requests to have the account deleted."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.accounts import Learner
from models.base import Model, UTCDateTime, enum_type, utcnow
from models.staff import StaffUser


class PrivacyConsent(Model):
    """The learner agreed to the privacy notice of ``notice_version`` (separate consent to
    processing the ID number and phone), at registration or at a roster account's first
    login."""

    __tablename__ = "privacy_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    notice_version: Mapped[str] = mapped_column(String(20))
    occasion: Mapped[str] = mapped_column(String(20))  # register | first_login
    ip: Mapped[str | None] = mapped_column(String(45))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeletionStatus(enum.StrEnum):
    REQUESTED = "requested"
    COMPLETED = "completed"  # the account's personal data is erased
    DECLINED = "declined"

    @property
    def label(self) -> str:
        return {
            DeletionStatus.REQUESTED: "待处理",
            DeletionStatus.COMPLETED: "已删除",
            DeletionStatus.DECLINED: "未删除",
        }[self]


class DeletionRequest(Model):
    __tablename__ = "deletion_requests"
    __table_args__ = (
        Index(
            "uq_deletion_requests_open",
            "learner_id",
            unique=True,
            postgresql_where=text("status = 'requested'"),
            sqlite_where=text("status = 'requested'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[DeletionStatus] = mapped_column(
        enum_type(DeletionStatus), default=DeletionStatus.REQUESTED, index=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # Why it was declined, or what was kept, as the learner is told.
    note: Mapped[str] = mapped_column(String(200), default="")

    learner: Mapped[Learner] = relationship()
    staff: Mapped[StaffUser | None] = relationship()
