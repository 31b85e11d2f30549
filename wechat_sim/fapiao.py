"""WeChat Pay's 数电 e-invoice API (电子发票, ``/v3/new-tax-control-fapiao/…``), simulated on the
WeChat Pay blueprint: the callback URL (配置开发选项), issuing (开具电子发票), query, reversal
(冲红), the download information and file, uploading a file and inserting the invoice into the
buyer's WeChat card wallet (插卡).

Requests are checked like every APIv3 call (the merchant's signature; an upload is signed over
its ``meta``); the buyer's email and phone must come encrypted with WeChat Pay's public key
(RSA-OAEP, with ``Wechatpay-Serial``), as wechatpayv3 sends them. Answers are signed with the
platform key, the PDF download too. Results come later, asynchronously, as signed and
encrypted callbacks to the configured URL (``FAPIAO.ISSUED``, ``FAPIAO.REVERSED``,
``FAPIAO.ISSUE_FAILED``, ``FAPIAO.REVERSE_FAILED``, ``FAPIAO.CARD_INSERTED``) with WeChat Pay's
retry schedule.

The 红字确认单: a 数电 invoice whose buyer is a unit (``ORGANIZATION``) and that the unit may
have booked is reversed only after the buyer confirms a red-letter confirmation form. Its
reversal first becomes ``REVERSE_CONFIRMING`` (callback ``FAPIAO.RED_CONFIRMING``, the form's
number in the query's ``red_confirmation``); the buyer confirms or declines it
(``buyer_answers_red_confirmation``, or ``POST /pay/sim/fapiao/<id>/red-confirmation``), and
one left unanswered for 72 hours lapses; then ``FAPIAO.REVERSED`` or ``FAPIAO.REVERSE_FAILED``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from flask import Response, jsonify, request
from wechatpayv3.utils import sm3

from wechat_sim.pay import (
    ApiError,
    PaySimulator,
    _json_body,
    _random_digits,
    _signed,
    bp,
    multipart_fields,
    rfc3339,
    simulator,
)

ISSUE_SECONDS = 2.0
REVERSE_SECONDS = 2.0
RED_CONFIRM_SECONDS = 72 * 3600
_APPLY_ID = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
_TAX_CODE = re.compile(r"^\d{19}$")
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
PREFIX = "/v3/new-tax-control-fapiao"
SELLER = {"name": "重庆市人力资源开发服务中心", "taxpayer_id": "12500000450412345X"}


@dataclass
class SimFapiao:
    apply_id: str
    fapiao_id: str
    buyer: dict[str, Any]  # email and phone decrypted
    total_amount: int
    items: list[dict[str, Any]]
    created: datetime
    status: str = "ISSUE_ACCEPTED"
    # ISSUE_ACCEPTED | ISSUED | ISSUE_FAILED | REVERSE_ACCEPTED | REVERSE_CONFIRMING | REVERSED
    # | REVERSE_FAILED
    fapiao_code: str = ""
    fapiao_number: str = ""
    check_code: str = ""
    fapiao_time: datetime | None = None
    red_number: str = ""
    red_time: datetime | None = None
    red_confirm_number: str = ""
    red_confirm_status: str = ""  # WAIT_BUYER_CONFIRM | CONFIRMED | DECLINED | LAPSED
    reverse_reason: str = ""
    fail_reason: str = ""
    card_status: str = "NOT_INSERTED"
    download_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "fapiao_id": self.fapiao_id,
            "status": self.status,
            "total_amount": self.total_amount,
            "buyer_information": {
                key: value for key, value in self.buyer.items() if key in ("type", "name")
            },
            "card_information": {"card_status": self.card_status},
        }
        if self.fapiao_number:
            body["blue_fapiao"] = {
                "fapiao_code": self.fapiao_code,
                "fapiao_number": self.fapiao_number,
                "check_code": self.check_code,
                "fapiao_time": rfc3339(self.fapiao_time),  # type: ignore[arg-type]
            }
        if self.red_number:
            body["red_fapiao"] = {
                "fapiao_code": self.red_number[:12],
                "fapiao_number": self.red_number,
                "fapiao_time": rfc3339(self.red_time),  # type: ignore[arg-type]
            }
        if self.red_confirm_number:
            body["red_confirmation"] = {
                "number": self.red_confirm_number,
                "status": self.red_confirm_status,
            }
        if self.fail_reason:
            body["fail_reason"] = self.fail_reason
        return body


def _decrypt(sim: PaySimulator, ciphertext: str, name: str) -> str:
    if request.headers.get("Wechatpay-Serial") != sim.settings.public_key_id:
        raise ApiError(400, "PARAM_ERROR", "加密字段须带 Wechatpay-Serial（微信支付公钥ID）")
    try:
        return sim.settings.platform_private_key.decrypt(
            base64.b64decode(ciphertext),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        ).decode()
    except ValueError:
        raise ApiError(400, "PARAM_ERROR", f"{name} 解密失败，应以微信支付公钥加密") from None


def _find(apply_id: str) -> SimFapiao:
    fapiao = simulator().fapiaos.get(apply_id)
    if fapiao is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "发票申请单不存在")
    return fapiao


def _notify(sim: PaySimulator, fapiao: SimFapiao, event_type: str) -> None:
    if not sim.fapiao_callback_url:
        return
    sim._notify(
        sim.fapiao_callback_url,
        event_type,
        {
            "mchid": sim.settings.mchid,
            "fapiao_apply_id": fapiao.apply_id,
            "fapiao_information": [
                {
                    "fapiao_id": fapiao.fapiao_id,
                    "fapiao_status": fapiao.status,
                    "card_status": fapiao.card_status,
                }
            ],
        },
        fapiao.apply_id,
    )


def _later(sim: PaySimulator, seconds: float, task) -> None:
    sim._schedule(seconds * sim.settings.time_scale, task)


# --- what happens at the tax system, later -----------------------------------------------------


def _finish_issue(sim: PaySimulator, apply_id: str) -> None:
    with sim.lock:
        fapiao = sim.fapiaos[apply_id]
        if fapiao.status != "ISSUE_ACCEPTED":
            return
        if sim.fapiao_issue_failures:
            fapiao.status = "ISSUE_FAILED"
            fapiao.fail_reason = sim.fapiao_issue_failures.pop(0)
            _notify(sim, fapiao, "FAPIAO.ISSUE_FAILED")
            return
        fapiao.status = "ISSUED"
        # 数电 invoices have a 20-digit number; the API keeps a code field (its first 12).
        fapiao.fapiao_number = datetime.now(UTC).strftime("%y") + _random_digits(18)
        fapiao.fapiao_code = fapiao.fapiao_number[:12]
        fapiao.check_code = _random_digits(20)
        fapiao.fapiao_time = datetime.now(UTC)
        _notify(sim, fapiao, "FAPIAO.ISSUED")


def _finish_reverse(sim: PaySimulator, apply_id: str) -> None:
    with sim.lock:
        fapiao = sim.fapiaos[apply_id]
        if fapiao.status not in ("REVERSE_ACCEPTED", "REVERSE_CONFIRMING"):
            return
        fapiao.status = "REVERSED"
        fapiao.red_number = datetime.now(UTC).strftime("%y") + _random_digits(18)
        fapiao.red_time = datetime.now(UTC)
        _notify(sim, fapiao, "FAPIAO.REVERSED")


def _lapse_red_confirmation(sim: PaySimulator, apply_id: str) -> None:
    with sim.lock:
        fapiao = sim.fapiaos[apply_id]
        if (
            fapiao.status == "REVERSE_CONFIRMING"
            and fapiao.red_confirm_status == "WAIT_BUYER_CONFIRM"
        ):
            fapiao.red_confirm_status = "LAPSED"
            fapiao.status = "REVERSE_FAILED"
            fapiao.fail_reason = "红字确认单超过72小时未确认，已作废"
            _notify(sim, fapiao, "FAPIAO.REVERSE_FAILED")


def buyer_answers_red_confirmation(sim: PaySimulator, apply_id: str, *, confirm: bool) -> None:
    """The buying unit confirms (or declines) the 红字确认单 in its tax app."""
    with sim.lock:
        fapiao = sim.fapiaos[apply_id]
        if fapiao.red_confirm_status != "WAIT_BUYER_CONFIRM":
            raise ApiError(400, "INVALID_REQUEST", "红字确认单不在待确认状态")
        if confirm:
            fapiao.red_confirm_status = "CONFIRMED"
            _later(sim, REVERSE_SECONDS, lambda: _finish_reverse(sim, apply_id))
        else:
            fapiao.red_confirm_status = "DECLINED"
            fapiao.status = "REVERSE_FAILED"
            fapiao.fail_reason = "购买方拒绝了红字确认单"
            _notify(sim, fapiao, "FAPIAO.REVERSE_FAILED")


def fail_next_issue(sim: PaySimulator, reason: str = "购买方纳税人识别号有误") -> None:
    """The next accepted application fails at the tax system (ISSUE_FAILED)."""
    with sim.lock:
        sim.fapiao_issue_failures.append(reason)


# --- the API -----------------------------------------------------------------------------------


@bp.patch(f"{PREFIX}/merchant/development-config")
def set_development_config():
    url = str(_json_body().get("callback_url") or "")
    if not url.startswith(("https://", "http://")):
        raise ApiError(400, "PARAM_ERROR", "callback_url 格式不正确")
    sim = simulator()
    with sim.lock:
        sim.fapiao_callback_url = url
    return _signed(200, {"callback_url": url})


@bp.get(f"{PREFIX}/merchant/development-config")
def get_development_config():
    sim = simulator()
    return _signed(200, {"callback_url": sim.fapiao_callback_url or ""})


def _buyer(sim: PaySimulator, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ApiError(400, "PARAM_ERROR", "缺少 buyer_information")
    kind = raw.get("type")
    if kind not in ("INDIVIDUAL", "ORGANIZATION"):
        raise ApiError(400, "PARAM_ERROR", "buyer_information.type 应为 INDIVIDUAL 或 ORGANIZATION")
    name = str(raw.get("name") or "")
    if not 1 <= len(name) <= 100:
        raise ApiError(400, "PARAM_ERROR", "buyer_information.name 长度应为1-100")
    buyer: dict[str, Any] = {"type": kind, "name": name}
    if kind == "ORGANIZATION":
        taxpayer_id = str(raw.get("taxpayer_id") or "")
        if not _CREDIT_CODE.match(taxpayer_id):
            raise ApiError(400, "PARAM_ERROR", "单位抬头须填写18位纳税人识别号 taxpayer_id")
        buyer["taxpayer_id"] = taxpayer_id
    for secret in ("email", "phone"):
        if raw.get(secret):
            buyer[secret] = _decrypt(sim, str(raw[secret]), f"buyer_information.{secret}")
    if "email" in buyer and "@" not in buyer["email"]:
        raise ApiError(400, "PARAM_ERROR", "buyer_information.email 格式不正确")
    return buyer


def _one_fapiao(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
        raise ApiError(400, "PARAM_ERROR", "fapiao_information 应为一张发票的列表")
    info = raw[0]
    if not _APPLY_ID.match(str(info.get("fapiao_id") or "")):
        raise ApiError(400, "PARAM_ERROR", "fapiao_id 格式不正确")
    total = info.get("total_amount")
    items = info.get("items")
    if not isinstance(total, int) or total <= 0:
        raise ApiError(400, "PARAM_ERROR", "total_amount 应为正整数（分）")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "PARAM_ERROR", "items 不能为空")
    for item in items:
        if not _TAX_CODE.match(str(item.get("tax_code") or "")):
            raise ApiError(400, "PARAM_ERROR", "items.tax_code 应为19位税收分类编码")
        if not isinstance(item.get("quantity"), int) or item["quantity"] <= 0:
            raise ApiError(400, "PARAM_ERROR", "items.quantity 应为正整数（乘以10^8）")
    if sum(int(item.get("total_amount") or 0) for item in items) != total:
        raise ApiError(400, "PARAM_ERROR", "items 的金额之和与 total_amount 不一致")
    return info


@bp.post(f"{PREFIX}/fapiao-applications")
def issue():
    data = _json_body()
    sim = simulator()
    apply_id = str(data.get("fapiao_apply_id") or "")
    if not _APPLY_ID.match(apply_id):
        raise ApiError(400, "PARAM_ERROR", "fapiao_apply_id 格式不正确")
    if data.get("scene") != "WITH_WECHATPAY":
        raise ApiError(400, "PARAM_ERROR", "scene 仅支持 WITH_WECHATPAY")
    with sim.lock:
        sim._maybe_fail("fapiao_issue")
        buyer = _buyer(sim, data.get("buyer_information"))
        info = _one_fapiao(data.get("fapiao_information"))
        existing = sim.fapiaos.get(apply_id)
        if existing is not None:
            if (
                existing.total_amount != info["total_amount"]
                or existing.buyer["name"] != buyer["name"]
            ):
                raise ApiError(400, "INVALID_REQUEST", "该发票申请单号已用于另一张发票")
            return _signed(202, None)  # the same application again: nothing new
        fapiao = SimFapiao(
            apply_id=apply_id,
            fapiao_id=str(info["fapiao_id"]),
            buyer=buyer,
            total_amount=info["total_amount"],
            items=list(info["items"]),
            created=datetime.now(UTC),
        )
        sim.fapiaos[apply_id] = fapiao
        _later(sim, ISSUE_SECONDS, lambda: _finish_issue(sim, apply_id))
    return _signed(202, None)


@bp.get(f"{PREFIX}/fapiao-applications/<apply_id>")
def query(apply_id: str):
    sim = simulator()
    with sim.lock:
        sim._maybe_fail("fapiao_query")
        fapiao = _find(apply_id)
        wanted = request.args.get("fapiao_id")
        found = [fapiao.as_json()] if wanted in (None, fapiao.fapiao_id) else []
    return _signed(200, {"total_count": len(found), "fapiao_information": found})


@bp.post(f"{PREFIX}/fapiao-applications/<apply_id>/reverse")
def reverse(apply_id: str):
    data = _json_body()
    sim = simulator()
    reason = str(data.get("reverse_reason") or "")
    if not 1 <= len(reason) <= 100:
        raise ApiError(400, "PARAM_ERROR", "reverse_reason 长度应为1-100")
    info = data.get("fapiao_information")
    if isinstance(info, list):
        info = info[0] if len(info) == 1 else None
    if not isinstance(info, dict):
        raise ApiError(400, "PARAM_ERROR", "缺少 fapiao_information")
    with sim.lock:
        sim._maybe_fail("fapiao_reverse")
        fapiao = _find(apply_id)
        if (info.get("fapiao_id"), info.get("fapiao_number"), info.get("fapiao_code")) != (
            fapiao.fapiao_id,
            fapiao.fapiao_number,
            fapiao.fapiao_code,
        ):
            raise ApiError(400, "PARAM_ERROR", "fapiao_id、fapiao_code、fapiao_number 与发票不符")
        if fapiao.status in ("REVERSE_ACCEPTED", "REVERSE_CONFIRMING", "REVERSED"):
            return _signed(202, None)  # asked again: already under way or done
        if fapiao.status not in ("ISSUED", "REVERSE_FAILED"):
            raise ApiError(400, "INVALID_REQUEST", "发票尚未开具，不能冲红")
        fapiao.reverse_reason = reason
        fapiao.fail_reason = ""
        if fapiao.buyer["type"] == "ORGANIZATION":
            fapiao.status = "REVERSE_CONFIRMING"
            fapiao.red_confirm_number = _random_digits(20)
            fapiao.red_confirm_status = "WAIT_BUYER_CONFIRM"
            _notify(sim, fapiao, "FAPIAO.RED_CONFIRMING")
            _later(sim, RED_CONFIRM_SECONDS, lambda: _lapse_red_confirmation(sim, apply_id))
        else:
            fapiao.status = "REVERSE_ACCEPTED"
            _later(sim, REVERSE_SECONDS, lambda: _finish_reverse(sim, apply_id))
    return _signed(202, None)


@bp.route(f"{PREFIX}/fapiao-applications/<apply_id>/fapiao-files", methods=["GET", "POST"])
def download_information(apply_id: str):
    sim = simulator()
    with sim.lock:
        fapiao = _find(apply_id)
        if not fapiao.fapiao_number:
            raise ApiError(400, "INVALID_REQUEST", "发票尚未开具")
        url = f"{PREFIX}/download?token={fapiao.download_token}"
        info = {"fapiao_id": fapiao.fapiao_id, "download_url": url, "status": "DOWNLOAD_READY"}
    return _signed(200, {"total_count": 1, "fapiao_download_info_list": [info]})


def fapiao_pdf(fapiao: SimFapiao) -> bytes:
    """A small PDF, in ASCII only (its signature is over the answer's text)."""
    text = f"FAPIAO {fapiao.fapiao_number} TOTAL {fapiao.total_amount} FEN"
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = "%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("ascii")


@bp.get(f"{PREFIX}/download")
def download():
    sim = simulator()
    token = request.args.get("token", "")
    if request.args.get("mchid") != sim.settings.mchid:
        raise ApiError(400, "PARAM_ERROR", "mchid 不正确")
    with sim.lock:
        fapiao = next((f for f in sim.fapiaos.values() if f.download_token == token), None)
        if fapiao is None or request.args.get("fapiao_id") != fapiao.fapiao_id:
            raise ApiError(404, "RESOURCE_NOT_EXISTS", "下载链接无效")
        if request.args.get("invoice_no") != fapiao.fapiao_number:
            raise ApiError(400, "PARAM_ERROR", "invoice_no 与发票不符")
        content = fapiao_pdf(fapiao)
        headers = sim.signed_headers(content.decode("ascii"))
    response = Response(content, status=200, content_type="application/pdf")
    response.headers.update(headers)
    return response


@bp.post(f"{PREFIX}/fapiao-applications/upload-fapiao-file")
def upload_file():
    fields = multipart_fields()
    content = fields.get("file", b"")
    try:
        meta = json.loads(fields.get("meta", b"{}"))
    except ValueError:
        raise ApiError(400, "PARAM_ERROR", "meta 不是合法的 JSON") from None
    if meta.get("file_type") not in ("PDF", "OFD", "ODF") or not content.startswith(b"%PDF"):
        raise ApiError(400, "PARAM_ERROR", "只支持PDF文件")
    if meta.get("digest_alogrithm") != "SM3" or meta.get("digest") != sm3(content):
        raise ApiError(400, "PARAM_ERROR", "文件摘要与 meta.digest 不符")
    media_id = base64.b64encode(secrets.token_bytes(16)).decode()
    sim = simulator()
    with sim.lock:
        sim.fapiao_files[media_id] = content
    return _signed(200, {"fapiao_media_id": media_id})


@bp.post(f"{PREFIX}/fapiao-applications/<apply_id>/insert-cards")
def insert_cards(apply_id: str):
    data = _json_body()
    sim = simulator()
    cards = data.get("fapiao_card_information")
    if not isinstance(cards, list) or not 1 <= len(cards) <= 5:
        raise ApiError(400, "PARAM_ERROR", "fapiao_card_information 应为1-5条")
    with sim.lock:
        fapiao = _find(apply_id)
        buyer = data.get("buyer_information") or {}
        if buyer.get("name") != fapiao.buyer["name"] or buyer.get("type") != fapiao.buyer["type"]:
            raise ApiError(400, "PARAM_ERROR", "buyer_information 与开票抬头不符")
        for card in cards:
            if card.get("fapiao_media_id") not in sim.fapiao_files:
                raise ApiError(400, "PARAM_ERROR", "fapiao_media_id 不存在，请先上传发票文件")
            if card.get("fapiao_number") != fapiao.fapiao_number:
                raise ApiError(400, "PARAM_ERROR", "fapiao_number 与发票不符")
            if card.get("total_amount") != fapiao.total_amount:
                raise ApiError(400, "PARAM_ERROR", "total_amount 与发票不符")
        if fapiao.card_status != "INSERTED":
            fapiao.card_status = "INSERTED"
            _notify(sim, fapiao, "FAPIAO.CARD_INSERTED")
    return _signed(202, None)


@bp.post("/sim/fapiao/<apply_id>/red-confirmation")
def sim_red_confirmation(apply_id: str):
    """``{"confirm": true|false}``: the buyer answers the 红字确认单 (for presenters)."""
    confirm = bool((request.get_json(silent=True) or {}).get("confirm", True))
    buyer_answers_red_confirmation(simulator(), apply_id, confirm=confirm)
    return jsonify({"ok": True})
