"""The provincial registry outbox: one record per completed plan or withdrawn credit, keyed by
the certificate's number, and what became of it at the registry."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSONType, Model, UTCDateTime, enum_type, utcnow


class RegistryKind(enum.StrEnum):
    COMPLETION = "completion"  # 学时登记: the plan was completed, its certificate issued
    WITHDRAWAL = "withdrawal"  # 学时撤销: the credit was taken away

    @property
    def label(self) -> str:
        return "学时登记" if self is RegistryKind.COMPLETION else "学时撤销"


class RegistryAdapter(enum.StrEnum):
    EXCEL = "excel"  # staff download a batch file and upload it to the registry
    HTTPS = "https"  # signed JSON to the registry's endpoint

    @property
    def label(self) -> str:
        return "Excel批量上报" if self is RegistryAdapter.EXCEL else "接口上报"


class RegistryStatus(enum.StrEnum):
    PENDING = "pending"  # waits to be sent (or put in a batch file)
    EXPORTED = "exported"  # in a batch file staff downloaded, not yet confirmed uploaded
    ACCEPTED = "accepted"  # the registry took it
    RETRYING = "retrying"  # the last send failed; sent again when due
    REJECTED = "rejected"  # the registry refused its content: staff look at it
    FAILED = "failed"  # every retry failed

    @property
    def label(self) -> str:
        return {
            RegistryStatus.PENDING: "待上报",
            RegistryStatus.EXPORTED: "已导出待确认",
            RegistryStatus.ACCEPTED: "已上报",
            RegistryStatus.RETRYING: "重试中",
            RegistryStatus.REJECTED: "被退回",
            RegistryStatus.FAILED: "上报失败",
        }[self]


class RegistryRecord(Model):
    __tablename__ = "registry_records"
    __table_args__ = (
        UniqueConstraint("kind", "certificate_number", name="uq_registry_records_kind_number"),
        Index("ix_registry_records_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RegistryKind] = mapped_column(enum_type(RegistryKind))
    certificate_number: Mapped[str] = mapped_column(String(32), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    adapter: Mapped[RegistryAdapter] = mapped_column(enum_type(RegistryAdapter))
    # What the registry receives, fixed when the record is made.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[RegistryStatus] = mapped_column(
        enum_type(RegistryStatus), default=RegistryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(String(300), default="")
    # The registry's receipt for an accepted record, or the batch file it went out in.
    receipt: Mapped[str | None] = mapped_column(String(64))
    batch_number: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
