"""WeChat Pay APIv3, simulated: the subset the platform calls, and the notifications it gets.

Endpoints (under the simulator's ``/pay``): JSAPI, Native and H5 prepay, order query (by
out_trade_no or transaction_id), close, refund, refund query, trade bill and its download, and
consumer complaints 2.0 (``wechat_sim/complaints.py``). Requests must carry
a valid ``Authorization`` signed with the merchant's private key; responses and notifications
are signed with the platform key pair the simulator owns (``Wechatpay-Serial`` = its public key
id), and the notification resource is AES-256-GCM encrypted with the APIv3 key, as WeChat Pay
does. Errors use WeChat Pay's status codes and ``{"code", "message"}`` bodies.

``/pay/cashier`` stands in for the WeChat client's payment sheet: it takes the signed JSAPI
parameters (``WeixinJSBridge`` would), or a Native ``code_url`` (what scanning the QR code
gives the phone), shows the order and "pays" it; ``/pay/h5`` is where an H5 (MWEB) ``h5_url``
leads, the WeChat app opened from a phone browser. Then the notification goes
to the ``notify_url`` of the prepay with WeChat's retry schedule until the platform answers 200
or 204. Tests (and ``/pay/sim/faults``) can make the next notifications drop, wait, come
several times at once, come in reverse order, or come stale, forged or tampered with.

Configuration: ``WECHAT_PAY_SIM`` in the simulator app's config (tests), otherwise the
development keys that the platform's development configuration also reads
(``infra/pay_keys.py``).
"""

from __future__ import annotations

import base64
import copy
import csv
import gzip
import hashlib
import heapq
import io
import itertools
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
)

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
# WeChat Pay's notification schedule: the first push, then these waits between retries.
RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800)
RETRY_SCHEDULE += (21600, 21600)
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
PREPAY_LIFETIME = timedelta(hours=2)
_OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
_OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")

bp = Blueprint("wechat_pay_sim", __name__)

# The trade bill's columns, as WeChat Pay writes them.
BILL_HEADER = (
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号",
    "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额",
    "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态",
    "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
)  # fmt: skip
BILL_TOTALS_HEADER = (
    "总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额",
    "订单总金额", "申请退款总金额",
)  # fmt: skip


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _random_digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


# --- configuration ---------------------------------------------------------------------------


@dataclass
class SimSettings:
    apiv3_key: str
    merchant_serial: str
    merchant_public_key: rsa.RSAPublicKey
    platform_private_key: rsa.RSAPrivateKey
    public_key_id: str
    appid: str | None = None
    mchid: str | None = None
    # Multiplies every wait (retry schedule, delays, refund processing); tests compress it.
    time_scale: float = 1.0
    # "thread": a background thread delivers when due; "manual": only ``deliver()`` does.
    delivery: str = "thread"
    refund_seconds: float = 3.0
    # A platform certificate (the mode before public keys): its key and serial, to sign with
    # during a migration week (``cert`` fault, ``answers_by_certificate``).
    certificate_private_key: rsa.RSAPrivateKey | None = None
    certificate_serial: str | None = None

    @classmethod
    def from_app(cls, app: Flask) -> SimSettings:
        given = dict(app.config.get("WECHAT_PAY_SIM") or {})
        if not given.get("merchant_public_key"):
            from infra.pay_keys import load_or_create_pay_keys
            from wxapp.config import PROJECT_ROOT

            keys = load_or_create_pay_keys(PROJECT_ROOT / "instance")
            given = {
                "apiv3_key": keys.apiv3_key,
                "merchant_serial": keys.merchant_serial,
                "merchant_public_key": keys.merchant_public_key,
                "platform_private_key": keys.platform_private_key,
                "public_key_id": keys.public_key_id,
                "appid": app.config.get("APPID"),
                **given,
            }
        merchant_public_key = serialization.load_pem_public_key(
            given.pop("merchant_public_key").encode()
        )
        platform_private_key = serialization.load_pem_private_key(
            given.pop("platform_private_key").encode(), password=None
        )
        if given.get("certificate_private_key"):
            given["certificate_private_key"] = serialization.load_pem_private_key(
                given["certificate_private_key"].encode(), password=None
            )
        return cls(
            merchant_public_key=merchant_public_key,  # type: ignore[arg-type]
            platform_private_key=platform_private_key,  # type: ignore[arg-type]
            **given,
        )


# --- state -----------------------------------------------------------------------------------


@dataclass
class Trade:
    out_trade_no: str
    appid: str
    mchid: str
    description: str
    total: int
    payer_openid: str | None
    notify_url: str
    time_expire: datetime | None
    attach: str | None
    prepay_id: str
    prepay_created: datetime
    state: str = "NOTPAY"  # NOTPAY | SUCCESS | CLOSED | REFUND
    transaction_id: str | None = None
    success_time: datetime | None = None
    trade_type: str = "JSAPI"  # JSAPI | NATIVE | MWEB
    code_url: str | None = None  # Native: what the QR code holds

    STATE_DESC: ClassVar[dict[str, str]] = {
        "NOTPAY": "订单未支付",
        "SUCCESS": "支付成功",
        "CLOSED": "已关闭",
        "REFUND": "转入退款",
    }

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_state": self.state,
            "trade_state_desc": self.STATE_DESC[self.state],
            "amount": {"total": self.total, "currency": "CNY"},
        }
        if self.attach:
            body["attach"] = self.attach
        if self.transaction_id:
            body.update(
                transaction_id=self.transaction_id,
                trade_type=self.trade_type,
                bank_type="OTHERS",
                success_time=rfc3339(self.success_time),  # type: ignore[arg-type]
                payer={"openid": self.payer_openid},
                amount={
                    "total": self.total,
                    "payer_total": self.total,
                    "currency": "CNY",
                    "payer_currency": "CNY",
                },
            )
        return body


