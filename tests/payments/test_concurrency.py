"""Real commits, a threaded platform on a loopback port, and the simulator pushing over HTTP
from its own threads: twenty copies of one notification at the same moment."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import Order, OrderStatus, Payment, PayNotification
from tests.payments.conftest import committed_buyer, pay_at_cashier
from wxapp.extensions import db


@pytest.mark.committed
def test_twenty_concurrent_duplicates_make_one_payment_and_one_enrollment(live_pay):
    learner, plan = committed_buyer()
    live_pay.log_in(learner)
    order_id, link = live_pay.order_and_open_cashier(plan.id)
    out_trade_no = db.session.scalar(select(Order.out_trade_no).where(Order.id == order_id))
    live_pay.sim.inject("duplicate", 20)
    assert pay_at_cashier(link).status_code == 302
    live_pay.wait_for_deliveries(out_trade_no)

    [delivery] = live_pay.sim.notifications_for(out_trade_no)
    assert delivery.attempts[0]["statuses"] == [204] * 20
    db.session.expire_all()
    assert db.session.get(Order, order_id).status is OrderStatus.PAID
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    [enrollment] = db.session.scalars(select(Enrollment)).all()
    assert enrollment.learner_id == learner.id and enrollment.status is EnrollmentStatus.ACTIVE
    outcomes = sorted(db.session.scalars(select(PayNotification.outcome)))
    assert outcomes == ["duplicate"] * 19 + ["paid"]


@pytest.mark.committed
def test_the_learner_sees_the_plan_open_after_paying_over_http(live_pay):
    learner, plan = committed_buyer()
    live_pay.log_in(learner)
    order_id, link = live_pay.order_and_open_cashier(plan.id)
    back = pay_at_cashier(link).headers["Location"]
    out_trade_no = db.session.scalar(select(Order.out_trade_no).where(Order.id == order_id))
    live_pay.wait_for_deliveries(out_trade_no)
    page = live_pay.http.get(back, timeout=5).text
    assert "已支付" in page
    status = live_pay.http.get(f"{live_pay.base_url}/h5/orders/{order_id}/status", timeout=5)
    assert status.json()["paid"] is True
