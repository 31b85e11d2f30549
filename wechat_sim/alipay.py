"""Alipay's open platform, simulated: the gateway (``/alipay/gateway.do``) with the methods the
platform calls, the cashier pages of 电脑网站支付 and 手机网站支付, and asynchronous
notifications.

Requests must be signed (RSA2) with the application's private key; answers and notifications
are signed with a key pair the simulator owns, as Alipay signs with its own. Answers carry
Alipay's codes (``10000``; ``40002`` ``isv.invalid-signature``; ``40004`` with ``ACQ.*``
sub-codes). Methods: ``alipay.trade.page.pay`` and ``alipay.trade.wap.pay`` (the cashier),
``alipay.trade.query``, ``alipay.trade.close``, ``alipay.trade.refund``,
``alipay.trade.fastpay.refund.query``, ``alipay.data.dataservice.bill.downloadurl.query``.

A paid trade's notification is a form POST to the request's ``notify_url``, sent again on
Alipay's schedule (4 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h) until the answer reads
``success``. Timing goes through the WeChat Pay simulator's scheduler (its clock, its manual
delivery in tests); ``inject`` makes the next notifications drop, wait, come several times at
once, be held, be forged or be tampered with.

Configuration: ``ALIPAY_SIM`` in the simulator app's config (tests), otherwise the development
keys the platform's development configuration also reads (``infra/pay_keys.py``).
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import logging
import secrets
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
    url_for,
)

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
RETRY_SCHEDULE = (240, 600, 600, 3600, 7200, 21600, 54000)
PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")

bp = Blueprint("alipay_sim", __name__)


def _beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _fen(text: Any) -> int | None:
    try:
        whole, _, part = str(text).partition(".")
        if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 2)):
            return None
        return int(whole) * 100 + int((part + "00")[:2])
    except ValueError:
        return None


def signing_string(fields: dict[str, Any], *, request: bool = False) -> str:
    """The fields, sorted, as ``k=v&k=v``: a request signs every field but ``sign``; a
    notification (and a return) every field but ``sign`` and ``sign_type`` (Alipay's rules)."""
    left_out = ("sign",) if request else ("sign", "sign_type")
    items = sorted((k, v) for k, v in fields.items() if k not in left_out)
    return "&".join(f"{k}={v}" for k, v in items)


@dataclass
class AlipaySettings:
    app_id: str
    app_public_key: rsa.RSAPublicKey
    alipay_private_key: rsa.RSAPrivateKey
    seller_id: str = "2088000000000001"

    @classmethod
    def from_app(cls, app: Flask) -> AlipaySettings:
        given = dict(app.config.get("ALIPAY_SIM") or {})
        if not given.get("app_public_key"):
            from infra.pay_keys import load_or_create_alipay_keys
            from wxapp.config import PROJECT_ROOT, DevelopmentConfig

            keys = load_or_create_alipay_keys(PROJECT_ROOT / "instance")
            given = {
                "app_id": DevelopmentConfig.ALIPAY_APP_ID,
                "app_public_key": keys.app_public_key,
                "alipay_private_key": keys.alipay_private_key,
                **given,
            }
        return cls(
            app_id=given["app_id"],
            app_public_key=serialization.load_pem_public_key(given["app_public_key"].encode()),  # type: ignore[arg-type]
            alipay_private_key=serialization.load_pem_private_key(  # type: ignore[arg-type]
                given["alipay_private_key"].encode(), password=None
            ),
            seller_id=given.get("seller_id", "2088000000000001"),
        )


@dataclass
class AliTrade:
    out_trade_no: str
    total: int
    subject: str
    product_code: str
    notify_url: str
    return_url: str
    time_expire: datetime | None
    created: datetime
    token: str
    state: str = "WAIT_BUYER_PAY"  # WAIT_BUYER_PAY | TRADE_SUCCESS | TRADE_CLOSED
    trade_no: str | None = None
    buyer_id: str | None = None
    gmt_payment: datetime | None = None
    refunds: dict[str, tuple[int, datetime]] = field(default_factory=dict)

    @property
    def refunded(self) -> int:
        return sum(amount for amount, _ in self.refunds.values())


@dataclass
class AliDelivery:
    id: int
    url: str
    fields: dict[str, str]
    out_trade_no: str
    copies: int = 1
    forge: bool = False
    state: str = "scheduled"  # scheduled | held | dropped | delivered | failed
    retries_done: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)


