"""The ``wechatpay`` invoice provider: 数电 (fully digital) invoices through WeChat Pay's
e-invoice API (``/v3/new-tax-control-fapiao``), called through wechatpayv3's ``fapiao_*``.

- **Issue**: a paid order's application goes out as ``fapiao_applications`` under our
  application number ``GXFP<invoice id>`` (发票申请单号, also the 商户发票单号), with the title, the
  unit's credit code and the email (encrypted by the library with WeChat Pay's public key), one
  line of ``FAPIAO_TAX_CODE``. WeChat Pay answers 202 and issues later.
- **Results** come as callbacks to ``POST /pay/fapiao-notify`` (registered once with
  ``flask invoices callback-url``), signed and encrypted like every APIv3 notification. A
  callback only says "look again": each is followed by a query (``fapiao_query``), and what the
  query says is what counts. ``flask invoices sync`` (cron) queries what a lost callback left
  open, and issues the applications of orders paid since they were asked for.
- **Issued**: the PDF is fetched (``fapiao_query_files``, then ``fapiao_download_file``),
  recorded with ``invoices.record_issued`` (the learner gets the 发票开具 message), then
  uploaded (``fapiao_upload_file``) and put into the learner's WeChat card wallet
  (``fapiao_insert_cards``).
- **Reverse (红冲)**: ``fapiao_reverse`` with the invoice's code and number. A unit's invoice
  may need a 红字确认单 first: its states are kept on the invoice (``RedConfirmStatus``): waiting
  for the buyer, confirmed (the red-letter invoice follows), declined or lapsed after 72 hours
  (the invoice then stays in the console's 红冲中 list with the reason, for staff to settle
  with the unit and record the red-letter number by hand, or to ask again).

An invoice issued by the staff desk (no application number) is reversed at the desk, whatever
the provider is now.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from infra.extensions import db
from infra.jobs import enqueue
from infra.transaction import after_commit
from models.accounts import WechatBinding
from models.invoices import Invoice, InvoiceStatus, InvoiceTitleType, RedConfirmStatus
from models.orders import Order
from services import stored_files
from services.audit import Actor
from services.errors import ExternalServiceError
from services.payments import notifications as pay_notifications
from services.payments.wechatpay import (
    NotificationHeaders,
    NotificationRejected,
    call_wechat_pay,
    open_notification,
)

log = logging.getLogger(__name__)

ACTOR = Actor.system("system:fapiao")
PROVIDER = "wechatpay"
GOODS_NAME = "*非学历教育服务*继续教育培训费"
_RED_CONFIRM = {
    "WAIT_BUYER_CONFIRM": RedConfirmStatus.AWAITING_BUYER,
    "CONFIRMED": RedConfirmStatus.CONFIRMED,
    "DECLINED": RedConfirmStatus.DECLINED,
    "LAPSED": RedConfirmStatus.LAPSED,
}


class WechatPayFapiao:
    """Hands applications and reversals to the jobs that call WeChat Pay."""

    name = PROVIDER

    def submit(self, invoice_id: int) -> None:
        from services.paperwork import tasks

        enqueue(tasks.issue_fapiao, invoice_id)

    def reverse(self, invoice_id: int) -> None:
        from services.paperwork import tasks

        enqueue(tasks.reverse_fapiao, invoice_id)


def apply_id_for(invoice: Invoice) -> str:
    return f"GXFP{invoice.id:010d}"


def callback_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/pay/fapiao-notify"


def set_callback_url() -> str:
    """配置开发选项: where WeChat Pay sends fapiao callbacks. Returns the URL it holds."""
    code, body = call_wechat_pay("fapiao_set_merchant_config", callback_url=callback_url())
    if code != 200:
        raise ExternalServiceError(f"设置发票回调地址失败：{body.get('message', code)}")
    return str(body.get("callback_url") or "")


def _locked(invoice_id: int) -> Invoice | None:
    return db.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update(skip_locked=True)
    )


def _fail(invoice: Invoice, message: str) -> None:
    invoice.provider_error = message[:300]
    db.session.flush()
    log.warning("fapiao of invoice %s: %s", invoice.id, message)


def _buyer(invoice: Invoice) -> dict[str, Any]:
    if invoice.title_type is InvoiceTitleType.UNIT:
        return {
            "type": "ORGANIZATION",
            "name": invoice.title,
            "taxpayer_id": invoice.tax_code,
            "email": invoice.email,
        }
    return {"type": "INDIVIDUAL", "name": invoice.title, "email": invoice.email}


def issue(invoice_id: int) -> None:
    """Send the application of a paid order's invoice to WeChat Pay (once per invoice)."""
    from services.paperwork.invoices import PAID_STATES

    invoice = _locked(invoice_id)
    if invoice is None or invoice.provider != PROVIDER:
        return
    if invoice.status is not InvoiceStatus.REQUESTED or invoice.fapiao_status is not None:
        return
    order = db.session.get(Order, invoice.order_id)
    if order is None or order.status not in PAID_STATES:
        return  # asked for at ordering: sent once the order is paid (``invoices sync``)
    apply_id = apply_id_for(invoice)
    try:
        code, body = call_wechat_pay(
            "fapiao_applications",
            fapiao_apply_id=apply_id,
            buyer_information=_buyer(invoice),
            fapiao_information=[
                {
                    "fapiao_id": apply_id,
                    "total_amount": invoice.amount_fen,
                    "need_list": False,
                    "items": [
                        {
                            "tax_code": current_app.config["FAPIAO_TAX_CODE"],
                            "goods_name": GOODS_NAME,
                            "quantity": 100000000,  # 1, in units of 10^-8
                            "total_amount": invoice.amount_fen,
                            "discount": False,
                        }
                    ],
                }
            ],
        )
    except ExternalServiceError as error:
        _fail(invoice, error.message)
        return
    if code != 202:
        _fail(invoice, f"开票申请被拒绝：{body.get('code', code)} {body.get('message', '')}")
        return
    invoice.fapiao_apply_id = apply_id
    invoice.fapiao_status = "ISSUE_ACCEPTED"
    invoice.provider_error = ""
    db.session.flush()


