"""Invoices (电子发票) asked for paid orders, issued by staff or a provider, changed once at most."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, enum_type, utcnow
from wxapp.extensions import db


class InvoiceTitleType(enum.StrEnum):
    PERSONAL = "personal"
    UNIT = "unit"


class InvoiceStatus(enum.StrEnum):
    REQUESTED = "requested"
    ISSUED = "issued"
    REVERSED = "reversed"  # 红冲
    CANCELLED = "cancelled"  # withdrawn before issue


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        Index(
            "uq_invoices_live_per_order",
            "order_id",
            unique=True,
            postgresql_where=text("status IN ('requested', 'issued')"),
            sqlite_where=text("status IN ('requested', 'issued')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    title_type: Mapped[InvoiceTitleType] = mapped_column(enum_type(InvoiceTitleType))
    title: Mapped[str] = mapped_column(String(100))
    tax_code: Mapped[str | None] = mapped_column(String(18))
    email: Mapped[str] = mapped_column(String(120))
    amount_fen: Mapped[int]
    status: Mapped[InvoiceStatus] = mapped_column(
        enum_type(InvoiceStatus), default=InvoiceStatus.REQUESTED
    )
    invoice_number: Mapped[str | None] = mapped_column(String(40))
    pdf_path: Mapped[str | None] = mapped_column(String(500))
    # The invoice this one reissues after a reversal; a reissue cannot be changed again.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    issued_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reverse_reason: Mapped[str] = mapped_column(String(200), default="")