class ApiFault(Exception):
    def __init__(self, code: str, msg: str, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(sub_msg or msg)
        self.code, self.msg, self.sub_code, self.sub_msg = code, msg, sub_code, sub_msg


Transport = Callable[[str, dict[str, str]], tuple[int, str]]


def http_transport(url: str, fields: dict[str, str]) -> tuple[int, str]:
    response = requests.post(url, data=fields, timeout=(3, 5))
    return response.status_code, response.text


class AlipaySimulator:
    """One application's view of Alipay, in memory. Thread-safe."""

    def __init__(self, settings: AlipaySettings, scheduler: Any) -> None:
        self.settings = settings
        # The WeChat Pay simulator's queue and clock: one ``deliver()``/``advance()`` for both.
        self.scheduler = scheduler
        self.transport: Transport = http_transport
        self.lock = threading.RLock()
        self.trades: dict[str, AliTrade] = {}
        self.deliveries: dict[int, AliDelivery] = {}
        self.bills: dict[str, bytes] = {}
        self.faults: list[tuple[str, Any]] = []
        self.api_failures: dict[str, list[ApiFault]] = {}
        self._ids = itertools.count(1)

    # --- for tests and the control endpoint ---------------------------------------------

    def inject(self, action: str, value: Any = None, count: int = 1) -> None:
        """The next ``count`` notifications: drop | delay | duplicate | hold | forge | tamper."""
        with self.lock:
            self.faults.extend((action, value) for _ in range(count))

    def fail_next(self, method: str, sub_code: str, sub_msg: str, count: int = 1) -> None:
        with self.lock:
            self.api_failures.setdefault(method, []).extend(
                ApiFault("40004", "Business Failed", sub_code, sub_msg) for _ in range(count)
            )

    def trade(self, out_trade_no: str) -> AliTrade | None:
        with self.lock:
            return self.trades.get(out_trade_no)

    def notifications_for(self, out_trade_no: str) -> list[AliDelivery]:
        with self.lock:
            return [d for d in self.deliveries.values() if d.out_trade_no == out_trade_no]

    def release_held(self) -> list[int]:
        with self.lock:
            held = sorted(
                (d for d in self.deliveries.values() if d.state == "held"),
                key=lambda d: d.id,
                reverse=True,
            )
            for delivery in held:
                delivery.state = "scheduled"
                self.scheduler._schedule(0, self._attempt_task(delivery.id))
            return [d.id for d in held]

    def resend(self, delivery_id: int) -> None:
        with self.lock:
            delivery = self.deliveries[delivery_id]
            delivery.state = "scheduled"
            delivery.retries_done = 0
            self.scheduler._schedule(0, self._attempt_task(delivery_id))

    def reset(self) -> None:
        with self.lock:
            self.trades.clear()
            self.deliveries.clear()
            self.bills.clear()
            self.faults.clear()
            self.api_failures.clear()

    # --- signatures ----------------------------------------------------------------------

    def sign(self, text: str, key: rsa.RSAPrivateKey | None = None) -> str:
        signature = (key or self.settings.alipay_private_key).sign(
            text.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return base64.b64encode(signature).decode()

    def verify_request(self, fields: dict[str, str]) -> None:
        if fields.get("app_id") != self.settings.app_id:
            raise ApiFault("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if fields.get("sign_type") != "RSA2":
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型"
            )
        try:
            datetime.strptime(fields.get("timestamp", ""), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数"
            ) from None
        try:
            self.settings.app_public_key.verify(
                base64.b64decode(fields.get("sign", "")),
                signing_string(fields, request=True).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise ApiFault(
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature",
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
            ) from None

    def signed_response(self, method: str, inner: dict[str, Any]) -> str:
        key = method.replace(".", "_") + "_response"
        content = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        return f'{{"{key}":{content},"sign":"{self.sign(content)}"}}'

    # --- the methods -----------------------------------------------------------------------

    def _maybe_fail(self, method: str) -> None:
        failures = self.api_failures.get(method)
        if failures:
            raise failures.pop(0)

    def _find(self, biz: dict[str, Any]) -> AliTrade:
        trade = self.trades.get(str(biz.get("out_trade_no") or ""))
        if trade is None and biz.get("trade_no"):
            trade = next((t for t in self.trades.values() if t.trade_no == biz["trade_no"]), None)
        if trade is None:
            raise ApiFault("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        return trade

    def open_cashier(self, biz: dict[str, Any], fields: dict[str, str]) -> AliTrade:
        """page.pay / wap.pay: the trade, made (or found again) as the payer lands here."""
        out_trade_no = str(biz.get("out_trade_no") or "")
        total = _fen(biz.get("total_amount"))
        if (
            not out_trade_no
            or len(out_trade_no) > 64
            or not out_trade_no.replace("_", "").isalnum()
        ):
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-parameter", "out_trade_no 不合法"
            )
        if total is None or total < 1:
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-parameter", "total_amount 不合法"
            )
        if not biz.get("subject"):
            raise ApiFault("40002", "Invalid Arguments", "isv.missing-parameter", "缺少 subject")
        expires = None
        if biz.get("time_expire"):
            try:
                expires = datetime.strptime(biz["time_expire"], "%Y-%m-%d %H:%M:%S").replace(
                    tzinfo=BEIJING
                )
            except ValueError:
                raise ApiFault(
                    "40002", "Invalid Arguments", "isv.invalid-parameter", "time_expire 格式不正确"
                ) from None
        with self.lock:
            trade = self.trades.get(out_trade_no)
            if trade is not None:
                if trade.total != total:
                    raise ApiFault(
                        "40004", "Business Failed", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"
                    )
                trade.return_url = fields.get("return_url", trade.return_url)
                return trade
            trade = AliTrade(
                out_trade_no=out_trade_no,
                total=total,
                subject=str(biz["subject"]),
                product_code=str(biz.get("product_code") or ""),
                notify_url=fields.get("notify_url", ""),
                return_url=fields.get("return_url", ""),
                time_expire=expires,
                created=datetime.now(UTC),
                token=secrets.token_urlsafe(12),
            )
            self.trades[out_trade_no] = trade
            return trade

    def pay(self, trade: AliTrade, buyer_id: str = "2088102177846880") -> None:
        with self.lock:
            if trade.state != "WAIT_BUYER_PAY":
                raise ApiFault(
                    "40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"
                )
            if trade.time_expire and trade.time_expire <= datetime.now(UTC):
                raise ApiFault("40004", "Business Failed", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            now = datetime.now(UTC)
            trade.state = "TRADE_SUCCESS"
            trade.trade_no = f"{now.astimezone(BEIJING):%Y%m%d}2200" + "".join(
                secrets.choice("0123456789") for _ in range(16)
            )
            trade.buyer_id = buyer_id
            trade.gmt_payment = now
            if trade.notify_url:
                self._notify(trade, now)

    def trade_fields(self, trade: AliTrade) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.state,
            "total_amount": _yuan(trade.total),
        }
        if trade.trade_no:
            body.update(
                trade_no=trade.trade_no,
                buyer_user_id=trade.buyer_id,
                buyer_logon_id="buy***@sim.alipay",
                buyer_pay_amount=_yuan(trade.total),
                receipt_amount=_yuan(trade.total),
                send_pay_date=_beijing(trade.gmt_payment),  # type: ignore[arg-type]
            )
        return body

    def call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._maybe_fail(method)
            if method == "alipay.trade.query":
                return self.trade_fields(self._find(biz))
            if method == "alipay.trade.close":
                trade = self._find(biz)
                if trade.state != "WAIT_BUYER_PAY":
                    raise ApiFault(
                        "40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"
                    )
                trade.state = "TRADE_CLOSED"
                return {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no}
            if method == "alipay.trade.refund":
                return self._refund(biz)
            if method == "alipay.trade.fastpay.refund.query":
                trade = self._find(biz)
                found = trade.refunds.get(str(biz.get("out_request_no") or ""))
                body: dict[str, Any] = {"code": "10000", "msg": "Success"}
                if found is not None:
                    body.update(
                        out_trade_no=trade.out_trade_no,
                        trade_no=trade.trade_no,
                        out_request_no=biz.get("out_request_no"),
                        total_amount=_yuan(trade.total),
                        refund_amount=_yuan(found[0]),
                        refund_status="REFUND_SUCCESS",
                        gmt_refund_pay=_beijing(found[1]),
                    )
                return body
            if method == "alipay.data.dataservice.bill.downloadurl.query":
                return self._bill(biz)
        raise ApiFault("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")

    def _refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._find(biz)
        request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        amount = _fen(biz.get("refund_amount"))
        if amount is None or amount < 1:
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-parameter", "refund_amount 不合法"
            )
        answer = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "buy***@sim.alipay",
        }
        if request_no in trade.refunds:
            # The same out_request_no again: the same refund, no money moves this time.
            return {**answer, "fund_change": "N", "refund_fee": _yuan(trade.refunded)}
        if trade.state not in PAID:
            raise ApiFault("40004", "Business Failed", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if trade.refunded + amount > trade.total:
            raise ApiFault(
                "40004", "Business Failed", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"
            )
        now = datetime.now(UTC)
        trade.refunds[request_no] = (amount, now)
        if trade.refunded >= trade.total:
            trade.state = "TRADE_CLOSED"
        return {
            **answer,
            "fund_change": "Y",
            "refund_fee": _yuan(trade.refunded),
            "gmt_refund_pay": _beijing(now),
        }

    def _bill(self, biz: dict[str, Any]) -> dict[str, Any]:
        try:
            day = date.fromisoformat(str(biz.get("bill_date") or ""))
        except ValueError:
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-parameter", "bill_date 格式不正确"
            ) from None
        if biz.get("bill_type") != "trade":
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-parameter", "bill_type 不正确"
            )
        content = None if day >= datetime.now(BEIJING).date() else self._bill_csv(day)
        if content is None:
            raise ApiFault("40004", "Business Failed", "isp.bill_not_exist", "账单不存在")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as bundle:
            prefix = f"{self.settings.seller_id}0156_{day:%Y%m%d}"
            bundle.writestr(f"{prefix}_业务明细.csv", content)
            bundle.writestr(f"{prefix}_业务明细(汇总).csv", "#汇总\n".encode("gbk"))
        token = secrets.token_urlsafe(18)
        self.bills[token] = buffer.getvalue()
        return {"code": "10000", "msg": "Success", "bill_download_url": token}

    def _bill_csv(self, day: date) -> bytes | None:
        rows = []
        for trade in self.trades.values():
            if trade.gmt_payment and trade.gmt_payment.astimezone(BEIJING).date() == day:
                rows.append(self._bill_row(trade, "交易", trade.total, trade.gmt_payment, ""))
            for request_no, (amount, moment) in trade.refunds.items():
                if moment.astimezone(BEIJING).date() == day:
                    rows.append(self._bill_row(trade, "退款", -amount, moment, request_no))
        if not rows:
            return None
        out = io.StringIO()
        out.write("#支付宝业务明细查询\n#账号：[20880000000000010156]\n")
        out.write(
            f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day:%Y年%m月%d日} 23:59:59]\n"
        )
        out.write(
            "#-----------------------------------------业务明细列表----------------------------------------\n"
        )
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(
            ["支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号",
             "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）",
             "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）",
             "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）",
             "分润（元）", "备注"]
        )  # fmt: skip
        writer.writerows(rows)
        out.write(
            "#-----------------------------------------业务明细列表结束------------------------------------\n"
        )
        out.write(f"#交易合计：{len(rows)}笔\n")
        return out.getvalue().encode("gbk")

    def _bill_row(self, trade: AliTrade, kind: str, fen: int, moment: datetime, request_no: str):
        amount = ("-" if fen < 0 else "") + _yuan(abs(fen))
        return [
            trade.trade_no or "", trade.out_trade_no, kind, trade.subject, _beijing(trade.created),
            _beijing(moment), "", "", "", "", "buy***@sim.alipay", amount, amount, "0.00", "0.00",
            "0.00", "0.00", "0.00", "", "0.00", "0.00", request_no, "0.00", "0.00", "",
        ]  # fmt: skip

    # --- notifications ---------------------------------------------------------------------

    def notification_fields(self, trade: AliTrade, now: datetime) -> dict[str, str]:
        fields = {
            "notify_time": _beijing(now),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "charset": "utf-8",
            "version": "1.0",
            "app_id": self.settings.app_id,
            "auth_app_id": self.settings.app_id,
            "trade_no": trade.trade_no or "",
            "out_trade_no": trade.out_trade_no,
            "buyer_id": trade.buyer_id or "",
            "buyer_open_id": "",
            "seller_id": self.settings.seller_id,
            "trade_status": trade.state,
            "total_amount": _yuan(trade.total),
            "receipt_amount": _yuan(trade.total),
            "buyer_pay_amount": _yuan(trade.total),
            "subject": trade.subject,
            "gmt_create": _beijing(trade.created),
            "gmt_payment": _beijing(trade.gmt_payment or now),
        }
        return {k: v for k, v in fields.items() if v != ""}

    def signed_fields(self, fields: dict[str, str], *, forge: bool = False) -> dict[str, str]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if forge else None
        return {**fields, "sign_type": "RSA2", "sign": self.sign(signing_string(fields), key)}

    def _take_fault(self) -> tuple[str, Any] | None:
        return self.faults.pop(0) if self.faults else None

    def _notify(self, trade: AliTrade, now: datetime) -> None:
        fields = self.notification_fields(trade, now)
        fault = self._take_fault()
        if fault is not None and fault[0] == "tamper":
            fields.update(fault[1])
        delivery = AliDelivery(next(self._ids), trade.notify_url, fields, trade.out_trade_no)
        self.deliveries[delivery.id] = delivery
        delay = 0.0
        if fault is not None:
            action, value = fault
            if action == "drop":
                delivery.state = "dropped"
            elif action == "hold":
                delivery.state = "held"
            elif action == "delay":
                delay = float(value)
            elif action == "duplicate":
                delivery.copies = int(value)
            elif action == "forge":
                delivery.forge = True
        if delivery.state == "scheduled":
            self.scheduler._schedule(
                delay * self.scheduler.settings.time_scale, self._attempt_task(delivery.id)
            )

    def _attempt_task(self, delivery_id: int) -> Callable[[], None]:
        return lambda: self._attempt(delivery_id)

    def _attempt(self, delivery_id: int) -> None:
        with self.lock:
            delivery = self.deliveries.get(delivery_id)
            if delivery is None or delivery.state != "scheduled":
                return
        fields = self.signed_fields(delivery.fields, forge=delivery.forge)

        def post_one(barrier: threading.Barrier | None) -> tuple[int, str]:
            if barrier is not None:
                barrier.wait(timeout=10)
            try:
                return self.transport(delivery.url, fields)
            except Exception as exc:  # a refused connection is a failed push, as at Alipay
                return 0, f"error: {exc.__class__.__name__}"

        if delivery.copies == 1 or self.scheduler.settings.delivery == "manual":
            answers = [post_one(None) for _ in range(delivery.copies)]
        else:  # the copies at the same moment
            barrier = threading.Barrier(delivery.copies)
            with ThreadPoolExecutor(max_workers=delivery.copies) as pool:
                answers = list(pool.map(lambda _: post_one(barrier), range(delivery.copies)))
        with self.lock:
            delivery.attempts.append(
                {
                    "at": _beijing(datetime.now(UTC)),
                    "answers": [f"{s} {t[:20]}" for s, t in answers],
                }
            )
            if any(status == 200 and text.strip() == "success" for status, text in answers):
                delivery.state = "delivered"
                return
            if delivery.retries_done >= len(RETRY_SCHEDULE):
                delivery.state = "failed"
                return
            wait = RETRY_SCHEDULE[delivery.retries_done] * self.scheduler.settings.time_scale
            delivery.retries_done += 1
            self.scheduler._schedule(wait, self._attempt_task(delivery_id))


