"""Refunds: staff give back a whole order, or one seat of a group order, with a reason; a
second payment of an order already paid is given back whole, by itself.

The refund is recorded first (with its ``out_refund_no``) and sent to the provider of the
payment it returns (WeChat Pay, or Alipay's ``alipay.trade.refund`` with the number as
``out_request_no``) after the commit; a failed or unanswered request is sent again with the
same number, so the money goes back once. The result arrives later, by WeChat Pay's refund
notification or a refund query (Alipay answers at once): success revokes the seats'
enrollments (their study progress is kept) and updates the order. Every refund is in the
audit log with the staff member who asked for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from infra.extensions import db
from infra.jobs import enqueue
from infra.pay_client import refund_notify_url
from infra.transaction import after_commit
from models.base import utcnow
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import (
    Order,
    OrderKind,
    OrderSeat,
    OrderStatus,
    PayChannel,
    Payment,
    PayProvider,
    Refund,
    RefundStatus,
    SeatStatus,
)
from services.accounts.identity import clean_text
from services.audit import Actor, record_action
from services.errors import Conflict, ExternalServiceError, NotFound, ValidationError
from services.paperwork import certificates, invoices
from services.payments import alipay, orders, tasks, wechatpay
from services.study import rules as study

log = logging.getLogger(__name__)

# A refund's result comes from WeChat Pay (its notification, or our query).
WECHAT_PAY_ACTOR = Actor.system("system:wechat-pay")

# WeChat Pay codes after which the same request may succeed later.
_RETRY_LATER = {"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH", "NOTENOUGH"}


def request_refund(
    *,
    order_id: int,
    seat_id: int | None,
    reason: str,
    actor: Actor,
) -> Refund:
    """Staff refund the order's remaining seats, or one seat of a group order."""
    reason = clean_text(reason)
    if not reason:
        raise ValidationError("reason", "请填写退款原因。")
    if len(reason) > 80:
        raise ValidationError("reason", "退款原因不能超过80个字。")
    order = orders.lock_order(Order.id == order_id)
    if order is None:
        raise NotFound("订单不存在。")
    seat = None
    if seat_id is not None:
        seat = db.session.get(OrderSeat, seat_id)
        if seat is None or seat.order_id != order.id:
            raise NotFound("该订单中没有这个学员。")
    refusal = refund_refusal(order, seat)
    if refusal is not None:
        raise Conflict(refusal)
    seats = [seat] if seat else [seat for seat in order.seats if seat.status is SeatStatus.ACTIVE]
    return refund_seats(order, seats, reason=reason, actor=actor, action="order.refund")


# Orders that were paid for and still hold seats that may be given back.
REFUNDABLE_ORDERS = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


def refund_refusal(order: Order, seat: OrderSeat | None = None) -> str | None:
    """Why staff may not refund the order's remaining seats (or ``seat``, one seat of a group
    order) now; None when they may. The console offers a refund only where this is None."""
    if order.status not in REFUNDABLE_ORDERS:
        return f"订单{order.status.label}，不能退款。"
    if seat is not None:
        if order.kind is not OrderKind.GROUP:
            return "个人订单请整单退款。"
        if seat.status is not SeatStatus.ACTIVE:
            return f"该学员{seat.status.label}，不能再退款。"
        return None
    if any(seat.status is SeatStatus.ACTIVE for seat in order.seats):
        return None
    if any(seat.status is SeatStatus.REFUNDING for seat in order.seats):
        return "该订单的退款正在处理中，请稍后查看结果。"
    return "该订单已全部退款。"


def can_sync(refund: Refund) -> bool:
    """Whether asking WeChat Pay about the refund may move it on: not sent yet, or sent and
    its result not come (what ``sync_refund`` acts on; any other state is final)."""
    return refund.status in (RefundStatus.REQUESTED, RefundStatus.PROCESSING)


