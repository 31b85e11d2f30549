"""WeChat Pay Native (a QR code on a PC) and H5 (a phone browser outside WeChat) through the
simulator: the same notification handling, query fallback and close as JSAPI."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import select

from infra.extensions import db
from models.orders import Order, OrderStatus, PayAttempt, PayChannel, Payment, PaymentSource
from services.payments import checkout
from tests import factories
from tests.conftest import csrf_from
from tests.services.payments.conftest import buyer, log_in, place_order, reload

PC = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36"}
PHONE = {"User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36"}


def start(client, order_id: int, channel: str, headers=PC):
    page = client.get(f"/h5/pay/{order_id}", headers=headers).get_data(as_text=True)
    return client.post(
        f"/h5/pay/{order_id}",
        data={"csrf_token": csrf_from(page), "channel": channel},
        headers=headers,
    )


def show_qr(client, order: Order) -> str:
    started = start(client, order.id, "wechat_native")
    assert started.status_code == 303, started.get_data(as_text=True)
    assert started.headers["Location"].endswith(f"/h5/pay/{order.id}?channel=wechat_native")
    return client.get(started.headers["Location"], headers=PC).get_data(as_text=True)


def scan(page_html: str, action: str = "pay") -> requests.Response:
    """The phone scans the QR code: the simulator's cashier with the code_url."""
    link = html.unescape(re.search(r'href="([^"]*/pay/cashier\?code_url=[^"]*)"', page_html)[1])
    sheet = requests.get(link, timeout=5)
    assert "确认支付" in sheet.text, sheet.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', sheet.text))
    fields = {name: html.unescape(value) for name, value in fields.items()}
    return requests.post(link.split("?")[0], data={**fields, "action": action}, timeout=5)


def pay_by_native(client, pay_sim, order: Order) -> None:
    page = show_qr(client, order)
    assert scan(page).status_code == 200


def test_a_pc_shows_the_qr_code_with_the_amount_and_expiry_and_follows_the_order(client, pay_sim):
    learner, plan = buyer(), factories.plan(price_fen=3000)
    log_in(client, learner)
    order = place_order(client, plan)
    page = show_qr(client, order)
    attempt = db.session.scalar(select(PayAttempt).where(PayAttempt.order_id == order.id))
    assert attempt.channel is PayChannel.WECHAT_NATIVE
    assert attempt.out_trade_no == order.out_trade_no + "N"
    assert attempt.pay_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert pay_sim.trade(attempt.out_trade_no).trade_type == "NATIVE"
    assert "¥30.00" in page and "二维码有效期至" in page and "data-status-url" in page
    qr = client.get(f"/h5/pay/{order.id}/qr.png", headers=PC)
    assert qr.status_code == 200 and qr.mimetype == "image/png" and qr.data[:4] == b"\x89PNG"
    again = show_qr(client, order)  # the same code again, WeChat Pay answers the same
    assert db.session.get(PayAttempt, attempt.id).pay_url == attempt.pay_url
    assert "二维码有效期至" in again

    assert scan(page).status_code == 200
    assert client.get(f"/h5/orders/{order.id}/status").get_json()["paid"] is False
    pay_sim.deliver()
    assert client.get(f"/h5/orders/{order.id}/status").get_json()["paid"] is True
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    assert payment.channel is PayChannel.WECHAT_NATIVE and payment.source is PaymentSource.NOTIFY


def test_a_lost_native_notification_is_recovered_by_the_pages_query(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    pay_sim.inject("drop")
    pay_by_native(client, pay_sim, order)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PENDING
    assert client.get(f"/h5/orders/{order.id}/status?query=1").get_json()["paid"] is True
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    assert payment.channel is PayChannel.WECHAT_NATIVE and payment.source is PaymentSource.QUERY


def test_a_phone_browser_pays_by_h5_and_comes_back_to_the_order(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    started = start(client, order.id, "wechat_h5", PHONE)
    assert started.status_code == 303
    link = started.headers["Location"]
    assert "/pay/h5?prepay_id=" in link and "redirect_url=" in link
    trade = pay_sim.trade(order.out_trade_no + "H")
    assert trade.trade_type == "MWEB"
    sheet = requests.get(link, timeout=5)
    assert "H5 支付" in sheet.text and "确认支付" in sheet.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', sheet.text))
    fields = {name: html.unescape(value) for name, value in fields.items()}
    back = requests.post(
        link.split("?")[0], data={**fields, "action": "pay"}, allow_redirects=False, timeout=5
    )
    assert back.status_code == 302
    assert back.headers["Location"].endswith(f"/h5/orders/{order.id}?paying=1")
    pay_sim.deliver()
    order = reload(order)
    assert order.status is OrderStatus.PAID
    assert db.session.scalar(select(Payment.channel)) is PayChannel.WECHAT_H5


def test_an_expired_order_is_closed_at_every_channel_it_was_offered_through(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    show_qr(client, order)
    start(client, order.id, "wechat_h5", PHONE)
    reload(order).expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.flush()
    assert checkout.close_expired_order(order.id) == "closed"
    assert pay_sim.trade(order.out_trade_no + "N").state == "CLOSED"
    assert pay_sim.trade(order.out_trade_no + "H").state == "CLOSED"


def test_a_qr_code_paid_just_before_the_close_is_taken_in(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    pay_sim.inject("drop")
    pay_by_native(client, pay_sim, order)
    reload(order).expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.flush()
    assert checkout.close_expired_order(order.id) == "paid"
    assert reload(order).status is OrderStatus.PAID


def test_reports_split_revenue_by_channel(client, pay_sim, alipay_sim):
    from services import reports
    from tests.services.payments.test_alipay import buy_with_alipay

    plan = factories.plan(year=2022, price_fen=3000)
    jsapi_buyer, native_buyer, alipay_buyer = buyer(), buyer(), buyer()
    factories.paid_order(jsapi_buyer, plan)
    log_in(client, native_buyer)
    order = place_order(client, plan)
    pay_by_native(client, pay_sim, order)
    log_in(client, alipay_buyer)
    buy_with_alipay(client, plan)
    pay_sim.deliver()
    report = reports.build_report(2022)
    assert {(item.channel, item.seats, item.revenue_fen) for item in report.channels} == {
        (PayChannel.WECHAT_JSAPI, 1, 3000),
        (PayChannel.WECHAT_NATIVE, 1, 3000),
        (PayChannel.ALIPAY_PAGE, 1, 3000),
    }
    assert sum(item.revenue_fen for item in report.channels) == report.total.revenue_fen
