"""Background jobs of payments, each run by ``infra.jobs`` in a transaction of its own."""

from __future__ import annotations

import logging

from infra.extensions import db
from infra.jobs import job
from models.orders import Order, PaymentSource, SeatStatus
from services.errors import ExternalServiceError
from services.payments import checkout, orders, refunds
from services.wechat import notify

log = logging.getLogger(__name__)


@job
def notify_seat_holders(order_id: int) -> None:
    """Job: tell each colleague of a paid group order that their plan is open."""
    order = db.session.get(Order, order_id)
    if order is None or order.paid_at is None:
        return
    path = orders.path_for("h5.plan_detail", plan_id=order.plan_id)
    for seat in order.seats:
        if seat.status is SeatStatus.ACTIVE and seat.learner_id != order.buyer_id:
            notify.payment_received(
                learner_id=seat.learner_id,
                order_id=order.id,
                plan_title=order.plan.title,
                amount_fen=order.unit_price_fen,
                paid_at=order.paid_at,
                path=path,
            )


@job
def close_at_providers(order_id: int) -> None:
    """Job after a local close: close at every provider the order was offered through, or
    take in the payment one reports."""
    order = db.session.get(Order, order_id)
    if order is None:
        return
    for attempt in orders.order_attempts(order.id):
        try:
            if checkout.close_at_provider(attempt) == "paid":
                checkout.sync_order(order.id, PaymentSource.QUERY)
                return
        except ExternalServiceError as error:
            # The expiry sent with the prepay (time_expire) still stops the payment there.
            log.warning("close of %s failed: %s", attempt.out_trade_no, error.message)


# Jobs queued before close_at_providers existed carry this name.
close_at_wechat = close_at_providers


@job
def submit_refund(refund_id: int) -> None:
    """Job: send the refund to WeChat Pay (again, with the same out_refund_no)."""
    try:
        refunds.send_refund(refund_id)
    except ExternalServiceError as error:
        log.warning("refund %s not sent: %s", refund_id, error.message)


@job
def sync_complaint(complaint_id: str) -> None:
    """Job after a complaint notification: fetch the complaint's detail from WeChat Pay."""
    from services.payments import complaints

    try:
        complaints.sync_complaint(complaint_id)
    except ExternalServiceError as error:
        # The console's 同步 button (complaints.sync_recent) fetches it again.
        log.warning("complaint %s not fetched: %s", complaint_id, error.message)
