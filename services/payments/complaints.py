"""Consumer complaints (消费者投诉 2.0): a payer's complaint to WeChat Pay about one of our
payments, read, answered and completed from the console, and the refund started from it.

WeChat Pay tells us of a complaint (and of each change to it) at ``POST /pay/complaint-notify``
(registered once with ``flask pay complaint-notify-url``); the notification carries only the
complaint's id, so its detail is fetched after the commit (``tasks.sync_complaint``) and kept
on a ``Complaint`` row, linked to our order by the merchant number. Staff may also fetch the
last 30 days (``sync_recent``). Replies, 处理完成 and the refund approval go through
wechatpayv3's complaint calls; each is in the audit log. WeChat Pay expects a first reply
within 24 hours (the console lists 待处理 first).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select

from infra.extensions import db
from infra.jobs import enqueue
from infra.transaction import after_commit
from models.orders import Complaint, ComplaintState, Order, Refund
from services.accounts.identity import clean_text
from services.audit import Actor, record_action
from services.display import LOCAL_TZ, mask_phone
from services.errors import Conflict, ExternalServiceError, NotFound, ValidationError
from services.payments import orders, refunds, tasks, wechatpay

log = logging.getLogger(__name__)

REPLY_MAX_LENGTH = 200  # WeChat Pay's limit on response_content
# WeChat Pay's names for the steps of a complaint's negotiation history.
OPERATE_TYPES = {
    "USER_CREATE_COMPLAINT": "用户提交投诉",
    "USER_CONTINUE_COMPLAINT": "用户继续投诉",
    "USER_RESPONSE": "用户留言",
    "PLATFORM_RESPONSE": "平台留言",
    "MERCHANT_RESPONSE": "商户回复",
    "MERCHANT_CONFIRM_COMPLETE": "商户反馈处理完成",
    "MERCHANT_APPROVE_REFUND": "商户同意退款",
    "MERCHANT_REJECT_REFUND": "商户拒绝退款",
    "COMPLAINT_FULL_REFUNDED": "投诉单全额退款",
    "USER_CANCEL_COMPLAINT": "用户撤诉",
}


def record_notified(complaint_id: str, action_type: str) -> Complaint:
    """A complaint notification came: keep the id, fetch the detail once committed."""
    complaint_id = complaint_id[:64]
    complaint = db.session.scalar(select(Complaint).where(Complaint.complaint_id == complaint_id))
    if complaint is None:
        complaint = Complaint(complaint_id=complaint_id, detail={})
        db.session.add(complaint)
        db.session.flush()
    log.info("complaint %s: %s", complaint_id, action_type)
    after_commit(enqueue, tasks.sync_complaint, complaint_id)
    return complaint


def _wechat(operation: str, **kwargs: Any) -> dict[str, Any]:
    code, body = wechatpay.call_wechat_pay(operation, **kwargs)
    if code not in (200, 204):
        raise ExternalServiceError(
            f"微信支付未受理（{body.get('message') or body.get('code') or code}）。"
        )
    return body


def _apply_detail(complaint: Complaint, detail: dict[str, Any]) -> None:
    complaint.detail = detail
    try:
        complaint.state = ComplaintState(str(detail.get("complaint_state")))
    except ValueError:
        log.warning(
            "complaint %s in unknown state %r",
            complaint.complaint_id,
            detail.get("complaint_state"),
        )
    orders_info = detail.get("complaint_order_info") or [{}]
    complaint.out_trade_no = str(orders_info[0].get("out_trade_no") or "")[:64] or None
    complaint.transaction_id = str(orders_info[0].get("transaction_id") or "")[:64] or None
    complaint.problem_type = str(detail.get("problem_type") or "")[:40]
    complaint.description = str(
        detail.get("problem_description") or detail.get("complaint_detail") or ""
    )
    amount = detail.get("apply_refund_amount")
    complaint.refund_asked_fen = amount if isinstance(amount, int) else None
    complaint.complained_at = wechatpay.parse_wechat_time(detail.get("complaint_time"))
    if complaint.out_trade_no and complaint.order_id is None:
        attempt = orders.attempt_by_trade_no(complaint.out_trade_no)
        order_id = (
            attempt.order_id
            if attempt is not None
            else db.session.scalar(
                select(Order.id).where(Order.out_trade_no == complaint.out_trade_no)
            )
        )
        complaint.order_id = order_id


def sync_complaint(complaint_id: str) -> Complaint:
    """Fetch the complaint's detail from WeChat Pay and keep it."""
    complaint = db.session.scalar(select(Complaint).where(Complaint.complaint_id == complaint_id))
    if complaint is None:
        complaint = Complaint(complaint_id=complaint_id, detail={})
        db.session.add(complaint)
    _apply_detail(complaint, _wechat("complaint_detail_query", complaint_id=complaint_id))
    db.session.flush()
    return complaint


