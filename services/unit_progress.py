"""A unit's learners who have not finished the year's training, with how far each has got:
what a unit's designee chases colleagues with, on the page and as an Excel file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, select

from infra.extensions import db
from models.accounts import Learner
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentStatus
from models.org import Unit
from services.display import local_time, mask_id_number, mask_phone
from services.errors import NotFound

PAGE_SIZE = 50
NOT_BOUGHT = "未购买"
STUDYING = "学习中"


@dataclass(frozen=True)
class Straggler:
    learner_id: int
    name: str
    id_number: str
    phone: str | None
    earned_hours: int | None  # None: not bought
    required_hours: int | None
    last_login_at: datetime | None

    @property
    def bought(self) -> bool:
        return self.earned_hours is not None

    @property
    def state(self) -> str:
        return STUDYING if self.bought else NOT_BOUGHT

    @property
    def percent(self) -> int:
        if not self.bought or not self.required_hours:
            return 0
        return min(100, (self.earned_hours or 0) * 100 // self.required_hours)


def year_plan(year: int) -> Plan | None:
    return db.session.scalar(select(Plan).where(Plan.year == year, Plan.kind == PlanKind.CURRENT))


def get_unit(unit_id: int) -> Unit:
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("单位不存在。")
    return unit


def _statement(unit_id: int, plan: Plan | None) -> Select:
    plan_id = plan.id if plan is not None else -1
    return (
        select(
            Learner.id,
            Learner.name,
            Learner.id_number,
            Learner.phone,
            Enrollment.earned_hours,
            Learner.last_login_at,
        )
        .outerjoin(
            Enrollment,
            and_(
                Enrollment.learner_id == Learner.id,
                Enrollment.plan_id == plan_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            ),
        )
        .where(
            Learner.unit_id == unit_id,
            Learner.erased_at.is_(None),
            Enrollment.completed_at.is_(None),
        )
        # Furthest behind first: not bought, then the fewest hours.
        .order_by(func.coalesce(Enrollment.earned_hours, -1), Learner.name, Learner.id)
    )


def _straggler(row, plan: Plan | None) -> Straggler:
    return Straggler(
        learner_id=row.id,
        name=row.name,
        id_number=row.id_number,
        phone=row.phone,
        earned_hours=row.earned_hours,
        required_hours=plan.required_hours if plan is not None else None,
        last_login_at=row.last_login_at,
    )


@dataclass(frozen=True)
class StragglerPage:
    unit: Unit
    year: int
    plan: Plan | None
    rows: list[Straggler]
    page: object  # Flask-SQLAlchemy's Pagination of the underlying rows


def unfinished(unit_id: int, year: int, *, page: int = 1) -> StragglerPage:
    unit = get_unit(unit_id)
    plan = year_plan(year)
    found = db.paginate(_statement(unit_id, plan), page=page, per_page=PAGE_SIZE, error_out=False)
    # db.paginate over a multi-column select yields the first column only: fetch the page whole.
    rows = [
        _straggler(row, plan)
        for row in db.session.execute(
            _statement(unit_id, plan).limit(PAGE_SIZE).offset((found.page - 1) * PAGE_SIZE)
        )
    ]
    return StragglerPage(unit, year, plan, rows, found)


def count_unfinished(unit_id: int, year: int) -> int:
    statement = _statement(unit_id, year_plan(year)).order_by(None)
    return db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0


SPREADSHEET_HEADERS = [
    "姓名",
    "身份证号码",
    "手机号码",
    "状态",
    "已获学时",
    "要求学时",
    "进度(%)",
    "最近登录",
]


def spreadsheet_rows(unit_id: int, year: int) -> Iterator[list[object]]:
    """Every unfinished learner of the unit (no page), numbers masked as on the page."""
    get_unit(unit_id)
    plan = year_plan(year)
    for row in db.session.execute(_statement(unit_id, plan)):
        item = _straggler(row, plan)
        yield [
            item.name,
            mask_id_number(item.id_number),
            mask_phone(item.phone),
            item.state,
            item.earned_hours if item.bought else "",
            item.required_hours or "",
            item.percent if item.bought else "",
            local_time(item.last_login_at) or "从未登录",
        ]
