"""Anyone can post to /pay/notify and /pay/refund-notify: every verified notification is
kept, of the others only a bounded, rate-limited sample."""

from __future__ import annotations

import os

from sqlalchemy import func, select

from infra.extensions import db
from models.orders import OrderStatus, PayNotification
from tests import factories
from tests.services.payments.conftest import buy_and_pay, buyer, log_in, reload


def rows_and_bytes() -> tuple[int, int]:
    return db.session.execute(
        select(func.count(), func.coalesce(func.sum(func.octet_length(PayNotification.body)), 0))
    ).one()


def garbage(size: int) -> bytes:
    return b'{"id":"' + os.urandom(size // 2).hex().encode() + b'"}'


def test_fifty_anonymous_megabyte_posts_store_nothing(client, pay_sim):
    for _ in range(50):
        response = client.post("/pay/notify", data=garbage(1024 * 1024))
        assert response.status_code == 413
    assert rows_and_bytes() == (0, 0)


def test_unsigned_garbage_is_kept_only_as_a_bounded_sample(app, client, pay_sim):
    assert app.config["PAY_NOTIFY_SAMPLE_PER_HOUR"] == 10
    for path in ("/pay/notify", "/pay/refund-notify"):
        for _ in range(50):
            response = client.post(
                path,
                data=garbage(60 * 1024),
                headers={"Wechatpay-Serial": "x", "Wechatpay-Signature": "AAAA"},
            )
            assert response.status_code == 401
    rows, stored = rows_and_bytes()
    assert rows == 20  # ten an hour of each kind
    assert stored <= 20 * 4096
    assert db.session.scalar(select(func.max(func.length(PayNotification.body)))) <= 4096


def test_a_nul_in_an_unsigned_body_is_stored_without_an_error(client, pay_sim):
    response = client.post("/pay/notify", data=b'{"id":"\x00\\u0000"}')
    assert response.status_code == 401
    record = db.session.scalar(select(PayNotification))
    assert "\x00" not in record.body


def test_every_verified_notification_is_kept_whatever_the_sample(client, pay_sim):
    for _ in range(30):
        client.post("/pay/notify", data=garbage(1024))
    learner, plan = buyer(), factories.plan()
    log_in(client, learner)
    order = buy_and_pay(client, plan)
    pay_sim.deliver()
    assert reload(order).status is OrderStatus.PAID
    kept = db.session.scalar(
        select(PayNotification).where(PayNotification.out_trade_no == order.out_trade_no)
    )
    assert kept.outcome == "paid"
    assert kept.body.startswith("{") and '"resource"' in kept.body  # whole
