"""The WeChat Pay APIv3 adapter: calls through wechatpayv3 (JSAPI, Native and H5 prepay, the
rest), the JSAPI signature, opening a notification (signature by the key its serial names, age,
decryption) and reading a paid transaction. What the answers mean for our orders is decided in
``checkout``, ``refunds`` and ``notifications``.

An answer whose signature does not verify (WeChat Pay sends some on purpose, with a
``WECHATPAY/SIGNTEST/`` serial) is asked again once when asking again changes nothing
(``IDEMPOTENT``); only a second failure becomes an error.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from wechatpayv3 import WeChatPay, WeChatPayType

from infra.pay_client import (
    SIGNTEST_PREFIX,
    NotificationKeys,
    PayNotConfigured,
    get_notification_keys,
    get_wechat_pay,
    verify_wechat_signature,
)
from models.orders import PayChannel, PayProvider
from services.display import LOCAL_TZ
from services.errors import ExternalServiceError
from services.payments.received import PaymentRejected, ReceivedPayment

log = logging.getLogger(__name__)

NOT_CONFIGURED = "微信支付暂未开通，请稍后再试或联系客服 400-023-9229。"

# Codes WeChat Pay uses for "this order is paid" (the v3 name and the older one).
PAID_CODES = {"ORDERPAID", "ORDER_PAID"}


def client() -> WeChatPay:
    try:
        return get_wechat_pay()
    except PayNotConfigured:
        raise ExternalServiceError(NOT_CONFIGURED) from None


def notification_keys() -> NotificationKeys:
    try:
        return get_notification_keys()
    except PayNotConfigured:
        raise ExternalServiceError(NOT_CONFIGURED) from None


# Calls that may be made twice with the same effect: reads, close, and the requests WeChat
# Pay recognises by our number (a prepay by out_trade_no, a refund by out_refund_no).
IDEMPOTENT = {
    "pay",
    "query",
    "close",
    "refund",
    "query_refund",
    "trade_bill",
    "download_bill",
    "complaint_list_query",
    "complaint_detail_query",
    "complaint_history_query",
    "complaint_complete",
    "complaint_notification_query",
    "fapiao_set_merchant_config",
    "fapiao_query",
    "fapiao_query_files",
    "fapiao_download_file",
}


class _Unverified(Exception):
    pass


def call_wechat_pay(operation: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """One APIv3 call through wechatpayv3: the status code and the JSON answer."""
    pay = client()
    attempts = 2 if operation in IDEMPOTENT else 1
    for attempt in range(1, attempts + 1):
        try:
            code, text = _call(pay, operation, kwargs)
        except _Unverified as exc:
            if attempt < attempts:
                log.warning("WeChat Pay %s: answer failed verification, asking again", operation)
                continue
            log.error("WeChat Pay %s: answer not signed by WeChat Pay (%s)", operation, exc)
            raise ExternalServiceError("微信支付的应答未通过验签，请稍后再试。") from exc
        break
    if isinstance(text, bytes):
        return code, {"content": text}
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {"message": str(text)[:200]}
    return code, body if isinstance(body, dict) else {"message": str(body)[:200]}


def _call(pay: WeChatPay, operation: str, kwargs: dict[str, Any]) -> tuple[int, Any]:
    try:
        return getattr(pay, operation)(**kwargs)
    except requests.RequestException as exc:
        log.warning("WeChat Pay %s: no answer (%s)", operation, exc)
        raise ExternalServiceError("微信支付暂时无法连接，请稍后再试。") from exc
    except Exception as exc:  # wechatpayv3 raises bare Exceptions, e.g. when a signature fails
        if "verify the signature" in str(exc):
            raise _Unverified(str(exc)) from exc
        log.exception("WeChat Pay %s failed", operation)
        raise ExternalServiceError("微信支付调用失败，请稍后再试或联系客服。") from exc


_PAY_TYPES = {
    PayChannel.WECHAT_JSAPI: WeChatPayType.JSAPI,
    PayChannel.WECHAT_NATIVE: WeChatPayType.NATIVE,
    PayChannel.WECHAT_H5: WeChatPayType.H5,
}
# What WeChat Pay calls each product in a transaction (trade_type).
_TRADE_TYPES = {"JSAPI": PayChannel.WECHAT_JSAPI, "NATIVE": PayChannel.WECHAT_NATIVE}
_TRADE_TYPES["MWEB"] = PayChannel.WECHAT_H5


def prepay(channel: PayChannel, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """A JSAPI, Native or H5 prepay: ``prepay_id``, ``code_url`` or ``h5_url``."""
    return call_wechat_pay("pay", pay_type=_PAY_TYPES[channel], **kwargs)


def received_payment(transaction: dict[str, Any]) -> ReceivedPayment:
    """A paid transaction (a notification's resource, a query's answer), checked against our
    merchant: appid, mchid, state, transaction id and the amount's currency."""
    config = current_app.config
    if transaction.get("appid") != config["WECHAT_APPID"]:
        raise PaymentRejected("mismatch", f"appid {transaction.get('appid')!r} 不是本公众号")
    if transaction.get("mchid") != config["WECHAT_PAY_MCHID"]:
        raise PaymentRejected("mismatch", f"mchid {transaction.get('mchid')!r} 不是本商户号")
    if transaction.get("trade_state") != "SUCCESS":
        raise PaymentRejected("mismatch", f"trade_state {transaction.get('trade_state')!r}")
    transaction_id = str(transaction.get("transaction_id") or "")
    if not transaction_id or len(transaction_id) > 32:
        raise PaymentRejected("mismatch", "transaction_id 缺失或过长")
    amount = transaction.get("amount") or {}
    total = amount.get("total")
    if not isinstance(total, int) or amount.get("currency", "CNY") != "CNY":
        raise PaymentRejected("mismatch", f"金额 {total!r} 格式不正确")
    return ReceivedPayment(
        provider=PayProvider.WECHAT,
        out_trade_no=str(transaction.get("out_trade_no") or ""),
        transaction_id=transaction_id,
        amount_fen=total,
        success_time=parse_wechat_time(transaction.get("success_time")),
        payer=(transaction.get("payer") or {}).get("openid"),
        raw=dict(transaction),
        channel=_TRADE_TYPES.get(str(transaction.get("trade_type") or "")),
    )


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def parse_wechat_time(raw: Any) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


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