def refund_seats(
    order: Order,
    seats: list[OrderSeat],
    *,
    reason: str,
    actor: Actor,
    action: str,
) -> Refund:
    """Record a refund of ``seats`` and send it to the provider after commit."""
    payment = order_payment(order.id)
    refund = Refund(
        order_id=order.id,
        payment_id=payment.id if payment is not None else None,
        seat_id=seats[0].id if len(seats) == 1 and order.kind is OrderKind.GROUP else None,
        out_refund_no=orders.merchant_number("RF"),
        amount_fen=order.unit_price_fen * len(seats),
        reason=reason[:80],
        status=RefundStatus.REQUESTED,
        staff_id=actor.staff_id,
        created_at=utcnow(),
    )
    db.session.add(refund)
    db.session.flush()
    for seat in seats:
        seat.status = SeatStatus.REFUNDING
        seat.refund_id = refund.id
    record_action(
        actor,
        action=action,
        target_type="order",
        target_id=order.id,
        before={"status": order.status.value, "refunded_fen": order.refunded_fen},
        after={
            "out_refund_no": refund.out_refund_no,
            "amount_fen": refund.amount_fen,
            "seats": [seat.learner_id for seat in seats],
            "reason": refund.reason,
        },
    )
    db.session.flush()
    after_commit(enqueue, tasks.submit_refund, refund.id)
    return refund


def refund_payment(
    order: Order, payment: Payment, *, reason: str, actor: Actor, action: str
) -> Refund:
    """Record a refund of a whole payment that opened nothing (a second payment of an order
    already paid) and send it after commit; no seat changes."""
    refund = Refund(
        order_id=order.id,
        payment_id=payment.id,
        out_refund_no=orders.merchant_number("RF"),
        amount_fen=payment.amount_fen,
        reason=reason[:80],
        status=RefundStatus.REQUESTED,
        staff_id=actor.staff_id,
        created_at=utcnow(),
    )
    db.session.add(refund)
    db.session.flush()
    record_action(
        actor,
        action=action,
        target_type="order",
        target_id=order.id,
        after={
            "out_refund_no": refund.out_refund_no,
            "amount_fen": refund.amount_fen,
            "payment": payment.transaction_id,
            "channel": payment.channel.value,
            "reason": refund.reason,
        },
    )
    after_commit(enqueue, tasks.submit_refund, refund.id)
    return refund


def order_payment(order_id: int) -> Payment | None:
    """The payment that paid the order (not a second one refunded as a duplicate)."""
    return db.session.scalar(
        select(Payment)
        .where(Payment.order_id == order_id, Payment.duplicate.is_(False))
        .order_by(Payment.id)
        .limit(1)
    )


def refunded_payment(refund: Refund) -> Payment | None:
    return refund.payment or order_payment(refund.order_id)


def refund_channel(refund: Refund) -> PayChannel:
    payment = refunded_payment(refund)
    return payment.channel if payment is not None else PayChannel.WECHAT_JSAPI


def payment_trade_no(payment: Payment | None, order: Order) -> str:
    """The merchant number the provider knows the payment by."""
    if payment is not None and payment.raw.get("out_trade_no"):
        return str(payment.raw["out_trade_no"])
    return order.out_trade_no + (payment.channel.trade_no_suffix if payment else "")


def send_refund(refund_id: int) -> str:
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status is not RefundStatus.REQUESTED:
        return "skipped"
    order = refund.order
    payment = refunded_payment(refund)
    refund.submitted_at = utcnow()
    if payment is not None and payment.channel.provider is PayProvider.ALIPAY:
        return _send_to_alipay(refund, payment, order)
    try:
        code, body = wechatpay.call_wechat_pay(
            "refund",
            out_refund_no=refund.out_refund_no,
            amount={
                "refund": refund.amount_fen,
                "total": payment.amount_fen if payment else order.amount_fen,
                "currency": "CNY",
            },
            transaction_id=payment.transaction_id if payment else None,
            out_trade_no=payment_trade_no(payment, order),
            reason=refund.reason,
            notify_url=refund_notify_url(),
        )
    except ExternalServiceError as error:
        refund.last_error = error.message[:255]
        raise
    if code == 200:
        return apply_refund_state(refund, body)
    error_code = str(body.get("code") or code)
    refund.last_error = f"{error_code}: {body.get('message', '')}"[:255]
    if code >= 500 or code == 429 or error_code in _RETRY_LATER:
        log.warning("refund %s to try again: %s", refund.out_refund_no, refund.last_error)
        return "retry"
    log.error("refund %s refused: %s", refund.out_refund_no, refund.last_error)
    fail_refund(refund, refund.last_error)
    return "failed"