def _query(invoice: Invoice) -> dict[str, Any] | None:
    try:
        code, body = call_wechat_pay(
            "fapiao_query",
            fapiao_apply_id=invoice.fapiao_apply_id,
            fapiao_id=invoice.fapiao_apply_id,
        )
    except ExternalServiceError as error:
        _fail(invoice, error.message)
        return None
    found = body.get("fapiao_information") or []
    if code != 200 or not found:
        _fail(invoice, f"查询发票失败：{body.get('code', code)} {body.get('message', '')}")
        return None
    return found[0]


def sync(invoice_id: int) -> None:
    """Ask WeChat Pay where the invoice stands and follow it: issued (file, card wallet),
    failed, the 红字确认单, reversed."""
    invoice = _locked(invoice_id)
    if invoice is None or invoice.provider != PROVIDER or invoice.fapiao_apply_id is None:
        return
    fapiao = _query(invoice)
    if fapiao is None:
        return
    status = str(fapiao.get("status") or "")
    invoice.fapiao_status = status[:30]
    card = (fapiao.get("card_information") or {}).get("card_status")
    if card:
        invoice.card_status = str(card)[:20]
    confirmation = fapiao.get("red_confirmation") or {}
    if confirmation.get("status") in _RED_CONFIRM:
        invoice.red_confirm_status = _RED_CONFIRM[confirmation["status"]]
        invoice.red_confirm_number = str(confirmation.get("number") or "")[:40] or None
    blue = fapiao.get("blue_fapiao") or {}
    if invoice.status is InvoiceStatus.REQUESTED and status == "ISSUED":
        _take_issued(invoice, blue)
    elif status == "ISSUE_FAILED":
        _fail(invoice, f"开票失败：{fapiao.get('fail_reason', '')}（可在发票台手工开具）")
    elif status == "REVERSE_FAILED":
        _fail(invoice, f"红冲未完成：{fapiao.get('fail_reason', '')}")
    elif invoice.status is InvoiceStatus.REVERSING and status == "REVERSED":
        from services.paperwork.invoices import record_reversed

        red = fapiao.get("red_fapiao") or {}
        record_reversed(invoice.id, red_invoice_number=str(red.get("fapiao_number")), actor=ACTOR)
        invoice.provider_error = ""
    elif invoice.status is InvoiceStatus.ISSUED and invoice.card_status != "INSERTED":
        _deliver_to_card(invoice, blue)
    db.session.flush()


def _openid(invoice: Invoice) -> str | None:
    return db.session.scalar(
        select(WechatBinding.openid).where(WechatBinding.learner_id == invoice.learner_id)
    )