# --- HTTP ------------------------------------------------------------------------------------


def simulator() -> AlipaySimulator:
    return current_app.extensions["alipay_sim"]


@bp.record_once
def _set_up(state) -> None:
    pay = state.app.extensions["wechat_pay_sim"]
    state.app.extensions["alipay_sim"] = AlipaySimulator(AlipaySettings.from_app(state.app), pay)


def _base_url() -> str:
    return request.url_root.rstrip("/") + request.path[: request.path.index("/gateway.do")]


_ERROR_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>支付宝（模拟）</title></head>
<body style="font:16px/1.6 sans-serif;margin:32px"><h1>支付宝 · 错误</h1>
<p role="alert">{{ fault.sub_code }}：{{ fault.sub_msg or fault.msg }}</p></body></html>"""

_CASHIER = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>支付宝 - 网上支付 安全快速！（模拟收银台）</title>
<style>
body { margin: 0; font: 15px/1.5 -apple-system, "PingFang SC", "Noto Sans CJK SC", sans-serif;
  background: #f5f5f5; color: #333; }
.top { background: #1677ff; color: #fff; padding: 14px 24px; font-size: 18px; font-weight: 600; }
.sheet { max-width: 520px; background: #fff; margin: 24px auto; padding: 24px; border-radius: 8px; }
.sim { font-size: 12px; color: #fa8c16; }
.amount { font-size: 36px; color: #ff6a00; font-weight: 600; margin: 8px 0 16px; }
.row { display: flex; justify-content: space-between; border-top: 1px solid #eee; padding: 8px 0;
  gap: 12px; }
.row span:last-child { word-break: break-all; text-align: right; }
button { width: 100%; border: 0; border-radius: 6px; padding: 12px; font-size: 17px; margin-top: 12px; }
.pay { background: #1677ff; color: #fff; }
.cancel { background: #f0f0f0; color: #333; }
.msg { color: #f5222d; }
</style></head><body>
<div class="top">支付宝 · {{ '电脑网站支付' if trade.product_code == 'FAST_INSTANT_TRADE_PAY' else '手机网站支付' }}</div>
<div class="sheet">
  <div class="sim">开发环境 · 支付宝模拟收银台，不会产生真实扣款</div>
  <div>{{ trade.subject }}</div>
  <div class="amount">¥{{ '%.2f' % (trade.total / 100) }}</div>
  <div class="row"><span>商户订单号</span><span>{{ trade.out_trade_no }}</span></div>
  <div class="row"><span>付款账户</span><span>沙箱买家 buy***@sim.alipay</span></div>
  {% if message %}<p class="msg" role="alert">{{ message }}</p>{% endif %}
  {% if payable %}
  <form method="post" action="{{ url }}">
    <button class="pay" type="submit" name="action" value="pay">确认付款</button>
    <button class="cancel" type="submit" name="action" value="cancel">取消</button>
  </form>
  {% elif trade.return_url %}<p><a href="{{ trade.return_url }}">返回商户</a></p>{% endif %}
</div></body></html>"""