def _send_to_alipay(refund: Refund, payment: Payment, order: Order) -> str:
    try:
        answer = alipay.refund(
            out_trade_no=payment_trade_no(payment, order),
            trade_no=payment.transaction_id,
            amount_fen=refund.amount_fen,
            out_request_no=refund.out_refund_no,
            reason=refund.reason,
        )
    except ExternalServiceError as error:
        refund.last_error = error.message[:255]
        raise
    if answer.get("code") == alipay.SUCCESS_CODE:
        if answer.get("fund_change") != "Y":
            # Asked before with this out_request_no: the query says whether the money moved.
            answer = alipay.query_refund(
                out_trade_no=payment_trade_no(payment, order), out_request_no=refund.out_refund_no
            )
            return apply_refund_state(refund, alipay.refund_state(answer, queried=True))
        return apply_refund_state(refund, alipay.refund_state(answer, queried=False))
    sub_code = str(answer.get("sub_code") or answer.get("code"))
    refund.last_error = f"{sub_code}: {answer.get('sub_msg', '')}"[:255]
    if sub_code in alipay.RETRY_LATER:
        log.warning("refund %s to try again: %s", refund.out_refund_no, refund.last_error)
        return "retry"
    log.error("refund %s refused by Alipay: %s", refund.out_refund_no, refund.last_error)
    fail_refund(refund, refund.last_error)
    return "failed"


def apply_refund_state(refund: Refund, body: Mapping[str, Any]) -> str:
    """Follow WeChat Pay's answer (refund call, query or notification) about one refund."""
    status = body.get("status") or body.get("refund_status")
    wechat_refund_id = str(body.get("refund_id") or "")[:32] or None
    # News of one refund can come at once by its notification, a query and a retried request:
    # each waits for the order's lock and then reads the refund as the one before left it.
    order = orders.lock_order(Order.id == refund.order_id)
    if order is None:
        raise NotFound("订单不存在。")
    db.session.refresh(refund)
    if refund.status is RefundStatus.SUCCESS:
        return "duplicate"
    if status == "SUCCESS":
        return complete_refund(
            order, refund, wechatpay.parse_wechat_time(body.get("success_time")), wechat_refund_id
        )
    if wechat_refund_id:
        refund.refund_id = wechat_refund_id
    if status in ("ABNORMAL", "CLOSED"):
        fail_refund(refund, f"微信支付退款{status}")
        return "failed"
    if refund.status is RefundStatus.REQUESTED:
        refund.status = RefundStatus.PROCESSING
    return "processing"