def sync_recent(days: int = 30, today: datetime | None = None) -> int:
    """Fetch every complaint of the last ``days`` (WeChat Pay's span is 30 at most)."""
    end = (today or datetime.now(LOCAL_TZ)).date()
    begin = end - timedelta(days=min(days, 30) - 1)
    offset, seen = 0, 0
    while True:
        page = _wechat(
            "complaint_list_query",
            begin_date=begin.isoformat(),
            end_date=end.isoformat(),
            limit=50,
            offset=offset,
        )
        for detail in page.get("data") or []:
            complaint_id = str(detail.get("complaint_id") or "")
            if not complaint_id:
                continue
            complaint = db.session.scalar(
                select(Complaint).where(Complaint.complaint_id == complaint_id)
            )
            if complaint is None:
                complaint = Complaint(complaint_id=complaint_id, detail={})
                db.session.add(complaint)
            _apply_detail(complaint, detail)
            seen += 1
        offset += 50
        if offset >= int(page.get("total_count") or 0):
            break
    db.session.flush()
    return seen


@dataclass(frozen=True)
class ComplaintRow:
    complaint: Complaint

    @property
    def payer_phone(self) -> str:
        return _payer_phone(self.complaint)


def _payer_phone(complaint: Complaint) -> str:
    """The payer's phone (WeChat Pay encrypts it with our key), masked for the console."""
    cipher = complaint.detail.get("payer_phone")
    if not cipher:
        return ""
    try:
        return mask_phone(wechatpay.client().decrypt(cipher))
    except (ValueError, ExternalServiceError):
        return "（无法解密）"


def list_complaints(state: str, page: int, per_page: int = 30) -> Pagination:
    statement = select(Complaint).order_by(
        (Complaint.state == ComplaintState.PROCESSED), Complaint.id.desc()
    )
    if state in {item.value for item in ComplaintState}:
        statement = statement.where(Complaint.state == ComplaintState(state))
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


@dataclass(frozen=True)
class ComplaintPage:
    """A complaint as staff see it, its negotiation history, and what they may do."""

    complaint: Complaint
    history: list[dict[str, Any]]
    history_error: str
    payer_phone: str
    refund_refusal: str | None  # why the refund cannot be started from here (None: it can)
    refunds: list[Refund]

    @property
    def can_reply(self) -> bool:
        return self.complaint.state is not ComplaintState.PROCESSED

    @property
    def can_complete(self) -> bool:
        return self.complaint.state is ComplaintState.PROCESSING

    @property
    def can_refund(self) -> bool:
        return self.refund_refusal is None


def _get(complaint_id: int) -> Complaint:
    complaint = db.session.get(Complaint, complaint_id)
    if complaint is None:
        raise NotFound("投诉单不存在。")
    return complaint


def _refund_refusal(complaint: Complaint) -> str | None:
    if complaint.order is None:
        return "该投诉没有对应本平台的订单。"
    if complaint.state is ComplaintState.PROCESSED:
        return "投诉已处理完成。"
    return refunds.refund_refusal(complaint.order)


