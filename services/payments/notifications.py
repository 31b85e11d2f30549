"""Providers' notifications: WeChat Pay's ``POST /pay/notify`` (payments of every WeChat
channel), ``POST /pay/refund-notify`` (refunds) and ``POST /pay/complaint-notify`` (consumer
complaints), and Alipay's ``POST /pay/alipay/notify``. One that verifies is taken in exactly
like a query's answer, through the same ``checkout.record_payment`` as every channel, so a
duplicate, late or concurrent notification changes nothing.

Every notification whose signature verifies is kept for audit with its outcome. Anyone can
post to these URLs, so of the others (unknown serial, bad signature, stale timestamp) only
a sample is kept: at most ``PAY_NOTIFY_SAMPLE_PER_HOUR`` of each kind an hour, their bodies
cut to ``PAY_NOTIFY_SAMPLE_BODY_BYTES``; the retention command deletes them after
``PAY_NOTIFY_SAMPLE_RETENTION_DAYS``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import select

from infra.extensions import db
from infra.redis_client import get_redis
from models.base import utcnow
from models.orders import PaymentSource, PayNotification, Refund
from services.payments import alipay, checkout, complaints, refunds, wechatpay
from services.payments.received import PaymentRejected
from services.payments.wechatpay import (
    NotificationHeaders,
    NotificationRejected,
    open_notification,
)

log = logging.getLogger(__name__)

_NOTIFICATION_HEADERS = (
    "Wechatpay-Serial",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Signature-Type",
    "Request-ID",
)


@dataclass(frozen=True)
class NotificationAnswer:
    """What to answer WeChat Pay: 204, or a 4xx/5xx with a message (it will retry)."""

    status: int
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.status < 300


# Refused before the signature was found good: anyone may have sent these.
UNVERIFIED_OUTCOMES = frozenset({"wrong_serial", "bad_signature", "stale"})


def _storable(text: str) -> str:
    """PostgreSQL's text and JSON cannot hold NUL."""
    return text.replace("\x00", "\ufffd")


def keep_notification(kind: str, headers: NotificationHeaders, body: str) -> PayNotification:
    """The raw notification, kept for audit (``_store`` decides, once its outcome is
    known)."""
    return PayNotification(
        kind=kind,
        headers={name: _storable(headers.get(name, "")[:512]) for name in _NOTIFICATION_HEADERS},
        body=_storable(body[:65536]),
        outcome="received",
        received_at=utcnow(),
    )


def _sampled(kind: str) -> bool:
    """Whether this hour's sample of unverified notifications of ``kind`` has room."""
    key = f"pay-notify-sample:{kind}:{int(time.time()) // 3600}"
    try:
        client = get_redis()
        taken = client.incr(key)
        client.expire(key, 7200)
    except redis.exceptions.RedisError as error:
        log.warning("unverified %s notification not kept (Redis unavailable): %s", kind, error)
        return False
    return taken <= int(current_app.config["PAY_NOTIFY_SAMPLE_PER_HOUR"])


def _store(record: PayNotification) -> None:
    """One INSERT with its outcome: always for a verified notification, for an unverified
    one only within the hour's sample (and cut short)."""
    if record.outcome in UNVERIFIED_OUTCOMES:
        if not _sampled(record.kind):
            return
        limit = int(current_app.config["PAY_NOTIFY_SAMPLE_BODY_BYTES"])
        record.body = record.body.encode()[:limit].decode(errors="ignore")
    db.session.add(record)
    db.session.flush()


def receive_transaction_notification(headers: NotificationHeaders, body: str) -> NotificationAnswer:
    """``POST /pay/notify``: a payment result from WeChat Pay."""
    record = keep_notification("transaction", headers, body)
    answer = _take_in_transaction(record, headers, body)
    _store(record)
    return answer


