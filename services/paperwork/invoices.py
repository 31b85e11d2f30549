"""Invoices (电子发票): asked for at ordering or later, for the buyer's own orders.

Personal invoices carry the learner's name; unit invoices carry the unit's name and its
unified social credit code (GB 32100). A group order gets one unit invoice.

The rules of the platform's manual, with dates in Asia/Shanghai:
- an invoice is asked for within the calendar year of payment (不能跨年补开发票);
- an issued invoice may be changed once, within 15 days of issue and never across a year
  end (申请开票成功15日内可修改发票1次，跨年不可修改): the old one is reversed (红冲) and a
  new one issued;
- a refunded order's invoice is reversed; after a partial refund the rest is invoiced again.

Issuing goes through a provider (``INVOICE_PROVIDER``). ``StaffDesk`` (``staff``, the
default and the fallback): the console lists what waits, staff issue each invoice in the tax
system and upload its PDF and number (``record_issued``), and confirm each reversal with the
red-letter invoice's number (``record_reversed``). ``wechatpay`` (``services/paperwork/
fapiao.py``) issues 数电 invoices through WeChat Pay's fapiao API: its ``submit`` and
``reverse`` queue jobs after commit, and its callbacks end in the same two functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from infra.extensions import db
from infra.transaction import after_commit
from models.accounts import Learner
from models.base import utcnow
from models.invoices import Invoice, InvoiceStatus, InvoiceTitleType, ReissueReason
from models.orders import Order, OrderKind, OrderStatus
from services import stored_files
from services.accounts.identity import (
    clean_text,
    normalise_code,
    parse_credit_code,
    parse_id_number,
)
from services.audit import Actor, record_action
from services.display import LOCAL_TZ
from services.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    StopValidation,
    ValidationError,
)
from services.rows import get_row
from services.wechat import notify

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# Full-digital invoices (全电发票) have 20 digits; paper-era numbers 8 (with a 10-12 digit code).
_INVOICE_NUMBER = re.compile(r"^[0-9A-Za-z-]{8,40}$")
CHANGE_WINDOW = timedelta(days=15)
PDF_LIMIT = 10 * 1024 * 1024

LIVE = (InvoiceStatus.REQUESTED, InvoiceStatus.ISSUED)
PAID_STATES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class InvoiceRequest:
    title_type: str  # "personal" | "unit"
    email: str
    title: str = ""  # the unit's name; a personal invoice takes the learner's name
    tax_code: str = ""


def local_year(moment: datetime) -> int:
    return moment.astimezone(LOCAL_TZ).year


# --- providers ------------------------------------------------------------------------------


class InvoiceProvider(Protocol):
    """Who turns an application into an invoice of the tax system."""

    name: str

    def submit(self, invoice_id: int) -> None:
        """Called after commit for every new application."""

    def reverse(self, invoice_id: int) -> None:
        """Called after commit for every issued invoice to be reversed (红冲)."""


class StaffDesk:
    """Staff issue and reverse invoices by hand; the console's lists are the work queue."""

    name = "staff"

    def submit(self, invoice_id: int) -> None:
        return None

    def reverse(self, invoice_id: int) -> None:
        return None


PROVIDERS: dict[str, type] = {"staff": StaffDesk}


def get_provider() -> InvoiceProvider:
    name = current_app.config.get("INVOICE_PROVIDER", "staff")
    if name == "wechatpay" and name not in PROVIDERS:
        from services.paperwork.fapiao import WechatPayFapiao

        PROVIDERS[name] = WechatPayFapiao
    return PROVIDERS[name]()


def _hand_over(invoice: Invoice, action: str) -> None:
    provider = get_provider()
    invoice.provider = provider.name
    after_commit(getattr(provider, action), invoice.id)


# --- asking -----------------------------------------------------------------------------------


def title_types_for(order: Order) -> list[InvoiceTitleType]:
    """The titles an order's invoice may carry: a group order gets one unit invoice."""
    if order.kind is OrderKind.GROUP:
        return [InvoiceTitleType.UNIT]
    return [InvoiceTitleType.PERSONAL, InvoiceTitleType.UNIT]


