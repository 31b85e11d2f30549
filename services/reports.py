"""Figures by district and by unit for one training year: registered, bought, finished,
completion rate and revenue. Aggregated in SQL (three grouped queries whatever the size).

Attribution: a learner counts where their account says (unit, and the district of the unit
or of their personnel file). Revenue is counted per paid, unrefunded seat at its unit price,
so a group order bought by one designee counts in each colleague's unit; it is split by the
channel of the payment that paid the order (WeChat Pay's JSAPI, Native, H5; Alipay's PC and
phone pages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, distinct, func, select

from infra.extensions import db
from models.accounts import Learner
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import Order, OrderSeat, PayChannel, Payment, SeatStatus
from models.org import District, Unit
from models.staff import StaffRole
from services.display import LOCAL_TZ, yuan


@dataclass
class ReportRow:
    key: int | None
    name: str
    district: str = ""
    registered: int = 0
    bought: int = 0
    finished: int = 0
    revenue_fen: int = 0

    @property
    def completion_percent(self) -> float:
        return round(100.0 * self.finished / self.bought, 1) if self.bought else 0.0


@dataclass(frozen=True)
class ChannelRevenue:
    channel: PayChannel
    seats: int
    revenue_fen: int


@dataclass
class Report:
    year: int
    by: str  # "district" | "unit"
    rows: list[ReportRow] = field(default_factory=list)
    # Revenue by the channel that paid it, largest first (the same seats as the rows').
    channels: list[ChannelRevenue] = field(default_factory=list)

    @property
    def by_unit(self) -> bool:
        return self.by == "unit"

    @property
    def grouping_label(self) -> str:
        return "单位" if self.by_unit else "区县"

    @property
    def total(self) -> ReportRow:
        total = ReportRow(key=None, name="合计")
        for row in self.rows:
            total.registered += row.registered
            total.bought += row.bought
            total.finished += row.finished
            total.revenue_fen += row.revenue_fen
        return total


def default_year(today: date | None = None) -> int:
    """The training year staff most likely mean: this year's, or the latest year with a
    current plan if this year has none yet (the report opens on figures, not zeros)."""
    today = today or datetime.now(LOCAL_TZ).date()
    latest = db.session.scalar(
        select(func.max(Plan.year)).where(Plan.kind == PlanKind.CURRENT, Plan.year <= today.year)
    )
    return latest or today.year


def study_deadline(year: int) -> datetime | None:
    """When the year's training closes: the last day of study of its plan (data, by year)."""
    return db.session.scalar(
        select(func.max(Plan.study_ends_at)).where(Plan.year == year, Plan.kind == PlanKind.CURRENT)
    )


def report_years(today: date | None = None) -> list[int]:
    today = today or datetime.now(LOCAL_TZ).date()
    return list(range(today.year, 2010, -1))


def shows_revenue(role: StaffRole) -> bool:
    """Unit admins see their unit's registration, purchase and completion figures only."""
    return role is not StaffRole.UNIT_ADMIN


def spreadsheet_rows(report: Report, *, with_revenue: bool) -> tuple[list[str], list[list]]:
    """The report's header and rows for the Excel export, the total last; the revenue column
    only for those who may see it (the split by channel is on the page)."""
    by_unit = report.by == "unit"
    headers = ["单位", "所在区县"] if by_unit else ["区县"]
    headers += ["注册人数", "购买人数", "完成人数", "完成率(%)"]
    if with_revenue:
        headers.append("收入(元)")
    rows = []
    for row in [*report.rows, report.total]:
        values: list = [row.name, *([row.district] if by_unit else [])]
        values += [row.registered, row.bought, row.finished, row.completion_percent]
        if with_revenue:
            values.append(yuan(row.revenue_fen))
        rows.append(values)
    return headers, rows


def _scoped(statement: Select, unit_id: int | None) -> Select:
    return statement.where(Learner.unit_id == unit_id) if unit_id is not None else statement