def complete_refund(
    order: Order,
    refund: Refund,
    succeeded_at: datetime | None = None,
    wechat_refund_id: str | None = None,
) -> str:
    """The money is back with the payer: the seats lose the plan (their progress stays).
    The order is locked by the caller."""
    refund.refund_id = wechat_refund_id or refund.refund_id
    refund.status = RefundStatus.SUCCESS
    refund.succeeded_at = succeeded_at or utcnow()
    refund.last_error = ""
    if refund.payment is not None and refund.payment.duplicate:
        # A second payment given back: it opened nothing, the order stays as it is.
        record_action(
            WECHAT_PAY_ACTOR,
            action="order.refund.succeeded",
            target_type="order",
            target_id=order.id,
            after={"out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen},
        )
        db.session.flush()
        return "refunded"
    seats = list(db.session.scalars(select(OrderSeat).where(OrderSeat.refund_id == refund.id)))
    for seat in seats:
        seat.status = SeatStatus.REFUNDED
    revoked = list(
        db.session.scalars(
            select(Enrollment).where(
                Enrollment.plan_id == order.plan_id,
                Enrollment.order_id == order.id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.learner_id.in_([seat.learner_id for seat in seats]),
            )
        )
    )
    for enrollment in revoked:
        enrollment.status = EnrollmentStatus.REVOKED
        enrollment.revoked_at = refund.succeeded_at
    after_commit(
        study.end_playback, [enrollment.learner_id for enrollment in revoked], order.plan_id
    )
    order.refunded_fen += refund.amount_fen
    order.status = (
        OrderStatus.REFUNDED
        if order.refunded_fen >= order.amount_fen
        else OrderStatus.PARTIALLY_REFUNDED
    )
    record_action(
        WECHAT_PAY_ACTOR,
        action="order.refund.succeeded",
        target_type="order",
        target_id=order.id,
        after={
            "out_refund_no": refund.out_refund_no,
            "amount_fen": refund.amount_fen,
            "status": order.status.value,
        },
    )
    db.session.flush()
    # The invoice follows the money: withdrawn or reversed, the rest invoiced again.
    invoices.reverse_for_refund(order.id, now=refund.succeeded_at)
    certificates.revoke_for_refund(
        [enrollment.id for enrollment in revoked], now=refund.succeeded_at
    )
    return "refunded"


def fail_refund(refund: Refund, message: str) -> None:
    """WeChat Pay will not refund: the seats keep the plan; staff see why."""
    refund.status = RefundStatus.FAILED
    refund.last_error = message[:255]
    for seat in db.session.scalars(select(OrderSeat).where(OrderSeat.refund_id == refund.id)):
        seat.status = SeatStatus.ACTIVE
        seat.refund_id = None
    db.session.flush()


def sync_refund(refund_id: int) -> str:
    """Send a refund that did not get through, or ask WeChat Pay how a sent one stands."""
    refund = db.session.get(Refund, refund_id)
    if refund is None:
        raise NotFound("退款记录不存在。")
    if not can_sync(refund):
        return refund.status.value
    if refund.status is RefundStatus.REQUESTED:
        return send_refund(refund_id)
    payment = refunded_payment(refund)
    if payment is not None and payment.channel.provider is PayProvider.ALIPAY:
        answer = alipay.query_refund(
            out_trade_no=payment_trade_no(payment, refund.order),
            out_request_no=refund.out_refund_no,
        )
        if answer.get("code") != alipay.SUCCESS_CODE:
            raise ExternalServiceError(
                f"查询支付宝退款失败（{answer.get('sub_msg') or answer.get('msg')}）。"
            )
        return apply_refund_state(refund, alipay.refund_state(answer, queried=True))
    code, body = wechatpay.call_wechat_pay("query_refund", out_refund_no=refund.out_refund_no)
    if code != 200:
        raise ExternalServiceError(f"查询退款失败（{body.get('message') or code}）。")
    return apply_refund_state(refund, body)


def refunds_to_sync(now: datetime | None = None, *, older_than_minutes: int = 2) -> list[int]:
    """Refunds not yet sent, and sent ones whose result has not arrived for a while."""
    cutoff = (now or utcnow()) - timedelta(minutes=older_than_minutes)
    return list(
        db.session.scalars(
            select(Refund.id)
            .where(
                (Refund.status == RefundStatus.REQUESTED)
                | ((Refund.status == RefundStatus.PROCESSING) & (Refund.submitted_at <= cutoff))
            )
            .order_by(Refund.id)
        )
    )


@dataclass(frozen=True)
class RefundRow:
    """A refund in the console's lists, with what staff may do with it."""

    refund: Refund

    @property
    def can_sync(self) -> bool:
        return can_sync(self.refund)

    @property
    def channel(self) -> PayChannel:
        return refund_channel(self.refund)


@dataclass(frozen=True)
class RefundPage:
    page: Pagination
    rows: list[RefundRow]


def search_refunds(status: str, page: int, per_page: int = 30) -> RefundPage:
    statement = select(Refund).options(selectinload(Refund.order)).order_by(Refund.id.desc())
    if status in {item.value for item in RefundStatus}:
        statement = statement.where(Refund.status == RefundStatus(status))
    found = db.paginate(statement, page=page, per_page=per_page, error_out=False)
    return RefundPage(page=found, rows=[RefundRow(refund) for refund in found.items])
