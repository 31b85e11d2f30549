"""Certificates (合格证书): what was printed, as it was printed, and whether it still stands."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, UTCDateTime, enum_type, utcnow


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return "有效" if self is CertificateStatus.VALID else "已作废"


class Certificate(Model):
    __tablename__ = "certificates"
    __table_args__ = (
        Index(
            "uq_certificates_valid_per_plan",
            "learner_id",
            "plan_id",
            unique=True,
            postgresql_where=text("status = 'valid'"),
            sqlite_where=text("status = 'valid'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"))
    # A snapshot of what the certificate prints.
    holder_name: Mapped[str] = mapped_column(String(50))
    holder_id_number: Mapped[str] = mapped_column(String(18))
    unit_name: Mapped[str] = mapped_column(String(100))
    plan_title: Mapped[str] = mapped_column(String(120))
    year: Mapped[int]
    hours: Mapped[int]
    status: Mapped[CertificateStatus] = mapped_column(
        enum_type(CertificateStatus), default=CertificateStatus.VALID
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str] = mapped_column(String(200), default="")
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    png_path: Mapped[str | None] = mapped_column(String(500))
    pdf_path: Mapped[str | None] = mapped_column(String(500))
