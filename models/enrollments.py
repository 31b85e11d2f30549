"""An enrollment opens a plan to a learner: bought, bought for them, or granted after review."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.accounts import Learner
from models.base import Model, UTCDateTime, enum_type, utcnow
from models.catalog import Plan


class EnrollmentSource(enum.StrEnum):
    ORDER = "order"  # individual or group purchase
    MAKEUP_REVIEW = "makeup_review"  # free after an approved voucher or commitment letter


class EnrollmentStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # refunded; progress is kept should the plan be bought again

    @property
    def label(self) -> str:
        return "有效" if self is EnrollmentStatus.ACTIVE else "已退款撤销"


class Enrollment(Model):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("learner_id", "plan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    status: Mapped[EnrollmentStatus] = mapped_column(
        enum_type(EnrollmentStatus), default=EnrollmentStatus.ACTIVE
    )
    source: Mapped[EnrollmentSource] = mapped_column(enum_type(EnrollmentSource))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    makeup_application_id: Mapped[int | None] = mapped_column(ForeignKey("makeup_applications.id"))
    # 学时 of the finished courses; kept in step by the study ledger.
    earned_hours: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    learner: Mapped[Learner] = relationship()
    plan: Mapped[Plan] = relationship()
