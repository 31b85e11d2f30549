"""Deleting an account at its owner's request (PIPL, the right to deletion).

The learner asks from 我的数据 (one open request at a time); staff act on it in the console
(删除申请), or decline it with a reason. Deleting erases the personal data nothing else needs
— name, ID number, phone, birth date, password, the WeChat binding and the follower record,
voucher screenshots and the names on vouchers, the text of the messages sent — ends every
login and any playback, and keeps what the law requires: certificates (the continuing
education record, with the name and ID number they print), orders, payments and refunds
(accounting records), invoices (tax records), and the study records they rest on. The
account row stays, anonymised, as what those records point to; it can never log in again.
Every step is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, select, update

from infra.extensions import db
from infra.transaction import after_commit
from models.accounts import Learner, WechatBinding
from models.base import utcnow
from models.certificates import Certificate
from models.invoices import Invoice
from models.makeup import MakeupApplication
from models.orders import Order, OrderStatus
from models.privacy import DeletionRequest, DeletionStatus
from models.wechat import TemplateMessage, WechatFollower
from services import stored_files
from services.accounts import sessions
from services.audit import Actor, record_action
from services.errors import Conflict, NotFound, ValidationError
from services.study import rules as study

ERASED_NAME = "已注销"
# A password hash no check accepts (and so no initial password either).
_NO_PASSWORD = "!erased"
# Processing time the page promises (GB/T 35273: 15 working days).
ANSWER_WITHIN_WORKING_DAYS = 15


@dataclass(frozen=True)
class KeptRecords:
    """What the law keeps after the account is deleted."""

    certificates: int
    paid_orders: int
    invoices: int

    @property
    def text(self) -> str:
        return (
            f"依法保留：证书{self.certificates}份、缴费订单{self.paid_orders}笔、"
            f"发票{self.invoices}张（以及作为其依据的学时记录）。"
        )


def kept_records(learner_id: int) -> KeptRecords:
    def count(model, *where) -> int:
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return KeptRecords(
        certificates=count(Certificate, Certificate.learner_id == learner_id),
        paid_orders=count(Order, Order.buyer_id == learner_id, Order.status != OrderStatus.PENDING),
        invoices=count(Invoice, Invoice.learner_id == learner_id),
    )


def open_request(learner_id: int) -> DeletionRequest | None:
    return db.session.scalar(
        select(DeletionRequest).where(
            DeletionRequest.learner_id == learner_id,
            DeletionRequest.status == DeletionStatus.REQUESTED,
        )
    )


def request_deletion(
    learner_id: int, *, reason: str, confirmed: bool, actor: Actor
) -> DeletionRequest:
    learner = db.session.get(Learner, learner_id)
    if learner is None or learner.erased_at is not None:
        raise NotFound("账号不存在。")
    if not confirmed:
        raise ValidationError("confirm", "请勾选“我已了解删除的后果”后再提交。")
    if open_request(learner_id) is not None:
        raise Conflict("您已提交删除申请，工作人员正在处理，请耐心等待。")
    request = DeletionRequest(learner_id=learner_id, reason=reason.strip()[:500])
    db.session.add(request)
    db.session.flush()
    record_action(
        actor,
        action="learner.deletion_request",
        target_type="learner",
        target_id=learner_id,
        after={"deletion_request": request.id},
    )
    return request


@dataclass(frozen=True)
class DeletionRequestView:
    request: DeletionRequest
    kept: KeptRecords

    @property
    def can_act(self) -> bool:
        return self.request.status is DeletionStatus.REQUESTED


def list_requests() -> list[DeletionRequestView]:
    """Open requests first (oldest first), then the 50 most recently handled."""
    open_ones = db.session.scalars(
        select(DeletionRequest)
        .where(DeletionRequest.status == DeletionStatus.REQUESTED)
        .order_by(DeletionRequest.requested_at)
    )
    handled = db.session.scalars(
        select(DeletionRequest)
        .where(DeletionRequest.status != DeletionStatus.REQUESTED)
        .order_by(DeletionRequest.handled_at.desc())
        .limit(50)
    )
    return [
        DeletionRequestView(request, kept_records(request.learner_id))
        for request in [*open_ones, *handled]
    ]


def _open(request_id: int) -> DeletionRequest:
    request = db.session.get(DeletionRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound("删除申请不存在。")
    if request.status is not DeletionStatus.REQUESTED:
        raise Conflict("该申请已处理。")
    return request


def complete_deletion(request_id: int, *, actor: Actor) -> DeletionRequest:
    request = _open(request_id)
    kept = kept_records(request.learner_id)
    _erase(request.learner, actor=actor)
    request.status = DeletionStatus.COMPLETED
    request.handled_at = utcnow()
    request.staff_id = actor.staff_id
    request.note = kept.text[:200]
    db.session.flush()
    return request


def decline_deletion(request_id: int, note: str, *, actor: Actor) -> DeletionRequest:
    note = note.strip()
    if not note:
        raise ValidationError("note", "请填写不予删除的原因（学员将看到）。")
    request = _open(request_id)
    request.status = DeletionStatus.DECLINED
    request.handled_at = utcnow()
    request.staff_id = actor.staff_id
    request.note = note[:200]
    db.session.flush()
    record_action(
        actor,
        action="learner.deletion_declined",
        target_type="learner",
        target_id=request.learner_id,
        after={"deletion_request": request.id, "note": request.note},
    )
    return request


def _erase(learner: Learner, *, actor: Actor) -> None:
    now = utcnow()
    binding = db.session.scalar(select(WechatBinding).where(WechatBinding.learner_id == learner.id))
    if binding is not None:
        db.session.execute(delete(WechatFollower).where(WechatFollower.openid == binding.openid))
        db.session.delete(binding)
    screenshots = []
    for application in db.session.scalars(
        select(MakeupApplication).where(MakeupApplication.learner_id == learner.id)
    ):
        if application.screenshot_path:
            screenshots.append(application.screenshot_path)
            application.screenshot_path = None
            application.screenshot_deleted_at = now
        application.payer = ""
        application.signature = ""
    db.session.execute(
        update(TemplateMessage)
        .where(TemplateMessage.learner_id == learner.id)
        .values(payload={}, openid=None)
    )
    learner.name = ERASED_NAME
    learner.id_number = f"X{learner.id:017d}"  # unique, and no resident's number
    learner.phone = None
    learner.birth_date = date(1900, 1, 1)
    learner.password_hash = _NO_PASSWORD
    learner.must_change_password = False
    learner.erased_at = now
    db.session.flush()
    record_action(
        actor,
        action="learner.erase",
        target_type="learner",
        target_id=learner.id,
        after={"kept": kept_records(learner.id).text, "screenshots_deleted": len(screenshots)},
    )
    after_commit(sessions.close_all_logins, sessions.LEARNER, learner.id)
    after_commit(study.end_learner_playback, learner.id)
    after_commit(_delete_files, screenshots)


def _delete_files(paths: list[str]) -> None:
    for relative in paths:
        stored_files.resolve(relative).unlink(missing_ok=True)
