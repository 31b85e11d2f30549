"""Consumer complaints 2.0 through the simulator: the notification URL registered, a payer's
complaint notified and fetched, then read, answered, refunded and completed in the console."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from infra.extensions import db
from models.orders import Complaint, ComplaintState, OrderStatus, PayNotification, Refund
from models.staff import AuditLog
from services.errors import ExternalServiceError
from services.payments import wechatpay
from tests import factories
from tests.conftest import submit_form
from tests.services.payments.conftest import buy_and_pay, buyer, log_in, reload
from wechat_sim.complaints import file_complaint


@pytest.fixture
def complained(client, pay_sim, runner):
    """A paid order, the notification URL registered, and the payer's complaint notified."""
    result = runner.invoke(args=["pay", "complaint-notify-url"])
    assert result.exit_code == 0, result.output
    assert "(created)" in result.output
    assert pay_sim.complaint_url == "http://localhost/pay/complaint-notify"
    learner, plan = buyer(), factories.plan(price_fen=3000)
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PAID
    sim_complaint = file_complaint(pay_sim, order.out_trade_no, "付款后课程打不开，要求退款")
    pay_sim.deliver()
    return order, sim_complaint


def test_a_complaint_notification_is_kept_and_its_detail_fetched(complained, pay_sim, runner):
    order, sim_complaint = complained
    [delivery] = [d for d in pay_sim.deliveries.values() if d.kind == "complaint"]
    assert delivery.attempts[0]["statuses"] == [204]
    complaint = db.session.scalar(select(Complaint))
    assert complaint.complaint_id == sim_complaint.complaint_id
    assert complaint.order_id == order.id and complaint.state is ComplaintState.PENDING
    assert complaint.asks_refund and complaint.refund_asked_fen == 3000
    assert complaint.description == "付款后课程打不开，要求退款"
    record = db.session.scalar(select(PayNotification).where(PayNotification.kind == "complaint"))
    assert record.event_type == "COMPLAINT.CREATE"
    again = runner.invoke(args=["pay", "complaint-notify-url"])
    assert "(unchanged)" in again.output


def test_a_forged_complaint_notification_is_refused(client, pay_sim):
    headers, body = pay_sim.signed_notification(
        "COMPLAINT.CREATE", {"complaint_id": "2002", "action_type": "CREATE_COMPLAINT"}, forge=True
    )
    response = client.post("/pay/complaint-notify", data=body.encode(), headers=headers)
    assert response.status_code == 401
    assert db.session.scalar(select(Complaint)) is None


def test_staff_read_reply_refund_and_complete_a_complaint(complained, pay_sim, staff_client):
    order, sim_complaint = complained
    console = staff_client.client
    complaint = db.session.scalar(select(Complaint))
    listing = console.get("/admin/complaints").get_data(as_text=True)
    assert sim_complaint.complaint_id in listing and "待处理" in listing
    assert "138****8000" in listing  # the payer's phone, decrypted and masked
    page = console.get(f"/admin/complaints/{complaint.id}").get_data(as_text=True)
    assert "用户提交投诉" in page and "付款后课程打不开" in page

    too_long = submit_form(
        console,
        f"/admin/complaints/{complaint.id}/reply",
        {"content": "好" * 201},
        page=f"/admin/complaints/{complaint.id}",
    )
    assert too_long.status_code == 302
    assert len(sim_complaint.history) == 1  # nothing sent

    early = submit_form(
        console,
        f"/admin/complaints/{complaint.id}/complete",
        {},
        page=f"/admin/complaints/{complaint.id}",
    )
    assert early.status_code == 302 and sim_complaint.state == "PENDING"

    replied = submit_form(
        console,
        f"/admin/complaints/{complaint.id}/reply",
        {"content": "您好，已为您办理退款，款项将原路退回。"},
        page=f"/admin/complaints/{complaint.id}",
    )
    assert replied.status_code == 302
    assert sim_complaint.history[-1]["operate_type"] == "MERCHANT_RESPONSE"
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).state is ComplaintState.PROCESSING

    refunded = submit_form(
        console,
        f"/admin/complaints/{complaint.id}/refund",
        {"reason": "课程无法播放"},
        page=f"/admin/complaints/{complaint.id}",
    )
    assert refunded.status_code == 302
    refund = db.session.scalar(select(Refund))
    assert refund.reason == "课程无法播放" and refund.amount_fen == 3000
    assert sim_complaint.refund_action == "APPROVE"
    pay_sim.advance(5)
    assert reload(order).status is OrderStatus.REFUNDED

    completed = submit_form(
        console,
        f"/admin/complaints/{complaint.id}/complete",
        {},
        page=f"/admin/complaints/{complaint.id}",
    )
    assert completed.status_code == 302
    assert sim_complaint.state == "PROCESSED"
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).state is ComplaintState.PROCESSED
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"complaint.reply", "complaint.refund", "complaint.complete"} <= actions


def test_staff_fetch_the_last_thirty_days(complained, pay_sim, staff_client):
    db.session.execute(Complaint.__table__.delete())
    file_complaint(pay_sim, complained[0].out_trade_no, "另一条投诉", problem_type="OTHERS")
    response = submit_form(
        staff_client.client, "/admin/complaints/sync", {}, page="/admin/complaints"
    )
    assert response.status_code == 302
    assert sorted(db.session.scalars(select(Complaint.problem_type))) == ["OTHERS", "REFUND"]


def test_a_call_that_is_not_idempotent_is_not_asked_again(complained, pay_sim):
    _, sim_complaint = complained
    pay_sim.signtest_answers = 1
    with pytest.raises(ExternalServiceError, match="验签"):
        wechatpay.call_wechat_pay(
            "complaint_response", complaint_id=sim_complaint.complaint_id, response_content="好的"
        )
    assert pay_sim.signtest_answers == 0
    assert len(sim_complaint.history) == 2  # sent once, not twice
