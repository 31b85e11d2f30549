"""What waits for staff: the counts on the console's home page, each of one queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, ScalarSelect, func, select

from infra.extensions import db
from models.base import utcnow
from models.invoices import Invoice, InvoiceStatus
from models.makeup import MakeupApplication, MakeupKind, ReviewStatus
from models.orders import Complaint, ComplaintState, Refund, RefundStatus
from models.privacy import DeletionRequest, DeletionStatus
from services import unit_progress

# A sent refund whose result has not come for this long is worth asking about
# (what ``pay sync-refunds`` follows up; see services/payments/refunds.refunds_to_sync).
REFUND_SILENT_MINUTES = 2


@dataclass(frozen=True)
class Queue:
    key: str
    group: str  # 待审核 · 待办理 · 需关注
    label: str


QUEUES: tuple[Queue, ...] = (
    Queue("vouchers", "待审核", "补学缴费凭证"),
    Queue("commitments", "待审核", "补学缴费承诺书"),
    Queue("invoices", "待办理", "发票申请待开具"),
    Queue("reversals", "待办理", "红冲待确认"),
    Queue("refunds_to_sync", "待办理", "退款待核对"),
    Queue("failed_refunds", "需关注", "退款失败"),
    Queue("complaints", "需关注", "消费者投诉未处理完"),
    Queue("deletions", "需关注", "个人信息删除申请"),
)
UNIT_UNFINISHED = Queue("unit_unfinished", "本单位", "未完成学员")


def _count(model: type, *conditions: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


def _counters() -> dict[str, ScalarSelect[int]]:
    silent_since = utcnow() - timedelta(minutes=REFUND_SILENT_MINUTES)
    pending_makeup = MakeupApplication.status == ReviewStatus.PENDING
    return {
        "vouchers": _count(
            MakeupApplication, pending_makeup, MakeupApplication.kind == MakeupKind.VOUCHER
        ),
        "commitments": _count(
            MakeupApplication, pending_makeup, MakeupApplication.kind == MakeupKind.COMMITMENT
        ),
        "invoices": _count(Invoice, Invoice.status == InvoiceStatus.REQUESTED),
        "reversals": _count(Invoice, Invoice.status == InvoiceStatus.REVERSING),
        "refunds_to_sync": _count(
            Refund,
            (Refund.status == RefundStatus.REQUESTED)
            | ((Refund.status == RefundStatus.PROCESSING) & (Refund.submitted_at <= silent_since)),
        ),
        "failed_refunds": _count(Refund, Refund.status == RefundStatus.FAILED),
        "complaints": _count(Complaint, Complaint.state != ComplaintState.PROCESSED),
        "deletions": _count(DeletionRequest, DeletionRequest.status == DeletionStatus.REQUESTED),
    }


@dataclass(frozen=True)
class Waiting:
    queue: Queue
    count: int


def waiting_work(keys: Iterable[str]) -> list[Waiting]:
    """The counts of the queues named by ``keys`` (those the staff member may open), in
    ``QUEUES`` order, in one statement."""
    wanted = set(keys)
    queues = [queue for queue in QUEUES if queue.key in wanted]
    if not queues:
        return []
    counters = _counters()
    row = db.session.execute(
        select(*(counters[queue.key].label(queue.key) for queue in queues))
    ).one()
    return [Waiting(queue, int(getattr(row, queue.key))) for queue in queues]


def unit_waiting_work(unit_id: int, year: int) -> Waiting:
    """A unit admin's queue: the unit's learners who have not finished the year."""
    return Waiting(UNIT_UNFINISHED, unit_progress.count_unfinished(unit_id, year))
