"""Payment provider wiring: the ``wechatpayv3`` client (public-key mode, a platform certificate
beside it during a migration, a backup host), the keys that check what WeChat Pay sends us,
and the Alipay client of ``python-alipay-sdk``.

Clients are built once per app from the settings, with their gateways pointed at
``WECHAT_PAY_API_BASE`` / ``ALIPAY_API_BASE`` (the simulator in development and tests).
Nothing here runs at import time.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import current_app
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core

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
_ALIPAY_REQUIRED = ("ALIPAY_APP_ID", "ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY")

# WeChat Pay's signature probes: answers and callbacks signed wrongly on purpose, which a
# merchant must refuse (https://pay.weixin.qq.com/doc/v3/merchant/4012365342).
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"


class PayNotConfigured(RuntimeError):
    """The ``WECHAT_PAY_*`` (or ``ALIPAY_*``) settings are missing or unusable."""


def _check_configured() -> None:
    missing = [key for key in _REQUIRED if not current_app.config.get(key)]
    if missing:
        log.error("WeChat Pay is not configured: %s missing", ", ".join(missing))
        raise PayNotConfigured(", ".join(missing) + " missing")


# --- the keys that check WeChat Pay ----------------------------------------------------------


def certificate_serial(certificate: x509.Certificate) -> str:
    """A platform certificate's serial as ``Wechatpay-Serial`` carries it (upper-case hex)."""
    return format(certificate.serial_number, "X")


def platform_keys(config: Any) -> dict[str, RSAPublicKey]:
    """WeChat Pay's keys by the serial that names them: the platform public key by its id and,
    while a merchant moves from platform certificates to public-key mode (WeChat Pay signs
    with either for a while), the platform certificate by its serial."""
    keys: dict[str, RSAPublicKey] = {}
    public_key = load_pem_public_key(config["WECHAT_PAY_PUBLIC_KEY"].encode())
    if not isinstance(public_key, RSAPublicKey):
        raise PayNotConfigured("WECHAT_PAY_PUBLIC_KEY is not an RSA public key")
    keys[config["WECHAT_PAY_PUBLIC_KEY_ID"]] = public_key
    if config.get("WECHAT_PAY_PLATFORM_CERT"):
        certificate = x509.load_pem_x509_certificate(config["WECHAT_PAY_PLATFORM_CERT"].encode())
        certificate_key = certificate.public_key()
        if not isinstance(certificate_key, RSAPublicKey):
            raise PayNotConfigured("WECHAT_PAY_PLATFORM_CERT does not hold an RSA key")
        keys[certificate_serial(certificate)] = certificate_key
    return keys


def verify_wechat_signature(
    keys: dict[str, RSAPublicKey], serial: str, message: bytes, signature: bytes
) -> bool:
    """RSA-SHA256 with the key ``serial`` names; an unknown serial (a signature probe among
    them) verifies nothing."""
    key = None if serial.startswith(SIGNTEST_PREFIX) else keys.get(serial)
    if key is None:
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class _FailoverCore(Core):
    """wechatpayv3's core with WeChat Pay's backup host and our key table.

    A call the primary host does not take (refused, unreachable, no connection within the
    connect timeout) goes to the backup host (``api2.mch.weixin.qq.com``); for a while after
    that, calls try the backup first. A call that was sent but whose answer timed out is not
    sent again: the primary may have acted on it. Host names are resolved on every connection, never pinned. Answers are checked
    with the key their ``Wechatpay-Serial`` names (``platform_keys``).
    """

    def __init__(
        self,
        *,
        hosts: tuple[str, ...],
        keys: dict[str, RSAPublicKey],
        prefer_seconds: float,
        **kwargs: Any,
    ) -> None:
        self._hosts = hosts
        self._keys = keys
        self._prefer_seconds = prefer_seconds
        self._primary_down_until = 0.0
        self._local = threading.local()
        super().__init__(**kwargs)

    # wechatpayv3 reads (and once sets) ``_gate_way``: the host of the call in this thread.
    @property
    def _gate_way(self) -> str:
        return getattr(self._local, "host", None) or self._hosts[0]

    @_gate_way.setter
    def _gate_way(self, value: str) -> None:
        pass  # Core.__init__ sets the real host; ours are in _hosts

    def hosts_in_order(self) -> tuple[str, ...]:
        if len(self._hosts) > 1 and time.monotonic() < self._primary_down_until:
            return (*self._hosts[1:], self._hosts[0])
        return self._hosts

    def request(self, path: str, *args: Any, **kwargs: Any):
        hosts = self.hosts_in_order()
        for index, host in enumerate(hosts):
            self._local.host = host
            try:
                return super().request(path, *args, **kwargs)
            except requests.ConnectionError as exc:  # ConnectTimeout included, ReadTimeout not
                if index == len(hosts) - 1:
                    raise
                log.warning(
                    "WeChat Pay host %s did not answer (%s); trying %s",
                    urlsplit(host).netloc,
                    exc.__class__.__name__,
                    urlsplit(hosts[index + 1]).netloc,
                )
                if host == self._hosts[0]:
                    self._primary_down_until = time.monotonic() + self._prefer_seconds
            finally:
                self._local.host = None
        raise RuntimeError("no WeChat Pay host configured")

    def _verify_signature(self, headers: Any, body: str) -> bool:
        if headers.get("Wechatpay-Signature-Type") != "WECHATPAY2-SHA256-RSA2048":
            return False
        try:
            signature = base64.b64decode(headers.get("Wechatpay-Signature", ""), validate=True)
        except ValueError:
            return False
        message = (
            f"{headers.get('Wechatpay-Timestamp', '')}\n{headers.get('Wechatpay-Nonce', '')}\n"
            f"{body}\n"
        ).encode()
        return verify_wechat_signature(
            self._keys, headers.get("Wechatpay-Serial", ""), message, signature
        )