@dataclass
class SimRefund:
    out_refund_no: str
    refund_id: str
    trade: Trade
    refund: int
    reason: str
    notify_url: str | None
    created: datetime
    status: str = "PROCESSING"  # PROCESSING | SUCCESS | ABNORMAL
    success_time: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.trade.transaction_id,
            "out_trade_no": self.trade.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": rfc3339(self.created),
            "status": self.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": self.trade.total,
                "refund": self.refund,
                "payer_total": self.trade.total,
                "payer_refund": self.refund,
                "settlement_total": self.trade.total,
                "settlement_refund": self.refund,
                "discount_refund": 0,
                "currency": "CNY",
            },
        }
        if self.success_time:
            body["success_time"] = rfc3339(self.success_time)
        return body

    def notification_resource(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "mchid": self.trade.mchid,
            "transaction_id": self.trade.transaction_id,
            "out_trade_no": self.trade.out_trade_no,
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "refund_status": self.status,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": self.trade.total,
                "refund": self.refund,
                "payer_total": self.trade.total,
                "payer_refund": self.refund,
            },
        }
        if self.success_time:
            body["success_time"] = rfc3339(self.success_time)
        return body


@dataclass
class Fault:
    """What happens to the next notification of ``kind`` (transaction or refund)."""

    # drop | delay | duplicate | hold | stale | serial | forge | tamper | abnormal | cert | signtest
    action: str
    value: Any = None
    kind: str = "transaction"


@dataclass
class Delivery:
    id: int
    kind: str
    url: str
    envelope: dict[str, Any]
    out_trade_no: str
    copies: int = 1
    stale_seconds: int = 0
    serial: str | None = None
    forge: bool = False
    by_certificate: bool = False
    signtest: bool = False
    state: str = "scheduled"  # scheduled | held | dropped | delivered | failed
    retries_done: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def body(self) -> str:
        return json.dumps(self.envelope, ensure_ascii=False, separators=(",", ":"))

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "event_type": self.envelope["event_type"],
            "out_trade_no": self.out_trade_no,
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
        }


Transport = Callable[[str, dict[str, str], str], int]


