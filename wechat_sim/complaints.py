"""WeChat Pay's consumer complaints 2.0 (消费者投诉 2.0), simulated on the WeChat Pay blueprint:
the notification URL, the complaint list, detail and negotiation history, the merchant's reply,
完成, and the refund progress of a complaint that asks for one. A payer "complains" through
``file_complaint`` (tests) or ``POST /pay/sim/complaints``; the notification
(``COMPLAINT.CREATE``) goes to the registered URL like a payment's, signed and encrypted.

Errors use WeChat Pay's codes: ``RESOURCE_NOT_EXISTS``, ``PARAM_ERROR``, ``INVALID_REQUEST``.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from flask import jsonify, request

from wechat_sim.pay import (
    BEIJING,
    ApiError,
    PaySimulator,
    _check_mchid,
    _json_body,
    _signed,
    bp,
    rfc3339,
    simulator,
)


@dataclass
class SimComplaint:
    complaint_id: str
    out_trade_no: str
    transaction_id: str
    amount: int
    payer_openid: str
    payer_phone: str
    description: str
    problem_type: str  # REFUND | SERVICE_NOT_WORK | OTHERS
    created: datetime
    state: str = "PENDING"  # PENDING | PROCESSING | PROCESSED
    history: list[dict[str, Any]] = field(default_factory=list)
    responded: bool = False
    refund_action: str | None = None

    def detail(self, merchant_key) -> dict[str, Any]:
        phone = merchant_key.encrypt(
            self.payer_phone.encode(),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        )
        body: dict[str, Any] = {
            "complaint_id": self.complaint_id,
            "complaint_time": rfc3339(self.created),
            "complaint_detail": self.description,
            "complaint_state": self.state,
            "payer_phone": base64.b64encode(phone).decode(),
            "payer_openid": self.payer_openid,
            "complaint_order_info": [
                {
                    "transaction_id": self.transaction_id,
                    "out_trade_no": self.out_trade_no,
                    "amount": self.amount,
                }
            ],
            "complaint_full_refunded": False,
            "incoming_user_response": False,
            "user_complaint_times": 1,
            "complaint_media_list": [],
            "problem_description": self.description,
            "problem_type": self.problem_type,
            "service_order_info": [],
            "user_tag_list": [],
        }
        if self.problem_type == "REFUND":
            body["apply_refund_amount"] = self.amount
        return body


def file_complaint(
    sim: PaySimulator,
    out_trade_no: str,
    description: str = "付款后无法学习，申请退款",
    *,
    problem_type: str = "REFUND",
    phone: str = "13800138000",
) -> SimComplaint:
    """The payer complains about a paid trade; WeChat Pay tells the merchant's URL."""
    with sim.lock:
        trade = sim.trades.get(out_trade_no)
        if trade is None or trade.transaction_id is None:
            raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
        now = datetime.now(UTC)
        complaint = SimComplaint(
            complaint_id="2002018" + now.strftime("%Y%m%d") + secrets.token_hex(6),
            out_trade_no=out_trade_no,
            transaction_id=trade.transaction_id,
            amount=trade.total,
            payer_openid=trade.payer_openid or "",
            payer_phone=phone,
            description=description,
            problem_type=problem_type,
            created=now,
        )
        complaint.history.append(_log(complaint, "投诉人", "USER_CREATE_COMPLAINT", description))
        sim.complaints[complaint.complaint_id] = complaint
        if sim.complaint_url:
            sim._notify(
                sim.complaint_url,
                "COMPLAINT.CREATE",
                {"complaint_id": complaint.complaint_id, "action_type": "CREATE_COMPLAINT"},
                out_trade_no,
            )
        return complaint


def _log(complaint: SimComplaint, operator: str, kind: str, details: str) -> dict[str, Any]:
    return {
        "log_id": f"{complaint.complaint_id}-{len(complaint.history) + 1}",
        "operator": operator,
        "operate_time": rfc3339(datetime.now(UTC)),
        "operate_type": kind,
        "operate_details": details,
        "image_list": [],
    }


def _find(complaint_id: str) -> SimComplaint:
    complaint = simulator().complaints.get(complaint_id)
    if complaint is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "投诉单不存在")
    return complaint


@bp.post("/v3/merchant-service/complaint-notifications")
@bp.put("/v3/merchant-service/complaint-notifications")
def complaint_url_set():
    url = str(_json_body().get("url") or "")
    if not url.startswith(("https://", "http://")):
        raise ApiError(400, "PARAM_ERROR", "url 格式不正确")
    sim = simulator()
    with sim.lock:
        if request.method == "POST" and sim.complaint_url:
            raise ApiError(400, "INVALID_REQUEST", "通知地址已存在，请使用更新接口")
        sim.complaint_url = url
    return _signed(200, {"mchid": sim.settings.mchid, "url": url})


