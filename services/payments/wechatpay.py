"""The WeChat Pay APIv3 adapter: calls through wechatpayv3, the JSAPI signature, and opening
a notification (signature, serial, age, decryption). What the answers mean for our orders is
decided in ``checkout``, ``refunds`` and ``notifications``.
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
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from wechatpayv3 import WeChatPay

from infra.pay_client import (
    NotificationKeys,
    PayNotConfigured,
    get_notification_keys,
    get_wechat_pay,
)
from services.display import LOCAL_TZ
from services.errors import ExternalServiceError

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


def call_wechat_pay(operation: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """One APIv3 call through wechatpayv3: the status code and the JSON answer."""
    pay = client()
    try:
        code, text = getattr(pay, operation)(**kwargs)
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
