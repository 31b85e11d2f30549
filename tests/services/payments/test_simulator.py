"""The simulator checks what we send as WeChat Pay does, and we check what it answers."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3 import WeChatPay, WeChatPayType

from models.orders import OrderStatus
from tests import factories
from tests.services.payments.conftest import buyer, log_in, place_order, reload, start_payment


def test_requests_signed_with_another_key_are_refused(app, pay_sim, pay_keys):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    client = WeChatPay(
        wechatpay_type=WeChatPayType.JSAPI,
        mchid=app.config["WECHAT_PAY_MCHID"],
        private_key=pem,
        cert_serial_no=pay_keys.merchant_serial,
        appid=app.config["WECHAT_APPID"],
        apiv3_key=pay_keys.apiv3_key,
        notify_url="http://localhost/pay/notify",
        public_key=pay_keys.platform_public_key,
        public_key_id=pay_keys.public_key_id,
    )
    client._core._gate_way = app.config["WECHAT_PAY_API_BASE"]
    code, body = client.query(out_trade_no="GX0000000000000000000001")
    assert code == 401 and json.loads(body)["code"] == "SIGN_ERROR"


def test_an_answer_not_signed_by_wechat_pay_is_not_believed(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    genuine = pay_sim.settings.platform_private_key
    pay_sim.settings.platform_private_key = rsa.generate_private_key(
        public_exponent=65537, key_size=2048
    )
    try:
        response = start_payment(client, order.id)
    finally:
        pay_sim.settings.platform_private_key = genuine
    assert response.status_code == 502
    assert "未通过验签" in response.get_data(as_text=True)
    assert reload(order).prepay_id is None


def test_a_prepay_wechat_pay_refuses_shows_a_message_to_the_learner(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    pay_sim.fail_next("prepay", 500, "SYSTEM_ERROR", "系统繁忙，请稍后再试")
    response = start_payment(client, order.id)
    assert response.status_code == 502
    assert "微信支付下单失败（系统繁忙，请稍后再试）" in response.get_data(as_text=True)
    assert start_payment(client, order.id).status_code == 200  # it passes


def test_a_paid_order_is_found_when_prepaying_again(client, pay_sim):
    """Paid at WeChat Pay, the push not yet here: prepay answers ORDERPAID and we take it in."""
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("drop")
    order = place_order(client, plan)
    start_payment(client, order.id)
    pay_sim.pay(order.out_trade_no)
    page = start_payment(client, order.id).get_data(as_text=True)
    assert "订单已支付" in page
    assert reload(order).status is OrderStatus.PAID


def test_the_cashier_refuses_parameters_that_are_not_signed(client, pay_sim):
    import requests

    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    start_payment(client, order.id)
    prepay_id = pay_sim.trade(order.out_trade_no).prepay_id
    cashier = client.application.config["WECHAT_PAY_CASHIER_URL"]
    page = requests.get(
        cashier,
        params={
            "appId": "wx0000000000test1",
            "timeStamp": "1",
            "nonceStr": "x",
            "package": f"prepay_id={prepay_id}",
            "signType": "RSA",
            "paySign": "AAAA",
        },
        timeout=5,
    )
    assert "paySign 不正确" in page.text and "确认支付" not in page.text
