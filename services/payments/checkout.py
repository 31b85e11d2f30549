"""Checkout: paying an order with WeChat Pay JSAPI, taking in the payment, order query and close.

A payment is taken in once, however it arrives (the notification, a query after the page
polled, the close that found the order paid, or reconciliation): the order row is locked,
the transaction id is unique in the database, and every seat is enrolled in the same
transaction as the ``Payment`` row. Duplicates, concurrent or late, change nothing.

Late payment after close (the payer paid an order we had already closed, for example while
our close call to WeChat Pay was still waiting): paid money is never ignored. The payment is
recorded, the order reopens as paid and its seats are enrolled. Seats whose learner already
holds the plan by then (they ordered again and paid that order too) are refunded at once,
automatically, with the reason "重复购买，自动退款" and an audit entry. Staff see the order's note.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from infra.jobs import enqueue
from infra.pay_client import notify_url
from infra.redis_client import get_redis
from infra.transaction import after_commit
from models.accounts import WechatBinding
from models.base import utcnow
from models.enrollments import Enrollment, EnrollmentSource, EnrollmentStatus
from models.orders import (
    Order,
    OrderKind,
    OrderSeat,
    OrderStatus,
    Payment,
    PaymentSource,
    SeatStatus,
)
from services import catalog
from services.audit import Actor
from services.display import mask_id_number
from services.errors import ExternalServiceError
from services.paperwork import invoices
from services.payments import orders, refunds, tasks, wechatpay
from services.rows import get_row
from services.wechat import notify

log = logging.getLogger(__name__)

# Taking a payment in refunds, by itself, the seats that were bought twice.
PAYMENTS_ACTOR = Actor.system("system:payments")

# Codes WeChat Pay uses for "this order is paid" (the v3 name and the older one).


# --- talking to WeChat Pay -------------------------------------------------------------------


# --- the pay page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PayPage:
    order: Order
    params: wechatpay.JsapiParameters | None  # signed for WeixinJSBridge once prepaid
    message: str = ""  # why there is nothing to pay

    @property
    def can_start(self) -> bool:
        """Nothing sent to WeChat Pay yet and nothing against paying: the page offers the
        button that prepays (a POST, so that opening or prefetching the page changes nothing)."""
        return self.params is None and not self.message

    @property
    def is_group(self) -> bool:
        return self.order.kind is OrderKind.GROUP


def pay_offer(order_id: int, learner_id: int) -> PayPage:
    """The pay page as opened (GET): the order and whether it may be paid; reads only. An
    order past its expiry is closed by ``close_expired_order`` or when paying is tried."""
    order = orders.buyer_order(order_id, learner_id)
    if order.status is not OrderStatus.PENDING:
        return PayPage(order, None, f"订单{order.status.label}。")
    if not orders.payable(order):
        return PayPage(order, None, "订单已超时，请重新下单。")
    return PayPage(order, None)


def prepare_payment(order_id: int, learner_id: int) -> PayPage:
    """Prepay the order at WeChat Pay (again, if need be) and sign the JSAPI parameters."""
    order = orders.buyer_order(order_id, learner_id)
    if order.status is not OrderStatus.PENDING:
        return PayPage(order, None, f"订单{order.status.label}。")
    now = utcnow()
    if order.expires_at <= now:
        orders.close_locally(order, "超时未支付", now)
        return PayPage(order, None, "订单已超时关闭，请重新下单。")
    if not catalog.is_on_sale(order.plan, now):
        orders.close_locally(order, "学习计划已停止购买", now)
        return PayPage(order, None, "该学习计划已停止购买，订单已关闭。")
    holders = _seat_learners_holding_plan(order)
    if holders:
        orders.close_locally(order, "部分学员已拥有该学习计划", now)
        if order.kind is OrderKind.INDIVIDUAL:
            return PayPage(order, None, "您已拥有该学习计划，无需再次支付，订单已关闭。")
        return PayPage(
            order,
            None,
            f"学员{'、'.join(holders)}已拥有该学习计划，订单已关闭，请重新提交团体购买。",
        )
    openid = db.session.scalar(
        select(WechatBinding.openid).where(WechatBinding.learner_id == learner_id)
    )
    if openid is None:
        return PayPage(order, None, "请在微信中通过公众号菜单“继续教育 → 公需科目”登录后再支付。")
    code, body = wechatpay.call_wechat_pay(
        "pay",
        description=order.plan.title[:127],
        out_trade_no=order.out_trade_no,
        amount={"total": order.amount_fen, "currency": "CNY"},
        payer={"openid": openid},
        time_expire=wechatpay.rfc3339(order.expires_at),
        notify_url=notify_url(),
    )
    if code == 200 and body.get("prepay_id"):
        order.prepay_id = body["prepay_id"]
        db.session.flush()
        return PayPage(order, wechatpay.sign_jsapi(order.prepay_id))
    if body.get("code") in wechatpay.PAID_CODES:
        sync_order(order.id, PaymentSource.QUERY)
        return PayPage(order, None, f"订单{order.status.label}。")
    if body.get("code") == "ORDER_CLOSED":
        _mark_closed(order, "微信支付已关闭该订单")
        return PayPage(order, None, "订单已关闭，请重新下单。")
    log.error("prepay of %s refused: %s %s", order.out_trade_no, code, body)
    raise ExternalServiceError(
        f"微信支付下单失败（{body.get('message') or code}），请稍后再试或联系客服。"
    )


def _seat_learners_holding_plan(order: Order) -> list[str]:
    """The masked ID numbers (never names: the seats are not paid for) of the order's
    learners who hold its plan by another order or a review."""
    rows = db.session.execute(
        select(OrderSeat.learner_id, Enrollment.order_id)
        .join(
            Enrollment,
            (Enrollment.learner_id == OrderSeat.learner_id)
            & (Enrollment.plan_id == order.plan_id)
            & (Enrollment.status == EnrollmentStatus.ACTIVE),
        )
        .where(OrderSeat.order_id == order.id)
    ).all()
    ids = [learner_id for learner_id, holding_order in rows if holding_order != order.id]
    if not ids:
        return []
    seats = {seat.learner_id: seat for seat in order.seats}
    return [mask_id_number(seats[learner_id].learner.id_number) for learner_id in ids]


# --- taking a payment in ---------------------------------------------------------------------


class PaymentRejected(Exception):
    """The transaction does not match our order; nothing was changed."""

    def __init__(self, outcome: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.outcome, self.message, self.status = outcome, message, status


def record_payment(transaction: Mapping[str, Any], source: PaymentSource) -> str:
    """Take in a successful WeChat Pay transaction: ``paid``, ``late_paid`` or ``duplicate``."""
    config = current_app.config
    out_trade_no = str(transaction.get("out_trade_no") or "")
    if transaction.get("appid") != config["WECHAT_APPID"]:
        raise PaymentRejected("mismatch", f"appid {transaction.get('appid')!r} 不是本公众号")
    if transaction.get("mchid") != config["WECHAT_PAY_MCHID"]:
        raise PaymentRejected("mismatch", f"mchid {transaction.get('mchid')!r} 不是本商户号")
    if transaction.get("trade_state") != "SUCCESS":
        raise PaymentRejected("mismatch", f"trade_state {transaction.get('trade_state')!r}")
    transaction_id = str(transaction.get("transaction_id") or "")
    if not transaction_id or len(transaction_id) > 32:
        raise PaymentRejected("mismatch", "transaction_id 缺失或过长")
    order = orders.lock_order(Order.out_trade_no == out_trade_no)
    if order is None:
        raise PaymentRejected("unknown_order", f"商户订单号 {out_trade_no!r} 不存在", 404)
    amount = transaction.get("amount") or {}
    if amount.get("total") != order.amount_fen or amount.get("currency", "CNY") != "CNY":
        raise PaymentRejected(
            "mismatch", f"金额 {amount.get('total')!r} 与订单金额 {order.amount_fen} 不符"
        )
    recorded = db.session.scalars(
        select(Payment.transaction_id).where(
            (Payment.transaction_id == transaction_id) | (Payment.order_id == order.id)
        )
    ).all()
    if recorded:
        if transaction_id not in recorded:
            # WeChat Pay never takes two payments for one out_trade_no; say so loudly if it did.
            log.error("order %s paid twice: %s and %s", out_trade_no, recorded, transaction_id)
        return "duplicate"
    paid_at = wechatpay.parse_wechat_time(transaction.get("success_time")) or utcnow()
    try:
        with db.session.begin_nested():
            db.session.add(
                Payment(
                    order_id=order.id,
                    transaction_id=transaction_id,
                    amount_fen=amount["total"],
                    payer_openid=(transaction.get("payer") or {}).get("openid"),
                    success_time=paid_at,
                    source=source,
                    raw=dict(transaction),
                )
            )
            db.session.flush()
    except IntegrityError:
        return "duplicate"  # recorded by a concurrent transaction that committed first
    late = order.status is OrderStatus.CLOSED
    if order.status in (OrderStatus.PENDING, OrderStatus.CLOSED):
        order.status = OrderStatus.PAID
        order.paid_at = paid_at
        order.closed_at = None
    if late:
        order.note = f"关闭后收到微信支付（{source.value}），已重新开通"
        log.warning("payment %s arrived for closed order %s", transaction_id, out_trade_no)
    duplicates = enroll_seats(order)
    if duplicates:
        refunds.refund_seats(
            order,
            duplicates,
            reason="重复购买，自动退款",
            actor=PAYMENTS_ACTOR,
            action="order.refund.auto",
        )
        order.note = (order.note + "；" if order.note else "") + (
            f"{len(duplicates)}个学员已拥有该计划，已自动退款"
        )
    db.session.flush()
    notify.payment_received(
        learner_id=order.buyer_id,
        order_id=order.id,
        plan_title=order.plan.title,
        amount_fen=order.amount_fen,
        paid_at=paid_at,
        path=orders.order_page_path(order.id),
    )
    if order.kind is OrderKind.GROUP:
        after_commit(enqueue, tasks.notify_seat_holders, order.id)
    return "late_paid" if late else "paid"


def enroll_seats(order: Order) -> list[OrderSeat]:
    """Open the plan to every seat of a paid order; returns the seats already covered elsewhere.

    A revoked enrollment (refunded before) is re-activated with its progress; an enrollment
    that is active through another order or a make-up review is left as it is.
    """
    seats = [seat for seat in order.seats if seat.status is SeatStatus.PENDING]
    if not seats:
        return []
    existing = {
        enrollment.learner_id: enrollment
        for enrollment in db.session.scalars(
            select(Enrollment)
            .where(
                Enrollment.plan_id == order.plan_id,
                Enrollment.learner_id.in_([seat.learner_id for seat in seats]),
            )
            .with_for_update()
        )
    }
    duplicates: list[OrderSeat] = []
    new: list[Enrollment] = []
    now = utcnow()
    for seat in seats:
        enrollment = existing.get(seat.learner_id)
        if enrollment is None:
            new.append(
                Enrollment(
                    learner_id=seat.learner_id,
                    plan_id=order.plan_id,
                    source=EnrollmentSource.ORDER,
                    order_id=order.id,
                    created_at=now,
                )
            )
        elif enrollment.status is EnrollmentStatus.REVOKED:
            enrollment.status = EnrollmentStatus.ACTIVE
            enrollment.source = EnrollmentSource.ORDER
            enrollment.order_id = order.id
            enrollment.revoked_at = None
        elif enrollment.order_id != order.id:
            duplicates.append(seat)
            continue
        seat.status = SeatStatus.ACTIVE
    db.session.add_all(new)
    db.session.flush()
    return duplicates


# --- notifications ---------------------------------------------------------------------------


# --- query and close -------------------------------------------------------------------------


def sync_order(order_id: int, source: PaymentSource = PaymentSource.QUERY) -> str:
    """Ask WeChat Pay how the order stands and take in a payment we missed."""
    order = get_row(Order, order_id, "订单不存在。")
    code, body = wechatpay.call_wechat_pay("query", out_trade_no=order.out_trade_no)
    if code == 404:
        return "not_found"
    if code != 200:
        raise ExternalServiceError(f"查询微信支付订单失败（{body.get('message') or code}）。")
    state = body.get("trade_state")
    if state in ("SUCCESS", "REFUND"):
        # REFUND: paid, then refunded at WeChat Pay; the payment still happened.
        try:
            return record_payment({**body, "trade_state": "SUCCESS"}, source)
        except PaymentRejected as rejected:
            log.error("query of %s does not match: %s", order.out_trade_no, rejected.message)
            return "mismatch"
    if state == "CLOSED" and order.status is OrderStatus.PENDING:
        _mark_closed(order, "微信支付已关闭该订单")
        return "closed"
    return str(state or "unknown").lower()


def _query_slot(order_id: int, seconds: int = 3) -> bool:
    """At most one query to WeChat Pay per order every few seconds, however many pages poll."""
    return bool(get_redis().set(f"pay:query:{order_id}", 1, nx=True, ex=seconds))


def poll_payment(order_id: int, learner_id: int, *, query: bool) -> Order:
    """The paying page's poll: our order, queried at WeChat Pay if it is still unpaid."""
    order = orders.buyer_order(order_id, learner_id)
    wanted = query and order.status is OrderStatus.PENDING and order.prepay_id
    if wanted and _query_slot(order.id):
        try:
            sync_order(order.id, PaymentSource.QUERY)
        except ExternalServiceError as error:
            log.warning("poll of order %s: %s", order.out_trade_no, error.message)
    return order