def _take_in_transaction(
    record: PayNotification, headers: NotificationHeaders, body: str
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
        received = wechatpay.received_payment(transaction)
        record.outcome = checkout.record_payment(received, PaymentSource.NOTIFY)
    except PaymentRejected as rejected:
        record.outcome, record.detail = rejected.outcome, rejected.message[:255]
        log.warning("payment notification for %s refused: %s", record.out_trade_no, rejected)
        return NotificationAnswer(rejected.status, rejected.message)
    return NotificationAnswer(204)


def receive_complaint_notification(headers: NotificationHeaders, body: str) -> NotificationAnswer:
    """``POST /pay/complaint-notify``: a complaint was made or changed (COMPLAINT.*)."""
    record = keep_notification("complaint", headers, body)
    try:
        envelope = open_notification(headers, body)
    except NotificationRejected as rejected:
        record.outcome, record.detail = rejected.outcome, rejected.message[:255]
        log.warning("complaint notification refused (%s): %s", rejected.outcome, rejected.message)
        answer = NotificationAnswer(rejected.status, rejected.message)
    else:
        resource = envelope["resource"]
        record.event_id = str(envelope.get("id") or "")[:64] or None
        record.event_type = str(envelope.get("event_type") or "")[:40] or None
        complaint_id = str(resource.get("complaint_id") or "")
        if not complaint_id:
            record.outcome, record.detail = "malformed", "缺少 complaint_id"
            answer = NotificationAnswer(400, "缺少 complaint_id")
        else:
            complaints.record_notified(complaint_id, str(resource.get("action_type") or ""))
            record.outcome, record.detail = "received", f"投诉单 {complaint_id}"
            answer = NotificationAnswer(204)
    _store(record)
    return answer


def receive_refund_notification(headers: NotificationHeaders, body: str) -> NotificationAnswer:
    """``POST /pay/refund-notify``: a refund result from WeChat Pay."""
    record = keep_notification("refund", headers, body)
    answer = _take_in_refund(record, headers, body)
    _store(record)
    return answer


def _take_in_refund(
    record: PayNotification, headers: NotificationHeaders, body: str
) -> NotificationAnswer:
    try:
        envelope = open_notification(headers, body)
    except NotificationRejected as rejected:
        record.outcome, record.detail = rejected.outcome, rejected.message[:255]
        log.warning("refund notification refused (%s): %s", rejected.outcome, rejected.message)
        return NotificationAnswer(rejected.status, rejected.message)
    resource = envelope["resource"]
    record.event_id = str(envelope.get("id") or "")[:64] or None
    record.event_type = str(envelope.get("event_type") or "")[:40] or None
    record.out_trade_no = str(resource.get("out_trade_no") or "")[:32] or None
    refund = db.session.scalar(
        select(Refund).where(Refund.out_refund_no == str(resource.get("out_refund_no") or ""))
    )
    if resource.get("mchid") != current_app.config["WECHAT_PAY_MCHID"]:
        return _refuse_refund(record, 400, "mchid 不是本商户号")
    if refund is None:
        return _refuse_refund(record, 404, "商户退款单号不存在")
    trade_no = refunds.payment_trade_no(refunds.refunded_payment(refund), refund.order)
    if trade_no != resource.get("out_trade_no"):
        return _refuse_refund(record, 400, "out_trade_no 与退款单不符")
    if (resource.get("amount") or {}).get("refund") != refund.amount_fen:
        return _refuse_refund(record, 400, "退款金额与退款单不符")
    record.outcome = refunds.apply_refund_state(refund, resource)
    return NotificationAnswer(204)


def _refuse_refund(record: PayNotification, status: int, problem: str) -> NotificationAnswer:
    record.outcome, record.detail = "mismatch", problem
    log.warning("refund notification refused: %s", problem)
    return NotificationAnswer(status, problem)


# --- Alipay ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlipayAnswer:
    """Alipay retries until it reads ``success``; anything else (with a 4xx here) is a refusal."""

    status: int
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.status < 300


def receive_alipay_notification(fields: dict[str, str], body: str) -> AlipayAnswer:
    """``POST /pay/alipay/notify``: a trade's state from Alipay (RSA2-signed form fields)."""
    record = PayNotification(
        kind="alipay",
        headers={},
        body=_storable(body)[:65536],
        outcome="received",
        received_at=utcnow(),
        event_id=str(fields.get("notify_id") or "")[:64] or None,
        event_type=f"{fields.get('notify_type', '')}:{fields.get('trade_status', '')}"[:40],
        out_trade_no=str(fields.get("out_trade_no") or "")[:32] or None,
    )
    answer = _take_in_alipay(record, fields)
    _store(record)
    return answer


def _refuse_alipay(record: PayNotification, outcome: str, problem: str, status: int = 400):
    record.outcome, record.detail = outcome, problem[:255]
    log.warning("Alipay notification refused (%s): %s", outcome, problem)
    return AlipayAnswer(status, problem)


def _take_in_alipay(record: PayNotification, fields: dict[str, str]) -> AlipayAnswer:
    if not fields.get("sign"):
        return _refuse_alipay(record, "bad_signature", "缺少 sign", 401)
    if not alipay.verify_notification(fields):
        return _refuse_alipay(record, "bad_signature", "支付宝通知验签失败", 401)
    if fields.get("app_id") != current_app.config["ALIPAY_APP_ID"]:
        return _refuse_alipay(record, "mismatch", f"app_id {fields.get('app_id')!r} 不是本应用")
    if fields.get("out_biz_no") or fields.get("refund_fee"):
        # A refund's news on the trade: Alipay answered our refund call already.
        record.outcome = _alipay_refund_news(fields)
        return AlipayAnswer(200)
    if fields.get("trade_status") not in alipay.PAID_STATES:
        record.outcome = "ignored"  # WAIT_BUYER_PAY, TRADE_CLOSED: nothing to take in
        return AlipayAnswer(200)
    try:
        received = alipay.received_payment(fields)
        record.outcome = checkout.record_payment(received, PaymentSource.NOTIFY)
    except PaymentRejected as rejected:
        return _refuse_alipay(record, rejected.outcome, rejected.message, rejected.status)
    return AlipayAnswer(200)


def _alipay_refund_news(fields: dict[str, str]) -> str:
    refund = db.session.scalar(
        select(Refund).where(Refund.out_refund_no == str(fields.get("out_biz_no") or ""))
    )
    if refund is None:
        return "ignored"
    when = alipay.parse_alipay_time(fields.get("gmt_refund"))
    state = {"status": "SUCCESS", "success_time": when.isoformat() if when else None}
    return refunds.apply_refund_state(refund, state)
