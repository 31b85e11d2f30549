"""Orders: individual purchase (个人购买), what the buyer sees, and what staff look up.

An individual order pays for one seat, the buyer's own. Ordering a plan again while an open
order for it exists reuses that order; an order left unpaid past ``expires_at`` is closed
(here at once, at WeChat Pay after commit). A plan already held cannot be bought again.
Group orders (团体购买) are made in ``services.group_purchase``; payment, closing and
refunds are in ``services.payments`` and ``services.refunds``.
"""

from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from infra.extensions import db
from infra.jobs import enqueue
from infra.transaction import after_commit
from models.accounts import Learner
from models.base import utcnow
from models.invoices import Invoice
from models.orders import (
    InvoiceChoice,
    Order,
    OrderKind,
    OrderSeat,
    OrderStatus,
    PayAttempt,
    PayChannel,
    Payment,
    PayNotification,
    Refund,
    SeatStatus,
)
from services import catalog
from services.accounts.identity import normalise_code
from services.display import LOCAL_TZ
from services.errors import Conflict, NotFound, PermissionDenied
from services.paperwork import invoices
from services.payments import refunds, tasks

log = logging.getLogger(__name__)

_NO_ALPHABET = string.digits + string.ascii_uppercase


def merchant_number(prefix: str, now: datetime | None = None) -> str:
    """``prefix`` + Beijing time to the second + 8 random characters, all of [0-9A-Z]."""
    now = (now or utcnow()).astimezone(LOCAL_TZ)
    return f"{prefix}{now:%Y%m%d%H%M%S}" + "".join(secrets.choice(_NO_ALPHABET) for _ in range(8))


def new_out_trade_no(now: datetime | None = None) -> str:
    """``GX…``: 24 characters, within WeChat Pay's 32 of [0-9A-Za-z_-|*]."""
    return merchant_number("GX", now)


def path_for(endpoint: str, **values) -> str:
    """A page's path, also where no request is being served (jobs, commands)."""
    adapter = current_app.url_map.bind("localhost")
    return adapter.build(endpoint, values)


def order_page_path(order_id: int) -> str:
    return path_for("h5.order_detail", order_id=order_id)


def pay_minutes() -> int:
    return int(current_app.config["ORDER_PAY_MINUTES"])


def close_locally(order: Order, note: str, now: datetime | None = None) -> None:
    """Close an unpaid order here, and at WeChat Pay and Alipay once the transaction commits.

    If the payer paid in the meantime, the provider refuses the close and the payment is
    taken in (see ``tasks.close_at_providers``): paid money is never ignored.
    """
    order.status = OrderStatus.CLOSED
    order.closed_at = now or utcnow()
    order.note = note[:200]
    invoices.withdraw_for_closed_order(order.id)
    if has_attempts(order.id):
        after_commit(enqueue, tasks.close_at_providers, order.id)


# --- the channels an order was offered through ---------------------------------------------


def order_attempts(order_id: int) -> list[PayAttempt]:
    return list(
        db.session.scalars(
            select(PayAttempt).where(PayAttempt.order_id == order_id).order_by(PayAttempt.id)
        )
    )


def has_attempts(order_id: int) -> bool:
    return (
        db.session.scalar(select(PayAttempt.id).where(PayAttempt.order_id == order_id).limit(1))
        is not None
    )