def sign_jsapi(prepay_id: str) -> JsapiParameters:
    app_id = current_app.config["WECHAT_APPID"]
    time_stamp = str(int(time.time()))
    nonce_str = secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    pay_sign = client().sign([app_id, time_stamp, nonce_str, package])
    return JsapiParameters(app_id, time_stamp, nonce_str, package, pay_sign)


class NotificationHeaders(Protocol):
    """A notification's HTTP headers, read by name with a default (Werkzeug's request
    headers, whose names match whatever their case, or a plain dict)."""

    def get(self, key: str, default: str, /) -> str: ...


class NotificationRejected(Exception):
    def __init__(self, outcome: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.outcome, self.message, self.status = outcome, message, status


def open_notification(
    headers: NotificationHeaders, body: str, *, now: float | None = None
) -> dict[str, Any]:
    """Check the signature, serial and age of a notification, and decrypt its resource."""
    keys = notification_keys()
    serial = headers.get("Wechatpay-Serial", "")
    if serial.startswith(SIGNTEST_PREFIX):
        raise NotificationRejected("bad_signature", "签名探测（WECHATPAY/SIGNTEST），已拒绝", 401)
    if serial not in keys.public_keys:
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
        signature = base64.b64decode(headers.get("Wechatpay-Signature", ""), validate=True)
    except ValueError:
        signature = b""
    if not verify_wechat_signature(keys.public_keys, serial, message, signature):
        raise NotificationRejected("bad_signature", "Wechatpay-Signature 验签失败", 401)
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
