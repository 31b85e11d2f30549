"""``flask pay reconcile DAY``: the day's trade bill against our payments."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from infra.extensions import db
from models.orders import OrderStatus, Payment, PaymentSource
from services.display import LOCAL_TZ
from tests import factories
from tests.services.payments.conftest import buy_and_pay, buyer, log_in, reload


def yesterday_noon() -> datetime:
    return datetime.now(LOCAL_TZ).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )


def test_reconcile_fixes_payments_we_missed_and_reports_the_rest(client, pay_sim, runner):
    plan = factories.plan()
    learner = buyer()
    log_in(client, learner)
    taken_in = buy_and_pay(client, plan)
    pay_sim.deliver()
    missed_buyer = buyer()
    log_in(client, missed_buyer)
    pay_sim.inject("drop")
    missed = buy_and_pay(client, factories.plan(year=2021))
    pay_sim.deliver()
    assert reload(missed).status is OrderStatus.PENDING
    day = yesterday_noon()
    pay_sim.backdate(taken_in.out_trade_no, day)
    pay_sim.backdate(missed.out_trade_no, day + timedelta(hours=1))
    db.session.scalar(select(Payment).where(Payment.order_id == taken_in.id)).success_time = day
    # Paid here (say, by hand) but never at WeChat Pay.
    stray = factories.paid_order(factories.learner(), factories.plan(year=2020), paid_at=day)
    db.session.flush()

    result = runner.invoke(args=["pay", "reconcile", day.date().isoformat()])
    assert result.exit_code == 1, result.output  # something for staff to look at
    assert "2 payments, 0 refunds" in result.output
    assert "matched: 1" in result.output
    assert f"now fixed: 1\n  {missed.out_trade_no}" in result.output
    assert f"not in the provider's bill: 1\n  {stray.out_trade_no}" in result.output
    missed = reload(missed)
    assert missed.status is OrderStatus.PAID
    payment = db.session.scalar(select(Payment).where(Payment.order_id == missed.id))
    assert payment.source is PaymentSource.RECONCILE


def test_a_day_without_trades_is_clean(pay_sim, runner):
    result = runner.invoke(args=["pay", "reconcile", "2022-12-01"])
    assert result.exit_code == 0, result.output
    assert "0 payments" in result.output


def test_a_bad_date_is_refused(pay_sim, runner):
    result = runner.invoke(args=["pay", "reconcile", "2022-13-01"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output
