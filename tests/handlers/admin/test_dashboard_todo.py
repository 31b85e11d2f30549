"""The console's home page lists what waits for each staff member, each count a link to its queue."""

from __future__ import annotations

import re
from datetime import timedelta

from infra.extensions import db
from models.base import utcnow
from models.invoices import Invoice, InvoiceStatus, InvoiceTitleType
from models.makeup import MakeupApplication, MakeupKind, ReviewStatus
from models.orders import Complaint, ComplaintState, Refund, RefundStatus
from models.privacy import DeletionRequest
from models.staff import StaffRole
from tests import factories


def todo_of(client) -> dict[str, tuple[int, str]]:
    """label → (count, link) of the to-do tiles on the home page."""
    page = client.get("/admin/").get_data(as_text=True)
    tiles = re.findall(
        r'<a href="([^"]+)"><span class="admin-todo__group">[^<]+</span>([^<]+)<strong>(\d+)</strong>',
        page,
    )
    return {label: (int(count), href.replace("&amp;", "&")) for href, label, count in tiles}


def make_waiting_work():
    now = utcnow()
    plan = factories.makeup_plan(2019)
    for index, kind in enumerate(
        [MakeupKind.VOUCHER, MakeupKind.VOUCHER, MakeupKind.COMMITMENT, MakeupKind.VOUCHER]
    ):
        db.session.add(
            MakeupApplication(
                learner_id=factories.learner().id,
                plan_id=plan.id,
                year=2019,
                kind=kind,
                due_at=now + timedelta(days=3),
                status=ReviewStatus.APPROVED if index == 3 else ReviewStatus.PENDING,
            )
        )
    current = factories.plan(year=2022)
    orders = [factories.paid_order(factories.learner(), current) for _ in range(5)]
    for order, status in zip(
        orders[:3],
        [InvoiceStatus.REQUESTED, InvoiceStatus.REVERSING, InvoiceStatus.ISSUED],
        strict=True,
    ):
        db.session.add(
            Invoice(
                order_id=order.id,
                learner_id=order.buyer_id,
                title_type=InvoiceTitleType.PERSONAL,
                title="张三",
                email="a@example.com",
                amount_fen=order.amount_fen,
                status=status,
            )
        )
    refunds = [
        (RefundStatus.REQUESTED, None),
        (RefundStatus.PROCESSING, now - timedelta(minutes=30)),  # its result has not come
        (RefundStatus.PROCESSING, now),  # just sent: not yet worth asking
        (RefundStatus.FAILED, now - timedelta(hours=1)),
        (RefundStatus.SUCCESS, now - timedelta(hours=1)),
    ]
    for number, (status, submitted) in enumerate(refunds):
        db.session.add(
            Refund(
                order_id=orders[number].id,
                out_refund_no=f"RFTODO{number}",
                amount_fen=100,
                reason="测试",
                status=status,
                submitted_at=submitted,
            )
        )
    db.session.add_all(
        [
            Complaint(complaint_id="200000020221201001", state=ComplaintState.PENDING),
            Complaint(complaint_id="200000020221201002", state=ComplaintState.PROCESSED),
            DeletionRequest(learner_id=factories.learner().id),
        ]
    )
    db.session.flush()


def test_staff_see_the_reviews_invoices_and_requests_waiting(client, login_staff):
    make_waiting_work()
    login_staff(StaffRole.STAFF)
    assert todo_of(client) == {
        "补学缴费凭证": (2, "/admin/makeup"),
        "补学缴费承诺书": (1, "/admin/makeup"),
        "发票申请待开具": (1, "/admin/invoices?status=requested"),
        "红冲待确认": (1, "/admin/invoices?status=reversing"),
        "个人信息删除申请": (1, "/admin/deletion-requests"),
    }


def test_finance_see_refunds_to_sync_and_what_is_flagged(client, login_staff):
    make_waiting_work()
    login_staff(StaffRole.FINANCE)
    assert todo_of(client) == {
        "发票申请待开具": (1, "/admin/invoices?status=requested"),
        "红冲待确认": (1, "/admin/invoices?status=reversing"),
        "退款待核对": (2, "/admin/refunds"),
        "退款失败": (1, "/admin/refunds?status=failed"),
        "消费者投诉未处理完": (1, "/admin/complaints"),
    }
    for _, link in todo_of(client).values():
        assert client.get(link).status_code == 200


def test_an_admin_sees_every_queue_and_each_link_opens(client, login_staff):
    make_waiting_work()
    login_staff(StaffRole.ADMIN)
    todo = todo_of(client)
    assert len(todo) == 8 and todo["退款待核对"][0] == 2
    for _, link in todo.values():
        assert client.get(link).status_code == 200


def test_a_unit_admin_has_no_desk_queues_but_the_units_unfinished(client, login_staff):
    make_waiting_work()
    unit = factories.unit()
    plan = factories.plan(year=utcnow().year)
    factories.learner(unit_obj=unit)
    factories.completed_enrollment(factories.learner(unit_obj=unit), plan)
    factories.learner()  # another unit's
    login_staff(StaffRole.UNIT_ADMIN, unit_obj=unit)
    year = utcnow().year
    assert todo_of(client) == {"未完成学员": (1, f"/admin/unfinished?year={year}")}
