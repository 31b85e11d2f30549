"""Invoices (电子发票): asked for at ordering or later, for the buyer's own orders.

Personal invoices carry the learner's name; unit invoices carry the unit's name and its
unified social credit code (GB 32100). A group order gets one unit invoice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from models.accounts import Learner
from models.invoices import Invoice, InvoiceStatus, InvoiceTitleType
from models.orders import Order, OrderKind, OrderStatus
from services.errors import Conflict, NotFound, PermissionDenied, StopValidation, ValidationError
from services.identity import normalise_text, parse_credit_code
from wxapp.extensions import db

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class InvoiceRequest:
    title_type: str  # "personal" | "unit"
    email: str
    title: str = ""  # the unit's name; a personal invoice takes the learner's name
    tax_code: str = ""


def _parse_request(request: InvoiceRequest, learner: Learner, order: Order):
    errors: list[ValidationError] = []
    try:
        title_type = InvoiceTitleType(request.title_type)
    except ValueError:
        raise ValidationError("title_type", "请选择发票抬头类型（个人或单位）。") from None
    if order.kind is OrderKind.GROUP and title_type is not InvoiceTitleType.UNIT:
        errors.append(ValidationError("title_type", "团体购买订单只能开具单位发票。"))
    title, tax_code = learner.name, None
    if title_type is InvoiceTitleType.UNIT:
        title = normalise_text(request.title)
        if not title:
            errors.append(ValidationError("title", "请填写单位名称（发票抬头）。"))
        elif len(title) > 100:
            errors.append(ValidationError("title", "单位名称不能超过100个字。"))
        try:
            tax_code = parse_credit_code(request.tax_code)
        except ValidationError as error:
            errors.append(error)
    email = normalise_text(request.email)
    if not _EMAIL.match(email) or len(email) > 120:
        errors.append(ValidationError("email", "请填写正确的电子邮箱，用于接收电子发票。"))
    if errors:
        raise StopValidation(errors)
    return title_type, title, tax_code, email


def request_invoice(*, order_id: int, learner_id: int, request: InvoiceRequest) -> Invoice:
    """Ask for the invoice of an order (at ordering, or later from 我的发票)."""
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("订单不存在。")
    if order.buyer_id != learner_id:
        raise PermissionDenied("只能为自己的订单申请发票。")
    if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
        raise Conflict("该订单已关闭或已退款，不能申请发票。")
    live = db.session.scalar(
        select(Invoice).where(
            Invoice.order_id == order.id,
            Invoice.status.in_([InvoiceStatus.REQUESTED, InvoiceStatus.ISSUED]),
        )
    )
    if live is not None:
        raise Conflict("该订单已申请发票，请在“我的发票”中查看。")
    learner = db.session.get(Learner, learner_id)
    title_type, title, tax_code, email = _parse_request(request, learner, order)
    invoice = Invoice(
        order_id=order.id,
        learner_id=learner_id,
        title_type=title_type,
        title=title,
        tax_code=tax_code,
        email=email,
        amount_fen=order.amount_fen - order.refunded_fen,
    )
    db.session.add(invoice)
    db.session.flush()
    return invoice
