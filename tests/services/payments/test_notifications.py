"""The payment notification's failure matrix: every way WeChat Pay's push can go wrong, and
what opens the plan when it never comes."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from infra.extensions import db
from models.base import utcnow
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import (
    Order,
    OrderStatus,
    Payment,
    PaymentSource,
    PayNotification,
    Refund,
    RefundStatus,
    SeatStatus,
)
from models.staff import AuditLog
from services.payments import wechatpay
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
)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def enrollments(plan) -> list[Enrollment]:
    return list(db.session.scalars(select(Enrollment).where(Enrollment.plan_id == plan.id)))


def outcomes(order: Order) -> list[str]:
    return list(
        db.session.scalars(
            select(PayNotification.outcome)
            .where(PayNotification.out_trade_no == order.out_trade_no)
            .order_by(PayNotification.id)
        )
    )


def post_notification(client, headers, body, path="/pay/notify"):
    return client.post(path, data=body.encode(), headers=headers)


def test_a_duplicate_notification_answers_success_and_changes_nothing(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("duplicate", 2)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    [delivery] = pay_sim.notifications_for(order.out_trade_no)
    assert delivery.attempts[0]["statuses"] == [204, 204]
    pay_sim.resend(delivery.id)  # and once more, later, as WeChat Pay may
    pay_sim.deliver()
    assert count(Payment, Payment.order_id == order.id) == 1
    assert len(enrollments(plan)) == 1
    assert outcomes(order) == ["paid"] + ["duplicate"] * 3  # two copies, then two more


def test_out_of_order_notifications_each_open_their_order(client, pay_sim):
    plan = factories.plan()
    first, second = buyer(), buyer()
    pay_sim.inject("hold", count=2)
    log_in(client, first)
    order_a = buy_and_pay(client, plan)
    log_in(client, second)
    order_b = buy_and_pay(client, plan)
    assert pay_sim.deliver() == 0
    released = pay_sim.release_held(reverse=True)
    assert pay_sim.deliver() == 2
    delivered = [pay_sim.deliveries[i].out_trade_no for i in released]
    assert delivered == [order_b.out_trade_no, order_a.out_trade_no]
    assert reload(order_a).status is OrderStatus.PAID
    assert reload(order_b).status is OrderStatus.PAID
    assert {e.learner_id for e in enrollments(plan)} == {first.id, second.id}


def test_an_old_notification_after_the_refund_does_not_reopen_the_plan(
    client, pay_sim, staff_client
):
    """The push is held; a query opens the order; staff refund it; then the push arrives."""
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("hold")
    order = buy_and_pay(client, plan)
    assert client.get(f"/h5/orders/{order.id}/status?query=1").get_json()["paid"] is True
    staff_client.refund(order, "学员重复报名")
    pay_sim.advance(3)  # the refund completes and its notification arrives
    assert reload(order).status is OrderStatus.REFUNDED
    pay_sim.release_held()
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.REFUNDED
    [enrollment] = enrollments(plan)
    assert enrollment.status is EnrollmentStatus.REVOKED
    assert outcomes(order)[-1] == "duplicate"


def test_a_forged_signature_is_refused_and_changes_nothing(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    start_payment(client, order.id)
    trade = pay_sim.trade(order.out_trade_no)
    forged = {**trade.as_json(), "trade_state": "SUCCESS", "transaction_id": "4200" + "1" * 24}
    forged["payer"] = {"openid": "oATTACKER"}
    headers, body = pay_sim.signed_notification("TRANSACTION.SUCCESS", forged, forge=True)
    response = post_notification(client, headers, body)
    assert response.status_code == 401
    assert response.get_json()["code"] == "FAIL"
    assert reload(order).status is OrderStatus.PENDING
    assert count(Payment, Payment.order_id == order.id) == 0
    assert outcomes(order) == [] and count(PayNotification) == 1  # kept, without an order
    record = db.session.scalar(select(PayNotification))
    assert record.outcome == "bad_signature" and record.body == body


def test_a_wrong_serial_is_refused(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("serial", "PUB_KEY_ID_0000000000000000000000000001")
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    [delivery] = pay_sim.notifications_for(order.out_trade_no)
    assert delivery.attempts[0]["statuses"] == [401] and delivery.state == "scheduled"
    assert reload(order).status is OrderStatus.PENDING
    assert db.session.scalar(select(PayNotification.outcome)) == "wrong_serial"


def test_a_stale_timestamp_is_refused(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("stale", 301)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PENDING
    assert db.session.scalar(select(PayNotification.outcome)) == "stale"
    # Within five minutes is fine: WeChat Pay's clock and ours may differ a little.
    trade = pay_sim.trade(order.out_trade_no)
    headers, body = pay_sim.signed_notification(
        "TRANSACTION.SUCCESS", trade.as_json(), stale_seconds=240
    )
    assert post_notification(client, headers, body).status_code == 204
    assert reload(order).status is OrderStatus.PAID


def test_an_amount_that_does_not_match_is_refused_and_retried(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("tamper", {"amount": {"total": 1, "payer_total": 1}})
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PENDING
    assert outcomes(order) == ["mismatch"]
    # WeChat Pay pushes again on its schedule: 15 seconds later.
    assert pay_sim.advance(14) == 0
    assert pay_sim.advance(1) == 1
    assert outcomes(order) == ["mismatch", "mismatch"]
    assert count(Enrollment, Enrollment.plan_id == plan.id) == 0


def test_a_notification_for_an_unknown_order_is_refused(client, pay_sim, app):
    resource = {
        "appid": app.config["WECHAT_APPID"],
        "mchid": app.config["WECHAT_PAY_MCHID"],
        "out_trade_no": "GX20221201000000NOSUCH01",
        "transaction_id": "4200000000000000000000000001",
        "trade_state": "SUCCESS",
        "success_time": "2022-12-01T10:00:00+08:00",
        "payer": {"openid": "oSOMEONE"},
        "amount": {"total": 3000, "payer_total": 3000, "currency": "CNY"},
    }
    headers, body = pay_sim.signed_notification("TRANSACTION.SUCCESS", resource)
    response = post_notification(client, headers, body)
    assert response.status_code == 404
    assert count(Payment) == 0
    record = db.session.scalar(select(PayNotification))
    assert record.outcome == "unknown_order" and record.out_trade_no == resource["out_trade_no"]


def test_another_merchants_or_accounts_notification_is_refused(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("tamper", {"appid": "wx9999999999999999"})
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PENDING
    assert outcomes(order) == ["mismatch"]


def test_a_lost_notification_is_made_good_by_the_query_when_the_page_polls(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("drop")
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    status = client.get(f"/h5/orders/{order.id}/status").get_json()
    assert status == {"order_id": order.id, "status": "pending", "label": "待支付", "paid": False}
    status = client.get(f"/h5/orders/{order.id}/status?query=1").get_json()
    assert status["paid"] is True and status["label"] == "已支付"
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    assert payment.source is PaymentSource.QUERY
    assert enrollments(plan)[0].status is EnrollmentStatus.ACTIVE


def test_polling_asks_wechat_pay_at_most_every_few_seconds(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(client, plan)
    start_payment(client, order.id)
    queries = []
    original = pay_sim.query
    pay_sim.query = lambda **kwargs: queries.append(kwargs) or original(**kwargs)
    try:
        for _ in range(5):
            client.get(f"/h5/orders/{order.id}/status?query=1")
    finally:
        pay_sim.query = original
    assert len(queries) == 1


def test_a_payment_after_close_reopens_the_order(client, pay_sim):
    """Closed here while our close call to WeChat Pay failed; the payer paid meanwhile."""
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    old = place_order(client, plan)
    old_page = start_payment(client, old.id).get_data(as_text=True)
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    pay_sim.fail_next("close", 500, "SYSTEM_ERROR", "系统繁忙")
    new = place_order(client, plan)  # the expired order is closed, here only
    assert reload(old).status is OrderStatus.CLOSED
    assert pay_sim.trade(old.out_trade_no).state == "NOTPAY"

    pay_at_cashier(cashier_link(old_page))
    pay_sim.deliver()
    old = reload(old)
    assert old.status is OrderStatus.PAID and "关闭后收到微信支付" in old.note
    assert outcomes(old) == ["late_paid"]
    [enrollment] = enrollments(plan)
    assert enrollment.status is EnrollmentStatus.ACTIVE and enrollment.order_id == old.id
    # The newer order is not paid twice: its pay page closes it.
    page = start_payment(client, new.id).get_data(as_text=True)
    assert "无需再次支付" in page
    assert reload(new).status is OrderStatus.CLOSED


def test_a_late_payment_for_a_plan_paid_again_is_refunded_automatically(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    old = place_order(client, plan)
    old_page = start_payment(client, old.id).get_data(as_text=True)
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    pay_sim.fail_next("close", 500, "SYSTEM_ERROR", "系统繁忙")
    new = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(new).status is OrderStatus.PAID

    pay_at_cashier(cashier_link(old_page))
    pay_sim.deliver()
    old = reload(old)
    assert old.status is OrderStatus.PAID and "自动退款" in old.note
    refund = db.session.scalar(select(Refund).where(Refund.order_id == old.id))
    assert refund.status is RefundStatus.PROCESSING and refund.staff_id is None
    pay_sim.advance(3)
    old = reload(old)
    assert old.status is OrderStatus.REFUNDED and old.seats[0].status is SeatStatus.REFUNDED
    # No staff member did this: the audit log names the system parts that did.
    who = db.session.execute(
        select(AuditLog.action, AuditLog.staff_id, AuditLog.actor, AuditLog.ip).where(
            AuditLog.target_type == "order", AuditLog.target_id == str(old.id)
        )
    ).all()
    assert sorted(who) == [
        ("order.refund.auto", None, "system:payments", None),
        ("order.refund.succeeded", None, "system:wechat-pay", None),
    ]
    [enrollment] = enrollments(plan)  # the plan stays open through the newer order
    assert enrollment.status is EnrollmentStatus.ACTIVE and enrollment.order_id == new.id


def test_the_close_command_takes_in_a_payment_it_finds(client, pay_sim, runner):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    pay_sim.inject("drop")
    paid = buy_and_pay(client, plan)
    other = buyer()
    log_in(client, other)
    unpaid = place_order(client, plan)
    start_payment(client, unpaid.id)
    never_prepaid = place_order(client, factories.plan(year=2021))
    for order in (paid, unpaid, never_prepaid):
        order.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    result = runner.invoke(args=["pay", "close-expired"])
    assert result.exit_code == 0, result.output
    assert "expired orders: 3 (closed 2, paid 1)" in result.output
    assert reload(paid).status is OrderStatus.PAID
    assert reload(unpaid).status is OrderStatus.CLOSED
    assert reload(never_prepaid).status is OrderStatus.CLOSED
    assert pay_sim.trade(unpaid.out_trade_no).state == "CLOSED"


def test_the_retry_schedule_is_followed_until_the_platform_answers(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    answers = iter([503, 500, 502])
    deliver = pay_sim.transport
    pay_sim.transport = lambda url, headers, body: (
        next(answers, None) or deliver(url, headers, body)
    )
    order = buy_and_pay(client, plan)
    assert pay_sim.deliver() == 1  # the first push: 503
    assert pay_sim.advance(14.9) == 0
    assert pay_sim.advance(0.1) == 1  # 15 s: 500
    assert pay_sim.advance(15) == 1  # 15 s: 502
    assert pay_sim.advance(29) == 0
    assert pay_sim.advance(1) == 1  # 30 s: accepted
    [delivery] = pay_sim.notifications_for(order.out_trade_no)
    assert [a["statuses"] for a in delivery.attempts] == [[503], [500], [502], [204]]
    assert delivery.state == "delivered" and reload(order).status is OrderStatus.PAID
    assert pay_sim.advance(3600) == 0


def test_the_raw_notification_is_kept_for_audit(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    record = db.session.scalar(select(PayNotification))
    envelope = json.loads(record.body)
    assert envelope["event_type"] == "TRANSACTION.SUCCESS" and record.event_id == envelope["id"]
    assert record.headers["Wechatpay-Serial"] == pay_sim.settings.public_key_id
    assert record.out_trade_no == order.out_trade_no and record.outcome == "paid"


def test_open_notification_rejects_a_body_changed_after_signing(client, pay_sim, app):
    trade_like = {"out_trade_no": "X", "trade_state": "SUCCESS"}
    headers, body = pay_sim.signed_notification("TRANSACTION.SUCCESS", trade_like)
    changed = body.replace('"TRANSACTION.SUCCESS"', '"TRANSACTION.SUCCESS" ')
    try:
        wechatpay.open_notification(headers, changed)
    except wechatpay.NotificationRejected as rejected:
        assert rejected.outcome == "bad_signature"
    else:
        raise AssertionError("a changed body must not pass")


def test_an_absurd_timestamp_is_refused_and_kept(client, pay_sim):
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    headers, body = pay_sim.signed_notification(
        "TRANSACTION.SUCCESS", pay_sim.trade(order.out_trade_no).as_json()
    )
    response = post_notification(client, {**headers, "Wechatpay-Timestamp": "9" * 400}, body)
    assert response.status_code == 400 and response.get_json()["code"] == "FAIL"
    assert reload(order).status is OrderStatus.PENDING
    assert db.session.scalar(select(PayNotification.outcome)) == "stale"


def test_closing_an_unpaid_order_withdraws_the_invoice_asked_with_it(client, pay_sim, runner):
    from models.invoices import Invoice, InvoiceStatus

    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = place_order(
        client,
        plan,
        invoice_choice="now",
        title_type="personal",
        email="me@example.cn",
    )
    order.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    assert runner.invoke(args=["pay", "close-expired"]).exit_code == 0
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    db.session.refresh(invoice)
    assert reload(order).status is OrderStatus.CLOSED
    assert invoice.status is InvoiceStatus.CANCELLED
