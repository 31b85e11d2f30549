from sqlalchemy import select

from infra.extensions import db
from models.enrollments import Enrollment
from tests import factories


def test_paid_group_order_enrolls_every_seat():
    buyer = factories.learner()
    colleagues = [factories.learner() for _ in range(3)]
    plan = factories.plan(courses=2, chapters_per_course=2)
    order = factories.paid_order(buyer, plan, seats=colleagues)
    assert order.amount_fen == 3 * plan.price_fen
    enrolled = set(
        db.session.scalars(select(Enrollment.learner_id).where(Enrollment.plan_id == plan.id))
    )
    assert enrolled == {learner.id for learner in colleagues}
    assert [len(course.chapters) for course in plan.courses] == [2, 2]


def test_generated_id_numbers_are_unique_and_valid():
    from services.accounts.identity import parse_id_number

    numbers = {factories.valid_id_number(male=bool(i % 2)) for i in range(1500)}
    assert len(numbers) == 1500
    for number in list(numbers)[:50]:
        parse_id_number(number)
