"""Checkout: paying an order (WeChat Pay JSAPI, Native or H5, Alipay on a PC or a phone),
taking in the payment, order query and close.

A payment is taken in once, however it arrives (a notification of either provider, a query
after the page polled, the close that found the order paid, or reconciliation) and whatever
the channel: the order row is locked, the transaction id is unique in the database, and every
seat is enrolled in the same transaction as the ``Payment`` row. Duplicates, concurrent or
late, change nothing.

Each channel an order is offered through is a ``PayAttempt`` under its own merchant number;
queries and closes go to every attempt. An order paid through two channels (the QR code
scanned and Alipay paid too) keeps the first payment; the second is recorded as a duplicate
and refunded in full at once ("重复支付，自动退款").

Late payment after close (the payer paid an order we had already closed, for example while
our close call was still waiting): paid money is never ignored. The payment is recorded, the
order reopens as paid and its seats are enrolled. Seats whose learner already holds the plan
by then (they ordered again and paid that order too) are refunded at once, automatically,
with the reason "重复购买，自动退款" and an audit entry. Staff see the order's note.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

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
    PayAttempt,
    PayChannel,
    Payment,
    PaymentSource,
    PayProvider,
    SeatStatus,
)
from services import catalog
from services.audit import Actor
from services.display import mask_id_number
from services.errors import ExternalServiceError
from services.paperwork import invoices
from services.payments import alipay, orders, refunds, tasks, wechatpay
from services.payments.channels import ALIPAY_IN_WECHAT, Browser, offered_channels, refusal
from services.payments.received import PaymentRejected, ReceivedPayment
from services.rows import get_row
from services.wechat import notify

log = logging.getLogger(__name__)

# Taking a payment in refunds, by itself, the seats that were bought twice.
PAYMENTS_ACTOR = Actor.system("system:payments")

# What taking a payment in may come to: the payment was (or already had been) taken in.
PAID_OUTCOMES = ("paid", "late_paid", "duplicate", "double_paid")
# A Native code_url stays valid two hours; an H5 (MWEB) link five minutes.
CODE_URL_LIFETIME = timedelta(hours=2)
H5_URL_LIFETIME = timedelta(minutes=5)

__all__ = ["PaymentRejected", "ReceivedPayment", "record_payment"]

# --- the pay page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PayPage:
    order: Order
    params: wechatpay.JsapiParameters | None = None  # signed for WeixinJSBridge once prepaid
    message: str = ""  # why there is nothing to pay
    channels: tuple[PayChannel, ...] = ()  # the ways offered to this browser
    qr: PayAttempt | None = None  # a Native code_url to show, with its expiry
    redirect_url: str | None = None  # H5 and Alipay: where the browser goes to pay
    alipay_note: str = ""  # inside WeChat: why Alipay is not offered

    @property
    def can_start(self) -> bool:
        """Nothing sent to a provider yet and nothing against paying: the page offers the
        buttons that start paying (POSTs, so that opening or prefetching it changes nothing)."""
        return self.params is None and self.qr is None and not self.message

    @property
    def is_group(self) -> bool:
        return self.order.kind is OrderKind.GROUP

    @property
    def qr_expires_at(self) -> datetime | None:
        if self.qr is None or self.qr.pay_url_expires_at is None:
            return None
        return min(self.qr.pay_url_expires_at, self.order.expires_at)


def _offer(order: Order, browser: Browser, **values) -> PayPage:
    return PayPage(
        order,
        channels=offered_channels(browser),
        alipay_note=ALIPAY_IN_WECHAT if browser.in_wechat else "",
        **values,
    )


def _refusal_page(order: Order) -> PayPage | None:
    if order.status is not OrderStatus.PENDING:
        return PayPage(order, message=f"订单{order.status.label}。")
    if not orders.payable(order):
        return PayPage(order, message="订单已超时，请重新下单。")
    return None


def pay_offer(
    order_id: int, learner_id: int, browser: Browser, shown: PayChannel | None = None
) -> PayPage:
    """The pay page as opened (GET): the order, the ways to pay it from this browser, and a
    Native QR code already made (``shown``); reads only. An order past its expiry is closed
    by ``close_expired_order`` or when paying is tried."""
    order = orders.buyer_order(order_id, learner_id)
    refused = _refusal_page(order)
    if refused is not None:
        return refused
    if shown is PayChannel.WECHAT_NATIVE:
        attempt = db.session.scalar(
            select(PayAttempt).where(
                PayAttempt.order_id == order.id, PayAttempt.channel == PayChannel.WECHAT_NATIVE
            )
        )
        if attempt is not None and attempt.pay_url and _unexpired(attempt):
            return _offer(order, browser, qr=attempt)
    return _offer(order, browser)


def _unexpired(attempt: PayAttempt) -> bool:
    return attempt.pay_url_expires_at is None or attempt.pay_url_expires_at > utcnow()


def prepare_payment(
    order_id: int,
    learner_id: int,
    channel: PayChannel = PayChannel.WECHAT_JSAPI,
    *,
    browser: Browser | None = None,
    client_ip: str = "",
    return_url: str = "",
) -> PayPage:
    """Start paying through ``channel``: prepay at WeChat Pay (again, if need be) and sign the
    JSAPI parameters; make the Native QR code or the H5 link; sign Alipay's cashier link."""
    order = orders.buyer_order(order_id, learner_id)
    if order.status is not OrderStatus.PENDING:
        return PayPage(order, message=f"订单{order.status.label}。")
    now = utcnow()
    if order.expires_at <= now:
        orders.close_locally(order, "超时未支付", now)
        return PayPage(order, message="订单已超时关闭，请重新下单。")
    if not catalog.is_on_sale(order.plan, now):
        orders.close_locally(order, "学习计划已停止购买", now)
        return PayPage(order, message="该学习计划已停止购买，订单已关闭。")
    holders = _seat_learners_holding_plan(order)
    if holders:
        orders.close_locally(order, "部分学员已拥有该学习计划", now)
        if order.kind is OrderKind.INDIVIDUAL:
            return PayPage(order, message="您已拥有该学习计划，无需再次支付，订单已关闭。")
        return PayPage(
            order,
            message=f"学员{'、'.join(holders)}已拥有该学习计划，订单已关闭，请重新提交团体购买。",
        )
    if browser is not None:
        problem = refusal(channel, browser)
        if problem:
            return _offer(order, browser, message=problem)
    if channel.provider is PayProvider.ALIPAY:
        attempt = orders.attempt_for(order, channel)
        attempt.pay_url_expires_at = order.expires_at
        db.session.flush()
        link = alipay.cashier_url(
            channel,
            out_trade_no=attempt.out_trade_no,
            amount_fen=order.amount_fen,
            subject=order.plan.title,
            return_url=return_url,
            expires_at=order.expires_at,
        )
        return PayPage(order, redirect_url=link)
    return _prepay_at_wechat(order, channel, learner_id, client_ip, return_url, browser)