def attempt_for(order: Order, channel: PayChannel) -> PayAttempt:
    """The order's attempt through ``channel``, made on first use (under its own number)."""
    attempt = db.session.scalar(
        select(PayAttempt).where(PayAttempt.order_id == order.id, PayAttempt.channel == channel)
    )
    if attempt is not None:
        return attempt
    attempt = PayAttempt(
        order_id=order.id,
        channel=channel,
        out_trade_no=order.out_trade_no + channel.trade_no_suffix,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
            db.session.flush()
    except IntegrityError:
        # Another tab started the same channel at the same moment: use its attempt.
        found = db.session.scalar(
            select(PayAttempt).where(PayAttempt.order_id == order.id, PayAttempt.channel == channel)
        )
        if found is None:
            raise
        return found
    return attempt


def attempt_by_trade_no(out_trade_no: str) -> PayAttempt | None:
    return db.session.scalar(select(PayAttempt).where(PayAttempt.out_trade_no == out_trade_no))


def place_individual_order(
    *,
    learner_id: int,
    plan_id: int,
    invoice: invoices.InvoiceRequest | None,
    now: datetime | None = None,
) -> Order:
    """The learner's open order for the plan (reused, or new), with the invoice asked for now."""
    now = now or utcnow()
    plan = catalog.plan_for_sale(plan_id, now)
    if catalog.learner_holds_plan(learner_id, plan_id):
        raise Conflict("您已购买该学习计划，请在“课程培训”中进入学习。")
    with db.session.begin_nested():
        order = _open_individual_order(learner_id, plan_id)
        if order is not None and order.expires_at <= now:
            close_locally(order, "超时未支付，已重新下单", now)
            order = None
        if order is None:
            order = Order(
                out_trade_no=new_out_trade_no(now),
                buyer_id=learner_id,
                plan_id=plan.id,
                kind=OrderKind.INDIVIDUAL,
                seat_count=1,
                unit_price_fen=plan.price_fen,
                amount_fen=plan.price_fen,
                expires_at=now + timedelta(minutes=pay_minutes()),
                created_at=now,
            )
            try:
                with db.session.begin_nested():
                    db.session.add(order)
                    db.session.flush()
            except IntegrityError:
                # A second tab ordered the same plan at the same moment: use that order.
                order = _open_individual_order(learner_id, plan_id)
                if order is None:
                    raise
            else:
                db.session.add(OrderSeat(order_id=order.id, learner_id=learner_id))
        attach_invoice_request(order, learner_id, invoice)
        db.session.flush()
    return order


def attach_invoice_request(
    order: Order, learner_id: int, invoice: invoices.InvoiceRequest | None
) -> None:
    """立即申请: ask for the invoice with the order; 以后申请: nothing yet."""
    if invoice is None:
        return
    if invoices.live_invoice(order.id) is None:
        invoices.request_invoice(order_id=order.id, learner_id=learner_id, request=invoice)
    order.invoice_choice = InvoiceChoice.NOW


def _open_individual_order(learner_id: int, plan_id: int) -> Order | None:
    return db.session.scalar(
        select(Order)
        .where(
            Order.buyer_id == learner_id,
            Order.plan_id == plan_id,
            Order.kind == OrderKind.INDIVIDUAL,
            Order.status == OrderStatus.PENDING,
        )
        .with_for_update()
    )


def lock_order(*criteria) -> Order | None:
    """The order row locked until the transaction ends, read afresh: the session may hold a
    copy loaded before another transaction changed the row (and waited for its lock)."""
    return db.session.scalar(
        select(Order).where(*criteria).with_for_update().execution_options(populate_existing=True)
    )


def buyer_order(order_id: int, learner_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("订单不存在。")
    if order.buyer_id != learner_id:
        raise PermissionDenied("这不是您的订单。")
    return order


def _seats_with_learners(order_id: int) -> list[OrderSeat]:
    return list(
        db.session.scalars(
            select(OrderSeat)
            .where(OrderSeat.order_id == order_id)
            .options(selectinload(OrderSeat.learner))
            .order_by(OrderSeat.id)
        )
    )


def seat_names(seats: list[OrderSeat]) -> dict[int, str]:
    """Whom each seat is for, as the buyer sees it: the name once paid for, before that only
    that the number is registered, so that typing ID numbers into a group order does not
    reveal whose they are."""
    return {
        seat.id: "已注册" if seat.status is SeatStatus.PENDING else seat.learner.name
        for seat in seats
    }


def payable(order: Order, now: datetime | None = None) -> bool:
    """Unpaid and not past its expiry: the buyer may pay it (去支付)."""
    return order.status is OrderStatus.PENDING and order.expires_at > (now or utcnow())


EXPIRED_LABEL = "已超时"


def is_expired(order: Order, now: datetime | None = None) -> bool:
    """Unpaid past its expiry: it can no longer be paid and will be closed."""
    return order.status is OrderStatus.PENDING and order.expires_at <= (now or utcnow())


def buyer_status_label(order: Order, now: datetime | None = None) -> str:
    """What the buyer reads: 已超时 rather than 待支付 once an unpaid order has expired."""
    return EXPIRED_LABEL if is_expired(order, now) else order.status.label


def buyer_status_key(order: Order, now: datetime | None = None) -> str:
    """The status as a CSS modifier, ``expired`` for an expired unpaid order."""
    return "expired" if is_expired(order, now) else order.status.value


@dataclass(frozen=True)
class OrderView:
    """The buyer's page of one order, with what they may do with it."""

    order: Order
    seats: list[OrderSeat]
    seat_names: dict[int, str]
    payable: bool  # 去支付 and 取消订单 are offered; the page polls while paying
    expired: bool  # pending but past expiry (it will be closed)

    @property
    def status_label(self) -> str:
        return EXPIRED_LABEL if self.expired else self.order.status.label

    @property
    def is_group(self) -> bool:
        return self.order.kind is OrderKind.GROUP

    @property
    def paid(self) -> bool:
        """Paid, nothing refunded."""
        return self.order.status is OrderStatus.PAID

    @property
    def pending(self) -> bool:
        return self.order.status is OrderStatus.PENDING

    @property
    def can_study(self) -> bool:
        """The buyer's own plan, paid for: 进入学习 (a group order's buyer may hold no seat)."""
        return self.paid and not self.is_group


def order_view(order_id: int, learner_id: int) -> OrderView:
    order = buyer_order(order_id, learner_id)
    seats = _seats_with_learners(order.id)
    now = utcnow()
    return OrderView(
        order=order,
        seats=seats,
        seat_names=seat_names(seats),
        payable=payable(order, now),
        expired=is_expired(order, now),
    )


def list_buyer_orders(learner_id: int, kind: OrderKind) -> list[Order]:
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.buyer_id == learner_id, Order.kind == kind)
            .options(selectinload(Order.plan))
            .order_by(Order.created_at.desc(), Order.id.desc())
        )
    )


