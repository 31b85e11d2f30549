"""The Alipay adapter, through ``python-alipay-sdk`` (RSA2): the cashier links of 电脑网站支付
(``alipay.trade.page.pay``) and 手机网站支付 (``alipay.trade.wap.pay``), query, close, refund
(``alipay.trade.refund``, the same ``out_request_no`` on every retry), refund query, the daily
bill, and reading an asynchronous notification (signature by Alipay's public key, then app id
and trade state). What the answers mean for our orders is decided in ``checkout``,
``refunds``, ``notifications`` and ``reconciliation``.

Amounts go to Alipay in yuan with two decimals; times are Beijing time.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.request import urlopen

from flask import current_app

from infra.pay_client import PayNotConfigured, get_alipay
from models.orders import PayChannel, PayProvider
from services.display import LOCAL_TZ
from services.errors import ExternalServiceError
from services.payments.received import PaymentRejected, ReceivedPayment

log = logging.getLogger(__name__)

NOT_CONFIGURED = "支付宝支付暂未开通，请使用微信支付或联系客服 400-023-9229。"
SUCCESS_CODE = "10000"
PAID_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")
# Sub-codes after which the same request may succeed later (same out_request_no).
RETRY_LATER = {"ACQ.SYSTEM_ERROR", "ACQ.SELLER_BALANCE_NOT_ENOUGH", "aop.ACQ.SYSTEM_ERROR"}
RETRY_LATER |= {"ACQ.REFUND_FEE_ERROR_RETRY", "isp.unknow-error"}
_PRODUCTS = {
    PayChannel.ALIPAY_PAGE: ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    PayChannel.ALIPAY_WAP: ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
}


def client() -> Any:
    try:
        return get_alipay()
    except PayNotConfigured:
        raise ExternalServiceError(NOT_CONFIGURED) from None


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen(raw: Any) -> int | None:
    """Alipay's yuan text as fen; None when it is not an amount of two decimals at most."""
    try:
        value = Decimal(str(raw)) * 100
    except (InvalidOperation, ValueError):
        return None
    if value != value.to_integral_value() or value < 0:
        return None
    return int(value)


def _now() -> str:
    return datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def parse_alipay_time(raw: Any) -> datetime | None:
    try:
        return datetime.strptime(str(raw), "%Y-%m-%d %H:%M:%S").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        return None


def cashier_url(
    channel: PayChannel,
    *,
    out_trade_no: str,
    amount_fen: int,
    subject: str,
    return_url: str,
    expires_at: datetime,
) -> str:
    """Where the payer's browser goes to pay: Alipay's gateway with the signed request."""
    method, product = _PRODUCTS[channel]
    biz_content = {
        "out_trade_no": out_trade_no,
        "total_amount": yuan(amount_fen),
        "subject": subject[:256],
        "product_code": product,
        "time_expire": expires_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
    }
    if channel is PayChannel.ALIPAY_WAP:
        biz_content["quit_url"] = return_url
    alipay = client()
    signed = alipay.client_api(
        method,
        biz_content,
        return_url=return_url,
        notify_url=alipay._app_notify_url,
        timestamp=_now(),
    )
    return alipay._gateway + "?" + signed


def call_alipay(api: str, biz_content: dict[str, Any]) -> dict[str, Any]:
    """One server call, its answer's signature checked by the SDK: the ``…_response`` object."""
    from alipay.exceptions import AliPayException, AliPayValidationError

    alipay = client()
    try:
        return dict(alipay.server_api(api, biz_content, timestamp=_now()))
    except AliPayValidationError as exc:
        log.error("Alipay %s: answer not signed by Alipay", api)
        raise ExternalServiceError("支付宝的应答未通过验签，请稍后再试。") from exc
    except AliPayException as exc:
        log.warning("Alipay %s refused: %s", api, exc)
        raise ExternalServiceError("支付宝暂时无法受理，请稍后再试。") from exc
    except (OSError, ValueError) as exc:  # unreachable, timed out, not JSON
        log.warning("Alipay %s: no answer (%s)", api, exc)
        raise ExternalServiceError("支付宝暂时无法连接，请稍后再试。") from exc


def query(out_trade_no: str) -> dict[str, Any]:
    return call_alipay("alipay.trade.query", {"out_trade_no": out_trade_no})


def close(out_trade_no: str) -> dict[str, Any]:
    return call_alipay("alipay.trade.close", {"out_trade_no": out_trade_no})


def refund(
    *, out_trade_no: str, trade_no: str, amount_fen: int, out_request_no: str, reason: str
) -> dict[str, Any]:
    return call_alipay(
        "alipay.trade.refund",
        {
            "out_trade_no": out_trade_no,
            "trade_no": trade_no,
            "refund_amount": yuan(amount_fen),
            "out_request_no": out_request_no,
            "refund_reason": reason[:256],
        },
    )


