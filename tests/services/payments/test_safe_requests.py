"""The pay page prepays only when 微信支付 is tapped (a POST with its CSRF token); opening it,
twice or by a prefetch, asks nothing of WeChat Pay and closes nothing. The status poll stays a
GET: it only takes in a payment WeChat Pay reports, and takes it in once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from infra.extensions import db
from infra.redis_client import get_redis
from models.base import utcnow
from models.enrollments import Enrollment
from models.orders import OrderStatus, Payment
from models.wechat import TemplateMessage
from tests import factories
from tests.conftest import count_statements, csrf_from
from tests.services.payments.conftest import (
    buy_and_pay,
    buyer,
    cashier_link,
    log_in,
    pay_at_cashier,
    place_order,
    reload,
    start_payment,
)

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes_during(call) -> list[str]:
    db.session.expire_all()
    with count_statements() as statements:
        call()
    return [s for s in statements if s.lstrip().split(None, 1)[0].upper() in WRITES]


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_opening_the_pay_page_asks_nothing_of_wechat_pay(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    for _ in range(2):
        page = client.get(f"/h5/pay/{order.id}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "微信支付" in text and 'method="post"' in text and "¥30.00" in text
        assert "/pay/cashier" not in text
    assert pay_sim.trades == {} and reload(order).prepay_id is None
    assert writes_during(lambda: client.get(f"/h5/pay/{order.id}")) == []


def test_paying_is_a_post_that_carries_the_pages_csrf_token(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    refused = client.post(f"/h5/pay/{order.id}")
    assert refused.status_code == 400
    assert "页面已过期或来源不明" in refused.get_data(as_text=True)
    assert pay_sim.trades == {}

    page = start_payment(client, order.id)
    assert page.status_code == 200
    trade = pay_sim.trade(order.out_trade_no)
    assert trade is not None and reload(order).prepay_id == trade.prepay_id
    assert "/pay/cashier" in page.get_data(as_text=True)

    other = buyer()
    log_in(client, other)
    token = csrf_from(client.get("/h5/home").get_data(as_text=True))
    assert client.post(f"/h5/pay/{order.id}", data={"csrf_token": token}).status_code == 403


def test_an_expired_order_is_closed_by_paying_not_by_opening_the_page(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    order.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    page = client.get(f"/h5/pay/{order.id}").get_data(as_text=True)
    assert "订单已超时，请重新下单。" in page and f'action="/h5/pay/{order.id}"' not in page
    assert reload(order).status is OrderStatus.PENDING
    closed = start_payment(client, order.id).get_data(as_text=True)
    assert "订单已超时关闭，请重新下单。" in closed
    assert reload(order).status is OrderStatus.CLOSED and pay_sim.trades == {}


def test_the_status_poll_takes_in_a_reported_payment_once_however_often_it_runs(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("hold")  # the push waits: only the poll can find the payment
    order = place_order(client, plan)
    page = start_payment(client, order.id).get_data(as_text=True)
    status_url = f"/h5/orders/{order.id}/status?query=1"

    # Not paid yet at WeChat Pay: the poll (and its query) changes nothing.
    assert writes_during(lambda: client.get(status_url)) == []
    assert client.get(status_url).get_json()["paid"] is False

    pay_at_cashier(cashier_link(page))
    answers = []
    for _ in range(3):
        get_redis().delete(f"pay:query:{order.id}")  # as if each poll came seconds apart
        answers.append(client.get(status_url).get_json())
    assert (
        answers == [{"order_id": order.id, "status": "paid", "label": "已支付", "paid": True}] * 3
    )
    pay_sim.release_held()
    pay_sim.deliver()  # the push arrives after all: nothing more happens
    assert reload(order).status is OrderStatus.PAID
    assert count(Payment, Payment.order_id == order.id) == 1
    assert count(Enrollment, Enrollment.learner_id == learner.id) == 1
    assert (
        count(
            TemplateMessage,
            TemplateMessage.learner_id == learner.id,
            TemplateMessage.kind == "payment_received",
        )
        == 1
    )
    assert writes_during(lambda: client.get(status_url)) == []


def test_polling_a_paid_order_writes_nothing(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert writes_during(lambda: client.get(f"/h5/orders/{order.id}/status?query=1")) == []
    assert client.get(f"/h5/orders/{order.id}/status?query=1").get_json()["paid"] is True
