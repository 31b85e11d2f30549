"""团体购买: a unit's designee pastes colleagues' ID numbers, one a line, and pays for all.

Each line is normalised (surrounding blanks trimmed, full-width characters made half-width,
x made X) and checked: a valid resident ID number, an account exists, the person does not hold
the plan yet, is not in another unpaid order for it, and is not a repeat of an earlier line.
The check costs the same few queries for ten lines or a thousand. Failures are listed with
their line and reason and download as an .xlsx file; the valid seats become one order
(seats × price), paid once, and the payment opens the plan to every seat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner
from models.base import utcnow
from models.catalog import Plan
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import Order, OrderKind, OrderSeat, OrderStatus
from services import catalog, spreadsheets
from services.accounts.identity import normalise_code, parse_id_number
from services.display import local_time
from services.errors import ValidationError
from services.paperwork import invoices
from services.payments import orders
from services.payments.group_lookups import Asker, record_large_check, spend_lookups

NO_ACCOUNT = "该身份证号码尚未注册账号：请本人先注册，或把名单发给工作人员统一注册。"
ALREADY_HELD = "已拥有该学习计划（已购买或已开通补学），无需再买。"


def open_order_problem(learner_id: int, buyer_id: int, expires_at: datetime) -> str:
    """Advice the designee can follow about a seat held by an unpaid order."""
    closes = local_time(expires_at)
    if buyer_id == learner_id:
        return (
            f"该同事本人有一笔未支付的订单，将于{closes}自动关闭（超时未支付）："
            "可请其本人完成支付，或在该订单关闭后再为其购买。"
        )
    return f"已在另一笔待支付的团体订单中，该订单将于{closes}自动关闭；关闭后可再为其购买。"


# Invisible characters that come along when numbers are copied from spreadsheets and chats.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00a0"), None)


@dataclass(frozen=True)
class CheckedLine:
    number: int  # the line's number in what was pasted (blank lines count)
    text: str  # as typed, trimmed
    id_number: str | None = None  # normalised, when valid
    learner_id: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class GroupCheck:
    plan: Plan
    lines: list[CheckedLine]

    @property
    def valid(self) -> list[CheckedLine]:
        return [line for line in self.lines if line.problem is None]

    @property
    def failures(self) -> list[CheckedLine]:
        return [line for line in self.lines if line.problem is not None]

    @property
    def amount_fen(self) -> int:
        return len(self.valid) * self.plan.price_fen


def check_lines(
    plan_id: int, text: str | None, *, asker: Asker, now: datetime | None = None
) -> GroupCheck:
    """Check every pasted line against the plan (a constant number of queries). The valid
    numbers count against the asker's lookups (``group_lookups``); a valid line says only
    that the number is registered, never whose it is."""
    now = now or utcnow()
    plan = catalog.plan_for_sale(plan_id, now)
    raw_lines = [
        (number, normalise_code(raw.translate(_INVISIBLE)))
        for number, raw in enumerate((text or "").splitlines(), start=1)
    ]
    raw_lines = [(number, line) for number, line in raw_lines if line]
    if not raw_lines:
        raise ValidationError("id_numbers", "请粘贴学员的身份证号码，每行一个。")
    limit = int(current_app.config["GROUP_PURCHASE_MAX_LINES"])
    if len(raw_lines) > limit:
        raise ValidationError("id_numbers", f"一次最多提交{limit}个身份证号码，请分批购买。")

    parsed: list[tuple[int, str, str | None, str | None]] = []
    first_line: dict[str, int] = {}
    for number, line in raw_lines:
        try:
            resident_number = parse_id_number(line, today=now.date()).number
        except ValidationError as error:
            parsed.append((number, line, None, error.message))
            continue
        if resident_number in first_line:
            parsed.append(
                (number, line, resident_number, f"与第{first_line[resident_number]}行重复。")
            )
            continue
        first_line[resident_number] = number
        parsed.append((number, line, resident_number, None))

    numbers = list(first_line)
    spend_lookups(asker, numbers)
    record_large_check(asker, plan_id=plan.id, numbers=len(numbers))
    learners = {
        id_number: learner_id
        for learner_id, id_number in db.session.execute(
            select(Learner.id, Learner.id_number).where(Learner.id_number.in_(numbers))
        )
    }
    learner_ids = list(learners.values())
    holding = set(
        db.session.scalars(
            select(Enrollment.learner_id).where(
                Enrollment.plan_id == plan.id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.learner_id.in_(learner_ids),
            )
        )
    )
    # Unpaid orders that hold a seat of this plan: who placed each, and when it closes.
    in_open_orders: dict[int, str] = {}
    for learner_id, buyer_id, expires_at in db.session.execute(
        select(OrderSeat.learner_id, Order.buyer_id, Order.expires_at)
        .join(Order, Order.id == OrderSeat.order_id)
        .where(
            Order.plan_id == plan.id,
            Order.status == OrderStatus.PENDING,
            Order.expires_at > now,
            OrderSeat.learner_id.in_(learner_ids),
        )
        .order_by(Order.expires_at)
    ):
        in_open_orders.setdefault(learner_id, open_order_problem(learner_id, buyer_id, expires_at))

    checked = []
    for number, line, id_number, problem in parsed:
        learner_id = None
        if problem is None:
            learner_id = learners.get(id_number) if id_number is not None else None
            if learner_id is None:
                problem = NO_ACCOUNT
            else:
                if learner_id in holding:
                    problem = ALREADY_HELD
                elif learner_id in in_open_orders:
                    problem = in_open_orders[learner_id]
        checked.append(
            CheckedLine(
                number=number,
                text=line[:60],
                id_number=id_number,
                learner_id=learner_id if problem is None else None,
                problem=problem,
            )
        )
    return GroupCheck(plan=plan, lines=checked)


def place_group_order(
    *,
    buyer_id: int,
    plan_id: int,
    text: str | None,
    invoice: invoices.InvoiceRequest | None,
    asker: Asker,
    now: datetime | None = None,
) -> Order:
    """One order for every valid seat, checked again as it is placed."""
    now = now or utcnow()
    check = check_lines(plan_id, text, asker=asker, now=now)
    seats = check.valid
    if not seats:
        raise ValidationError(
            "id_numbers", "没有可以购买的学员，请根据错误原因修改名单后重新提交。"
        )
    with db.session.begin_nested():
        order = Order(
            out_trade_no=orders.new_out_trade_no(now),
            buyer_id=buyer_id,
            plan_id=check.plan.id,
            kind=OrderKind.GROUP,
            seat_count=len(seats),
            unit_price_fen=check.plan.price_fen,
            amount_fen=check.amount_fen,
            expires_at=now + timedelta(minutes=orders.pay_minutes()),
            created_at=now,
        )
        db.session.add(order)
        db.session.flush()
        db.session.add_all(
            OrderSeat(order_id=order.id, learner_id=line.learner_id) for line in seats
        )
        orders.attach_invoice_request(order, buyer_id, invoice)
        db.session.flush()
    return order


def failures_workbook(check: GroupCheck) -> bytes:
    """The failed lines with their reasons, as an .xlsx file."""
    return spreadsheets.table_bytes(
        title="未通过的行",
        headers=("行号", "输入内容", "原因"),
        rows=((line.number, line.text, line.problem or "") for line in check.failures),
        widths=(8, 26, 70),
    )
