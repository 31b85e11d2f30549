"""Make-up study (补学) applications: a payment voucher or a commitment letter, reviewed by staff."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.accounts import Learner
from models.base import Model, UTCDateTime, enum_type, utcnow
from models.catalog import Plan


class MakeupKind(enum.StrEnum):
    VOUCHER = "voucher"  # 缴费凭证
    COMMITMENT = "commitment"  # 缴费承诺书

    @property
    def label(self) -> str:
        return "缴费凭证" if self is MakeupKind.VOUCHER else "缴费承诺书"


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {
            ReviewStatus.PENDING: "待审核",
            ReviewStatus.APPROVED: "已通过",
            ReviewStatus.REJECTED: "未通过",
        }[self]


class MakeupApplication(Model):
    __tablename__ = "makeup_applications"
    __table_args__ = (
        Index(
            "uq_makeup_open_per_year",
            "learner_id",
            "year",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    year: Mapped[int]
    kind: Mapped[MakeupKind] = mapped_column(enum_type(MakeupKind))
    # Voucher fields (缴费凭证表).
    order_no: Mapped[str] = mapped_column(String(64), default="")
    payer: Mapped[str] = mapped_column(String(50), default="")
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    platform: Mapped[str] = mapped_column(String(60), default="")
    screenshot_path: Mapped[str | None] = mapped_column(String(500))
    # The screenshot (it may show an ID card) deleted after its retention period.
    screenshot_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Commitment-letter fields (缴费承诺书).
    reason: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(String(50), default="")
    status: Mapped[ReviewStatus] = mapped_column(
        enum_type(ReviewStatus), default=ReviewStatus.PENDING, index=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reject_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    learner: Mapped[Learner] = relationship()
    plan: Mapped[Plan] = relationship()
