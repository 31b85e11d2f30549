"""Individual purchase through the WeChat Pay simulator: order → prepay → pay → notify → enrolled."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import func, select

from infra.extensions import db
from models.base import utcnow
from models.enrollments import Enrollment, EnrollmentStatus
from models.invoices import Invoice
from models.orders import InvoiceChoice, Order, OrderStatus, Payment, PaymentSource, SeatStatus
from models.wechat import TemplateMessage
from tests import factories
from tests.services.payments.conftest import (
    buy_and_pay,
    buyer,
    cashier_link,
    log_in,
    pay_at_cashier,
    place_order,
    reload,
    start_payment,
    submit_form,
)

IN_WECHAT = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 NetType/WIFI"}


def enrollment_of(learner, plan):
    return db.session.scalar(
        select(Enrollment).where(Enrollment.learner_id == learner.id, Enrollment.plan_id == plan.id)
    )


def test_the_whole_loop_opens_the_plan(client, pay_sim):
    learner = buyer()
    plan = factories.plan(courses=3)
    log_in(client, learner)

    confirm = client.get(f"/h5/plans/{plan.id}/buy").get_data(as_text=True)
    assert plan.title in confirm and "¥30.00" in confirm and "以后申请" in confirm
    order = place_order(client, plan)
    assert order.status is OrderStatus.PENDING and order.amount_fen == plan.price_fen
    assert re.fullmatch(r"[0-9A-Za-z_\-*]{1,32}", order.out_trade_no)

    page = start_payment(client, order.id).get_data(as_text=True)
    trade = pay_sim.trade(order.out_trade_no)
    assert trade.state == "NOTPAY" and trade.total == 3000
    assert trade.payer_openid == learner.binding.openid
    assert trade.notify_url == "http://localhost/pay/notify"
    assert abs(trade.time_expire - reload(order).expires_at) < timedelta(seconds=1)
    assert reload(order).prepay_id == trade.prepay_id

    paid = pay_at_cashier(cashier_link(page))
    assert paid.headers["Location"].endswith(f"/h5/orders/{order.id}?paying=1")
    assert reload(order).status is OrderStatus.PENDING  # nothing until the notification

    assert pay_sim.deliver() == 1
    [delivery] = pay_sim.notifications_for(order.out_trade_no)
    assert delivery.state == "delivered" and delivery.attempts[0]["statuses"] == [204]

    order = reload(order)
    assert order.status is OrderStatus.PAID and order.paid_at is not None
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    assert payment.transaction_id == trade.transaction_id
    assert payment.source is PaymentSource.NOTIFY and payment.amount_fen == 3000
    assert order.seats[0].status is SeatStatus.ACTIVE
    enrollment = enrollment_of(learner, plan)
    assert enrollment.status is EnrollmentStatus.ACTIVE and enrollment.order_id == order.id
    message = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.learner_id == learner.id)
    )
    assert message.kind == "payment_received"
    assert message.payload["path"] == f"/h5/orders/{order.id}"

    detail = client.get(f"/h5/orders/{order.id}").get_data(as_text=True)
    assert "已支付" in detail
    assert "已购买" in client.get("/h5/plans").get_data(as_text=True)


def test_inside_wechat_the_pay_page_carries_signed_jsapi_parameters(client, pay_sim, pay_keys):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    page = start_payment(client, order.id, headers=IN_WECHAT).get_data(as_text=True)
    params = json.loads(html.unescape(re.search(r'data-jsapi="([^"]+)"', page).group(1)))
    assert params["appId"] == "wx0000000000test1" and params["signType"] == "RSA"
    assert params["package"] == f"prepay_id={pay_sim.trade(order.out_trade_no).prepay_id}"
    message = (
        "\n".join(params[name] for name in ("appId", "timeStamp", "nonceStr", "package")) + "\n"
    )
    merchant_key = serialization.load_pem_public_key(pay_keys.merchant_public_key.encode())
    merchant_key.verify(  # raises if the signature is wrong
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_outside_wechat_in_production_the_page_says_to_open_it_in_wechat(app, client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    cashier = app.config["WECHAT_PAY_CASHIER_URL"]
    app.config["WECHAT_PAY_CASHIER_URL"] = ""
    try:
        page = start_payment(client, order.id).get_data(as_text=True)
    finally:
        app.config["WECHAT_PAY_CASHIER_URL"] = cashier
    assert "请在微信中打开" in page and "cashier" not in page


def test_ordering_again_reuses_the_open_order(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    first = place_order(client, plan)
    second = place_order(client, plan)
    assert first.id == second.id
    start_payment(client, first.id)
    start_payment(client, first.id)  # prepaying again is allowed: same trade
    assert len(pay_sim.trades) == 1


def test_an_expired_open_order_is_closed_here_and_at_wechat_pay(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    old = place_order(client, plan)
    start_payment(client, old.id)
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    new = place_order(client, plan)
    assert new.id != old.id
    old = reload(old)
    assert old.status is OrderStatus.CLOSED and old.closed_at is not None
    assert pay_sim.trade(old.out_trade_no).state == "CLOSED"


def test_a_plan_already_held_cannot_be_bought_again(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    factories.paid_order(learner, plan)
    log_in(client, learner)
    page = client.get(f"/h5/plans/{plan.id}/buy").get_data(as_text=True)
    assert "您已购买该学习计划" in page
    response = submit_form(client, f"/h5/plans/{plan.id}/buy", {}, page="/h5/home")
    assert response.status_code == 400
    orders = db.session.scalar(select(func.count(Order.id)).where(Order.buyer_id == learner.id))
    assert orders == 1


def test_a_plan_out_of_its_sale_window_cannot_be_ordered(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    plan.sale_ends_at = utcnow() - timedelta(days=1)
    db.session.flush()
    log_in(client, learner)
    response = submit_form(client, f"/h5/plans/{plan.id}/buy", {})
    assert response.status_code == 400
    assert "已停止购买" in response.get_data(as_text=True)


def test_invoice_asked_now_is_requested_with_the_order(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    order = place_order(
        client,
        plan,
        invoice_choice="now",
        title_type="unit",
        title="重庆市渝中区人民医院",
        tax_code="91500000MA5U7LXX19",
        email="caiwu@example.cn",
    )
    assert order.invoice_choice is InvoiceChoice.NOW
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    assert invoice.title == "重庆市渝中区人民医院" and invoice.amount_fen == plan.price_fen


def test_a_wrong_invoice_title_is_shown_and_no_order_is_left_behind(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    response = submit_form(
        client,
        f"/h5/plans/{plan.id}/buy",
        {
            "invoice_choice": "now",
            "title_type": "unit",
            "title": "某单位",
            "tax_code": "123",
            "email": "x",
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "统一社会信用代码应为18位" in page and "电子邮箱" in page
    assert db.session.scalar(select(func.count(Order.id)).where(Order.buyer_id == learner.id)) == 0


def test_without_a_bound_wechat_the_learner_is_told_where_to_pay(client, pay_sim):
    learner = factories.learner()
    plan = factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    page = start_payment(client, order.id).get_data(as_text=True)
    assert "请在微信中通过公众号菜单" in page
    assert pay_sim.trades == {}


def test_the_learner_cancels_an_unpaid_order(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    start_payment(client, order.id)
    response = submit_form(
        client, f"/h5/orders/{order.id}/cancel", {}, page=f"/h5/orders/{order.id}"
    )
    assert response.status_code == 302
    assert reload(order).status is OrderStatus.CLOSED
    assert pay_sim.trade(order.out_trade_no).state == "CLOSED"


def test_someone_elses_order_is_not_shown(client, pay_sim):
    owner, other = buyer(), buyer()
    plan = factories.plan()
    order = factories.paid_order(owner, plan)
    log_in(client, other)
    assert client.get(f"/h5/orders/{order.id}").status_code == 403
    assert client.get(f"/h5/pay/{order.id}").status_code == 403


def test_orders_page_lists_the_learners_orders(client, pay_sim):
    learner = buyer()
    plan = factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    page = client.get("/h5/orders").get_data(as_text=True)
    assert order.out_trade_no in page and "已支付" in page
