"""WeChat Pay: paying an order with JSAPI, taking in the payment, order query and close.

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

import base64
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

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
    PayNotification,
    SeatStatus,
)
from services import catalog, invoices, notify, orders, refunds
from services.display import LOCAL_TZ, mask_name
from services.errors import ExternalServiceError
from wxapp.extensions import db
from wxapp.jobs import after_commit, commit, enqueue
from wxapp.pay_client import get_notification_keys, get_wechat_pay, notify_url
from wxapp.redis_client import get_redis

log = logging.getLogger(__name__)

# Codes WeChat Pay uses for "this order is paid" (the v3 name and the older one).
_PAID_CODES = {"ORDERPAID", "ORDER_PAID"}
_NOTIFICATION_HEADERS = (
    "Wechatpay-Serial",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Signature-Type",
    "Request-ID",
)


# --- talking to WeChat Pay -------------------------------------------------------------------


def call_wechat_pay(operation: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """One APIv3 call through wechatpayv3: the status code and the JSON answer."""
    client = get_wechat_pay()
    try:
        code, text = getattr(client, operation)(**kwargs)
    except requests.RequestException as exc:
        log.warning("WeChat Pay %s: no answer (%s)", operation, exc)
        raise ExternalServiceError("微信支付暂时无法连接，请稍后再试。") from exc
    except Exception as exc:  # wechatpayv3 raises bare Exceptions, e.g. when a signature fails
        if "verify the signature" in str(exc):
            log.error("WeChat Pay %s: answer not signed by WeChat Pay (%s)", operation, exc)
            raise ExternalServiceError("微信支付的应答未通过验签，请稍后再试。") from exc
        log.exception("WeChat Pay %s failed", operation)
        raise ExternalServiceError("微信支付调用失败，请稍后再试或联系客服。") from exc
    if isinstance(text, bytes):
        return code, {"content": text}
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {"message": str(text)[:200]}
    return code, body if isinstance(body, dict) else {"message": str(body)[:200]}


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


# --- the pay page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JsapiParameters:
    """What ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)`` takes."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    pay_sign: str
    sign_type: str = "RSA"

    def as_dict(self) -> dict[str, str]:
        return {
            "appId": self.app_id,
            "timeStamp": self.time_stamp,
            "nonceStr": self.nonce_str,
            "package": self.package,
            "signType": self.sign_type,
            "paySign": self.pay_sign,
        }


@dataclass(frozen=True)
class PayPage:
    order: Order
    params: JsapiParameters | None  # None: nothing to pay (see ``message`` and the order)
    message: str = ""


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
    code, body = call_wechat_pay(
        "pay",
        description=order.plan.title[:127],
        out_trade_no=order.out_trade_no,
        amount={"total": order.amount_fen, "currency": "CNY"},
        payer={"openid": openid},
        time_expire=_rfc3339(order.expires_at),
        notify_url=notify_url(),
    )
    if code == 200 and body.get("prepay_id"):
        order.prepay_id = body["prepay_id"]
        db.session.flush()
        return PayPage(order, sign_jsapi(order.prepay_id))
    if body.get("code") in _PAID_CODES:
        sync_order(order.id, PaymentSource.QUERY)
        return PayPage(order, None, f"订单{order.status.label}。")
    if body.get("code") == "ORDER_CLOSED":
        _mark_closed(order, "微信支付已关闭该订单")
        return PayPage(order, None, "订单已关闭，请重新下单。")
    log.error("prepay of %s refused: %s %s", order.out_trade_no, code, body)
    raise ExternalServiceError(
        f"微信支付下单失败（{body.get('message') or code}），请稍后再试或联系客服。"
    )


def sign_jsapi(prepay_id: str) -> JsapiParameters:
    app_id = current_app.config["WECHAT_APPID"]
    time_stamp = str(int(time.time()))
    nonce_str = secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    pay_sign = get_wechat_pay().sign([app_id, time_stamp, nonce_str, package])
    return JsapiParameters(app_id, time_stamp, nonce_str, package, pay_sign)


def _seat_learners_holding_plan(order: Order) -> list[str]:
    """Names (masked: the seats are not paid for) of the order's learners who hold its plan
    by another order or a review."""
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
    return [mask_name(seats[learner_id].learner.name) for learner_id in ids]


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
    paid_at = parse_wechat_time(transaction.get("success_time")) or utcnow()
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
            staff_id=None,
            actor="system:payments",
            ip=None,
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
        after_commit(enqueue, notify_seat_holders, order.id)
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


def notify_seat_holders(order_id: int) -> None:
    """Job: tell each colleague of a paid group order that their plan is open."""
    order = db.session.get(Order, order_id)
    if order is None or order.paid_at is None:
        return
    path = orders.path_for("h5.plan_detail", plan_id=order.plan_id)
    for seat in order.seats:
        if seat.status is SeatStatus.ACTIVE and seat.learner_id != order.buyer_id:
            notify.payment_received(
                learner_id=seat.learner_id,
                order_id=order.id,
                plan_title=order.plan.title,
                amount_fen=order.unit_price_fen,
                paid_at=order.paid_at,
                path=path,
            )
    commit()


def parse_wechat_time(raw: Any) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


# --- notifications ---------------------------------------------------------------------------