def _download(invoice: Invoice, blue: dict[str, Any]) -> bytes | None:
    try:
        code, body = call_wechat_pay(
            "fapiao_query_files",
            fapiao_apply_id=invoice.fapiao_apply_id,
            fapiao_id=invoice.fapiao_apply_id,
        )
        files = body.get("fapiao_download_info_list") or []
        if code != 200 or not files:
            _fail(invoice, f"获取发票下载信息失败：{body.get('message', code)}")
            return None
        code, content = call_wechat_pay(
            "fapiao_download_file",
            url=files[0]["download_url"],
            # wechatpayv3 insists on both: the buyer's openid (a learner may have no WeChat
            # bound) and the invoice code (a 数电 invoice may have none); "-" stands for none.
            openid=_openid(invoice) or "-",
            invoice_code=blue.get("fapiao_code") or "-",
            invoice_no=blue.get("fapiao_number"),
            fapiao_id=invoice.fapiao_apply_id,
        )
    except ExternalServiceError as error:
        _fail(invoice, error.message)
        return None
    pdf = content.get("content")
    if code != 200 or not isinstance(pdf, bytes):
        _fail(invoice, f"下载发票文件失败：{content.get('message', code)}")
        return None
    return pdf


def _take_issued(invoice: Invoice, blue: dict[str, Any]) -> None:
    from services.paperwork.invoices import record_issued

    pdf = _download(invoice, blue)
    if pdf is None:
        return
    record_issued(
        invoice.id, invoice_number=str(blue.get("fapiao_number") or ""), pdf=pdf, actor=ACTOR
    )
    invoice.provider_error = ""
    db.session.flush()
    _deliver_to_card(invoice, blue)


def _deliver_to_card(invoice: Invoice, blue: dict[str, Any]) -> None:
    """Put the issued invoice into the learner's WeChat card wallet (发票插卡)."""
    if invoice.pdf_path is None or not blue.get("fapiao_number"):
        return
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{invoice.invoice_number}.pdf"
            path.write_bytes(stored_files.read(invoice.pdf_path))
            code, body = call_wechat_pay("fapiao_upload_file", filepath=str(path))
        media_id = body.get("fapiao_media_id")
        if code != 200 or not media_id:
            _fail(invoice, f"上传发票文件失败：{body.get('message', code)}")
            return
        buyer = {"type": _buyer(invoice)["type"], "name": invoice.title}
        if invoice.tax_code:
            buyer["taxpayer_id"] = invoice.tax_code
        code, body = call_wechat_pay(
            "fapiao_insert_cards",
            fapiao_apply_id=invoice.fapiao_apply_id,
            buyer_information=buyer,
            fapiao_card_information=[
                {
                    "fapiao_media_id": media_id,
                    "fapiao_number": blue["fapiao_number"],
                    "fapiao_code": blue.get("fapiao_code", ""),
                    "fapiao_time": blue.get("fapiao_time", ""),
                    "check_code": blue.get("check_code", ""),
                    "total_amount": invoice.amount_fen,
                    "tax_amount": 0,  # 免税: continuing education's fee
                    "amount": invoice.amount_fen,
                    "items": [
                        {
                            "tax_code": current_app.config["FAPIAO_TAX_CODE"],
                            "goods_name": GOODS_NAME,
                            "quantity": 100000000,
                            "total_amount": invoice.amount_fen,
                        }
                    ],
                }
            ],
        )
    except ExternalServiceError as error:
        _fail(invoice, f"插入卡包失败：{error.message}")
        return
    if code != 202:
        _fail(invoice, f"插入卡包失败：{body.get('message', code)}")
        return
    invoice.card_status = invoice.card_status or "INSERTING"
    db.session.flush()


def reverse(invoice_id: int) -> None:
    """Ask WeChat Pay for the red-letter invoice of an issued invoice (红冲)."""
    invoice = _locked(invoice_id)
    if invoice is None or invoice.status is not InvoiceStatus.REVERSING:
        return
    if invoice.fapiao_apply_id is None:
        invoice.provider = "staff"  # issued at the staff desk: reversed there too
        db.session.flush()
        return
    fapiao = _query(invoice)
    if fapiao is None:
        return
    status = str(fapiao.get("status") or "")
    if status in ("REVERSE_ACCEPTED", "REVERSE_CONFIRMING", "REVERSED"):
        sync(invoice.id)  # already asked for: follow it
        return
    blue = fapiao.get("blue_fapiao") or {}
    try:
        code, body = call_wechat_pay(
            "fapiao_reverse",
            fapiao_apply_id=invoice.fapiao_apply_id,
            reverse_reason=(invoice.reverse_reason or "发票红冲")[:100],
            fapiao_information={
                "fapiao_id": invoice.fapiao_apply_id,
                "fapiao_code": blue.get("fapiao_code"),
                "fapiao_number": blue.get("fapiao_number"),
            },
        )
    except ExternalServiceError as error:
        _fail(invoice, error.message)
        return
    if code != 202:
        _fail(invoice, f"红冲申请被拒绝：{body.get('code', code)} {body.get('message', '')}")
        return
    invoice.fapiao_status = "REVERSE_ACCEPTED"
    invoice.red_confirm_status = None
    invoice.provider_error = ""
    db.session.flush()