def get_wechat_pay() -> WeChatPay:
    client = current_app.extensions.get("wechat_pay")
    if client is None:
        _check_configured()
        config = current_app.config
        credentials = {
            "mchid": config["WECHAT_PAY_MCHID"],
            "private_key": config["WECHAT_PAY_PRIVATE_KEY"],
            "cert_serial_no": config["WECHAT_PAY_CERT_SERIAL"],
            "apiv3_key": config["WECHAT_PAY_APIV3_KEY"],
            "public_key": config["WECHAT_PAY_PUBLIC_KEY"],
            "public_key_id": config["WECHAT_PAY_PUBLIC_KEY_ID"],
            "timeout": (3, 10),
        }
        client = WeChatPay(
            wechatpay_type=WeChatPayType.JSAPI,
            appid=config["WECHAT_APPID"],
            notify_url=notify_url(),
            **credentials,
        )
        hosts = [config["WECHAT_PAY_API_BASE"].rstrip("/")]
        if config.get("WECHAT_PAY_BACKUP_API_BASE"):
            hosts.append(config["WECHAT_PAY_BACKUP_API_BASE"].rstrip("/"))
        # wechatpayv3 has no setting for the gateway, a backup host or a second key: its core
        # is replaced by one that has them, and that answers every call as before.
        client._core = _FailoverCore(
            hosts=tuple(hosts),
            keys=platform_keys(config),
            prefer_seconds=float(config["WECHAT_PAY_FAILOVER_SECONDS"]),
            **credentials,
        )
        current_app.extensions["wechat_pay"] = client
    return client


def notify_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/pay/notify"


def refund_notify_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/pay/refund-notify"


def complaint_notify_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/pay/complaint-notify"


@dataclass(frozen=True)
class NotificationKeys:
    """What checks a notification: WeChat Pay's keys by serial, and the APIv3 key."""

    public_keys: dict[str, RSAPublicKey]
    apiv3_key: bytes
    max_age_seconds: int


def get_notification_keys() -> NotificationKeys:
    keys = current_app.extensions.get("wechat_pay_notification_keys")
    if keys is None:
        _check_configured()
        config = current_app.config
        keys = NotificationKeys(
            public_keys=platform_keys(config),
            apiv3_key=config["WECHAT_PAY_APIV3_KEY"].encode(),
            max_age_seconds=int(config["WECHAT_PAY_NOTIFY_MAX_AGE"]),
        )
        current_app.extensions["wechat_pay_notification_keys"] = keys
    return keys


# --- Alipay ---------------------------------------------------------------------------------


def alipay_configured() -> bool:
    return all(current_app.config.get(key) for key in _ALIPAY_REQUIRED)


def alipay_notify_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/pay/alipay/notify"


def get_alipay() -> Any:
    """The ``python-alipay-sdk`` client (RSA2), its gateway at ``ALIPAY_API_BASE``."""
    client = current_app.extensions.get("alipay")
    if client is None:
        missing = [key for key in _ALIPAY_REQUIRED if not current_app.config.get(key)]
        if missing:
            raise PayNotConfigured(", ".join(missing) + " missing")
        from alipay import AliPay
        from alipay.utils import AliPayConfig

        config = current_app.config
        client = AliPay(
            appid=config["ALIPAY_APP_ID"],
            app_notify_url=alipay_notify_url(),
            app_private_key_string=config["ALIPAY_PRIVATE_KEY"],
            alipay_public_key_string=config["ALIPAY_PUBLIC_KEY"],
            sign_type="RSA2",
            config=AliPayConfig(timeout=10),
        )
        # The SDK knows only Alipay's production and sandbox gateways; it keeps it here.
        client._gateway = config["ALIPAY_API_BASE"]
        current_app.extensions["alipay"] = client
    return client


def forget_clients() -> None:
    """Drop the built clients and keys (after the configuration changed, in tests)."""
    for name in ("wechat_pay", "wechat_pay_notification_keys", "alipay"):
        current_app.extensions.pop(name, None)