def query_refund(*, out_trade_no: str, out_request_no: str) -> dict[str, Any]:
    return call_alipay(
        "alipay.trade.fastpay.refund.query",
        {
            "out_trade_no": out_trade_no,
            "out_request_no": out_request_no,
            "query_options": ["gmt_refund_pay"],
        },
    )


def refund_state(answer: dict[str, Any], *, queried: bool) -> dict[str, Any]:
    """An answer about a refund in the shape ``refunds.apply_refund_state`` follows."""
    refunded = (
        answer.get("refund_status") == "REFUND_SUCCESS"
        if queried
        else answer.get("fund_change") == "Y"
    )
    when = parse_alipay_time(answer.get("gmt_refund_pay"))
    return {
        "status": "SUCCESS" if refunded else "PROCESSING",
        "refund_id": str(answer.get("trade_no") or "")[:32] or None,
        "success_time": when.isoformat() if when else None,
    }


def received_payment(fields: dict[str, Any]) -> ReceivedPayment:
    """A paid trade (a notification's fields, a query's answer) checked against our app."""
    app_id = fields.get("app_id", current_app.config["ALIPAY_APP_ID"])
    if app_id != current_app.config["ALIPAY_APP_ID"]:
        raise PaymentRejected("mismatch", f"app_id {app_id!r} 不是本应用")
    if fields.get("trade_status") not in PAID_STATES:
        raise PaymentRejected("mismatch", f"trade_status {fields.get('trade_status')!r}")
    trade_no = str(fields.get("trade_no") or "")
    if not trade_no or len(trade_no) > 64:
        raise PaymentRejected("mismatch", "trade_no 缺失或过长")
    amount = fen(fields.get("total_amount"))
    if amount is None:
        raise PaymentRejected("mismatch", f"total_amount {fields.get('total_amount')!r} 格式不正确")
    paid_at = parse_alipay_time(fields.get("gmt_payment") or fields.get("send_pay_date"))
    return ReceivedPayment(
        provider=PayProvider.ALIPAY,
        out_trade_no=str(fields.get("out_trade_no") or ""),
        transaction_id=trade_no,
        amount_fen=amount,
        success_time=paid_at,
        payer=str(fields.get("buyer_open_id") or fields.get("buyer_id") or "")[:64] or None,
        raw=dict(fields),
    )


def verify_notification(fields: dict[str, str]) -> bool:
    """RSA2 with Alipay's public key over every field but ``sign`` and ``sign_type``."""
    signature = fields.get("sign", "")
    if not signature or fields.get("sign_type", "RSA2") != "RSA2":
        return False
    unsigned = {k: v for k, v in fields.items() if k not in ("sign", "sign_type")}
    try:
        return bool(client().verify(unsigned, signature))
    except (ValueError, TypeError):
        return False


# --- the daily bill -------------------------------------------------------------------------


def download_trade_bill(day: date) -> bytes | None:
    """The day's 业务明细 (a CSV in GBK inside a zip file); None if there was no trade."""
    answer = call_alipay(
        "alipay.data.dataservice.bill.downloadurl.query",
        {"bill_type": "trade", "bill_date": day.isoformat()},
    )
    if answer.get("sub_code") == "isp.bill_not_exist":
        return None
    if answer.get("code") != SUCCESS_CODE or not answer.get("bill_download_url"):
        raise ExternalServiceError(
            f"申请支付宝账单失败（{answer.get('sub_msg') or answer.get('msg') or answer.get('code')}）。"
        )
    try:
        with urlopen(answer["bill_download_url"], timeout=30) as response:
            archive = response.read()
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            names = [name for name in bundle.namelist() if "汇总" not in name]
            if not names:
                raise ExternalServiceError("支付宝账单文件中没有业务明细。")
            return bundle.read(names[0])
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExternalServiceError("下载支付宝账单失败，请稍后重试。") from exc


def parse_trade_bill(content: bytes) -> tuple[list[tuple[str, str, int]], int]:
    """The payments of a 业务明细 file as (trade_no, out_trade_no, fen), and its refund count.
    Lines starting with ``#`` are the file's own notes and totals."""
    text = content.decode("gbk", errors="replace")
    rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
    if not rows:
        return [], 0
    header = [name.strip() for name in rows[0]]
    needed = ("支付宝交易号", "商户订单号", "业务类型", "订单金额（元）")
    if any(name not in header for name in needed):
        raise ExternalServiceError("支付宝账单的格式无法识别。")
    columns = {name: index for index, name in enumerate(header)}
    trades, refunds = [], 0
    for row in rows[1:]:
        values = [value.strip() for value in row]
        if len(values) < len(header):
            continue
        kind = values[columns["业务类型"]]
        if kind == "退款":
            refunds += 1
        if kind != "交易":
            continue
        amount = fen(values[columns["订单金额（元）"]])
        trades.append(
            (
                values[columns["支付宝交易号"]],
                values[columns["商户订单号"]],
                -1 if amount is None else amount,
            )
        )
    return trades, refunds
