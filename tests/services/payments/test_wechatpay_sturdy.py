"""A sturdier WeChat Pay: each notification checked with the key its serial names (public key
and platform certificate both, during the migration week), signature probes refused as
callbacks and asked again as answers, and the backup host when the primary does not answer."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from infra.extensions import db
from infra.pay_client import forget_clients, get_wechat_pay
from models.orders import OrderStatus, PayNotification
from services.errors import ExternalServiceError
from services.payments import wechatpay
from tests import factories
from tests.services.payments.conftest import buy_and_pay, buyer, log_in, place_order, reload


def outcomes(order) -> list[str]:
    return list(
        db.session.scalars(
            select(PayNotification.outcome)
            .where(PayNotification.out_trade_no == order.out_trade_no)
            .order_by(PayNotification.id)
        )
    )


@pytest.fixture
def migration_week(app, platform_certificate):
    """The platform certificate configured beside the public key."""
    app.config["WECHAT_PAY_PLATFORM_CERT"] = platform_certificate.certificate
    forget_clients()
    yield platform_certificate
    app.config["WECHAT_PAY_PLATFORM_CERT"] = ""
    forget_clients()


def test_a_notification_signed_by_the_platform_certificate_is_refused_without_it(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("cert")
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    [delivery] = pay_sim.notifications_for(order.out_trade_no)
    assert delivery.attempts[0]["statuses"] == [401]
    assert db.session.scalar(select(PayNotification.outcome)) == "wrong_serial"


def test_in_the_migration_week_both_keys_verify_each_by_its_serial(client, pay_sim, migration_week):
    plan = factories.plan()
    first, second = buyer(), buyer()
    log_in(client, first)
    pay_sim.inject("cert")
    by_certificate = buy_and_pay(client, plan)
    log_in(client, second)
    by_public_key = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(by_certificate).status is OrderStatus.PAID
    assert reload(by_public_key).status is OrderStatus.PAID
    [delivery] = pay_sim.notifications_for(by_certificate.out_trade_no)
    assert delivery.attempts[0]["statuses"] == [204]
    # A certificate's serial with the public key's signature is still refused.
    trade = pay_sim.trade(by_public_key.out_trade_no).as_json()
    headers, body = pay_sim.signed_notification(
        "TRANSACTION.SUCCESS", trade, serial=migration_week.serial
    )
    assert client.post("/pay/notify", data=body.encode(), headers=headers).status_code == 401


def test_answers_signed_by_the_platform_certificate_verify_in_the_migration_week(
    client, pay_sim, migration_week
):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    pay_sim.answers_by_certificate = True
    code, body = wechatpay.call_wechat_pay("query", out_trade_no=order.out_trade_no)
    assert code == 404 and body["code"] == "ORDER_NOT_EXIST"


def test_a_signature_probe_callback_is_refused_4xx(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("signtest")
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    [delivery] = pay_sim.notifications_for(order.out_trade_no)
    assert delivery.attempts[0]["statuses"] == [401]
    assert reload(order).status is OrderStatus.PENDING
    record = db.session.scalar(select(PayNotification))
    assert record.outcome == "bad_signature" and "SIGNTEST" in record.detail
    pay_sim.advance(15)  # WeChat Pay's retry, signed properly, goes through
    assert reload(order).status is OrderStatus.PAID


def test_a_signature_probe_answer_is_asked_again_once(client, pay_sim, caplog):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    pay_sim.signtest_answers = 1
    with caplog.at_level(logging.WARNING):
        code, body = wechatpay.call_wechat_pay("query", out_trade_no=order.out_trade_no)
    assert code == 200 and body["trade_state"] == "SUCCESS"
    assert "asking again" in caplog.text
    # Two probes in a row: the learner is told, nothing is taken in from an unchecked answer.
    pay_sim.signtest_answers = 2
    with pytest.raises(ExternalServiceError, match="验签"):
        wechatpay.call_wechat_pay("query", out_trade_no=order.out_trade_no)


def test_the_backup_host_answers_when_the_primary_does_not(app, client, pay_sim, caplog):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    primary = app.config["WECHAT_PAY_API_BASE"]
    app.config["WECHAT_PAY_API_BASE"] = "http://127.0.0.1:9/pay"  # nothing listens there
    app.config["WECHAT_PAY_BACKUP_API_BASE"] = primary
    forget_clients()
    try:
        with caplog.at_level(logging.WARNING):
            code, body = wechatpay.call_wechat_pay("query", out_trade_no=order.out_trade_no)
        assert code == 200 and body["trade_state"] == "SUCCESS"
        assert "did not answer" in caplog.text and "127.0.0.1:9" in caplog.text
        core = get_wechat_pay()._core
        assert core.hosts_in_order()[0] == primary  # the backup first, for a while
        app.config["WECHAT_PAY_BACKUP_API_BASE"] = ""
        forget_clients()
        with pytest.raises(ExternalServiceError, match="无法连接"):
            wechatpay.call_wechat_pay("query", out_trade_no=order.out_trade_no)
    finally:
        app.config["WECHAT_PAY_API_BASE"] = primary
        app.config["WECHAT_PAY_BACKUP_API_BASE"] = ""
        forget_clients()
