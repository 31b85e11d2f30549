"""Reconciliation (对账): one day's WeChat Pay trade bill, and Alipay's 业务明细 where Alipay is
configured, against our payments.

Payments in the bill that we never took in (every notification lost, nobody polled) are fixed:
the order is queried and the payment taken in as usual, with source ``reconcile``. Payments we
hold for that day that the bill does not show are reported for staff to look at; so are bill
lines for orders we do not know and amounts that differ. WeChat Pay publishes a day's bill
from 10:00 the next day (Beijing time), Alipay from 09:00. Lines about Alipay start with
"支付宝".
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from infra.extensions import db
from infra.pay_client import alipay_configured
from models.orders import Order, PayChannel, Payment, PaymentSource, PayProvider
from services.display import LOCAL_TZ
from services.errors import ExternalServiceError
from services.payments import alipay, checkout, orders, wechatpay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillTrade:
    transaction_id: str
    out_trade_no: str
    amount_fen: int
    paid_at: str


@dataclass
class ReconcileReport:
    day: date
    bill_trades: int = 0
    bill_refunds: int = 0
    matched: int = 0
    fixed: list[str] = field(default_factory=list)  # paid at WeChat Pay, now taken in here
    unresolved: list[str] = field(default_factory=list)  # in the bill, still not paid here
    unknown: list[str] = field(default_factory=list)  # in the bill, no such order here
    amount_mismatch: list[str] = field(default_factory=list)
    missing_at_wechat: list[str] = field(default_factory=list)  # paid here, not in the bill

    @property
    def clean(self) -> bool:
        return not (
            self.unresolved or self.unknown or self.amount_mismatch or self.missing_at_wechat
        )


def _fen(raw: str) -> int:
    try:
        return int(Decimal(raw) * 100)
    except InvalidOperation:
        return -1


def parse_trade_bill(content: bytes) -> tuple[list[BillTrade], int]:
    """The SUCCESS lines of a trade bill (values come with a leading backquote)."""
    text = content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], 0
    header = [name.strip() for name in rows[0]]
    columns = {name: index for index, name in enumerate(header)}
    needed = ("微信订单号", "商户订单号", "交易状态", "订单金额", "交易时间")
    if any(name not in columns for name in needed):
        raise ExternalServiceError("微信支付账单的格式无法识别。")
    trades, refunds = [], 0
    for row in rows[1:]:
        values = [value.strip().lstrip("`") for value in row]
        if not values or values[0] == "总交易单数" or len(values) < len(header):
            break
        state = values[columns["交易状态"]]
        if state == "REFUND":
            refunds += 1
        if state != "SUCCESS":
            continue
        trades.append(
            BillTrade(
                transaction_id=values[columns["微信订单号"]],
                out_trade_no=values[columns["商户订单号"]],
                amount_fen=_fen(values[columns["订单金额"]]),
                paid_at=values[columns["交易时间"]],
            )
        )
    return trades, refunds


def download_trade_bill(day: date) -> bytes | None:
    """The day's bill, unpacked and checked against its hash; ``None`` if there was no trade."""
    code, body = wechatpay.call_wechat_pay(
        "trade_bill", bill_date=day.isoformat(), bill_type="ALL", tar_type="GZIP"
    )
    if code == 400 and body.get("code") == "NO_STATEMENT_EXIST":
        return None
    if code != 200 or not body.get("download_url"):
        raise ExternalServiceError(f"申请交易账单失败（{body.get('message') or code}）。")
    code, download = wechatpay.call_wechat_pay("download_bill", url=body["download_url"])
    if code != 200 or "content" not in download:
        raise ExternalServiceError(f"下载交易账单失败（{download.get('message') or code}）。")
    content = download["content"]
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    expected = str(body.get("hash_value") or "").lower()
    checkable = body.get("hash_type", "SHA1").upper() == "SHA1" and expected
    if checkable and hashlib.sha1(content).hexdigest() != expected:
        raise ExternalServiceError("交易账单的摘要不符，文件可能不完整，请稍后重试。")
    return content


def reconcile_day(day: date) -> ReconcileReport:
    report = ReconcileReport(day=day)
    content = download_trade_bill(day)
    trades, report.bill_refunds = parse_trade_bill(content) if content else ([], 0)
    _reconcile(report, day, PayProvider.WECHAT, trades, prefix="")
    if alipay_configured():
        content = alipay.download_trade_bill(day)
        lines, refunds = alipay.parse_trade_bill(content) if content else ([], 0)
        report.bill_refunds += refunds
        alipay_trades = [
            BillTrade(
                transaction_id=trade_no, out_trade_no=out_trade_no, amount_fen=amount, paid_at=""
            )
            for trade_no, out_trade_no, amount in lines
        ]
        _reconcile(report, day, PayProvider.ALIPAY, alipay_trades, prefix="支付宝 ")
    return report


def _order_of(out_trade_no: str) -> Order | None:
    attempt = orders.attempt_by_trade_no(out_trade_no)
    if attempt is not None:
        return db.session.get(Order, attempt.order_id)
    return db.session.scalar(select(Order).where(Order.out_trade_no == out_trade_no))


def _reconcile(
    report: ReconcileReport,
    day: date,
    provider: PayProvider,
    trades: list[BillTrade],
    *,
    prefix: str,
) -> None:
    report.bill_trades += len(trades)
    known = {
        payment.transaction_id: payment
        for payment in db.session.scalars(
            select(Payment).where(Payment.transaction_id.in_([t.transaction_id for t in trades]))
        )
    }
    for trade in trades:
        payment = known.get(trade.transaction_id)
        if payment is not None:
            if payment.amount_fen != trade.amount_fen:
                report.amount_mismatch.append(
                    f"{prefix}{trade.out_trade_no}: 账单 {trade.amount_fen} 分，本平台 {payment.amount_fen} 分"
                )
            else:
                report.matched += 1
            continue
        order = _order_of(trade.out_trade_no)
        if order is None:
            report.unknown.append(f"{prefix}{trade.out_trade_no} ({trade.transaction_id})")
            continue
        try:
            outcome = checkout.sync_order(order.id, PaymentSource.RECONCILE)
        except ExternalServiceError as error:
            outcome = error.message
        if outcome in checkout.PAID_OUTCOMES:
            report.fixed.append(prefix + trade.out_trade_no)
        elif outcome == "mismatch":
            report.amount_mismatch.append(f"{prefix}{trade.out_trade_no}: 查询结果与订单不符")
        else:
            report.unresolved.append(f"{prefix}{trade.out_trade_no}: {outcome}")
    start = datetime.combine(day, time.min, tzinfo=LOCAL_TZ)
    in_bill = {trade.transaction_id for trade in trades}
    channels = [channel for channel in PayChannel if channel.provider is provider]
    for transaction_id, out_trade_no in db.session.execute(
        select(Payment.transaction_id, Order.out_trade_no)
        .join(Order, Order.id == Payment.order_id)
        .where(
            Payment.success_time >= start,
            Payment.success_time < start + timedelta(days=1),
            Payment.channel.in_(channels),
        )
        .order_by(Payment.success_time)
    ):
        if transaction_id not in in_bill:
            report.missing_at_wechat.append(f"{prefix}{out_trade_no} ({transaction_id})")