def complaint_page(complaint_id: int) -> ComplaintPage:
    complaint = _get(complaint_id)
    history: list[dict[str, Any]] = []
    error = ""
    try:
        history = list(
            _wechat("complaint_history_query", complaint_id=complaint.complaint_id).get("data")
            or []
        )
    except ExternalServiceError as problem:
        error = problem.message
    for entry in history:
        moment = wechatpay.parse_wechat_time(entry.get("operate_time"))
        entry["operate_time_local"] = moment.astimezone(LOCAL_TZ) if moment else None
        kind = str(entry.get("operate_type") or "")
        entry["operate_label"] = OPERATE_TYPES.get(kind, kind)
    return ComplaintPage(
        complaint=complaint,
        history=history,
        history_error=error,
        payer_phone=_payer_phone(complaint),
        refund_refusal=_refund_refusal(complaint),
        refunds=list(
            db.session.scalars(
                select(Refund).where(Refund.order_id == complaint.order_id).order_by(Refund.id)
            )
        )
        if complaint.order_id
        else [],
    )


def reply(complaint_id: int, content: str, actor: Actor) -> Complaint:
    complaint = _get(complaint_id)
    content = clean_text(content)
    if not content:
        raise ValidationError("content", "请填写回复内容。")
    if len(content) > REPLY_MAX_LENGTH:
        raise ValidationError("content", f"回复内容不能超过{REPLY_MAX_LENGTH}个字。")
    if complaint.state is ComplaintState.PROCESSED:
        raise Conflict("投诉已处理完成，不能再回复。")
    _wechat("complaint_response", complaint_id=complaint.complaint_id, response_content=content)
    record_action(
        actor,
        action="complaint.reply",
        target_type="complaint",
        target_id=complaint.id,
        after={"complaint_id": complaint.complaint_id, "content": content},
    )
    return sync_complaint(complaint.complaint_id)


def complete(complaint_id: int, actor: Actor) -> Complaint:
    complaint = _get(complaint_id)
    if complaint.state is not ComplaintState.PROCESSING:
        raise Conflict("请先回复用户，再反馈处理完成。")
    _wechat("complaint_complete", complaint_id=complaint.complaint_id)
    record_action(
        actor,
        action="complaint.complete",
        target_type="complaint",
        target_id=complaint.id,
        after={"complaint_id": complaint.complaint_id},
    )
    return sync_complaint(complaint.complaint_id)


def start_refund(complaint_id: int, reason: str, actor: Actor) -> Refund:
    """Refund the complained order (its remaining seats) and tell WeChat Pay it is approved."""
    complaint = _get(complaint_id)
    refusal = _refund_refusal(complaint)
    if refusal is not None or complaint.order_id is None:
        raise Conflict(refusal or "该投诉没有对应本平台的订单。")
    reason = clean_text(reason) or "消费者投诉退款"
    refund = refunds.request_refund(
        order_id=complaint.order_id,
        seat_id=None,
        reason=reason,
        actor=actor,
    )
    if complaint.asks_refund:
        _wechat(
            "complaint_update_refund",
            complaint_id=complaint.complaint_id,
            action="APPROVE",
            launch_refund_day=0,
            remark=f"退款单号 {refund.out_refund_no}"[:200],
        )
    record_action(
        actor,
        action="complaint.refund",
        target_type="complaint",
        target_id=complaint.id,
        after={"complaint_id": complaint.complaint_id, "out_refund_no": refund.out_refund_no},
    )
    return refund


def register_notify_url(url: str) -> str:
    """Set the complaint notification URL at WeChat Pay: ``created``, ``updated``, ``unchanged``."""
    code, body = wechatpay.call_wechat_pay("complaint_notification_query")
    if code == 200 and body.get("url") == url:
        return "unchanged"
    operation = "complaint_notification_update" if code == 200 else "complaint_notification_create"
    _wechat(operation, url=url)
    return "updated" if code == 200 else "created"
