"""Real commits, a threaded platform on a loopback port, and the simulator pushing over HTTP
from its own threads: twenty copies of one notification at the same moment."""

from __future__ import annotations

import re
import time

import pytest
import requests
from sqlalchemy import func, select, text

from infra.extensions import db
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import Order, OrderSeat, OrderStatus, Payment, PayNotification, SeatStatus
from models.staff import StaffRole
from tests import factories
from tests.conftest import csrf_from
from tests.services.payments.conftest import buyer, cashier_link, committed_buyer, pay_at_cashier


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
def test_twenty_concurrent_alipay_duplicates_make_one_payment_and_one_enrollment(live_pay):
    learner, plan = committed_buyer()
    live_pay.log_in(learner)
    page = live_pay.http.get(f"{live_pay.base_url}/h5/plans/{plan.id}/buy", timeout=5)
    placed = live_pay.http.post(
        f"{live_pay.base_url}/h5/plans/{plan.id}/buy",
        data={"csrf_token": csrf_from(page.text), "invoice_choice": "later"},
        allow_redirects=False,
        timeout=5,
    )
    order_id = int(re.search(r"/h5/pay/(\d+)", placed.headers["Location"]).group(1))
    offer = live_pay.http.get(f"{live_pay.base_url}/h5/pay/{order_id}", timeout=5)
    started = live_pay.http.post(
        f"{live_pay.base_url}/h5/pay/{order_id}",
        data={"csrf_token": csrf_from(offer.text), "channel": "alipay_page"},
        allow_redirects=False,
        timeout=10,
    )
    assert started.status_code == 303, started.text
    live_pay.alipay.inject("duplicate", 20)
    cashier = requests.get(started.headers["Location"], timeout=5)
    assert (
        requests.post(
            cashier.url, data={"action": "pay"}, allow_redirects=False, timeout=5
        ).status_code
        == 302
    )
    out_trade_no = db.session.scalar(select(Order.out_trade_no).where(Order.id == order_id)) + "P"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        deliveries = live_pay.alipay.notifications_for(out_trade_no)
        if deliveries and deliveries[0].state == "delivered":
            break
        time.sleep(0.05)
    [delivery] = live_pay.alipay.notifications_for(out_trade_no)
    assert [answer.split()[0] for answer in delivery.attempts[0]["answers"]] == ["200"] * 20
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


def _submit(http, base_url: str, path: str, data: dict, page: str | None = None):
    form = http.get(base_url + (page or path), timeout=5)
    return http.post(
        base_url + path,
        data={**data, "csrf_token": csrf_from(form.text)},
        allow_redirects=False,
        timeout=10,
    )


def _waiting_on_locks() -> int:
    with db.engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))


@pytest.mark.committed
def test_two_seat_refunds_completing_at_the_same_moment_both_count(live_pay):
    """Two colleagues of a group order are refunded one by one; WeChat Pay's two results
    arrive together. Each waits for the order's lock; the second must see the first."""
    designee = buyer()
    colleagues = [factories.learner() for _ in range(2)]
    plan = factories.plan()
    finance = factories.staff(StaffRole.FINANCE)
    db.session.commit()

    live_pay.log_in(designee)
    response = _submit(
        live_pay.http,
        live_pay.base_url,
        f"/h5/plans/{plan.id}/group/order",
        {"id_numbers": "\n".join(c.id_number for c in colleagues), "invoice_choice": "later"},
        page=f"/h5/plans/{plan.id}/group",
    )
    assert response.status_code == 302, response.text
    order_id = int(re.search(r"/h5/pay/(\d+)", response.headers["Location"]).group(1))
    pay_page = live_pay.start_payment(order_id)
    assert pay_at_cashier(cashier_link(pay_page.text)).status_code == 302
    out_trade_no = db.session.scalar(select(Order.out_trade_no).where(Order.id == order_id))
    live_pay.wait_for_deliveries(out_trade_no)
    seat_ids = db.session.scalars(
        select(OrderSeat.id).where(OrderSeat.order_id == order_id).order_by(OrderSeat.id)
    ).all()

    console = requests.Session()
    response = _submit(
        console,
        live_pay.base_url,
        "/admin/login",
        {"username": finance.username, "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    live_pay.sim.inject("hold", kind="refund", count=2)
    for seat_id in seat_ids:
        response = _submit(
            console,
            live_pay.base_url,
            f"/admin/orders/{order_id}/refund",
            {"reason": "同事已离职", "seat_id": str(seat_id)},
            page=f"/admin/orders/{order_id}",
        )
        assert response.status_code == 302
    deadline = time.monotonic() + 10
    while len([d for d in live_pay.sim.deliveries.values() if d.state == "held"]) < 2:
        assert time.monotonic() < deadline, "the refund results never came"
        time.sleep(0.05)

    with db.engine.connect() as holder:  # both results find the order locked
        holder.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})
        live_pay.sim.release_held()
        while _waiting_on_locks() < 2:
            assert time.monotonic() < deadline, "the refund notifications did not arrive"
            time.sleep(0.05)
        holder.rollback()
    live_pay.wait_for_deliveries(out_trade_no)

    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert [s.status for s in order.seats] == [SeatStatus.REFUNDED, SeatStatus.REFUNDED]
    assert order.refunded_fen == 2 * plan.price_fen
    assert order.status is OrderStatus.REFUNDED
