"""WeChat Pay's notifications: ``POST /pay/notify`` (payments) and ``POST /pay/refund-notify``
(refunds). One that verifies is taken in exactly like a query's answer, so a duplicate, late
or concurrent notification changes nothing.

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
from services.payments import checkout, refunds
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
        record.outcome = checkout.record_payment(transaction, PaymentSource.NOTIFY)
    except checkout.PaymentRejected as rejected:
        record.outcome, record.detail = rejected.outcome, rejected.message[:255]
        log.warning("payment notification for %s refused: %s", record.out_trade_no, rejected)
        return NotificationAnswer(rejected.status, rejected.message)
    return NotificationAnswer(204)


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
    if refund.order.out_trade_no != resource.get("out_trade_no"):
        return _refuse_refund(record, 400, "out_trade_no 与退款单不符")
    if (resource.get("amount") or {}).get("refund") != refund.amount_fen:
        return _refuse_refund(record, 400, "退款金额与退款单不符")
    record.outcome = refunds.apply_refund_state(refund, resource)
    return NotificationAnswer(204)


def _refuse_refund(record: PayNotification, status: int, problem: str) -> NotificationAnswer:
    record.outcome, record.detail = "mismatch", problem
    log.warning("refund notification refused: %s", problem)
    return NotificationAnswer(status, problem)