def _prepay_at_wechat(
    order: Order,
    channel: PayChannel,
    learner_id: int,
    client_ip: str,
    return_url: str,
    browser: Browser | None,
) -> PayPage:
    request: dict = {
        "description": order.plan.title[:127],
        "amount": {"total": order.amount_fen, "currency": "CNY"},
        "time_expire": wechatpay.rfc3339(order.expires_at),
        "notify_url": notify_url(),
    }
    if channel is PayChannel.WECHAT_JSAPI:
        openid = db.session.scalar(
            select(WechatBinding.openid).where(WechatBinding.learner_id == learner_id)
        )
        if openid is None:
            return PayPage(
                order, message="请在微信中通过公众号菜单“继续教育 → 公需科目”登录后再支付。"
            )
        request["payer"] = {"openid": openid}
    elif channel is PayChannel.WECHAT_H5:
        request["scene_info"] = {
            "payer_client_ip": client_ip or "127.0.0.1",
            "h5_info": {"type": "Wap", "app_name": "公需科目", "app_url": return_url},
        }
    attempt = orders.attempt_for(order, channel)
    code, body = wechatpay.prepay(channel, out_trade_no=attempt.out_trade_no, **request)
    if code == 200:
        now = utcnow()
        if channel is PayChannel.WECHAT_JSAPI and body.get("prepay_id"):
            order.prepay_id = body["prepay_id"]
            db.session.flush()
            return PayPage(order, wechatpay.sign_jsapi(order.prepay_id))
        if channel is PayChannel.WECHAT_NATIVE and body.get("code_url"):
            attempt.pay_url = str(body["code_url"])
            attempt.pay_url_expires_at = now + CODE_URL_LIFETIME
            db.session.flush()
            return PayPage(order, qr=attempt, channels=(channel,))
        if channel is PayChannel.WECHAT_H5 and body.get("h5_url"):
            attempt.pay_url = str(body["h5_url"])
            attempt.pay_url_expires_at = now + H5_URL_LIFETIME
            db.session.flush()
            link = attempt.pay_url
            if return_url:
                link += ("&" if "?" in link else "?") + "redirect_url=" + quote(return_url, "")
            return PayPage(order, redirect_url=link)
    if body.get("code") in wechatpay.PAID_CODES:
        sync_order(order.id, PaymentSource.QUERY)
        return PayPage(order, message=f"订单{order.status.label}。")
    if body.get("code") == "ORDER_CLOSED":
        _mark_closed(order, "微信支付已关闭该订单")
        return PayPage(order, message="订单已关闭，请重新下单。")
    log.error("prepay of %s refused: %s %s", attempt.out_trade_no, code, body)
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