def _answer(method: str, inner: dict[str, Any]) -> Response:
    body = simulator().signed_response(method, inner)
    return Response(body, content_type="application/json; charset=utf-8")


@bp.route("/gateway.do", methods=["GET", "POST"])
def gateway():
    fields = request.values.to_dict()
    method = fields.get("method", "")
    sim = simulator()
    try:
        sim.verify_request(fields)
        try:
            biz = json.loads(fields.get("biz_content") or "{}")
        except ValueError:
            raise ApiFault(
                "40002", "Invalid Arguments", "isv.invalid-parameter", "biz_content 不是 JSON"
            ) from None
        if method in ("alipay.trade.page.pay", "alipay.trade.wap.pay"):
            trade = sim.open_cashier(biz, fields)
            return redirect(f"{_base_url()}/cashier/{trade.token}")
        inner = sim.call(method, biz)
        if method == "alipay.data.dataservice.bill.downloadurl.query":
            inner["bill_download_url"] = f"{_base_url()}/bill/{inner['bill_download_url']}"
        return _answer(method, inner)
    except ApiFault as fault:
        if method in ("alipay.trade.page.pay", "alipay.trade.wap.pay"):
            return render_template_string(_ERROR_PAGE, fault=fault), 400
        inner = {"code": fault.code, "msg": fault.msg}
        if fault.sub_code:
            inner.update(sub_code=fault.sub_code, sub_msg=fault.sub_msg)
        return _answer(method or "error", inner)


