"""Rosters (附件2) that units email and staff import."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, UTCDateTime, enum_type, utcnow


class RosterImportStatus(enum.StrEnum):
    PREVIEWED = "previewed"  # checked, nothing written yet
    IMPORTED = "imported"

    @property
    def label(self) -> str:
        return "待确认" if self is RosterImportStatus.PREVIEWED else "已导入"


class RosterImport(Model):
    __tablename__ = "roster_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    # Where the upload is kept between preview and confirmation.
    stored_path: Mapped[str | None] = mapped_column(String(500))
    district_name: Mapped[str | None] = mapped_column(String(40))
    contact_name: Mapped[str | None] = mapped_column(String(50))
    unit_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    status: Mapped[RosterImportStatus] = mapped_column(enum_type(RosterImportStatus))
    total_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    existing_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    error_report_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