def _order_for(out_trade_no: str) -> tuple[Order | None, PayAttempt | None]:
    """The order a provider's merchant number names (its own, or one of its attempts'),
    locked; and the attempt."""
    attempt = orders.attempt_by_trade_no(out_trade_no)
    if attempt is not None:
        return orders.lock_order(Order.id == attempt.order_id), attempt
    return orders.lock_order(Order.out_trade_no == out_trade_no), None


def record_payment(received: ReceivedPayment, source: PaymentSource) -> str:
    """Take in a successful payment, whatever its provider and channel: ``paid``,
    ``late_paid``, ``duplicate`` (this payment was taken in before) or ``double_paid`` (the
    order was paid by another payment: this one is refunded)."""
    order, attempt = _order_for(received.out_trade_no)
    if order is None:
        raise PaymentRejected("unknown_order", f"商户订单号 {received.out_trade_no!r} 不存在", 404)
    channel = attempt.channel if attempt is not None else received.channel
    channel = channel or PayChannel.WECHAT_JSAPI
    if channel.provider is not received.provider:
        raise PaymentRejected(
            "mismatch", f"商户订单号 {received.out_trade_no!r} 不是{received.provider.label}的订单"
        )
    if received.amount_fen != order.amount_fen:
        raise PaymentRejected(
            "mismatch", f"金额 {received.amount_fen!r} 分与订单金额 {order.amount_fen} 分不符"
        )
    recorded = db.session.scalars(
        select(Payment.transaction_id).where(
            (Payment.transaction_id == received.transaction_id) | (Payment.order_id == order.id)
        )
    ).all()
    if received.transaction_id in recorded:
        return "duplicate"
    paid_at = received.success_time or utcnow()
    payment = Payment(
        order_id=order.id,
        transaction_id=received.transaction_id,
        channel=channel,
        amount_fen=received.amount_fen,
        payer_openid=received.payer,
        success_time=paid_at,
        source=source,
        raw=dict(received.raw),
        duplicate=bool(recorded),
    )
    try:
        with db.session.begin_nested():
            db.session.add(payment)
            db.session.flush()
    except IntegrityError:
        return "duplicate"  # recorded by a concurrent transaction that committed first
    if payment.duplicate:
        return _refund_second_payment(order, payment)
    late = order.status is OrderStatus.CLOSED
    if order.status in (OrderStatus.PENDING, OrderStatus.CLOSED):
        order.status = OrderStatus.PAID
        order.paid_at = paid_at
        order.closed_at = None
    if late:
        order.note = f"关闭后收到{channel.label}（{source.value}），已重新开通"
        log.warning(
            "payment %s arrived for closed order %s", payment.transaction_id, order.out_trade_no
        )
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


def _refund_second_payment(order: Order, payment: Payment) -> str:
    """The order was paid already, through another channel: this money goes back at once."""
    log.warning(
        "order %s paid a second time (%s, %s): refunding it",
        order.out_trade_no,
        payment.channel.value,
        payment.transaction_id,
    )
    refunds.refund_payment(
        order,
        payment,
        reason="重复支付，自动退款",
        actor=PAYMENTS_ACTOR,
        action="order.refund.auto",
    )
    note = f"另收到一笔{payment.channel.label}，已自动退款"
    order.note = ((order.note + "；") if order.note else "") + note
    order.note = order.note[:200]
    db.session.flush()
    return "double_paid"


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


def _legacy_attempt(order: Order) -> PayAttempt:
    """An order prepaid before channels were recorded was prepaid by JSAPI, under its own
    number (an unsaved stand-in, for queries and closes)."""
    return PayAttempt(
        order_id=order.id, channel=PayChannel.WECHAT_JSAPI, out_trade_no=order.out_trade_no
    )


def _attempts_to_ask(order: Order) -> list[PayAttempt]:
    return orders.order_attempts(order.id) or [_legacy_attempt(order)]