def build_report(year: int, *, by: str = "district", unit_id: int | None = None) -> Report:
    """``unit_id`` limits everything to one unit (what a unit admin may see)."""
    if by not in ("district", "unit"):
        raise ValueError(f"unknown grouping {by!r}")
    group = Learner.district_id if by == "district" else Learner.unit_id

    registered = _scoped(select(group, func.count(Learner.id)).group_by(group), unit_id)
    enrolled = _scoped(
        select(
            group,
            func.count(distinct(Enrollment.learner_id)),
            func.count(distinct(Enrollment.learner_id)).filter(
                Enrollment.completed_at.is_not(None)
            ),
        )
        .join(Learner, Learner.id == Enrollment.learner_id)
        .join(Plan, Plan.id == Enrollment.plan_id)
        .where(Plan.year == year, Enrollment.status == EnrollmentStatus.ACTIVE)
        .group_by(group),
        unit_id,
    )
    revenue = _scoped(
        select(group, func.coalesce(func.sum(Order.unit_price_fen), 0))
        .select_from(OrderSeat)
        .join(Order, Order.id == OrderSeat.order_id)
        .join(Plan, Plan.id == Order.plan_id)
        .join(Learner, Learner.id == OrderSeat.learner_id)
        .where(Plan.year == year, Order.paid_at.is_not(None), OrderSeat.status == SeatStatus.ACTIVE)
        .group_by(group),
        unit_id,
    )

    rows: dict[int | None, ReportRow] = {}

    def row(key: int | None) -> ReportRow:
        if key not in rows:
            rows[key] = ReportRow(key=key, name="")
        return rows[key]

    for key, count in db.session.execute(registered):
        row(key).registered = count
    for key, bought, finished in db.session.execute(enrolled):
        row(key).bought = bought
        row(key).finished = finished
    for key, fen in db.session.execute(revenue):
        row(key).revenue_fen = int(fen)

    _name_rows(rows, by)
    ordered = sorted(rows.values(), key=lambda r: (r.key is None, -r.registered, r.name))
    return Report(year=year, by=by, rows=ordered, channels=_channel_revenue(year, unit_id))


def _channel_revenue(year: int, unit_id: int | None) -> list[ChannelRevenue]:
    statement = _scoped(
        select(
            Payment.channel,
            func.count(OrderSeat.id),
            func.coalesce(func.sum(Order.unit_price_fen), 0),
        )
        .select_from(OrderSeat)
        .join(Order, Order.id == OrderSeat.order_id)
        .join(Payment, (Payment.order_id == Order.id) & Payment.duplicate.is_(False))
        .join(Plan, Plan.id == Order.plan_id)
        .join(Learner, Learner.id == OrderSeat.learner_id)
        .where(Plan.year == year, Order.paid_at.is_not(None), OrderSeat.status == SeatStatus.ACTIVE)
        .group_by(Payment.channel),
        unit_id,
    )
    found = [
        ChannelRevenue(channel, int(seats), int(fen))
        for channel, seats, fen in db.session.execute(statement)
    ]
    return sorted(found, key=lambda item: -item.revenue_fen)


def _name_rows(rows: dict[int | None, ReportRow], by: str) -> None:
    keys = [key for key in rows if key is not None]
    if by == "district":
        district_names: dict[int | None, str] = dict(
            db.session.execute(select(District.id, District.name).where(District.id.in_(keys)))
            .tuples()
            .all()
        )
        for key, report_row in rows.items():
            report_row.name = district_names.get(key, "未填写区县")
        return
    units = db.session.execute(
        select(Unit.id, Unit.name, District.name).join(District).where(Unit.id.in_(keys))
    ).all()
    unit_names: dict[int | None, tuple[str, str]] = {
        unit_key: (name, district) for unit_key, name, district in units
    }
    for key, report_row in rows.items():
        report_row.name, report_row.district = unit_names.get(
            key, ("未填写单位（按档案所在区县）", "")
        )