def retry_reversal(invoice_id: int, *, actor: Actor) -> Invoice:
    """Staff ask WeChat Pay for the reversal again (a new 红字确认单) after the buyer declined
    the last one or let it lapse."""
    from services.audit import record_action
    from services.errors import Conflict
    from services.paperwork import tasks
    from services.paperwork.invoices import get_invoice

    invoice = get_invoice(invoice_id)
    if invoice.status is not InvoiceStatus.REVERSING or invoice.fapiao_status != "REVERSE_FAILED":
        raise Conflict("该发票没有需要重新发起的红冲。")
    before = {"red_confirm_status": invoice.red_confirm_status and invoice.red_confirm_status.value}
    invoice.fapiao_status = "ISSUED"
    invoice.provider = PROVIDER
    db.session.flush()
    record_action(
        actor,
        action="invoice.retry_reversal",
        target_type="invoice",
        target_id=invoice.id,
        before=before,
        after={"fapiao_status": invoice.fapiao_status},
    )
    after_commit(enqueue, tasks.reverse_fapiao, invoice.id)
    return invoice


def open_invoice_ids(limit: int = 500) -> list[tuple[int, str]]:
    """What ``invoices sync`` follows up: (invoice id, "issue" | "sync" | "reverse")."""
    from services.paperwork.invoices import PAID_STATES

    rows = db.session.execute(
        select(Invoice.id, Invoice.status, Invoice.fapiao_status, Invoice.fapiao_apply_id)
        .join(Order, Order.id == Invoice.order_id)
        .where(
            Invoice.provider == PROVIDER,
            Invoice.status.in_((InvoiceStatus.REQUESTED, InvoiceStatus.REVERSING)),
            Order.status.in_(PAID_STATES) | (Invoice.status == InvoiceStatus.REVERSING),
        )
        .order_by(Invoice.id)
        .limit(limit)
    ).all()
    work = []
    for invoice_id, status, fapiao_status, apply_id in rows:
        if status is InvoiceStatus.REQUESTED:
            work.append((invoice_id, "issue" if apply_id is None else "sync"))
        elif fapiao_status in ("ISSUED", "REVERSE_FAILED") or apply_id is None:
            continue  # a reversal not sent (or refused by the buyer): staff decide
        else:
            work.append((invoice_id, "sync"))
    return work


def receive_notification(
    headers: NotificationHeaders, body: str
) -> pay_notifications.NotificationAnswer:
    """``POST /pay/fapiao-notify``: a fapiao changed at WeChat Pay; follow it by a query after
    commit."""
    record = pay_notifications.keep_notification("fapiao", headers, body)
    try:
        envelope = open_notification(headers, body)
    except NotificationRejected as rejected:
        record.outcome, record.detail = rejected.outcome, rejected.message[:255]
        log.warning("fapiao notification refused (%s): %s", rejected.outcome, rejected.message)
        answer = pay_notifications.NotificationAnswer(rejected.status, rejected.message)
    else:
        resource = envelope["resource"]
        record.event_id = str(envelope.get("id") or "")[:64] or None
        record.event_type = str(envelope.get("event_type") or "")[:40] or None
        apply_id = str(resource.get("fapiao_apply_id") or "")
        invoice = db.session.scalar(select(Invoice).where(Invoice.fapiao_apply_id == apply_id))
        if resource.get("mchid") != current_app.config["WECHAT_PAY_MCHID"]:
            record.outcome, record.detail = "mismatch", "mchid 不是本商户号"
            answer = pay_notifications.NotificationAnswer(400, "mchid 不是本商户号")
        elif invoice is None:
            record.outcome, record.detail = "unknown", f"发票申请单号 {apply_id[:32]} 不存在"
            answer = pay_notifications.NotificationAnswer(404, "发票申请单号不存在")
        else:
            from services.paperwork import tasks

            record.detail = f"发票申请单 {apply_id}"
            after_commit(enqueue, tasks.sync_fapiao, invoice.id)
            answer = pay_notifications.NotificationAnswer(204)
    pay_notifications._store(record)
    return answer