def http_transport(url: str, headers: dict[str, str], body: str) -> int:
    response = requests.post(url, data=body.encode(), headers=headers, timeout=(3, 5))
    return response.status_code


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ManualClock:
    """Time that moves only when a test says so (manual delivery)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class PaySimulator:
    """One merchant's view of WeChat Pay, in memory. Thread-safe."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.clock: Callable[[], float] = (
            ManualClock() if settings.delivery == "manual" else time.monotonic
        )
        self.transport: Transport = http_transport
        self.lock = threading.RLock()
        self.trades: dict[str, Trade] = {}
        self.by_prepay: dict[str, str] = {}
        self.refunds: dict[str, SimRefund] = {}
        self.deliveries: dict[int, Delivery] = {}
        self.bills: dict[str, bytes] = {}
        self.faults: list[Fault] = []
        self.api_failures: dict[str, list[ApiError]] = {}
        # Consumer complaints (wechat_sim/complaints.py) and where they are notified.
        self.complaints: dict[str, Any] = {}
        self.complaint_url: str | None = None
        # 数电 fapiao (wechat_sim/fapiao.py): applications, uploaded files, the callback URL.
        self.fapiaos: dict[str, Any] = {}
        self.fapiao_files: dict[str, bytes] = {}
        self.fapiao_callback_url: str | None = None
        self.fapiao_issue_failures: list[str] = []
        # The next answers of any API that come as signature probes (SIGNTEST).
        self.signtest_answers = 0
        # Answers signed with the platform certificate instead of the public key.
        self.answers_by_certificate = False
        self._queue: list[tuple[float, int, int, Callable[[], None]]] = []
        self._ids = itertools.count(1)
        self._wakeup = threading.Condition(self.lock)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- what tests and the control endpoints use ----------------------------------------

    def inject(self, action: str, value: Any = None, *, kind: str = "transaction", count=1):
        """The next ``count`` notifications of ``kind`` suffer ``action``."""
        with self.lock:
            self.faults.extend(Fault(action, value, kind) for _ in range(count))

    def fail_next(self, api: str, status: int, code: str, message: str, count: int = 1) -> None:
        """The next calls of ``api`` (prepay, query, close, refund, refund_query, bill) fail."""
        with self.lock:
            self.api_failures.setdefault(api, []).extend(
                ApiError(status, code, message) for _ in range(count)
            )

    def deliver(self) -> int:
        """Run everything that is due now (manual delivery); returns how many ran."""
        ran = 0
        while True:
            with self.lock:
                if not self._queue or self._queue[0][0] > self.clock():
                    return ran
                _, _, _, task = heapq.heappop(self._queue)
            task()
            ran += 1

    def advance(self, seconds: float) -> int:
        """Manual delivery: let ``seconds`` pass, then run what became due."""
        if not isinstance(self.clock, ManualClock):
            raise RuntimeError("advance() needs manual delivery")
        self.clock.now += seconds
        return self.deliver()

    def release_held(self, *, reverse: bool = True) -> list[int]:
        """Send the held notifications now, newest first by default (out of order)."""
        with self.lock:
            held = [d for d in self.deliveries.values() if d.state == "held"]
            held.sort(key=lambda d: d.id, reverse=reverse)
            for delivery in held:
                delivery.state = "scheduled"
                self._schedule(0, self._attempt_task(delivery.id))  # ties go in this order
            return [d.id for d in held]

    def resend(self, delivery_id: int) -> None:
        """Push a dropped, failed or delivered notification again (as WeChat's re-push does)."""
        with self.lock:
            delivery = self.deliveries[delivery_id]
            delivery.state = "scheduled"
            delivery.retries_done = 0
            self._schedule(0, self._attempt_task(delivery_id))

    def trade(self, out_trade_no: str) -> Trade | None:
        with self.lock:
            return self.trades.get(out_trade_no)

    def notifications_for(self, out_trade_no: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries.values() if d.out_trade_no == out_trade_no]

    def backdate(self, out_trade_no: str, success_time: datetime) -> None:
        """Move a payment (and its refunds) to another moment, for bills of past days."""
        with self.lock:
            trade = self.trades[out_trade_no]
            trade.success_time = success_time
            for refund in self.refunds.values():
                if refund.trade is trade and refund.success_time:
                    refund.success_time = success_time

    def reset(self) -> None:
        with self.lock:
            self.trades.clear()
            self.by_prepay.clear()
            self.refunds.clear()
            self.deliveries.clear()
            self.bills.clear()
            self.faults.clear()
            self.api_failures.clear()
            self.signtest_answers = 0
            self.answers_by_certificate = False
            self.complaints.clear()
            self.complaint_url = None
            self.fapiaos.clear()
            self.fapiao_files.clear()
            self.fapiao_callback_url = None
            self.fapiao_issue_failures.clear()
            self._queue.clear()

    def stop(self) -> None:
        with self.lock:
            thread, self._thread = self._thread, None
            self._wakeup.notify_all()
        if thread is not None:
            thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # --- signing -------------------------------------------------------------------------

    def sign(self, timestamp: str, nonce: str, body: str, key=None) -> str:
        message = f"{timestamp}\n{nonce}\n{body}\n".encode()
        signature = (key or self.settings.platform_private_key).sign(
            message, padding.PKCS1v15(), hashes.SHA256()
        )
        return base64.b64encode(signature).decode()

    def signed_headers(
        self,
        body: str,
        *,
        stale_seconds: int = 0,
        serial: str | None = None,
        forge=False,
        by_certificate: bool = False,
        signtest: bool = False,
    ) -> dict[str, str]:
        timestamp = str(int(time.time()) - stale_seconds)
        nonce = secrets.token_hex(16).upper()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if forge else None
        if by_certificate:
            key, serial = self.settings.certificate_private_key, self.settings.certificate_serial
        if signtest:
            # WeChat Pay's signature probe: a serial no key has, a signature that is wrong.
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            serial = "WECHATPAY/SIGNTEST/" + secrets.token_hex(16).upper()
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial or self.settings.public_key_id,
            "Wechatpay-Signature": self.sign(timestamp, nonce, body, key),
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
            "Request-ID": str(uuid.uuid4()),
        }

    def encrypt_resource(self, original_type: str, resource: dict[str, Any]) -> dict[str, str]:
        nonce = secrets.token_urlsafe(9)[:12]
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        ciphertext = AESGCM(self.settings.apiv3_key.encode()).encrypt(
            nonce.encode(), plaintext.encode(), original_type.encode()
        )
        return {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": original_type,
            "nonce": nonce,
        }

    def envelope(self, event_type: str, resource: dict[str, Any]) -> dict[str, Any]:
        original_type = _kind_of(event_type)
        summaries = {
            "TRANSACTION.SUCCESS": "支付成功",
            "REFUND.SUCCESS": "退款成功",
            "REFUND.ABNORMAL": "退款异常",
            "REFUND.CLOSED": "退款关闭",
            "COMPLAINT.CREATE": "产生新投诉",
            "COMPLAINT.STATE_CHANGE": "投诉单状态变化",
            "FAPIAO.ISSUED": "发票已开具",
            "FAPIAO.REVERSED": "发票已冲红",
            "FAPIAO.ISSUE_FAILED": "发票开具失败",
            "FAPIAO.REVERSE_FAILED": "发票冲红失败",
            "FAPIAO.RED_CONFIRMING": "红字确认单待购方确认",
            "FAPIAO.CARD_INSERTED": "发票已插入用户卡包",
        }
        return {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(datetime.now(UTC)),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summaries[event_type],
            "resource": self.encrypt_resource(original_type, resource),
        }

    def signed_notification(
        self,
        event_type: str,
        resource: dict[str, Any],
        *,
        stale_seconds: int = 0,
        serial: str | None = None,
        forge: bool = False,
    ) -> tuple[dict[str, str], str]:
        """Headers and body of a notification, for tests that post one themselves."""
        body = json.dumps(self.envelope(event_type, resource), ensure_ascii=False)
        headers = self.signed_headers(body, stale_seconds=stale_seconds, serial=serial, forge=forge)
        headers["Content-Type"] = "application/json"
        return headers, body

    def verify_merchant(self, method: str, path: str, body: str, authorization: str) -> None:
        scheme, _, params = authorization.partition(" ")
        if scheme != SIGNATURE_TYPE:
            raise ApiError(401, "SIGN_ERROR", "Authorization 的认证类型不正确")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if self.settings.mchid and fields.get("mchid") != self.settings.mchid:
            raise ApiError(400, "MCH_NOT_EXISTS", "商户号不存在")
        if fields.get("serial_no") != self.settings.merchant_serial:
            raise ApiError(401, "SIGN_ERROR", "商户证书序列号有误")
        try:
            timestamp = int(fields.get("timestamp", ""))
        except ValueError:
            raise ApiError(401, "SIGN_ERROR", "时间戳格式错误") from None
        if abs(time.time() - timestamp) > 300:
            raise ApiError(401, "SIGN_ERROR", "请求的时间戳已过期")
        message = f"{method}\n{path}\n{timestamp}\n{fields.get('nonce_str', '')}\n{body}\n"
        try:
            self.settings.merchant_public_key.verify(
                base64.b64decode(fields.get("signature", "")),
                message.encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise ApiError(401, "SIGN_ERROR", "签名错误") from None

    def verify_pay_sign(self, params: dict[str, str]) -> bool:
        message = (
            f"{params.get('appId', '')}\n{params.get('timeStamp', '')}\n"
            f"{params.get('nonceStr', '')}\n{params.get('package', '')}\n"
        )
        try:
            self.settings.merchant_public_key.verify(
                base64.b64decode(params.get("paySign", "")),
                message.encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    # --- the APIs ------------------------------------------------------------------------

    def _maybe_fail(self, api: str) -> None:
        failures = self.api_failures.get(api)
        if failures:
            raise failures.pop(0)

    def prepay(
        self, data: dict[str, Any], trade_type: str = "JSAPI", base_url: str = ""
    ) -> dict[str, str]:
        """JSAPI (``prepay_id``), NATIVE (``code_url``) or MWEB (``h5_url`` under ``base_url``)."""
        with self.lock:
            self._maybe_fail("prepay")
            appid, mchid = data.get("appid"), data.get("mchid")
            if not appid or not mchid:
                raise ApiError(400, "PARAM_ERROR", "缺少参数 appid 或 mchid")
            if self.settings.appid and appid != self.settings.appid:
                raise ApiError(400, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配")
            description = data.get("description") or ""
            if not 1 <= len(description) <= 127:
                raise ApiError(400, "PARAM_ERROR", "description 长度应为1-127")
            out_trade_no = data.get("out_trade_no") or ""
            if not _OUT_TRADE_NO.match(out_trade_no):
                raise ApiError(400, "PARAM_ERROR", "out_trade_no 应为6-32位数字、字母或_-|*")
            notify_url = data.get("notify_url") or ""
            if not notify_url.startswith(("https://", "http://")) or "?" in notify_url:
                raise ApiError(400, "PARAM_ERROR", "notify_url 格式不正确")
            amount = data.get("amount") or {}
            total = amount.get("total")
            if not isinstance(total, int) or total < 1:
                raise ApiError(400, "PARAM_ERROR", "amount.total 应为正整数（分）")
            if amount.get("currency", "CNY") != "CNY":
                raise ApiError(400, "PARAM_ERROR", "仅支持人民币 CNY")
            openid = (data.get("payer") or {}).get("openid")
            if trade_type == "JSAPI" and not openid:
                raise ApiError(400, "PARAM_ERROR", "JSAPI 下单必须提供 payer.openid")
            if trade_type == "MWEB":
                scene = data.get("scene_info") or {}
                if not scene.get("payer_client_ip"):
                    raise ApiError(400, "PARAM_ERROR", "H5 下单必须提供 scene_info.payer_client_ip")
                if not (scene.get("h5_info") or {}).get("type"):
                    raise ApiError(400, "PARAM_ERROR", "H5 下单必须提供 scene_info.h5_info.type")
            time_expire = None
            if data.get("time_expire"):
                try:
                    time_expire = datetime.fromisoformat(data["time_expire"])
                except ValueError:
                    raise ApiError(400, "PARAM_ERROR", "time_expire 格式不正确") from None
                if time_expire.tzinfo is None:
                    raise ApiError(400, "PARAM_ERROR", "time_expire 须带时区")
                if time_expire <= datetime.now(UTC):
                    raise ApiError(400, "INVALID_REQUEST", "time_expire 已过期")
            now = datetime.now(UTC)
            trade = self.trades.get(out_trade_no)
            if trade is not None:
                if trade.state in ("SUCCESS", "REFUND"):
                    raise ApiError(400, "ORDERPAID", "该订单已支付")
                if trade.state == "CLOSED":
                    raise ApiError(400, "ORDER_CLOSED", "当前订单已关闭，请重新下单")
                if trade.trade_type != trade_type:
                    raise ApiError(400, "INVALID_REQUEST", "201 商户订单号重复")
                if (trade.total, trade.description, trade.payer_openid) != (
                    total,
                    description,
                    openid,
                ):
                    raise ApiError(400, "INVALID_REQUEST", "参数与首次请求时不一致")
                if now - trade.prepay_created < PREPAY_LIFETIME:
                    return self._prepay_answer(trade, base_url)
                trade.time_expire = time_expire
            else:
                trade = Trade(
                    out_trade_no=out_trade_no,
                    appid=appid,
                    mchid=mchid,
                    description=description,
                    total=total,
                    payer_openid=openid,
                    notify_url=notify_url,
                    time_expire=time_expire,
                    attach=data.get("attach"),
                    prepay_id="",
                    prepay_created=now,
                    trade_type=trade_type,
                )
                self.trades[out_trade_no] = trade
            trade.prepay_id = f"wx{now.astimezone(BEIJING):%d%H%M%S}{secrets.token_hex(14)}"
            trade.prepay_created = now
            if trade_type == "NATIVE":
                trade.code_url = "weixin://wxpay/bizpayurl?pr=" + secrets.token_urlsafe(6)
            self.by_prepay[trade.prepay_id] = out_trade_no
            return self._prepay_answer(trade, base_url)

    def _prepay_answer(self, trade: Trade, base_url: str) -> dict[str, str]:
        if trade.trade_type == "NATIVE":
            return {"code_url": trade.code_url or ""}
        if trade.trade_type == "MWEB":
            package = secrets.token_hex(5)
            return {"h5_url": f"{base_url}/h5?prepay_id={trade.prepay_id}&package={package}"}
        return {"prepay_id": trade.prepay_id}

    def trade_by_code_url(self, code_url: str) -> Trade | None:
        with self.lock:
            return next((t for t in self.trades.values() if t.code_url == code_url), None)

    def query(self, *, out_trade_no: str | None = None, transaction_id: str | None = None):
        with self.lock:
            self._maybe_fail("query")
            trade = None
            if out_trade_no is not None:
                trade = self.trades.get(out_trade_no)
            else:
                trade = next(
                    (t for t in self.trades.values() if t.transaction_id == transaction_id), None
                )
            if trade is None:
                raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
            return trade.as_json()

    def close(self, out_trade_no: str) -> None:
        with self.lock:
            self._maybe_fail("close")
            trade = self.trades.get(out_trade_no)
            if trade is None:
                return  # WeChat Pay answers 204 for an order it never saw
            if trade.state in ("SUCCESS", "REFUND"):
                raise ApiError(400, "ORDERPAID", "订单已支付")
            trade.state = "CLOSED"

    def pay(self, out_trade_no: str, payer_openid: str | None = None) -> Trade:
        """The payer confirms on the cashier page (scanning a Native code: ``payer_openid``)."""
        with self.lock:
            trade = self.trades[out_trade_no]
            trade.payer_openid = trade.payer_openid or payer_openid or "oSIM_payer"
            if trade.state != "NOTPAY":
                raise ApiError(400, "ORDER_STATE", Trade.STATE_DESC[trade.state])
            if trade.time_expire and trade.time_expire <= datetime.now(UTC):
                raise ApiError(400, "ORDER_EXPIRED", "订单已过期")
            trade.state = "SUCCESS"
            trade.transaction_id = "4200" + _random_digits(24)
            trade.success_time = datetime.now(UTC)
            self._notify(trade.notify_url, "TRANSACTION.SUCCESS", trade.as_json(), out_trade_no)
            return trade

    def refund(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._maybe_fail("refund")
            out_refund_no = data.get("out_refund_no") or ""
            if not _OUT_REFUND_NO.match(out_refund_no):
                raise ApiError(400, "PARAM_ERROR", "out_refund_no 格式不正确")
            existing = self.refunds.get(out_refund_no)
            if existing is not None:
                # The same out_refund_no asks again for the same refund: same answer.
                return existing.as_json()
            if data.get("transaction_id"):
                trade = next(
                    (t for t in self.trades.values() if t.transaction_id == data["transaction_id"]),
                    None,
                )
            else:
                trade = self.trades.get(data.get("out_trade_no") or "")
            if trade is None or trade.transaction_id is None:
                raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            amount = data.get("amount") or {}
            refund_fen, total = amount.get("refund"), amount.get("total")
            if not isinstance(refund_fen, int) or refund_fen < 1:
                raise ApiError(400, "PARAM_ERROR", "amount.refund 应为正整数（分）")
            if total != trade.total:
                raise ApiError(400, "PARAM_ERROR", "amount.total 与原订单金额不一致")
            refunded = sum(
                r.refund
                for r in self.refunds.values()
                if r.trade is trade and r.status != "ABNORMAL"
            )
            if refunded + refund_fen > trade.total:
                raise ApiError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            refund = SimRefund(
                out_refund_no=out_refund_no,
                refund_id="50" + _random_digits(27),
                trade=trade,
                refund=refund_fen,
                reason=data.get("reason") or "",
                notify_url=data.get("notify_url"),
                created=datetime.now(UTC),
            )
            self.refunds[out_refund_no] = refund
            self._schedule(
                self.settings.refund_seconds * self.settings.time_scale,
                lambda: self._finish_refund(out_refund_no),
            )
            return refund.as_json()

    def _finish_refund(self, out_refund_no: str) -> None:
        with self.lock:
            refund = self.refunds[out_refund_no]
            if refund.status != "PROCESSING":
                return
            fault = self._take_fault("refund", "abnormal")
            if fault is not None:
                refund.status = "ABNORMAL"
                event_type = "REFUND.ABNORMAL"
            else:
                refund.status = "SUCCESS"
                refund.success_time = datetime.now(UTC)
                refund.trade.state = "REFUND"
                event_type = "REFUND.SUCCESS"
            if refund.notify_url:
                self._notify(
                    refund.notify_url,
                    event_type,
                    refund.notification_resource(),
                    refund.trade.out_trade_no,
                )

    def query_refund(self, out_refund_no: str) -> dict[str, Any]:
        with self.lock:
            self._maybe_fail("refund_query")
            refund = self.refunds.get(out_refund_no)
            if refund is None:
                raise ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return refund.as_json()

    def trade_bill(self, bill_date: str, base_url: str) -> dict[str, str]:
        with self.lock:
            self._maybe_fail("bill")
            try:
                day = date.fromisoformat(bill_date)
            except ValueError:
                raise ApiError(400, "PARAM_ERROR", "bill_date 格式应为 YYYY-MM-DD") from None
            if day >= datetime.now(BEIJING).date():
                raise ApiError(400, "INVALID_REQUEST", "账单日期不合法：只能下载今天以前的账单")
            content = self._bill_csv(day)
            if content is None:
                raise ApiError(
                    400, "NO_STATEMENT_EXIST", "当前商户号没有已成交的订单，不生成对账单"
                )
            token = secrets.token_urlsafe(24)
            self.bills[token] = content
            return {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(content).hexdigest(),
                "download_url": f"{base_url}/v3/billdownload/file?token={token}",
            }

    def _bill_csv(self, day: date) -> bytes | None:
        def on_day(moment: datetime | None) -> bool:
            return moment is not None and moment.astimezone(BEIJING).date() == day

        rows: list[list[str]] = []
        paid = refunded = 0
        for trade in self.trades.values():
            if trade.transaction_id and on_day(trade.success_time):
                rows.append(self._bill_row(trade, "SUCCESS", trade.success_time, None))
                paid += trade.total
        for refund in self.refunds.values():
            if refund.status == "SUCCESS" and on_day(refund.success_time):
                rows.append(self._bill_row(refund.trade, "REFUND", refund.success_time, refund))
                refunded += refund.refund
        if not rows:
            return None
        rows.sort(key=lambda row: row[0])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(BILL_HEADER)
        writer.writerows(["`" + value for value in row] for row in rows)
        writer.writerow(BILL_TOTALS_HEADER)
        totals = (len(rows), _yuan(paid), _yuan(refunded), "0.00", "0.00000")
        writer.writerow("`" + str(value) for value in (*totals, _yuan(paid), _yuan(refunded)))
        return out.getvalue().encode()

    def _bill_row(
        self, trade: Trade, state: str, moment: datetime | None, refund: SimRefund | None
    ) -> list[str]:
        yuan = _yuan
        return [
            moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),  # type: ignore[union-attr]
            trade.appid,
            trade.mchid,
            "0",
            "",
            trade.transaction_id or "",
            trade.out_trade_no,
            trade.payer_openid or "",
            trade.trade_type,
            state,
            "OTHERS",
            "CNY",
            yuan(trade.total) if refund is None else "0.00",
            "0.00",
            refund.refund_id if refund else "0",
            refund.out_refund_no if refund else "0",
            yuan(refund.refund) if refund else "0.00",
            "0.00",
            "ORIGINAL" if refund else "",
            "SUCCESS" if refund else "",
            trade.description,
            trade.attach or "",
            "0.00000",
            "0.60%",
            yuan(trade.total),
            yuan(refund.refund) if refund else "0.00",
            "",
        ]

    def bill_file(self, token: str, tar_type: str = "GZIP") -> bytes:
        with self.lock:
            content = self.bills.get(token)
        if content is None:
            raise ApiError(404, "RESOURCE_NOT_EXISTS", "账单下载地址无效或已过期")
        return gzip.compress(content) if tar_type == "GZIP" else content

    # --- notifications -------------------------------------------------------------------

    def _take_fault(self, kind: str, action: str | None = None) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.kind == kind and (action is None or fault.action == action):
                if action is None and fault.action == "abnormal":
                    continue
                return self.faults.pop(index)
        return None

    def _notify(self, url: str, event_type: str, resource: dict[str, Any], out_trade_no: str):
        kind = _kind_of(event_type)
        fault = self._take_fault(kind)
        if fault is not None and fault.action == "tamper":
            resource = _deep_merge(copy.deepcopy(resource), fault.value)
        delivery = Delivery(
            id=next(self._ids),
            kind=kind,
            url=url,
            envelope=self.envelope(event_type, resource),
            out_trade_no=out_trade_no,
        )
        self.deliveries[delivery.id] = delivery
        delay = 0.0
        if fault is not None:
            match fault.action:
                case "drop":
                    delivery.state = "dropped"
                case "hold":
                    delivery.state = "held"
                case "delay":
                    delay = float(fault.value)
                case "duplicate":
                    delivery.copies = int(fault.value)
                case "stale":
                    delivery.stale_seconds = int(fault.value)
                case "serial":
                    delivery.serial = str(fault.value)
                case "forge":
                    delivery.forge = True
                case "cert":
                    delivery.by_certificate = True
                case "signtest":
                    delivery.signtest = True
        if delivery.state == "scheduled":
            self._schedule(delay * self.settings.time_scale, self._attempt_task(delivery.id))

    def _attempt_task(self, delivery_id: int) -> Callable[[], None]:
        return lambda: self._attempt(delivery_id)

    def _attempt(self, delivery_id: int) -> None:
        with self.lock:
            delivery = self.deliveries.get(delivery_id)
            if delivery is None or delivery.state != "scheduled":
                return
            body, copies, url = delivery.body, delivery.copies, delivery.url
        statuses = self._post_copies(delivery, body, copies, url)
        with self.lock:
            delivery.signtest = False  # a probe is one push; the retries are signed as usual
            delivery.attempts.append({"at": rfc3339(datetime.now(UTC)), "statuses": statuses})
            if any(isinstance(s, int) and s in (200, 204) for s in statuses):
                delivery.state = "delivered"
                return
            if delivery.state != "scheduled":
                return
            if delivery.retries_done >= len(RETRY_SCHEDULE):
                delivery.state = "failed"
                return
            wait = RETRY_SCHEDULE[delivery.retries_done] * self.settings.time_scale
            delivery.retries_done += 1
            self._schedule(wait, self._attempt_task(delivery_id))

    def _post_copies(self, delivery: Delivery, body: str, copies: int, url: str) -> list:
        def post_one(barrier: threading.Barrier | None) -> int | str:
            headers = self.signed_headers(
                body,
                stale_seconds=delivery.stale_seconds,
                serial=delivery.serial,
                forge=delivery.forge,
                by_certificate=delivery.by_certificate,
                signtest=delivery.signtest,
            )
            headers["Content-Type"] = "application/json"
            headers["User-Agent"] = "Mozilla/4.0 (compatible; WeChat Pay simulator)"
            if barrier is not None:
                barrier.wait(timeout=10)
            try:
                return self.transport(url, headers, body)
            except Exception as exc:  # a refused connection is a failed push, as at WeChat
                log.info("notification %s to %s failed: %s", delivery.id, url, exc)
                return f"error: {exc.__class__.__name__}"

        if copies == 1 or self.settings.delivery == "manual":
            return [post_one(None) for _ in range(copies)]
        barrier = threading.Barrier(copies)
        with ThreadPoolExecutor(max_workers=copies) as pool:
            return list(pool.map(lambda _: post_one(barrier), range(copies)))

    def _schedule(self, delay: float, task: Callable[[], None]) -> None:
        with self.lock:
            heapq.heappush(self._queue, (self.clock() + delay, next(self._ids), 0, task))
            if self.settings.delivery == "thread":
                self._ensure_thread()
                self._wakeup.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._pool = self._pool or ThreadPoolExecutor(
                max_workers=16, thread_name_prefix="paysim-send"
            )
            self._thread = threading.Thread(target=self._run, name="paysim-scheduler", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self.lock:
                if self._thread is not me:
                    return
                if not self._queue:
                    self._wakeup.wait(timeout=1)
                    continue
                due = self._queue[0][0] - self.clock()
                if due > 0:
                    self._wakeup.wait(timeout=min(due, 1))
                    continue
                _, _, _, task = heapq.heappop(self._queue)
                pool = self._pool
            if pool is not None:
                pool.submit(_run_logged, task)


def _kind_of(event_type: str) -> str:
    if event_type.startswith("REFUND"):
        return "refund"
    if event_type.startswith("FAPIAO"):
        return "fapiao"
    return "complaint" if event_type.startswith("COMPLAINT") else "transaction"


def _run_logged(task: Callable[[], None]) -> None:
    try:
        task()
    except Exception:
        log.exception("simulator task failed")


def _deep_merge(target: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
    return target


# --- HTTP ------------------------------------------------------------------------------------


def simulator() -> PaySimulator:
    return current_app.extensions["wechat_pay_sim"]


@bp.record_once
def _set_up(state) -> None:
    state.app.extensions["wechat_pay_sim"] = PaySimulator(SimSettings.from_app(state.app))


def _base_url() -> str:
    """Where this API is reached from outside (the gateway the client is pointed at)."""
    return request.url_root.rstrip("/") + request.path[: request.path.index("/v3/")]


def _signed(status: int, payload: dict[str, Any] | None) -> Response:
    body = "" if payload is None else json.dumps(payload, ensure_ascii=False)
    response = Response(body, status=status, content_type="application/json; charset=utf-8")
    sim = simulator()
    with sim.lock:
        signtest = sim.signtest_answers > 0
        if signtest:
            sim.signtest_answers -= 1
    response.headers.update(
        sim.signed_headers(body, signtest=signtest, by_certificate=sim.answers_by_certificate)
    )
    return response


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    # WeChat Pay signs error answers too, but clients only check successful ones.
    return jsonify({"code": error.code, "message": error.message}), error.status


@bp.before_request
def _authenticate() -> None:
    if "/v3/" not in request.path:
        return
    path = request.path[request.path.index("/v3/") :]
    if request.query_string:
        path += "?" + request.query_string.decode()
    # An upload (multipart) is signed over its ``meta`` part, as WeChat Pay specifies.
    if request.mimetype == "multipart/form-data":
        signed = multipart_fields().get("meta", b"").decode()
    else:
        signed = request.get_data(as_text=True)
    simulator().verify_merchant(
        request.method, path, signed, request.headers.get("Authorization", "")
    )


def multipart_fields() -> dict[str, bytes]:
    """The parts of a multipart body by name. wechatpayv3 sends ``multipart/form-data``
    without its boundary, which WeChat Pay reads from the body's first line: so do we."""
    data = request.get_data()
    first_line = data.split(b"\r\n", 1)[0]
    if not first_line.startswith(b"--"):
        return {}
    boundary = first_line[2:]
    fields: dict[str, bytes] = {}
    for part in data.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        found = re.search(rb'name="([^"]+)"', head)
        if found:
            fields[found.group(1).decode()] = content.removesuffix(b"\r\n")
    return fields


def _json_body() -> dict[str, Any]:
    try:
        data = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        raise ApiError(400, "PARAM_ERROR", "请求体不是合法的 JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "PARAM_ERROR", "请求体应为 JSON 对象")
    return data


def _check_mchid(mchid: str | None) -> None:
    if not mchid:
        raise ApiError(400, "PARAM_ERROR", "缺少参数 mchid")
    if simulator().settings.mchid and mchid != simulator().settings.mchid:
        raise ApiError(400, "MCH_NOT_EXISTS", "商户号不存在")


@bp.post("/v3/pay/transactions/jsapi")
def jsapi_prepay():
    return _signed(200, simulator().prepay(_json_body()))


@bp.post("/v3/pay/transactions/native")
def native_prepay():
    return _signed(200, simulator().prepay(_json_body(), "NATIVE"))


@bp.post("/v3/pay/transactions/h5")
def h5_prepay():
    return _signed(200, simulator().prepay(_json_body(), "MWEB", _base_url()))


@bp.get("/v3/pay/transactions/out-trade-no/<out_trade_no>")
def query_by_out_trade_no(out_trade_no: str):
    _check_mchid(request.args.get("mchid"))
    return _signed(200, simulator().query(out_trade_no=out_trade_no))


@bp.get("/v3/pay/transactions/id/<transaction_id>")
def query_by_transaction_id(transaction_id: str):
    _check_mchid(request.args.get("mchid"))
    return _signed(200, simulator().query(transaction_id=transaction_id))


@bp.post("/v3/pay/transactions/out-trade-no/<out_trade_no>/close")
def close_order(out_trade_no: str):
    _check_mchid(_json_body().get("mchid"))
    simulator().close(out_trade_no)
    return _signed(204, None)


@bp.post("/v3/refund/domestic/refunds")
def create_refund():
    return _signed(200, simulator().refund(_json_body()))


@bp.get("/v3/refund/domestic/refunds/<out_refund_no>")
def query_refund(out_refund_no: str):
    return _signed(200, simulator().query_refund(out_refund_no))


@bp.get("/v3/bill/tradebill")
def trade_bill():
    if request.args.get("bill_type", "ALL") not in ("ALL", "SUCCESS", "REFUND"):
        raise ApiError(400, "PARAM_ERROR", "bill_type 不正确")
    return _signed(200, simulator().trade_bill(request.args.get("bill_date", ""), _base_url()))


@bp.get("/v3/billdownload/file")
def download_bill():
    content = simulator().bill_file(request.args.get("token", ""))
    return Response(content, content_type="application/octet-stream")


# --- the cashier: what the WeChat client's payment sheet does --------------------------------

_JSAPI_FIELDS = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")

_CASHIER = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>微信支付（模拟收银台）</title>
<style>
body { margin: 0; font: 16px/1.5 -apple-system, "PingFang SC", "Noto Sans CJK SC", sans-serif;
  background: #ededed; color: #111; }
.sheet { background: #fff; margin: 24px 16px; border-radius: 12px; padding: 24px 20px;
  text-align: center; }
.sim { font-size: 12px; color: #fa9d3b; }
.merchant { color: #555; margin-top: 8px; }
.amount { font-size: 40px; font-weight: 600; margin: 12px 0; }
.row { display: flex; justify-content: space-between; font-size: 14px; color: #555;
  border-top: 1px solid #eee; padding: 10px 0; text-align: left; gap: 12px; }
.row span:last-child { color: #111; word-break: break-all; text-align: right; }
button { width: 100%; border: 0; border-radius: 8px; padding: 12px; font-size: 17px;
  margin-top: 16px; }
.pay { background: #07c160; color: #fff; }
.cancel { background: #f2f2f2; color: #07c160; }
.msg { color: #fa5151; margin: 12px 0; }
</style></head><body>
<div class="sheet">
  <div class="sim">开发环境 · 微信支付模拟收银台{% if mode %}（{{ mode }}）{% endif %}，不会产生真实扣款</div>
  {% if trade %}
  <div class="merchant">{{ trade.description }}</div>
  <div class="amount">¥{{ '%.2f' % (trade.total / 100) }}</div>
  <div class="row"><span>商户订单号</span><span>{{ trade.out_trade_no }}</span></div>
  <div class="row"><span>付款人 openid</span><span>{{ trade.payer_openid or '扫码的微信用户' }}</span></div>
  {% endif %}
  {% if message %}<p class="msg" role="alert">{{ message }}</p>{% endif %}
  {% if payable %}
  <form method="post">
    {% for name, value in params.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
    <button class="pay" type="submit" name="action" value="pay">确认支付</button>
    <button class="cancel" type="submit" name="action" value="cancel">取消</button>
  </form>
  {% elif back %}
  <p><a href="{{ back }}">返回商户页面</a></p>
  {% endif %}
</div>
</body></html>"""


def _safe_redirect(target: str | None) -> str | None:
    if target and urlsplit(target).scheme in ("http", "https"):
        return target
    return None


def _cashier_trade(params: dict[str, str]) -> tuple[Trade | None, str | None]:
    sim = simulator()
    if not sim.verify_pay_sign(params):
        return None, "支付验证签名失败（paySign 不正确）"
    if sim.settings.appid and params.get("appId") != sim.settings.appid:
        return None, "appId 与商户号不匹配"
    prepay_id = params.get("package", "").removeprefix("prepay_id=")
    with sim.lock:
        out_trade_no = sim.by_prepay.get(prepay_id)
        trade = sim.trades.get(out_trade_no) if out_trade_no else None
    if trade is None or trade.prepay_id != prepay_id:
        return None, "预支付交易单不存在或已失效，请返回重新发起支付"
    return trade, None


def _confirm_page(trade: Trade | None, params: dict[str, str], mode: str, back: str | None):
    """Native scan and H5: the trade found by what the phone got; confirm pays it."""
    source = request.form if request.method == "POST" else request.args
    message = None if trade is not None else "二维码或支付链接已失效，请返回商户页面重新发起支付"
    if trade is not None and request.method == "POST":
        if source.get("action") == "cancel":
            return redirect(back) if back else ("已取消支付", 200)
        try:
            simulator().pay(trade.out_trade_no, source.get("payer") or "oDEMO_scanner")
        except ApiError as error:
            message = error.message
        else:
            if back:
                return redirect(back)
            message = "支付成功"
    payable = trade is not None and message is None and trade.state == "NOTPAY"
    if trade is not None and message is None and not payable:
        message = Trade.STATE_DESC[trade.state]
    if payable and trade.time_expire and trade.time_expire <= datetime.now(UTC):
        payable, message = False, "订单已过期"
    return render_template_string(
        _CASHIER,
        trade=trade,
        params=params,
        message=message,
        payable=payable,
        back=back,
        mode=mode,
    )


@bp.route("/h5", methods=["GET", "POST"])
def h5_page():
    """Where an H5 (MWEB) h5_url leads: the WeChat app, opened from a phone browser."""
    source = request.form if request.method == "POST" else request.args
    params = {name: source.get(name, "") for name in ("prepay_id", "package", "redirect_url")}
    sim = simulator()
    with sim.lock:
        out_trade_no = sim.by_prepay.get(params["prepay_id"])
        trade = sim.trades.get(out_trade_no) if out_trade_no else None
    if trade is not None and (trade.trade_type != "MWEB" or trade.prepay_id != params["prepay_id"]):
        trade = None
    if trade is not None and datetime.now(UTC) - trade.prepay_created > timedelta(minutes=5):
        trade = None  # an h5_url lives five minutes
    return _confirm_page(trade, params, "H5 支付", _safe_redirect(params["redirect_url"]))


@bp.route("/cashier", methods=["GET", "POST"])
def cashier():
    source = request.form if request.method == "POST" else request.args
    if source.get("code_url"):
        # What scanning a Native QR code gives the phone.
        trade = simulator().trade_by_code_url(source["code_url"])
        if trade is not None and trade.trade_type != "NATIVE":
            trade = None
        return _confirm_page(trade, {"code_url": source["code_url"]}, "扫码支付", None)
    params = {name: source.get(name, "") for name in _JSAPI_FIELDS}
    params["redirect_url"] = source.get("redirect_url", "")
    back = _safe_redirect(params["redirect_url"])
    trade, message = _cashier_trade(params)
    if trade is not None and request.method == "POST":
        if source.get("action") == "cancel":
            return redirect(back) if back else ("已取消支付", 200)
        try:
            simulator().pay(trade.out_trade_no)
        except ApiError as error:
            message = error.message
        else:
            if back:
                return redirect(back)
            message = "支付成功"
    payable = trade is not None and message is None and trade.state == "NOTPAY"
    if trade is not None and message is None and not payable:
        message = Trade.STATE_DESC[trade.state]
    if payable and trade.time_expire and trade.time_expire <= datetime.now(UTC):
        payable, message = False, "订单已过期"
    return render_template_string(
        _CASHIER, trade=trade, params=params, message=message, payable=payable, back=back, mode=""
    )


# --- control, for presenters and scripts -----------------------------------------------------

_INDEX = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>微信支付模拟器</title>
<style>body{font:14px/1.5 sans-serif;margin:24px}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}</style></head><body>
<h1>微信支付模拟器</h1>
<h2>交易</h2>
<table><tr><th>商户订单号</th><th>金额</th><th>状态</th><th>微信订单号</th><th>付款人</th></tr>
{% for t in trades %}<tr><td>{{ t.out_trade_no }}</td><td>{{ '%.2f' % (t.total / 100) }}</td>
<td>{{ t.state }}</td><td>{{ t.transaction_id or '' }}</td><td>{{ t.payer_openid }}</td></tr>
{% endfor %}</table>
<h2>通知</h2>
<table><tr><th>#</th><th>事件</th><th>商户订单号</th><th>状态</th><th>推送记录</th></tr>
{% for d in deliveries %}<tr><td>{{ d.id }}</td><td>{{ d.event_type }}</td>
<td>{{ d.out_trade_no }}</td><td>{{ d.state }}</td><td>{{ d.attempts }}</td></tr>
{% endfor %}</table>
<h2>退款</h2>
<table><tr><th>商户退款单号</th><th>商户订单号</th><th>金额</th><th>状态</th></tr>
{% for r in refunds %}<tr><td>{{ r.out_refund_no }}</td><td>{{ r.trade.out_trade_no }}</td>
<td>{{ '%.2f' % (r.refund / 100) }}</td><td>{{ r.status }}</td></tr>
{% endfor %}</table>
</body></html>"""


@bp.get("/")
def index():
    sim = simulator()
    with sim.lock:
        trades = list(sim.trades.values())[::-1]
        deliveries = [d.summary() for d in sim.deliveries.values()][::-1]
        refunds = list(sim.refunds.values())[::-1]
    return render_template_string(_INDEX, trades=trades, deliveries=deliveries, refunds=refunds)


@bp.post("/sim/faults")
def inject_fault():
    """``{"action": "drop", "value": null, "kind": "transaction", "count": 1}``"""
    data = request.get_json(silent=True) or {}
    if data.get("action") not in (
        "drop",
        "delay",
        "duplicate",
        "hold",
        "stale",
        "serial",
        "forge",
        "tamper",
        "abnormal",
        "cert",
        "signtest",
    ):
        return jsonify({"code": "PARAM_ERROR", "message": "unknown action"}), 400
    simulator().inject(
        data["action"],
        data.get("value"),
        kind=data.get("kind", "transaction"),
        count=int(data.get("count", 1)),
    )
    return jsonify({"faults": len(simulator().faults)})


@bp.post("/sim/release")
def release_held():
    return jsonify({"released": simulator().release_held(reverse=True)})


@bp.get("/sim/state")
def state():
    sim = simulator()
    with sim.lock:
        return jsonify(
            {
                "trades": [t.as_json() for t in sim.trades.values()],
                "refunds": [r.as_json() for r in sim.refunds.values()],
                "deliveries": [d.summary() for d in sim.deliveries.values()],
            }
        )
