"""The buyer's order page while a payment is being confirmed, and once an unpaid order has
expired."""

from __future__ import annotations

from datetime import timedelta

from infra.extensions import db
from models.base import utcnow
from services.payments import orders
from tests import factories
from tests.handlers.paperwork_helpers import log_in


def pending(learner, plan, **kwargs):
    return orders.place_individual_order(
        learner_id=learner.id, plan_id=plan.id, invoice=None, **kwargs
    )


def test_while_the_payment_is_confirmed_there_is_nothing_to_pay_or_cancel(client):
    learner = factories.learner()
    order = pending(learner, factories.plan())
    log_in(client, learner)
    page = client.get(f"/h5/orders/{order.id}?paying=1").get_data(as_text=True)
    assert "正在确认支付结果" in page and "data-status-url" in page
    assert "待支付" not in page and "去支付" not in page and "取消订单" not in page

    plain = client.get(f"/h5/orders/{order.id}").get_data(as_text=True)
    assert "待支付" in plain and "去支付" in plain and "取消订单" in plain
    assert "正在确认支付结果" not in plain


def test_an_expired_unpaid_order_reads_expired_and_offers_a_new_order(client):
    learner = factories.learner()
    plan = factories.plan()
    order = pending(learner, plan, now=utcnow() - timedelta(days=1))
    assert order.expires_at < utcnow()
    log_in(client, learner)
    for url in (f"/h5/orders/{order.id}", f"/h5/orders/{order.id}?paying=1"):
        page = client.get(url).get_data(as_text=True)
        assert "已超时" in page and "重新下单" in page, url
        assert f'href="/h5/plans/{plan.id}/buy"' in page
        assert "待支付" not in page and "去支付" not in page and "正在确认支付结果" not in page
    listing = client.get("/h5/orders").get_data(as_text=True)
    assert "已超时" in listing and "待支付" not in listing
    db.session.refresh(order)
    assert order.status.value == "pending"  # the page changes nothing; the close job does
