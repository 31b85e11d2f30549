"""The console offers a refund, and a check with WeChat Pay, exactly where the refund rules
would act: the order page's ``can_refund``/``can_refund_seat`` and the refund rows'
``can_sync`` against what ``request_refund`` and ``sync_refund`` do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.extensions import db
from models.base import utcnow
from models.orders import Order, OrderStatus, Refund, RefundStatus, SeatStatus
from services.audit import Actor
from services.errors import ExternalServiceError, ServiceError
from services.payments import orders, refunds
from tests import factories


def accepted(service: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Whether the service accepts the call; whatever it wrote is undone either way."""
    savepoint = db.session.begin_nested()
    try:
        service(*args, **kwargs)
    except ServiceError:
        return False
    finally:
        savepoint.rollback()
    return True


def orders_in_every_state() -> list[Order]:
    """Paid, partly refunded, refunding, refunded, unpaid and closed; individual and group."""
    plan = factories.plan()
    individual = factories.paid_order(factories.learner(), plan)
    mixed = factories.paid_order(
        factories.learner(), plan, seats=[factories.learner() for _ in range(3)]
    )
    _, refunding, refunded = mixed.seats
    refunding.status, refunded.status = SeatStatus.REFUNDING, SeatStatus.REFUNDED
    mixed.status = OrderStatus.PARTIALLY_REFUNDED
    in_flight = factories.paid_order(
        factories.learner(), plan, seats=[factories.learner() for _ in range(2)]
    )
    for seat in in_flight.seats:
        seat.status = SeatStatus.REFUNDING
    gone = factories.paid_order(factories.learner(), plan)
    gone.status, gone.seats[0].status = OrderStatus.REFUNDED, SeatStatus.REFUNDED
    unpaid = factories.paid_order(factories.learner(), plan)
    unpaid.status, unpaid.paid_at, unpaid.seats[0].status = (
        OrderStatus.PENDING,
        None,
        SeatStatus.PENDING,
    )
    closed = factories.paid_order(factories.learner(), plan)
    closed.status, closed.paid_at, closed.closed_at = OrderStatus.CLOSED, None, utcnow()
    db.session.flush()
    return [individual, mixed, in_flight, gone, unpaid, closed]


def test_the_order_page_offers_a_refund_exactly_where_one_is_accepted(staff_client):
    actor = Actor.staff(staff_client.staff.id, staff_client.staff.username, "203.0.113.9")
    offered_somewhere = refused_somewhere = False
    for order in orders_in_every_state():
        record = orders.order_record(order.id)
        whole = record.can_refund
        assert whole is accepted(
            refunds.request_refund,
            order_id=order.id,
            seat_id=None,
            reason="学员申请退费",
            actor=actor,
        ), order.status
        page = staff_client.client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
        assert ("整单退款" in page) is whole
        record = orders.order_record(order.id)
        seats = {seat.id: record.can_refund_seat(seat) for seat in record.seats}
        for seat_id, offered in seats.items():
            assert offered is accepted(
                refunds.request_refund,
                order_id=order.id,
                seat_id=seat_id,
                reason="学员申请退费",
                actor=actor,
            ), (order.status, seat_id)
        assert page.count("退该学员") == sum(seats.values())
        offered_somewhere |= whole or any(seats.values())
        refused_somewhere |= not whole or not all(seats.values())
    assert offered_somewhere and refused_somewhere


def test_the_reason_a_paid_order_offers_no_refund_is_the_reason_a_refund_is_refused():
    order = orders_in_every_state()[2]  # every seat refunding
    record = orders.order_record(order.id)
    assert not record.can_refund
    assert record.refund_note == "该订单的退款正在处理中，请稍后查看结果。"
    with pytest.raises(ServiceError, match=record.refund_note):
        refunds.request_refund(
            order_id=order.id, seat_id=None, reason="再退一次", actor=Actor.system("test")
        )


@pytest.mark.parametrize("status", list(RefundStatus))
def test_a_refund_is_offered_a_check_exactly_when_the_check_asks_wechat_pay(pay_sim, status):
    order = factories.paid_order(factories.learner(), factories.plan())
    order.seats[0].status = SeatStatus.REFUNDING
    refund = Refund(
        order_id=order.id,
        out_refund_no=orders.merchant_number("RF"),
        amount_fen=order.amount_fen,
        reason="学员申请退费",
        status=status,
        submitted_at=None if status is RefundStatus.REQUESTED else utcnow(),
    )
    db.session.add(refund)
    db.session.flush()
    offered = refunds.RefundRow(refund).can_sync
    # Whatever reaches WeChat Pay now is answered "busy": a call used up is a call made.
    pay_sim.fail_next("refund", 503, "SYSTEM_ERROR", "系统繁忙")
    pay_sim.fail_next("refund_query", 503, "SYSTEM_ERROR", "系统繁忙")
    try:
        outcome = refunds.sync_refund(refund.id)
    except ExternalServiceError:
        outcome = "asked"
    asked = len(pay_sim.api_failures["refund"]) + len(pay_sim.api_failures["refund_query"]) < 2
    assert offered is asked, outcome
    page = refunds.search_refunds(status.value, 1)
    assert [row.can_sync for row in page.rows] == [offered]
