"""WeChat Pay APIv3 wiring: the ``wechatpayv3`` client in public-key mode, and the keys that
check what WeChat Pay sends us.

The client is built once per app from the ``WECHAT_PAY_*`` settings, with its gateway pointed
at ``WECHAT_PAY_API_BASE`` (the simulator in development and tests). Nothing here runs at
import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import current_app
from wechatpayv3 import WeChatPay, WeChatPayType

log = logging.getLogger(__name__)

_REQUIRED = (
    "WECHAT_APPID",
    "WECHAT_PAY_MCHID",
    "WECHAT_PAY_APIV3_KEY",
    "WECHAT_PAY_CERT_SERIAL",
    "WECHAT_PAY_PRIVATE_KEY",
    "WECHAT_PAY_PUBLIC_KEY",
    "WECHAT_PAY_PUBLIC_KEY_ID",
)


class PayNotConfigured(RuntimeError):
    """The ``WECHAT_PAY_*`` settings are missing or unusable."""


def _check_configured() -> None:
    missing = [key for key in _REQUIRED if not current_app.config.get(key)]
    if missing:
        log.error("WeChat Pay is not configured: %s missing", ", ".join(missing))
        raise PayNotConfigured(", ".join(missing) + " missing")


def get_wechat_pay() -> WeChatPay:
    client = current_app.extensions.get("wechat_pay")
    if client is None:
        _check_configured()
        config = current_app.config
        client = WeChatPay(
            wechatpay_type=WeChatPayType.JSAPI,
            mchid=config["WECHAT_PAY_MCHID"],
            private_key=config["WECHAT_PAY_PRIVATE_KEY"],
            cert_serial_no=config["WECHAT_PAY_CERT_SERIAL"],
            appid=config["WECHAT_APPID"],
            apiv3_key=config["WECHAT_PAY_APIV3_KEY"],
            notify_url=notify_url(),
            public_key=config["WECHAT_PAY_PUBLIC_KEY"],
            public_key_id=config["WECHAT_PAY_PUBLIC_KEY_ID"],
            timeout=(3, 10),
        )
        # wechatpayv3 has no setting for the gateway; it keeps it here.
        client._core._gate_way = config["WECHAT_PAY_API_BASE"].rstrip("/")
        current_app.extensions["wechat_pay"] = client
    return client


def notify_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/pay/notify"


def refund_notify_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/pay/refund-notify"


@dataclass(frozen=True)
class NotificationKeys:
    """What checks a notification: the platform public key and its id, and the APIv3 key."""

    public_key_id: str
    public_key: RSAPublicKey
    apiv3_key: bytes
    max_age_seconds: int


def get_notification_keys() -> NotificationKeys:
    keys = current_app.extensions.get("wechat_pay_notification_keys")
    if keys is None:
        _check_configured()
        config = current_app.config
        public_key = load_pem_public_key(config["WECHAT_PAY_PUBLIC_KEY"].encode())
        if not isinstance(public_key, RSAPublicKey):
            raise PayNotConfigured("WECHAT_PAY_PUBLIC_KEY is not an RSA public key")
        keys = NotificationKeys(
            public_key_id=config["WECHAT_PAY_PUBLIC_KEY_ID"],
            public_key=public_key,
            apiv3_key=config["WECHAT_PAY_APIV3_KEY"].encode(),
            max_age_seconds=int(config["WECHAT_PAY_NOTIFY_MAX_AGE"]),
        )
        current_app.extensions["wechat_pay_notification_keys"] = keys
    return keys


def forget_clients() -> None:
    """Drop the built client and keys (after the configuration changed, in tests)."""
    current_app.extensions.pop("wechat_pay", None)
    current_app.extensions.pop("wechat_pay_notification_keys", None)