def _parse_request(
    request: InvoiceRequest, learner: Learner, order: Order
) -> tuple[InvoiceTitleType, str, str | None, str]:
    errors: list[ValidationError] = []
    try:
        title_type = InvoiceTitleType(request.title_type)
    except ValueError:
        raise ValidationError("title_type", "请选择发票抬头类型（个人或单位）。") from None
    if title_type not in title_types_for(order):
        errors.append(ValidationError("title_type", "团体购买订单只能开具单位发票。"))
    title, tax_code = learner.name, None
    if title_type is InvoiceTitleType.UNIT:
        title = clean_text(request.title)
        if not title:
            errors.append(ValidationError("title", "请填写单位名称（发票抬头）。"))
        elif len(title) > 100:
            errors.append(ValidationError("title", "单位名称不能超过100个字。"))
        try:
            tax_code = _parse_unit_tax_code(request.tax_code)
        except ValidationError as error:
            errors.append(error)
    email = normalise_code(request.email)
    if not _EMAIL.match(email) or len(email) > 120:
        errors.append(ValidationError("email", "请填写正确的电子邮箱，用于接收电子发票。"))
    if errors:
        raise StopValidation(errors)
    return title_type, title, tax_code, email


def _parse_unit_tax_code(raw: str) -> str:
    """A unit's tax code is its unified social credit code, never a person's ID number."""
    try:
        parse_id_number(raw)
    except ValidationError:
        return parse_credit_code(raw)
    raise ValidationError(
        "tax_code", "这是身份证号码。单位发票请填写单位的统一社会信用代码（营业执照上的18位代码）。"
    )