@bp.get("/v3/merchant-service/complaint-notifications")
def complaint_url_get():
    sim = simulator()
    url = sim.complaint_url
    if not url:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "尚未设置通知地址")
    return _signed(200, {"mchid": sim.settings.mchid, "url": url})


@bp.get("/v3/merchant-service/complaints-v2")
def complaint_list():
    _check_mchid(request.args.get("complainted_mchid"))
    try:
        limit = int(request.args.get("limit", 10))
        offset = int(request.args.get("offset", 0))
        begin = datetime.fromisoformat(request.args["begin_date"]).date()
        end = datetime.fromisoformat(request.args["end_date"]).date()
    except (KeyError, ValueError):
        raise ApiError(400, "PARAM_ERROR", "begin_date、end_date、limit 或 offset 不正确") from None
    if not 1 <= limit <= 50 or (end - begin).days > 30 or end < begin:
        raise ApiError(400, "PARAM_ERROR", "limit 应为1-50，查询日期跨度不超过30天")
    sim = simulator()
    with sim.lock:
        found = [
            c
            for c in sim.complaints.values()
            if begin <= c.created.astimezone(BEIJING).date() <= end
        ]
        data = [c.detail(sim.settings.merchant_public_key) for c in found[offset : offset + limit]]
    return _signed(200, {"data": data, "limit": limit, "offset": offset, "total_count": len(found)})


@bp.get("/v3/merchant-service/complaints-v2/<complaint_id>")
def complaint_detail(complaint_id: str):
    sim = simulator()
    with sim.lock:
        return _signed(200, _find(complaint_id).detail(sim.settings.merchant_public_key))


@bp.get("/v3/merchant-service/complaints-v2/<complaint_id>/negotiation-historys")
def complaint_history(complaint_id: str):
    with simulator().lock:
        history = list(_find(complaint_id).history)
    return _signed(200, {"data": history, "limit": 100, "offset": 0, "total_count": len(history)})


@bp.post("/v3/merchant-service/complaints-v2/<complaint_id>/response")
def complaint_response(complaint_id: str):
    data = _json_body()
    _check_mchid(data.get("complainted_mchid"))
    content = str(data.get("response_content") or "")
    if not 1 <= len(content) <= 200:
        raise ApiError(400, "PARAM_ERROR", "response_content 长度应为1-200")
    with simulator().lock:
        complaint = _find(complaint_id)
        if complaint.state == "PROCESSED":
            raise ApiError(400, "INVALID_REQUEST", "投诉单已处理完成，不能再回复")
        complaint.history.append(_log(complaint, "商户", "MERCHANT_RESPONSE", content))
        complaint.responded = True
        complaint.state = "PROCESSING"
    return _signed(204, None)


@bp.post("/v3/merchant-service/complaints-v2/<complaint_id>/complete")
def complaint_complete(complaint_id: str):
    _check_mchid(_json_body().get("complainted_mchid"))
    with simulator().lock:
        complaint = _find(complaint_id)
        if not complaint.responded:
            raise ApiError(400, "INVALID_REQUEST", "请先回复用户后再反馈处理完成")
        if complaint.state != "PROCESSED":
            complaint.history.append(
                _log(complaint, "商户", "MERCHANT_CONFIRM_COMPLETE", "处理完成")
            )
            complaint.state = "PROCESSED"
    return _signed(204, None)


@bp.post("/v3/merchant-service/complaints-v2/<complaint_id>/update-refund-progress")
def complaint_refund_progress(complaint_id: str):
    data = _json_body()
    action = data.get("action")
    if action not in ("APPROVE", "REJECT"):
        raise ApiError(400, "PARAM_ERROR", "action 应为 APPROVE 或 REJECT")
    if action == "REJECT" and not data.get("reject_reason"):
        raise ApiError(400, "PARAM_ERROR", "拒绝退款须填写 reject_reason")
    with simulator().lock:
        complaint = _find(complaint_id)
        if complaint.problem_type != "REFUND":
            raise ApiError(400, "INVALID_REQUEST", "该投诉单不是申请退款单，不能更新退款审批结果")
        complaint.refund_action = action
        details = "同意退款" if action == "APPROVE" else f"拒绝退款：{data['reject_reason']}"
        complaint.history.append(_log(complaint, "商户", "MERCHANT_APPROVE_REFUND", details))
    return _signed(204, None)


@bp.post("/sim/complaints")
def sim_file_complaint():
    """``{"out_trade_no": …, "description": …}``: the payer complains (for presenters)."""
    data = request.get_json(silent=True) or {}
    complaint = file_complaint(
        simulator(),
        str(data.get("out_trade_no") or ""),
        str(data.get("description") or "付款后无法学习，申请退款"),
    )
    return jsonify({"complaint_id": complaint.complaint_id})
