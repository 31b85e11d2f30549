"""Alipay through its simulator: 电脑网站支付 and 手机网站支付, and the asynchronous
notification's failure matrix as WeChat Pay's has it (valid, duplicate, forged, wrong amount,
unknown order, lost and recovered by query; twenty concurrent copies in test_concurrency.py),
then refunds and the daily bill."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import func, select

from infra.extensions import db
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import (
    Order,
    OrderStatus,
    PayAttempt,
    PayChannel,
    Payment,
    PaymentSource,
    PayNotification,
    Refund,
    RefundStatus,
)
from services.display import LOCAL_TZ
from tests import factories
from tests.conftest import csrf_from
from tests.services.payments.conftest import buyer, log_in, place_order, reload
from wechat_sim.alipay import signing_string

PC = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36"}
PHONE = {"User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36"}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def start_alipay(client, order_id: int, channel: str = "alipay_page", headers=PC):
    page = client.get(f"/h5/pay/{order_id}", headers=headers).get_data(as_text=True)
    return client.post(
        f"/h5/pay/{order_id}",
        data={"csrf_token": csrf_from(page), "channel": channel},
        headers=headers,
    )


def pay_at_alipay(link: str, action: str = "pay") -> requests.Response:
    """What the payer does at Alipay's cashier (the simulator's, over HTTP)."""
    cashier = requests.get(link, timeout=5)
    assert cashier.status_code == 200, cashier.text
    assert "确认付款" in cashier.text
    return requests.post(cashier.url, data={"action": action}, allow_redirects=False, timeout=5)


def buy_with_alipay(client, plan, channel: str = "alipay_page", headers=PC) -> Order:
    order = place_order(client, plan)
    started = start_alipay(client, order.id, channel, headers)
    assert started.status_code == 303, started.get_data(as_text=True)
    paid = pay_at_alipay(started.headers["Location"])
    assert paid.status_code == 302
    return order


def attempt_of(order: Order, channel=PayChannel.ALIPAY_PAGE) -> PayAttempt:
    return db.session.scalar(
        select(PayAttempt).where(PayAttempt.order_id == order.id, PayAttempt.channel == channel)
    )


def alipay_outcomes(order: Order) -> list[str]:
    numbers = [order.out_trade_no + "P", order.out_trade_no + "W"]
    return list(
        db.session.scalars(
            select(PayNotification.outcome)
            .where(PayNotification.out_trade_no.in_(numbers), PayNotification.kind == "alipay")
            .order_by(PayNotification.id)
        )
    )


def test_a_pc_is_offered_the_qr_code_and_alipay_a_phone_h5_and_alipay_wechat_jsapi(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    pc = client.get(f"/h5/pay/{order.id}", headers=PC).get_data(as_text=True)
    assert 'value="wechat_native"' in pc and 'value="alipay_page"' in pc
    phone = client.get(f"/h5/pay/{order.id}", headers=PHONE).get_data(as_text=True)
    assert 'value="wechat_h5"' in phone and 'value="alipay_wap"' in phone
    wechat = {"User-Agent": PHONE["User-Agent"] + " MicroMessenger/8.0.47"}
    inside = client.get(f"/h5/pay/{order.id}", headers=wechat).get_data(as_text=True)
    assert 'value="wechat_jsapi"' in inside and "alipay" not in inside
    assert "微信内无法使用支付宝" in inside


def test_alipay_is_refused_inside_wechat_with_the_way_out(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    wechat = {"User-Agent": PHONE["User-Agent"] + " MicroMessenger/8.0.47"}
    refused = start_alipay(client, order.id, "alipay_wap", wechat)
    assert refused.status_code == 200
    assert "微信内无法使用支付宝" in refused.get_data(as_text=True)
    assert attempt_of(order, PayChannel.ALIPAY_WAP) is None


def test_paying_at_alipays_page_opens_the_plan(client, pay_sim, alipay_sim):
    learner, plan = buyer(), factories.plan(price_fen=3000)
    log_in(client, learner)
    order = buy_with_alipay(client, plan)
    trade = alipay_sim.trade(order.out_trade_no + "P")
    assert trade.total == 3000 and trade.product_code == "FAST_INSTANT_TRADE_PAY"
    assert reload(order).status is OrderStatus.PENDING  # the notification is on its way
    assert pay_sim.deliver() == 1
    order = reload(order)
    assert order.status is OrderStatus.PAID
    [payment] = db.session.scalars(select(Payment).where(Payment.order_id == order.id))
    assert payment.channel is PayChannel.ALIPAY_PAGE and payment.transaction_id == trade.trade_no
    assert payment.source is PaymentSource.NOTIFY and payment.amount_fen == 3000
    [enrollment] = db.session.scalars(select(Enrollment).where(Enrollment.plan_id == plan.id))
    assert enrollment.status is EnrollmentStatus.ACTIVE
    assert alipay_outcomes(order) == ["paid"]
    [delivery] = alipay_sim.notifications_for(trade.out_trade_no)
    assert delivery.state == "delivered"


def test_a_phone_browser_pays_at_alipays_mobile_page(client, pay_sim, alipay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_with_alipay(client, plan, "alipay_wap", PHONE)
    assert alipay_sim.trade(order.out_trade_no + "W").product_code == "QUICK_WAP_WAY"
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PAID
    assert db.session.scalar(select(Payment.channel)) is PayChannel.ALIPAY_WAP


def test_a_duplicate_alipay_notification_answers_success_and_changes_nothing(
    client, pay_sim, alipay_sim
):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    alipay_sim.inject("duplicate", 3)
    order = buy_with_alipay(client, plan)
    pay_sim.deliver()
    [delivery] = alipay_sim.notifications_for(order.out_trade_no + "P")
    assert [answer.split()[0] for answer in delivery.attempts[0]["answers"]] == ["200"] * 3
    alipay_sim.resend(delivery.id)
    pay_sim.deliver()
    assert count(Payment, Payment.order_id == order.id) == 1
    assert count(Enrollment, Enrollment.plan_id == plan.id) == 1
    assert alipay_outcomes(order) == ["paid"] + ["duplicate"] * 5  # three copies, three more


def test_a_forged_alipay_notification_is_refused_and_retried(client, pay_sim, alipay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    alipay_sim.inject("forge")
    order = buy_with_alipay(client, plan)
    pay_sim.deliver()
    [delivery] = alipay_sim.notifications_for(order.out_trade_no + "P")
    assert delivery.attempts[0]["answers"] == ["401 fail"] and delivery.state == "scheduled"
    assert reload(order).status is OrderStatus.PENDING
    assert alipay_outcomes(order) == ["bad_signature"]


def test_a_notification_with_a_wrong_amount_is_refused(client, pay_sim, alipay_sim):
    learner, plan = buyer(), factories.plan(price_fen=3000)
    log_in(client, learner)
    alipay_sim.inject("tamper", {"total_amount": "0.01"})
    order = buy_with_alipay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PENDING
    assert alipay_outcomes(order) == ["mismatch"]
    record = db.session.scalar(select(PayNotification).where(PayNotification.kind == "alipay"))
    assert "金额" in record.detail


def _signed_notification(alipay_sim, **fields) -> dict[str, str]:
    base = {
        "notify_type": "trade_status_sync",
        "notify_id": "n1",
        "app_id": alipay_sim.settings.app_id,
        "trade_status": "TRADE_SUCCESS",
        "trade_no": "2026120222001234567890123456",
        "total_amount": "30.00",
        "gmt_payment": "2026-12-02 10:00:00",
        **fields,
    }
    return alipay_sim.signed_fields(base)


def test_a_notification_for_an_unknown_order_or_another_app_is_refused(client, alipay_sim):
    unknown = _signed_notification(alipay_sim, out_trade_no="GX20260101000000NOSUCHP")
    response = client.post("/pay/alipay/notify", data=unknown)
    assert response.status_code == 404 and response.get_data(as_text=True) == "fail"
    other_app = _signed_notification(alipay_sim, out_trade_no="X1", app_id="2021000000000999")
    assert client.post("/pay/alipay/notify", data=other_app).status_code == 400
    assert sorted(db.session.scalars(select(PayNotification.outcome))) == [
        "mismatch",
        "unknown_order",
    ]


def test_a_notification_whose_fields_were_changed_after_signing_is_refused(client, alipay_sim):
    fields = _signed_notification(alipay_sim, out_trade_no="GX1P")
    fields["total_amount"] = "3000.00"
    assert client.post("/pay/alipay/notify", data=fields).status_code == 401


def test_a_lost_notification_is_recovered_by_the_pages_query(client, pay_sim, alipay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    alipay_sim.inject("drop")
    order = buy_with_alipay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PENDING
    status = client.get(f"/h5/orders/{order.id}/status?query=1").get_json()
    assert status["paid"] is True
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    assert payment.source is PaymentSource.QUERY and payment.channel is PayChannel.ALIPAY_PAGE


def test_an_unpaid_alipay_order_is_closed_at_alipay_when_it_expires(client, pay_sim, alipay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    link = start_alipay(client, order.id).headers["Location"]
    requests.get(link, timeout=5)  # the payer looked at the cashier and left
    reload(order).expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.flush()
    from services.payments import checkout

    assert checkout.close_expired_order(order.id) == "closed"
    assert alipay_sim.trade(order.out_trade_no + "P").state == "TRADE_CLOSED"
    assert reload(order).status is OrderStatus.CLOSED


def test_an_order_paid_by_alipay_and_the_qr_code_refunds_the_second_payment(
    client, pay_sim, alipay_sim
):
    """Two tabs: the QR code shown in one, Alipay paid in the other, then the code scanned."""
    from tests.services.payments.test_channels import scan, show_qr

    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    qr_page = show_qr(client, order)
    link = start_alipay(client, order.id).headers["Location"]
    assert pay_at_alipay(link).status_code == 302
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PAID
    assert scan(qr_page).status_code == 200
    pay_sim.deliver()
    payments = list(db.session.scalars(select(Payment).order_by(Payment.id)))
    assert [(p.channel, p.duplicate) for p in payments] == [
        (PayChannel.ALIPAY_PAGE, False),
        (PayChannel.WECHAT_NATIVE, True),
    ]
    refund = db.session.scalar(select(Refund))
    assert refund.payment_id == payments[1].id and refund.reason == "重复支付，自动退款"
    pay_sim.advance(5)  # WeChat Pay completes the refund and says so
    db.session.expire_all()
    assert db.session.get(Refund, refund.id).status is RefundStatus.SUCCESS
    order = reload(order)
    assert order.status is OrderStatus.PAID and order.refunded_fen == 0
    assert count(Enrollment, Enrollment.status == EnrollmentStatus.ACTIVE) == 1


def test_staff_refund_an_alipay_order_with_alipay_trade_refund(
    client, pay_sim, alipay_sim, staff_client
):
    learner, plan = buyer(), factories.plan(price_fen=3000)
    log_in(client, learner)
    order = buy_with_alipay(client, plan)
    pay_sim.deliver()
    response = staff_client.refund(order, "学员申请退款")
    assert response.status_code == 302
    refund = db.session.scalar(select(Refund))
    assert refund.status is RefundStatus.SUCCESS  # Alipay answers the refund at once
    trade = alipay_sim.trade(order.out_trade_no + "P")
    assert trade.refunds[refund.out_refund_no][0] == 3000 and trade.state == "TRADE_CLOSED"
    order = reload(order)
    assert order.status is OrderStatus.REFUNDED
    [enrollment] = db.session.scalars(select(Enrollment))
    assert enrollment.status is EnrollmentStatus.REVOKED
    page = staff_client.client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert page.count("支付宝（电脑网站）") >= 2  # the payment and the refund


def test_an_alipay_refund_refused_for_now_is_sent_again_with_the_same_request_number(
    client, pay_sim, alipay_sim, staff_client, runner
):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_with_alipay(client, plan)
    pay_sim.deliver()
    alipay_sim.fail_next("alipay.trade.refund", "ACQ.SYSTEM_ERROR", "系统错误")
    staff_client.refund(order, "学员申请退款")
    refund = db.session.scalar(select(Refund))
    assert refund.status is RefundStatus.REQUESTED and "ACQ.SYSTEM_ERROR" in refund.last_error
    result = runner.invoke(args=["pay", "sync-refunds"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    refund = db.session.get(Refund, refund.id)
    assert refund.status is RefundStatus.SUCCESS
    trade = alipay_sim.trade(order.out_trade_no + "P")
    assert list(trade.refunds) == [refund.out_refund_no]  # one refund, one request number


def test_reconcile_reads_alipays_bill_and_fixes_a_payment_we_missed(
    client, pay_sim, alipay_sim, runner
):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    alipay_sim.inject("drop")
    order = buy_with_alipay(client, plan)
    pay_sim.deliver()
    trade = alipay_sim.trade(order.out_trade_no + "P")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    trade.gmt_payment = trade.created = yesterday
    day = yesterday.astimezone(LOCAL_TZ).date()
    result = runner.invoke(args=["pay", "reconcile", day.isoformat()])
    assert "1 payments" in result.output, result.output
    assert re.search(r"now fixed: 1\n  支付宝 " + order.out_trade_no + "P", result.output)
    assert reload(order).status is OrderStatus.PAID
    payment = db.session.scalar(select(Payment))
    assert payment.source is PaymentSource.RECONCILE and payment.channel is PayChannel.ALIPAY_PAGE


def test_the_simulator_refuses_a_request_not_signed_by_the_application(alipay_sim, app):
    fields = {
        "app_id": alipay_sim.settings.app_id,
        "method": "alipay.trade.query",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2026-12-02 10:00:00",
        "version": "1.0",
        "biz_content": '{"out_trade_no":"X"}',
    }
    fields["sign"] = alipay_sim.sign(signing_string(fields, request=True))  # Alipay's key, not ours
    base = app.config["ALIPAY_API_BASE"]
    answer = requests.get(base, params=fields, timeout=5).json()
    assert answer["alipay_trade_query_response"]["sub_code"] == "isv.invalid-signature"
    assert answer["sign"]
