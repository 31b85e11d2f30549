"""Invoices (电子发票) asked for paid orders, issued by staff or a provider, changed once at most."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.accounts import Learner
from models.base import Model, UTCDateTime, enum_type, utcnow
from models.orders import Order


class InvoiceTitleType(enum.StrEnum):
    PERSONAL = "personal"
    UNIT = "unit"

    @property
    def label(self) -> str:
        return "个人" if self is InvoiceTitleType.PERSONAL else "单位"


class InvoiceStatus(enum.StrEnum):
    REQUESTED = "requested"
    ISSUED = "issued"
    REVERSING = "reversing"  # 红冲 asked of the provider, not yet confirmed
    REVERSED = "reversed"  # 红冲
    CANCELLED = "cancelled"  # withdrawn before issue

    @property
    def label(self) -> str:
        return {
            InvoiceStatus.REQUESTED: "开票中",
            InvoiceStatus.ISSUED: "已开票",
            InvoiceStatus.REVERSING: "红冲中",
            InvoiceStatus.REVERSED: "已红冲",
            InvoiceStatus.CANCELLED: "已撤销",
        }[self]


class ReissueReason(enum.StrEnum):
    CHANGE = "change"  # the learner changed the title (once)
    REFUND = "refund"  # part of the order was refunded; the rest is invoiced again

    @property
    def label(self) -> str:
        return "修改重开" if self is ReissueReason.CHANGE else "退款后重开"


class RedConfirmStatus(enum.StrEnum):
    """The 红字确认单 of a 数电 reversal: a unit that booked the invoice must confirm it."""

    AWAITING_BUYER = "awaiting_buyer"  # 待购方确认
    CONFIRMED = "confirmed"  # 购方已确认: the red-letter invoice follows
    DECLINED = "declined"  # 购方已拒绝: the invoice stands; staff settle it with the unit
    LAPSED = "lapsed"  # 超时未确认 (72 hours): the same

    @property
    def label(self) -> str:
        return {
            RedConfirmStatus.AWAITING_BUYER: "红字确认单待购方确认",
            RedConfirmStatus.CONFIRMED: "购方已确认红字确认单",
            RedConfirmStatus.DECLINED: "购方拒绝红字确认单",
            RedConfirmStatus.LAPSED: "红字确认单超时未确认",
        }[self]


class Invoice(Model):
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
        enum_type(InvoiceStatus), default=InvoiceStatus.REQUESTED, index=True
    )
    # Who issues it: "staff" (the tax system by hand) or an API provider's name.
    provider: Mapped[str] = mapped_column(String(20), default="staff", server_default="staff")
    invoice_number: Mapped[str | None] = mapped_column(String(40))
    pdf_path: Mapped[str | None] = mapped_column(String(500))
    # The invoice this one reissues after a reversal; a reissue cannot be changed again.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    reissue_reason: Mapped[ReissueReason | None] = mapped_column(enum_type(ReissueReason))
    issued_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversal_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The red-letter invoice (红字发票) that cancels this one.
    red_invoice_number: Mapped[str | None] = mapped_column(String(40))
    reverse_reason: Mapped[str] = mapped_column(String(200), default="")
    # WeChat Pay's fapiao API: our application number (发票申请单号), its state there, the
    # 红字确认单 of a unit title's reversal, and whether it reached the learner's card wallet.
    fapiao_apply_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    fapiao_status: Mapped[str | None] = mapped_column(String(30))
    red_confirm_status: Mapped[RedConfirmStatus | None] = mapped_column(enum_type(RedConfirmStatus))
    red_confirm_number: Mapped[str | None] = mapped_column(String(40))
    card_status: Mapped[str | None] = mapped_column(String(20))
    provider_error: Mapped[str] = mapped_column(String(300), default="", server_default="")

    order: Mapped[Order] = relationship()
    learner: Mapped[Learner] = relationship()