def _owned_order(order_id: int, learner_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("订单不存在。")
    if order.buyer_id != learner_id:
        raise PermissionDenied("只能为自己的订单申请发票。")
    return order


def live_invoice(order_id: int) -> Invoice | None:
    return db.session.scalar(
        select(Invoice).where(Invoice.order_id == order_id, Invoice.status.in_(LIVE))
    )


def application_refusal(order: Order, now: datetime) -> str | None:
    """Why an invoice cannot be asked for this order now, or ``None`` when it can."""
    if order.status not in (OrderStatus.PENDING, *PAID_STATES):
        return "该订单已关闭或已退款，不能申请发票。"
    if order.paid_at is not None and local_year(now) != local_year(order.paid_at):
        return f"不能跨年补开发票：该订单于{local_year(order.paid_at)}年缴费，只能在当年申请发票。"
    if order.amount_fen - order.refunded_fen <= 0:
        return "该订单没有可开票的金额。"
    return None


def request_invoice(
    *, order_id: int, learner_id: int, request: InvoiceRequest, now: datetime | None = None
) -> Invoice:
    """Ask for the invoice of an order (立即申请 at ordering, or later from 我的发票)."""
    now = now or utcnow()
    order = _owned_order(order_id, learner_id)
    refusal = application_refusal(order, now)
    if refusal:
        raise Conflict(refusal)
    if live_invoice(order.id) is not None:
        raise Conflict("该订单已申请发票，请在“我的发票”中查看。")
    learner = get_row(Learner, learner_id, "学员不存在。")
    title_type, title, tax_code, email = _parse_request(request, learner, order)
    invoice = Invoice(
        order_id=order.id,
        learner_id=learner_id,
        title_type=title_type,
        title=title,
        tax_code=tax_code,
        email=email,
        amount_fen=order.amount_fen - order.refunded_fen,
        created_at=now,
    )
    return _submit(invoice)


# --- changing once ------------------------------------------------------------------------------


def _was_changed(invoice: Invoice) -> bool:
    """True when this invoice, or one it reissues, came from a change already."""
    current: Invoice | None = invoice
    while current is not None:
        if current.reissue_reason is ReissueReason.CHANGE:
            return True
        current = db.session.get(Invoice, current.replaces_id) if current.replaces_id else None
    return False


def change_deadline(invoice: Invoice) -> datetime | None:
    """The last moment the invoice may be changed: 15 days after issue, within its year."""
    if invoice.issued_at is None:
        return None
    year_end = datetime(local_year(invoice.issued_at) + 1, 1, 1, tzinfo=LOCAL_TZ)
    return min(invoice.issued_at + CHANGE_WINDOW, year_end - timedelta(microseconds=1))


def change_refusal(invoice: Invoice, now: datetime | None = None) -> str | None:
    """Why this invoice cannot be changed now, or ``None`` when it can."""
    now = now or utcnow()
    issued_at = invoice.issued_at
    if invoice.status is not InvoiceStatus.ISSUED or issued_at is None:
        return "只有已开具的发票可以修改。"
    if _was_changed(invoice):
        return "每张发票只能修改1次，该发票已修改过。"
    if local_year(now) != local_year(issued_at):
        return "发票不能跨年修改。"
    if now > issued_at + CHANGE_WINDOW:
        return "已超过开票后15日的修改期限，不能再修改。"
    return None


def change_invoice(
    invoice_id: int, learner_id: int, request: InvoiceRequest, *, now: datetime | None = None
) -> Invoice:
    """修改发票: reverse the issued invoice (红冲) and ask for a new one with the new title."""
    now = now or utcnow()
    old = owned_invoice(invoice_id, learner_id)
    refusal = change_refusal(old, now)
    if refusal:
        raise Conflict(refusal)
    order = old.order
    if order.status not in PAID_STATES:
        raise Conflict("该订单已退款，发票已作废。")
    learner = get_row(Learner, learner_id, "学员不存在。")
    title_type, title, tax_code, email = _parse_request(request, learner, order)
    _start_reversal(old, now, "学员修改发票信息")
    new = Invoice(
        order_id=old.order_id,
        learner_id=old.learner_id,
        title_type=title_type,
        title=title,
        tax_code=tax_code,
        email=email,
        amount_fen=old.amount_fen,
        replaces_id=old.id,
        reissue_reason=ReissueReason.CHANGE,
        created_at=now,
    )
    return _submit(new)


def _submit(invoice: Invoice) -> Invoice:
    """Record a new application and hand it to the issuing provider."""
    db.session.add(invoice)
    db.session.flush()
    _hand_over(invoice, "submit")
    return invoice


def _start_reversal(invoice: Invoice, now: datetime, reason: str) -> None:
    invoice.status = InvoiceStatus.REVERSING
    invoice.reversal_requested_at = now
    invoice.reverse_reason = reason
    db.session.flush()
    _hand_over(invoice, "reverse")


# --- refunds ------------------------------------------------------------------------------------


def withdraw_for_closed_order(order_id: int) -> None:
    """An unpaid order was closed: an invoice asked for at ordering will never be issued."""
    invoice = live_invoice(order_id)
    if invoice is not None and invoice.status is InvoiceStatus.REQUESTED:
        invoice.status = InvoiceStatus.CANCELLED
        invoice.reverse_reason = "订单未支付，已关闭"
        db.session.flush()


def reverse_for_refund(order_id: int, *, now: datetime | None = None) -> Invoice | None:
    """For the refund flow, after the order's refunded amount is recorded: the live invoice is
    withdrawn (not yet issued) or reversed (issued); what is still paid is invoiced again with
    the same title. Returns the new application, if any. Safe to call more than once."""
    now = now or utcnow()
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("订单不存在。")
    invoice = live_invoice(order_id)
    remaining = order.amount_fen - order.refunded_fen
    if invoice is None or invoice.amount_fen == remaining:
        return None
    if invoice.status is InvoiceStatus.REQUESTED:
        invoice.status = InvoiceStatus.CANCELLED
        invoice.reverse_reason = "订单退款"
        db.session.flush()
    else:
        _start_reversal(invoice, now, "订单退款")
    if remaining <= 0:
        return None
    again = Invoice(
        order_id=invoice.order_id,
        learner_id=invoice.learner_id,
        title_type=invoice.title_type,
        title=invoice.title,
        tax_code=invoice.tax_code,
        email=invoice.email,
        amount_fen=remaining,
        replaces_id=invoice.id,
        # A reissue after a refund keeps the learner's one change if it was not used.
        reissue_reason=ReissueReason.CHANGE if _was_changed(invoice) else ReissueReason.REFUND,
        created_at=now,
    )
    return _submit(again)


# --- issuing and reversing (staff desk or provider callback) -----------------------------------


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("发票不存在。")
    return invoice


def owned_invoice(invoice_id: int, learner_id: int) -> Invoice:
    invoice = get_invoice(invoice_id)
    if invoice.learner_id != learner_id:
        raise PermissionDenied("只能查看自己的发票。")
    return invoice


def _check_pdf(data: bytes) -> None:
    if not data:
        raise ValidationError("pdf", "请上传电子发票的PDF文件。")
    if len(data) > PDF_LIMIT:
        raise ValidationError("pdf", "PDF文件不能超过10MB。")
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise ValidationError("pdf", "上传的文件不是完整的PDF，请从税务系统重新下载后上传。")


def _invoice_number(raw: str, field: str = "invoice_number") -> str:
    number = normalise_code(raw).replace(" ", "")
    if not _INVOICE_NUMBER.match(number):
        raise ValidationError(field, "请填写正确的发票号码（8至40位数字或字母）。")
    return number


def issue_refusal(invoice: Invoice) -> str | None:
    """Why staff may not record this invoice as issued now; None when they may."""
    if invoice.status is not InvoiceStatus.REQUESTED:
        return f"该发票状态为“{invoice.status.label}”，不能再开具。"
    if invoice.order.status not in PAID_STATES:
        return "该订单尚未缴费或已退款，不能开具发票。"
    return None


def reversal_refusal(invoice: Invoice) -> str | None:
    """Why staff may not record the red-letter invoice (红冲) now; None when they may."""
    if invoice.status is not InvoiceStatus.REVERSING:
        return f"该发票状态为“{invoice.status.label}”，不需要红冲。"
    return None


def record_issued(
    invoice_id: int,
    *,
    invoice_number: str,
    pdf: bytes,
    actor: Actor,
    now: datetime | None = None,
) -> Invoice:
    """The invoice was issued in the tax system: keep its number and PDF, tell the learner."""
    invoice = get_invoice(invoice_id)
    refusal = issue_refusal(invoice)
    if refusal is not None:
        raise Conflict(refusal)
    errors = []
    try:
        number = _invoice_number(invoice_number)
    except ValidationError as error:
        errors.append(error)
    try:
        _check_pdf(pdf)
    except ValidationError as error:
        errors.append(error)
    if errors:
        raise StopValidation(errors)
    now = now or utcnow()
    invoice.pdf_path = stored_files.write_new(f"invoices/{local_year(now)}", ".pdf", pdf)
    invoice.invoice_number = number
    invoice.status = InvoiceStatus.ISSUED
    invoice.issued_at = now
    invoice.issued_by_staff_id = actor.staff_id
    db.session.flush()
    record_action(
        actor,
        action="invoice.issue",
        target_type="invoice",
        target_id=invoice.id,
        before={"status": InvoiceStatus.REQUESTED.value},
        after={"status": invoice.status.value, "invoice_number": number},
    )
    notify.invoice_issued(
        learner_id=invoice.learner_id,
        invoice_id=invoice.id,
        title=invoice.title,
        amount_fen=invoice.amount_fen,
        path="/h5/invoices",
    )
    return invoice


def record_reversed(
    invoice_id: int,
    *,
    red_invoice_number: str,
    actor: Actor,
    now: datetime | None = None,
) -> Invoice:
    """The red-letter invoice (红字发票) was issued: the old invoice no longer counts."""
    invoice = get_invoice(invoice_id)
    refusal = reversal_refusal(invoice)
    if refusal is not None:
        raise Conflict(refusal)
    number = _invoice_number(red_invoice_number, "red_invoice_number")
    invoice.status = InvoiceStatus.REVERSED
    invoice.red_invoice_number = number
    invoice.reversed_at = now or utcnow()
    db.session.flush()
    record_action(
        actor,
        action="invoice.reverse",
        target_type="invoice",
        target_id=invoice.id,
        before={"status": InvoiceStatus.REVERSING.value},
        after={"status": invoice.status.value, "red_invoice_number": number},
    )
    return invoice


def invoice_pdf_path(invoice: Invoice) -> str:
    if invoice.status not in (
        InvoiceStatus.ISSUED,
        InvoiceStatus.REVERSING,
        InvoiceStatus.REVERSED,
    ):
        raise NotFound("该发票尚未开具。")
    if not stored_files.exists(invoice.pdf_path):
        raise NotFound("发票文件不存在，请联系客服。")
    return invoice.pdf_path


# --- what the pages show ----------------------------------------------------------------------


@dataclass(frozen=True)
class OrderInvoices:
    """One paid order in 我的发票, with what the learner may do with its invoice."""

    order: Order
    live: Invoice | None
    history: list[Invoice]
    apply_refusal: str | None
    change_refusal: str | None
    change_deadline: datetime | None

    @property
    def can_apply(self) -> bool:
        return self.live is None and self.apply_refusal is None

    @property
    def reversal(self) -> Invoice | None:
        """With no invoice standing, the latest one being or having been reversed (红冲中,
        已红冲): what a refunded order's buyer needs to see, with its numbers."""
        if self.live is not None:
            return None
        return next(
            (
                invoice
                for invoice in self.history
                if invoice.status in (InvoiceStatus.REVERSING, InvoiceStatus.REVERSED)
            ),
            None,
        )

    @property
    def can_change(self) -> bool:
        return self.live is not None and self.change_refusal is None

    @property
    def is_group(self) -> bool:
        return self.order.kind is OrderKind.GROUP


@dataclass(frozen=True)
class InvoicePage:
    """One invoice of the learner's, among its order's (``row``)."""

    invoice: Invoice
    row: OrderInvoices

    @property
    def awaits_issue(self) -> bool:
        return self.invoice.status is InvoiceStatus.REQUESTED

    @property
    def offers_download(self) -> bool:
        """The invoice that counts; a reversed one's PDF stays reachable, but is not offered."""
        return self.invoice.status is InvoiceStatus.ISSUED

    @property
    def can_change(self) -> bool:
        live = self.row.live
        return live is not None and live.id == self.invoice.id and self.row.can_change

    @property
    def change_note(self) -> str | None:
        """Why an issued invoice can no longer be changed."""
        if self.invoice.status is InvoiceStatus.ISSUED and not self.can_change:
            return self.row.change_refusal
        return None


def _invoices_by_order(order_ids: list[int]) -> dict[int, list[Invoice]]:
    """Every invoice of these orders, newest first, in one query."""
    by_order: dict[int, list[Invoice]] = {order_id: [] for order_id in order_ids}
    for invoice in db.session.scalars(
        select(Invoice).where(Invoice.order_id.in_(order_ids)).order_by(Invoice.id.desc())
    ):
        by_order[invoice.order_id].append(invoice)
    return by_order


def _order_invoices(order: Order, invoices: list[Invoice], now: datetime) -> OrderInvoices:
    live = next((invoice for invoice in invoices if invoice.status in LIVE), None)
    return OrderInvoices(
        order=order,
        live=live,
        history=[invoice for invoice in invoices if invoice is not live],
        apply_refusal=application_refusal(order, now),
        change_refusal=change_refusal(live, now) if live else None,
        change_deadline=change_deadline(live) if live else None,
    )


def invoice_row(invoice: Invoice, *, now: datetime | None = None) -> OrderInvoices:
    order = invoice.order
    return _order_invoices(order, _invoices_by_order([order.id])[order.id], now or utcnow())


def invoice_page(invoice_id: int, learner_id: int) -> InvoicePage:
    invoice = owned_invoice(invoice_id, learner_id)
    return InvoicePage(invoice, invoice_row(invoice))


@dataclass(frozen=True)
class StaffInvoice:
    """An invoice in the console, with what staff may record for it."""

    invoice: Invoice

    @property
    def can_issue(self) -> bool:
        return issue_refusal(self.invoice) is None

    @property
    def can_record_reversal(self) -> bool:
        return reversal_refusal(self.invoice) is None

    @property
    def can_retry_reversal(self) -> bool:
        """A reversal through WeChat Pay whose 红字确认单 the buyer declined or let lapse."""
        return (
            self.can_record_reversal
            and self.invoice.fapiao_apply_id is not None
            and self.invoice.fapiao_status == "REVERSE_FAILED"
        )

    @property
    def is_group(self) -> bool:
        return self.invoice.order.kind is OrderKind.GROUP


def staff_invoice(invoice_id: int) -> StaffInvoice:
    return StaffInvoice(get_invoice(invoice_id))


def learner_invoices(learner_id: int, *, now: datetime | None = None) -> list[OrderInvoices]:
    """我的发票: the learner's paid orders (individual and group), newest first."""
    now = now or utcnow()
    orders = list(
        db.session.scalars(
            select(Order)
            .options(selectinload(Order.plan))
            .where(Order.buyer_id == learner_id, Order.paid_at.is_not(None))
            .order_by(Order.paid_at.desc())
        )
    )
    by_order = _invoices_by_order([order.id for order in orders])
    return [_order_invoices(order, by_order[order.id], now) for order in orders]


def owned_paid_order(order_id: int, learner_id: int) -> Order:
    order = _owned_order(order_id, learner_id)
    if order.paid_at is None:
        raise NotFound("该订单尚未缴费。")
    return order


def staff_queue(status: InvoiceStatus, *, limit: int = 200) -> list[Invoice]:
    """The console's work lists, oldest first: applications of paid orders, reversals."""
    statement = select(Invoice).options(selectinload(Invoice.order)).where(Invoice.status == status)
    if status is InvoiceStatus.REQUESTED:
        statement = statement.join(Order, Order.id == Invoice.order_id).where(
            Order.status.in_(PAID_STATES)
        )
    order_by = (
        Invoice.id.asc()
        if status in (InvoiceStatus.REQUESTED, InvoiceStatus.REVERSING)
        else Invoice.id.desc()
    )
    return list(db.session.scalars(statement.order_by(order_by).limit(limit)))
