"""Refunds: whole orders and single seats, asked once, sent until WeChat Pay takes them,
completed by the refund notification or a query; the plan is taken away again."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from infra.extensions import db
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import OrderStatus, PayNotification, Refund, RefundStatus, SeatStatus
from models.staff import AuditLog, StaffRole
from services.audit import Actor
from tests import factories
from tests.services.payments.conftest import (
    buy_and_pay,
    buyer,
    log_in,
    reload,
    start_payment,
    submit_form,
)
from tests.study_player import FakeClock, Player


def paid_through_simulator(client, pay_sim, plan=None):
    learner, plan = buyer(), plan or factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PAID
    return learner, plan, order


def enrollment_status(learner, plan):
    return db.session.scalar(
        select(Enrollment.status).where(
            Enrollment.learner_id == learner.id, Enrollment.plan_id == plan.id
        )
    )


def refunds_of(order) -> list[Refund]:
    return list(db.session.scalars(select(Refund).where(Refund.order_id == order.id)))


def test_a_full_refund_takes_the_plan_away_and_is_audited(client, pay_sim, staff_client):
    learner, plan, order = paid_through_simulator(client, pay_sim)
    response = staff_client.refund(order, "学员申请退费")
    assert response.status_code == 302
    [refund] = refunds_of(order)
    assert refund.status is RefundStatus.PROCESSING and refund.refund_id
    assert refund.amount_fen == 3000 and refund.staff_id == staff_client.staff.id
    sim_refund = pay_sim.refunds[refund.out_refund_no]
    assert (
        sim_refund.trade.out_trade_no == order.out_trade_no and sim_refund.reason == "学员申请退费"
    )
    assert reload(order).seats[0].status is SeatStatus.REFUNDING
    assert enrollment_status(learner, plan) is EnrollmentStatus.ACTIVE  # until the money is back

    pay_sim.advance(3)
    order = reload(order)
    assert order.status is OrderStatus.REFUNDED and order.refunded_fen == 3000
    assert order.seats[0].status is SeatStatus.REFUNDED
    assert refunds_of(order)[0].status is RefundStatus.SUCCESS
    assert enrollment_status(learner, plan) is EnrollmentStatus.REVOKED
    actions = set(
        db.session.scalars(
            select(AuditLog.action).where(
                AuditLog.target_type == "order", AuditLog.target_id == str(order.id)
            )
        )
    )
    assert actions == {"order.refund", "order.refund.succeeded"}
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "order.refund"))
    assert entry.staff_id == staff_client.staff.id and entry.after["reason"] == "学员申请退费"


def test_refunding_twice_refunds_once(client, pay_sim, staff_client):
    _, _, order = paid_through_simulator(client, pay_sim)
    staff_client.refund(order, "学员申请退费")
    again = staff_client.refund(order, "学员申请退费")
    page = staff_client.client.get(again.headers["Location"]).get_data(as_text=True)
    assert "退款正在处理中" in page
    pay_sim.advance(3)
    third = staff_client.refund(order, "再退一次")
    page = staff_client.client.get(third.headers["Location"]).get_data(as_text=True)
    assert "不能退款" in page
    assert len(refunds_of(order)) == 1 and len(pay_sim.refunds) == 1
    assert reload(order).refunded_fen == 3000


def test_a_refund_wechat_pay_could_not_take_is_sent_again_with_the_same_number(
    client, pay_sim, staff_client, runner
):
    _, _, order = paid_through_simulator(client, pay_sim)
    pay_sim.fail_next("refund", 500, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
    staff_client.refund(order, "学员申请退费")
    [refund] = refunds_of(order)
    assert refund.status is RefundStatus.REQUESTED and "SYSTEM_ERROR" in refund.last_error
    assert pay_sim.refunds == {}

    result = runner.invoke(args=["pay", "sync-refunds"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert refund.status is RefundStatus.PROCESSING
    assert list(pay_sim.refunds) == [refund.out_refund_no]
    # Sending the same refund again (a retry after a timeout) is answered with the same refund.
    from services.payments import refunds as refund_service

    refund.status = RefundStatus.REQUESTED
    db.session.flush()
    refund_service.send_refund(refund.id)
    assert list(pay_sim.refunds) == [refund.out_refund_no]
    pay_sim.advance(3)
    assert reload(order).refunded_fen == 3000


def test_a_lost_refund_notification_is_made_good_by_a_query(client, pay_sim, staff_client):
    learner, plan, order = paid_through_simulator(client, pay_sim)
    pay_sim.inject("drop", kind="refund")
    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)
    [refund] = refunds_of(order)
    assert refund.status is RefundStatus.PROCESSING
    response = submit_form(
        staff_client.client,
        f"/admin/refunds/{refund.id}/sync",
        {},
        page="/admin/refunds",
    )
    assert response.status_code == 302
    assert reload(order).status is OrderStatus.REFUNDED
    assert enrollment_status(learner, plan) is EnrollmentStatus.REVOKED


def test_a_duplicate_refund_notification_changes_nothing(client, pay_sim, staff_client):
    _, _, order = paid_through_simulator(client, pay_sim)
    pay_sim.inject("duplicate", 3, kind="refund")
    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)
    order = reload(order)
    assert order.refunded_fen == 3000 and order.status is OrderStatus.REFUNDED
    outcomes = db.session.scalars(
        select(PayNotification.outcome)
        .where(PayNotification.kind == "refund")
        .order_by(PayNotification.id)
    ).all()
    assert outcomes == ["refunded", "duplicate", "duplicate"]


def test_one_seat_of_a_group_order_is_refunded(client, pay_sim, staff_client):
    designee = buyer()
    colleagues = [factories.learner() for _ in range(3)]
    plan = factories.plan()
    log_in(client, designee)
    text = "\n".join(learner.id_number for learner in colleagues)
    response = submit_form(
        client,
        f"/h5/plans/{plan.id}/group/order",
        {"id_numbers": text, "invoice_choice": "later"},
        page=f"/h5/plans/{plan.id}/group",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    from models.orders import Order

    order = db.session.get(Order, order_id)
    page = start_payment(client, order.id).get_data(as_text=True)
    from tests.services.payments.conftest import cashier_link, pay_at_cashier

    pay_at_cashier(cashier_link(page))
    pay_sim.deliver()
    order = reload(order)
    assert order.status is OrderStatus.PAID and order.amount_fen == 9000
    seat = order.seats[1]
    staff_client.refund(order, "该同事已离职", seat_id=seat.id)
    pay_sim.advance(3)
    order = reload(order)
    assert order.status is OrderStatus.PARTIALLY_REFUNDED and order.refunded_fen == 3000
    assert [s.status for s in order.seats] == [
        SeatStatus.ACTIVE,
        SeatStatus.REFUNDED,
        SeatStatus.ACTIVE,
    ]
    assert enrollment_status(colleagues[1], plan) is EnrollmentStatus.REVOKED
    assert enrollment_status(colleagues[0], plan) is EnrollmentStatus.ACTIVE
    # The rest of the order, then nothing more.
    staff_client.refund(order, "单位取消培训")
    pay_sim.advance(3)
    order = reload(order)
    assert order.status is OrderStatus.REFUNDED and order.refunded_fen == 9000
    assert db.session.scalar(select(func.count(Refund.id))) == 2


def test_refunds_are_for_finance_staff(client, pay_sim):
    _, _, order = paid_through_simulator(client, pay_sim)
    content_staff = factories.staff(StaffRole.STAFF)
    console = client.application.test_client()
    submit_form(
        console,
        "/admin/login",
        {"username": content_staff.username, "password": factories.PASSWORD},
    )
    assert console.get(f"/admin/orders/{order.id}").status_code == 403
    response = submit_form(
        console, f"/admin/orders/{order.id}/refund", {"reason": "x"}, page="/admin/"
    )
    assert response.status_code == 403
    assert refunds_of(order) == []


def test_a_refund_needs_a_reason(client, pay_sim, staff_client):
    _, _, order = paid_through_simulator(client, pay_sim)
    response = staff_client.refund(order, "  ")
    page = staff_client.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "请填写退款原因" in page and refunds_of(order) == []


def test_a_refund_withdraws_the_orders_invoice_application(client, pay_sim, staff_client):
    from models.invoices import InvoiceStatus
    from services.paperwork.invoices import InvoiceRequest, live_invoice, request_invoice

    learner, _, order = paid_through_simulator(client, pay_sim)
    invoice = request_invoice(
        order_id=order.id,
        learner_id=learner.id,
        request=InvoiceRequest(title_type="personal", email="me@example.com"),
    )
    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)
    db.session.refresh(invoice)
    assert reload(order).status is OrderStatus.REFUNDED
    assert invoice.status is InvoiceStatus.CANCELLED
    assert live_invoice(order.id) is None


def test_a_refund_stops_the_playback_session_already_open(
    app, client, pay_sim, staff_client, monkeypatch
):
    plan = factories.plan(courses=1, chapter_seconds=600)
    learner, plan, order = paid_through_simulator(client, pay_sim, plan)
    clock = FakeClock(time.time())
    monkeypatch.setitem(app.extensions, "study_clock", clock)
    chapter_id = plan.courses[0].chapters[0].id
    player = Player(client, clock, chapter_id)
    player.start()
    assert player.play(24).get_json()["counting"] is True

    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)
    assert enrollment_status(learner, plan) is EnrollmentStatus.REVOKED
    # The page left open keeps reporting: nothing more counts, and starting again is refused.
    clock.advance(12)
    ended = player.beat(position=player.position + 12)
    assert ended.status_code == 410
    assert ended.get_json()["error"] == "session_expired"
    again = client.post("/api/study/sessions", json={"chapter_id": chapter_id})
    assert again.status_code == 403
    assert "开通" in again.get_json()["message"]


def test_the_console_order_page_names_an_invoice_being_reversed(client, pay_sim, staff_client):
    from services.paperwork.invoices import InvoiceRequest, record_issued, request_invoice

    learner, _, order = paid_through_simulator(client, pay_sim)
    invoice = request_invoice(
        order_id=order.id,
        learner_id=learner.id,
        request=InvoiceRequest(title_type="personal", email="me@example.com"),
    )
    record_issued(
        invoice.id,
        invoice_number="24500000000012345678",
        pdf=b"%PDF-1.4\n%%EOF\n",
        actor=Actor.system("test"),
    )
    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)  # the money is back: the issued invoice waits for its 红冲
    page = staff_client.client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    invoices = page[page.index("<h2>发票</h2>") :]
    assert "红冲中" in invoices and "reversing" not in invoices


def test_a_refund_result_that_overtakes_wechat_pays_answer_is_counted_once(
    client, pay_sim, staff_client
):
    """Sent again after a failure: WeChat Pay answers 处理中, but the refund succeeds and its
    notification is taken in while that answer is still on its way to us."""
    learner, plan, order = paid_through_simulator(client, pay_sim)
    pay_sim.fail_next("refund", 500, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
    staff_client.refund(order, "学员申请退费")
    [refund] = refunds_of(order)
    assert refund.status is RefundStatus.REQUESTED

    answer_refund = pay_sim.refund

    def refund_finishing_before_the_answer_arrives(data):
        answer = answer_refund(data)  # 处理中
        pay_sim.advance(pay_sim.settings.refund_seconds)  # done, and the notification is in
        return answer

    pay_sim.refund = refund_finishing_before_the_answer_arrives
    try:
        sync = f"/admin/refunds/{refund.id}/sync"
        submit_form(staff_client.client, sync, {}, page="/admin/refunds")
    finally:
        pay_sim.refund = answer_refund
    db.session.expire_all()
    assert refund.status is RefundStatus.SUCCESS
    # Asking WeChat Pay again finds nothing more to do.
    submit_form(staff_client.client, sync, {}, page="/admin/refunds")
    order = reload(order)
    assert order.status is OrderStatus.REFUNDED and order.refunded_fen == 3000
    assert enrollment_status(learner, plan) is EnrollmentStatus.REVOKED
    succeeded = select(func.count(AuditLog.id)).where(AuditLog.action == "order.refund.succeeded")
    assert db.session.scalar(succeeded) == 1


def test_the_console_order_page_says_in_chinese_what_became_of_each_notification(
    client, pay_sim, staff_client
):
    pay_sim.inject("duplicate", 2)
    _, _, order = paid_through_simulator(client, pay_sim)
    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)
    page = staff_client.client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    payments = page[page.index("<h2>支付</h2>") : page.index("<h2>退款</h2>")]
    assert "支付通知" in payments and "notify" not in payments
    notes = page[page.index("<h2>支付通知") :]
    for code in ("transaction", "refund", "paid", "duplicate", "refunded"):
        assert f"<td>{code}</td>" not in notes, code
    for words in ("支付结果", "退款结果", "已入账", "重复通知，未作改动", "退款成功"):
        assert words in notes, words


def test_a_refund_revokes_the_certificate_of_the_plan_it_takes_away(client, pay_sim, staff_client):
    from models.certificates import CertificateStatus
    from services.paperwork import certificates

    learner, plan, order = paid_through_simulator(client, pay_sim)
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.learner_id == learner.id, Enrollment.plan_id == plan.id)
    )
    enrollment.earned_hours, enrollment.completed_at = plan.required_hours, order.paid_at
    certificate = certificates.issue_certificate(learner.id, plan.id)
    assert "证书真实有效" in client.get(f"/verify/{certificate.number}").get_data(as_text=True)

    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)
    db.session.refresh(certificate)
    assert enrollment_status(learner, plan) is EnrollmentStatus.REVOKED
    assert certificate.status is CertificateStatus.REVOKED
    assert "该证书已作废" in client.get(f"/verify/{certificate.number}").get_data(as_text=True)
    assert db.session.scalar(
        select(AuditLog).where(
            AuditLog.action == "certificate.revoke", AuditLog.target_id == str(certificate.id)
        )
    )