def sync_order(order_id: int, source: PaymentSource = PaymentSource.QUERY) -> str:
    """Ask every provider the order was offered through how it stands, and take in a payment
    we missed."""
    order = get_row(Order, order_id, "订单不存在。")
    states = []
    for attempt in _attempts_to_ask(order):
        if attempt.channel.provider is PayProvider.ALIPAY:
            state = _sync_at_alipay(attempt, source)
        else:
            state = _sync_at_wechat(attempt, source)
        if state in PAID_OUTCOMES or state == "mismatch":
            return state
        states.append(state)
    if "closed" in states and set(states) <= {"closed", "not_found"}:
        if order.status is OrderStatus.PENDING:
            _mark_closed(order, "支付渠道已关闭该订单")
        return "closed"
    return next((state for state in states if state != "not_found"), "not_found")


def _take_in_queried(received_from, answer: dict, out_trade_no: str, source: PaymentSource) -> str:
    try:
        return record_payment(received_from(answer), source)
    except PaymentRejected as rejected:
        log.error("query of %s does not match: %s", out_trade_no, rejected.message)
        return "mismatch"


def _sync_at_wechat(attempt: PayAttempt, source: PaymentSource) -> str:
    code, body = wechatpay.call_wechat_pay("query", out_trade_no=attempt.out_trade_no)
    if code == 404:
        return "not_found"
    if code != 200:
        raise ExternalServiceError(f"查询微信支付订单失败（{body.get('message') or code}）。")
    state = body.get("trade_state")
    if state in ("SUCCESS", "REFUND"):
        # REFUND: paid, then refunded at WeChat Pay; the payment still happened.
        paid = {**body, "trade_state": "SUCCESS"}
        return _take_in_queried(wechatpay.received_payment, paid, attempt.out_trade_no, source)
    if state == "CLOSED":
        return "closed"
    return str(state or "unknown").lower()


def _sync_at_alipay(attempt: PayAttempt, source: PaymentSource) -> str:
    answer = alipay.query(attempt.out_trade_no)
    if answer.get("code") != alipay.SUCCESS_CODE:
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return "not_found"  # the payer never opened Alipay's cashier
        raise ExternalServiceError(
            f"查询支付宝订单失败（{answer.get('sub_msg') or answer.get('msg')}）。"
        )
    state = answer.get("trade_status")
    if state in alipay.PAID_STATES:
        return _take_in_queried(alipay.received_payment, answer, attempt.out_trade_no, source)
    if state == "TRADE_CLOSED":
        return "closed"
    return str(state or "unknown").lower()


def _query_slot(order_id: int, seconds: int = 3) -> bool:
    """At most one query to WeChat Pay per order every few seconds, however many pages poll."""
    return bool(get_redis().set(f"pay:query:{order_id}", 1, nx=True, ex=seconds))


def poll_payment(order_id: int, learner_id: int, *, query: bool) -> Order:
    """The paying page's poll: our order, queried at WeChat Pay if it is still unpaid."""
    order = orders.buyer_order(order_id, learner_id)
    wanted = query and order.status is OrderStatus.PENDING and orders.has_attempts(order.id)
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


def close_at_provider(attempt: PayAttempt) -> str:
    """Close one attempt at its provider: ``closed``, or ``paid`` when the provider says the
    payer has paid it (the caller then takes the payment in)."""
    if attempt.channel.provider is PayProvider.ALIPAY:
        answer = alipay.close(attempt.out_trade_no)
        if answer.get("code") == alipay.SUCCESS_CODE:
            return "closed"
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return "closed"  # the payer never opened Alipay's cashier: nothing to close
        if answer.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
            return "paid"  # paid (or finished) meanwhile
        raise ExternalServiceError(
            f"支付宝关单失败（{answer.get('sub_msg') or answer.get('msg')}）"
        )
    code, body = wechatpay.call_wechat_pay("close", out_trade_no=attempt.out_trade_no)
    if body.get("code") in wechatpay.PAID_CODES:
        return "paid"
    if code not in (200, 204) and body.get("code") != "ORDER_CLOSED":
        raise ExternalServiceError(f"微信支付关单失败（{body.get('message') or code}）")
    return "closed"


def close_expired_order(order_id: int, now: datetime | None = None) -> str:
    """Close an unpaid order past its expiry, at every provider first: ``closed``, ``paid`` …"""
    now = now or utcnow()
    order = db.session.get(Order, order_id)
    if order is None or order.status is not OrderStatus.PENDING or order.expires_at > now:
        return "skipped"
    for attempt in orders.order_attempts(order.id):
        if close_at_provider(attempt) == "paid":
            return sync_order(order.id, PaymentSource.QUERY)
    db.session.refresh(order, with_for_update=True)
    if order.status is not OrderStatus.PENDING:
        return order.status.value  # a notification was taken in meanwhile
    _mark_closed(order, "超时未支付，已关闭")
    return "closed"