def _mark_closed(order: Order, note: str) -> None:
    order.status = OrderStatus.CLOSED
    order.closed_at = utcnow()
    order.note = note[:200]
    invoices.withdraw_for_closed_order(order.id)
    db.session.flush()


def expired_order_ids(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING, Order.expires_at <= now)
            .order_by(Order.expires_at)
        )
    )


def close_expired_order(order_id: int, now: datetime | None = None) -> str:
    """Close an unpaid order past its expiry, at WeChat Pay first: ``closed``, ``paid`` …"""
    now = now or utcnow()
    order = db.session.get(Order, order_id)
    if order is None or order.status is not OrderStatus.PENDING or order.expires_at > now:
        return "skipped"
    if order.prepay_id:
        code, body = wechatpay.call_wechat_pay("close", out_trade_no=order.out_trade_no)
        if body.get("code") in wechatpay.PAID_CODES:
            return sync_order(order.id, PaymentSource.QUERY)
        if code not in (200, 204) and body.get("code") != "ORDER_CLOSED":
            raise ExternalServiceError(f"微信支付关单失败（{body.get('message') or code}）")
    db.session.refresh(order, with_for_update=True)
    if order.status is not OrderStatus.PENDING:
        return order.status.value  # a notification was taken in meanwhile
    _mark_closed(order, "超时未支付，已关闭")
    return "closed"