class NotificationRejected(Exception):
    def __init__(self, outcome: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.outcome, self.message, self.status = outcome, message, status


@dataclass(frozen=True)
class NotificationAnswer:
    """What to answer WeChat Pay: 204, or a 4xx/5xx with a message (it will retry)."""

    status: int
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.status < 300


def open_notification(
    headers: Mapping[str, str], body: str, *, now: float | None = None
) -> dict[str, Any]:
    """Check the signature, serial and age of a notification, and decrypt its resource."""
    keys = get_notification_keys()
    serial = headers.get("Wechatpay-Serial", "")
    if serial != keys.public_key_id:
        raise NotificationRejected("wrong_serial", f"未知的 Wechatpay-Serial {serial[:64]!r}", 401)
    signature_type = headers.get("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
    if signature_type != "WECHATPAY2-SHA256-RSA2048":
        raise NotificationRejected(
            "bad_signature", f"不支持的签名类型 {signature_type[:40]!r}", 401
        )
    try:
        timestamp = int(headers.get("Wechatpay-Timestamp", ""))
    except ValueError:
        raise NotificationRejected("bad_signature", "Wechatpay-Timestamp 缺失或格式错误") from None
    # Whole seconds: any integer a header carries compares without overflowing a float.
    age = int(time.time() if now is None else now) - timestamp
    if abs(age) > keys.max_age_seconds:
        raise NotificationRejected("stale", f"Wechatpay-Timestamp 与当前时间相差 {age} 秒")
    message = f"{timestamp}\n{headers.get('Wechatpay-Nonce', '')}\n{body}\n".encode()
    try:
        keys.public_key.verify(
            base64.b64decode(headers.get("Wechatpay-Signature", ""), validate=True),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        raise NotificationRejected("bad_signature", "Wechatpay-Signature 验签失败", 401) from None
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        if envelope.get("resource_type") != "encrypt-resource":
            raise ValueError("resource_type")
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise ValueError("algorithm")
        plaintext = AESGCM(keys.apiv3_key).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(resource["ciphertext"]),
            str(resource.get("associated_data") or "").encode(),
        )
        envelope["resource"] = json.loads(plaintext)
    except InvalidTag:
        raise NotificationRejected("undecryptable", "resource 解密失败（APIv3 密钥不符）") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotificationRejected("malformed", f"通知格式不正确：{exc}") from None
    if not isinstance(envelope["resource"], dict):
        raise NotificationRejected("malformed", "通知的 resource 不是 JSON 对象")
    return envelope


def keep_notification(kind: str, headers: Mapping[str, str], body: str) -> PayNotification:
    """The raw notification, kept for audit whatever becomes of it (the caller adds it to
    the session once its outcome is known)."""
    return PayNotification(
        kind=kind,
        headers={name: headers.get(name, "")[:512] for name in _NOTIFICATION_HEADERS},
        body=body[:65536],
        outcome="received",
        received_at=utcnow(),
    )


def receive_transaction_notification(headers: Mapping[str, str], body: str) -> NotificationAnswer:
    """``POST /pay/notify``: a payment result from WeChat Pay."""
    record = keep_notification("transaction", headers, body)
    answer = _take_in_notification(record, headers, body)
    db.session.add(record)  # one INSERT, with its outcome
    db.session.flush()
    return answer


def _take_in_notification(
    record: PayNotification, headers: Mapping[str, str], body: str
) -> NotificationAnswer:
    try:
        envelope = open_notification(headers, body)
    except NotificationRejected as rejected:
        record.outcome, record.detail = rejected.outcome, rejected.message[:255]
        log.warning("payment notification refused (%s): %s", rejected.outcome, rejected.message)
        return NotificationAnswer(rejected.status, rejected.message)
    transaction = envelope["resource"]
    record.event_id = str(envelope.get("id") or "")[:64] or None
    record.event_type = str(envelope.get("event_type") or "")[:40] or None
    record.out_trade_no = str(transaction.get("out_trade_no") or "")[:32] or None
    if record.event_type != "TRANSACTION.SUCCESS":
        record.outcome = "ignored"
        return NotificationAnswer(204)
    try:
        record.outcome = record_payment(transaction, PaymentSource.NOTIFY)
    except PaymentRejected as rejected:
        record.outcome, record.detail = rejected.outcome, rejected.message[:255]
        log.warning("payment notification for %s refused: %s", record.out_trade_no, rejected)
        return NotificationAnswer(rejected.status, rejected.message)
    return NotificationAnswer(204)


# --- query and close -------------------------------------------------------------------------


def sync_order(order_id: int, source: PaymentSource = PaymentSource.QUERY) -> str:
    """Ask WeChat Pay how the order stands and take in a payment we missed."""
    order = db.session.get(Order, order_id)
    code, body = call_wechat_pay("query", out_trade_no=order.out_trade_no)
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


def close_at_wechat(order_id: int) -> None:
    """Job after a local close: close at WeChat Pay too, or take in the payment it reports."""
    order = db.session.get(Order, order_id)
    if order is None:
        return
    try:
        code, body = call_wechat_pay("close", out_trade_no=order.out_trade_no)
        if body.get("code") in _PAID_CODES:
            sync_order(order.id, PaymentSource.QUERY)
        elif code not in (200, 204):
            log.warning("close of %s at WeChat Pay: %s %s", order.out_trade_no, code, body)
    except ExternalServiceError as error:
        # time_expire still stops the payment at WeChat Pay.
        log.warning("close of %s at WeChat Pay failed: %s", order.out_trade_no, error.message)
    commit()


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
        code, body = call_wechat_pay("close", out_trade_no=order.out_trade_no)
        if body.get("code") in _PAID_CODES:
            return sync_order(order.id, PaymentSource.QUERY)
        if code not in (200, 204) and body.get("code") != "ORDER_CLOSED":
            raise ExternalServiceError(f"微信支付关单失败（{body.get('message') or code}）")
    db.session.refresh(order, with_for_update=True)
    if order.status is not OrderStatus.PENDING:
        return order.status.value  # a notification was taken in meanwhile
    _mark_closed(order, "超时未支付，已关闭")
    return "closed"