@dataclass(frozen=True)
class GroupOrderCard:
    order: Order
    seats: list[OrderSeat]
    seat_names: dict[int, str]

    @property
    def payable(self) -> bool:
        return payable(self.order)


def list_group_orders(learner_id: int) -> list[GroupOrderCard]:
    orders = list_buyer_orders(learner_id, OrderKind.GROUP)
    seats: dict[int, list[OrderSeat]] = {order.id: [] for order in orders}
    if orders:
        for seat in db.session.scalars(
            select(OrderSeat)
            .where(OrderSeat.order_id.in_(list(seats)))
            .options(selectinload(OrderSeat.learner))
            .order_by(OrderSeat.id)
        ):
            seats[seat.order_id].append(seat)
    return [
        GroupOrderCard(order=order, seats=seats[order.id], seat_names=seat_names(seats[order.id]))
        for order in orders
    ]


def cancel_order(order_id: int, learner_id: int) -> Order:
    """The buyer gives up an unpaid order (取消订单)."""
    order = buyer_order(order_id, learner_id)
    db.session.refresh(order, with_for_update=True)
    if order.status is not OrderStatus.PENDING:
        raise Conflict(f"订单{order.status.label}，不能取消。")
    close_locally(order, "买家取消")
    db.session.flush()
    return order


# --- the console -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilter:
    status: str = ""
    kind: str = ""
    query: str = ""  # out_trade_no, transaction id, or the buyer's ID number / phone / name
    plan_id: int | None = None


def search_orders(filters: OrderFilter, page: int, per_page: int = 30):
    statement = select(Order).options(selectinload(Order.buyer), selectinload(Order.plan))
    if filters.status in {status.value for status in OrderStatus}:
        statement = statement.where(Order.status == OrderStatus(filters.status))
    if filters.kind in {kind.value for kind in OrderKind}:
        statement = statement.where(Order.kind == OrderKind(filters.kind))
    if filters.plan_id:
        statement = statement.where(Order.plan_id == filters.plan_id)
    text = normalise_code(filters.query).upper()
    if text:
        buyers = select(Learner.id).where(
            or_(Learner.id_number == text, Learner.phone == text, Learner.name == text)
        )
        paid_by = select(Payment.order_id).where(Payment.transaction_id == text)
        attempted = select(PayAttempt.order_id).where(PayAttempt.out_trade_no == text)
        statement = statement.where(
            or_(
                Order.out_trade_no == text,
                Order.id.in_(attempted),
                Order.buyer_id.in_(buyers),
                Order.id.in_(paid_by),
            )
        )
    statement = statement.order_by(Order.created_at.desc(), Order.id.desc())
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


@dataclass(frozen=True)
class OrderRecord:
    """An order as staff see it, with what they may do: refund (refunds' own rule)."""

    order: Order
    seats: list[OrderSeat]
    payments: list[Payment]
    attempts: list[PayAttempt]
    refunds: list[refunds.RefundRow]
    notifications: list[PayNotification]
    invoices: list[Invoice]

    @property
    def refund_refusal(self) -> str | None:
        """Why the order's remaining seats cannot be refunded now (None: they can)."""
        return refunds.refund_refusal(self.order)

    @property
    def can_refund(self) -> bool:
        return self.refund_refusal is None

    @property
    def refund_note(self) -> str | None:
        """Why an order that was paid offers no refund (one in flight, all refunded)."""
        return self.refund_refusal if self.order.paid_at else None

    def can_refund_seat(self, seat: OrderSeat) -> bool:
        return refunds.refund_refusal(self.order, seat) is None

    @property
    def refunds_by_seat(self) -> bool:
        """A group order with a seat that may be refunded on its own."""
        return any(self.can_refund_seat(seat) for seat in self.seats)


def order_record(order_id: int) -> OrderRecord:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("订单不存在。")
    seats = _seats_with_learners(order.id)
    return OrderRecord(
        order=order,
        seats=seats,
        payments=list(
            db.session.scalars(
                select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
            )
        ),
        attempts=order_attempts(order.id),
        refunds=[
            refunds.RefundRow(refund)
            for refund in db.session.scalars(
                select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)
            )
        ],
        notifications=list(
            db.session.scalars(
                select(PayNotification)
                .where(
                    PayNotification.out_trade_no.in_(
                        [order.out_trade_no]
                        + [attempt.out_trade_no for attempt in order_attempts(order.id)]
                    )
                )
                .order_by(PayNotification.id)
            )
        ),
        invoices=list(
            db.session.scalars(
                select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.id)
            )
        ),
    )
