"""Platform staff (人服中心), unit admins, and the audit log of what they change."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import JSONType, Model, UTCDateTime, enum_type, utcnow
from models.org import Unit


class StaffRole(enum.StrEnum):
    ADMIN = "admin"  # everything, including staff accounts
    STAFF = "staff"  # rosters, reviews, invoices, content
    FINANCE = "finance"  # orders, refunds, reconciliation, invoices
    UNIT_ADMIN = "unit_admin"  # read-only figures of their own unit

    @property
    def label(self) -> str:
        return {
            StaffRole.ADMIN: "管理员",
            StaffRole.STAFF: "工作人员",
            StaffRole.FINANCE: "财务",
            StaffRole.UNIT_ADMIN: "单位管理员",
        }[self]


class StaffUser(Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[StaffRole] = mapped_column(enum_type(StaffRole))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    unit: Mapped[Unit | None] = relationship()

    def __repr__(self) -> str:
        return f"<StaffUser {self.username}>"


class AuditLog(Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    # Commands run from a shell have no staff member; they name themselves here.
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    staff: Mapped[StaffUser | None] = relationship()
