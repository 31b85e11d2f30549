"""What staff see of one learner: account, plans and progress, orders, certificates."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from infra.extensions import db
from models.accounts import Learner
from models.certificates import Certificate
from models.enrollments import Enrollment
from models.orders import Order, OrderKind, OrderSeat
from services.accounts.learner_desk import ChapterRecord, chapter_records
from services.errors import NotFound


@dataclass(frozen=True)
class LearnerOrder:
    """An order that pays for the learner's plan: their own, or a colleague's group order."""

    order: Order
    learner_id: int

    @property
    def is_group(self) -> bool:
        return self.order.kind is OrderKind.GROUP

    @property
    def bought_by_other(self) -> bool:
        return self.order.buyer_id != self.learner_id


@dataclass(frozen=True)
class LearnerOverview:
    learner: Learner
    enrollments: list[Enrollment]
    orders: list[LearnerOrder]
    certificates: list[Certificate]
    chapters: list[ChapterRecord]


def learner_overview(learner_id: int, *, unit_id: int | None = None) -> LearnerOverview:
    """``unit_id`` restricts to one unit (a unit admin): other learners are not found."""
    learner = db.session.get(Learner, learner_id)
    if learner is None or (unit_id is not None and learner.unit_id != unit_id):
        raise NotFound("学员不存在。")
    enrollments = list(
        db.session.scalars(
            select(Enrollment)
            .options(joinedload(Enrollment.plan))
            .where(Enrollment.learner_id == learner.id)
            .order_by(Enrollment.created_at.desc())
        )
    )
    seat_orders = select(OrderSeat.order_id).where(OrderSeat.learner_id == learner.id)
    orders = [
        LearnerOrder(order, learner.id)
        for order in db.session.scalars(
            select(Order)
            .options(joinedload(Order.plan))
            .where(or_(Order.buyer_id == learner.id, Order.id.in_(seat_orders)))
            .order_by(Order.created_at.desc())
        )
    ]
    certificates = list(
        db.session.scalars(
            select(Certificate)
            .where(Certificate.learner_id == learner.id)
            .order_by(Certificate.issued_at.desc())
        )
    )
    return LearnerOverview(learner, enrollments, orders, certificates, chapter_records(learner.id))