def _trade_by_token(token: str) -> AliTrade | None:
    sim = simulator()
    with sim.lock:
        return next((t for t in sim.trades.values() if t.token == token), None)


def _return_url(trade: AliTrade) -> str:
    """The synchronous return: the payer's browser back at the merchant, with signed fields."""
    sim = simulator()
    fields = {
        "app_id": sim.settings.app_id,
        "method": "alipay.trade.page.pay.return",
        "charset": "utf-8",
        "out_trade_no": trade.out_trade_no,
        "trade_no": trade.trade_no or "",
        "total_amount": _yuan(trade.total),
        "seller_id": sim.settings.seller_id,
        "timestamp": _beijing(datetime.now(UTC)),
        "version": "1.0",
    }
    signed = sim.signed_fields(fields)
    separator = "&" if "?" in trade.return_url else "?"
    return trade.return_url + separator + urlencode(signed)


@bp.route("/cashier/<token>", methods=["GET", "POST"])
def cashier(token: str):
    trade = _trade_by_token(token)
    if trade is None:
        return render_template_string(
            _ERROR_PAGE, fault=ApiFault("40004", "", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        ), 404
    message = None
    if request.method == "POST":
        if request.form.get("action") == "cancel":
            return redirect(trade.return_url) if _safe(trade.return_url) else ("已取消", 200)
        try:
            simulator().pay(trade)
        except ApiFault as fault:
            message = fault.sub_msg
        else:
            if _safe(trade.return_url):
                return redirect(_return_url(trade))
            message = "付款成功"
    payable = trade.state == "WAIT_BUYER_PAY" and message is None
    if payable and trade.time_expire and trade.time_expire <= datetime.now(UTC):
        payable, message = False, "交易已超时关闭"
    if trade.state != "WAIT_BUYER_PAY" and message is None:
        message = {"TRADE_SUCCESS": "该交易已付款", "TRADE_CLOSED": "交易已关闭"}.get(trade.state)
    return render_template_string(
        _CASHIER,
        trade=trade,
        message=message,
        payable=payable,
        url=url_for("alipay_sim.cashier", token=token),
    )


def _safe(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


@bp.get("/bill/<token>")
def bill(token: str):
    content = simulator().bills.get(token)
    if content is None:
        return Response("账单下载链接无效或已过期", status=404)
    return Response(content, content_type="application/zip")


@bp.post("/sim/faults")
def inject_fault():
    """``{"action": "drop" | "delay" | "duplicate" | "hold" | "forge" | "tamper", "value": …}``"""
    data = request.get_json(silent=True) or {}
    if data.get("action") not in ("drop", "delay", "duplicate", "hold", "forge", "tamper"):
        return jsonify({"message": "unknown action"}), 400
    simulator().inject(data["action"], data.get("value"), int(data.get("count", 1)))
    return jsonify({"faults": len(simulator().faults)})


@bp.post("/sim/release")
def release_held():
    return jsonify({"released": simulator().release_held()})


@bp.get("/sim/state")
def state():
    sim = simulator()
    with sim.lock:
        return jsonify(
            {
                "trades": [sim.trade_fields(t) for t in sim.trades.values()],
                "deliveries": [
                    {
                        "id": d.id,
                        "out_trade_no": d.out_trade_no,
                        "state": d.state,
                        "attempts": d.attempts,
                    }
                    for d in sim.deliveries.values()
                ],
            }
        )
