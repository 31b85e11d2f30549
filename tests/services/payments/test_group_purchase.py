"""团体购买: a thousand pasted lines of mixed validity, checked in a constant number of queries;
the failures on the page and in an .xlsx file; one order for the valid seats, paid once."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import Learner
from models.base import utcnow
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import Order, OrderKind, OrderSeat, OrderStatus, SeatStatus
from models.wechat import TemplateMessage
from services.accounts.identity import id_check_character, parse_id_number
from services.display import mask_id_number
from services.payments import group_purchase
from services.payments.group_lookups import Asker
from tests import factories
from tests.conftest import count_statements
from tests.services.payments.conftest import (
    buyer,
    cashier_link,
    log_in,
    pay_at_cashier,
    reload,
    start_payment,
    submit_form,
)


def distinct_id_numbers(count: int, area: str) -> list[str]:
    """Valid, distinct ID numbers: one birth date each (factories repeat within a thousand)."""
    numbers = []
    for index in range(count):
        first17 = f"{area}{date(1975, 1, 1) + timedelta(days=index):%Y%m%d}{index % 9 + 1}23"
        numbers.append(first17 + id_check_character(first17))
    return numbers


def many_learners(count: int) -> list[Learner]:
    """Accounts made in one go (as a roster import leaves them)."""
    unit = factories.unit()
    learners = []
    for number in distinct_id_numbers(count, "500106"):
        resident = parse_id_number(number)
        learners.append(
            Learner(
                name="王五",
                id_number=resident.number,
                gender=resident.gender,
                birth_date=resident.birth_date,
                unit_id=unit.id,
                district_id=unit.district_id,
                password_hash=None,
            )
        )
    db.session.add_all(learners)
    db.session.flush()
    return learners


def to_full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


def mixed_lines(plan):
    """1,000 lines: the good ones, and one of every way a line goes wrong."""
    learners = many_learners(760)
    good = learners[:700]
    holders = learners[700:720]
    for learner in holders:
        factories.enrollment(learner, plan)
    pending_buyer = buyer()
    pending = Order(
        out_trade_no="GXPENDING000000000001",
        buyer_id=pending_buyer.id,
        plan_id=plan.id,
        kind=OrderKind.GROUP,
        seat_count=20,
        unit_price_fen=plan.price_fen,
        amount_fen=20 * plan.price_fen,
        expires_at=utcnow() + timedelta(minutes=20),
    )
    db.session.add(pending)
    db.session.flush()
    db.session.add_all(
        OrderSeat(order_id=pending.id, learner_id=seat.id) for seat in learners[720:740]
    )
    db.session.flush()
    lines: list[str] = []
    # Good lines, some written the way people paste them.
    for index, learner in enumerate(good):
        number = learner.id_number
        if index % 50 == 1:
            number = f"  {number}\t"
        elif index % 50 == 2:
            number = to_full_width(number)
        elif index % 50 == 3 and number.endswith("X"):
            number = number[:-1] + "x"
        lines.append(number)
    lines += [learner.id_number for learner in holders]  # 20 already hold the plan
    lines += [learner.id_number for learner in learners[720:740]]  # 20 in an open order
    lines += [good[i].id_number for i in range(0, 100, 10)]  # 10 repeats
    unknown = distinct_id_numbers(100, "500107")  # 100 without an account
    lines += unknown
    bad = []
    for i in range(100):  # 100 malformed lines
        base = good[i].id_number
        bad.append(
            [
                base[:-1] + ("0" if base[-1] != "0" else "1"),  # wrong check character
                base[:17],  # too short
                base[:6] + "19991340" + base[14:],  # no such date
                '=HYPERLINK("http://evil.example","点我")',  # a formula
                "+86 139 0000 0000",
            ][i % 5]
        )
    lines += bad
    lines += [good[i].id_number for i in range(100, 150)]  # 50 more repeats
    assert len(lines) == 1000
    return lines, good, unknown


def asker(learner=None) -> Asker:
    return Asker((learner or buyer()).id, "203.0.113.1")


def test_a_thousand_lines_are_checked_in_a_constant_number_of_queries(app, pay_sim, monkeypatch):
    monkeypatch.setitem(app.config, "GROUP_LOOKUP_AUDIT_LINES", 5)  # both checks are audited
    plan = factories.plan()
    lines, good, _ = mixed_lines(plan)
    text = "\n".join(lines)
    designee = asker()
    db.session.expire_all()
    with count_statements() as small:
        group_purchase.check_lines(plan.id, "\n".join(lines[:10]), asker=designee)
    db.session.expire_all()
    with count_statements() as large:
        check = group_purchase.check_lines(plan.id, text, asker=designee)
    assert len(large) == len(small) <= 5

    assert len(check.lines) == 1000
    assert len(check.valid) == 700
    assert {line.learner_id for line in check.valid} == {learner.id for learner in good}
    reasons = {}
    for line in check.failures:
        key = line.problem.split("，")[0].split("：")[0]
        reasons[key] = reasons.get(key, 0) + 1
    assert reasons["已拥有该学习计划（已购买或已开通补学）"] == 20
    assert reasons["已在另一笔待支付的团体订单中"] == 20
    assert reasons["该身份证号码尚未注册账号"] == 100
    assert sum(v for k, v in reasons.items() if k.startswith("与第")) == 60
    assert len(check.failures) == 300
    repeat = next(line for line in check.failures if line.text == good[10].id_number)
    assert repeat.problem == "与第11行重复。"
    assert check.amount_fen == 700 * plan.price_fen

    # The order for the valid seats costs a constant number of statements too.
    with count_statements() as placing:
        order = group_purchase.place_group_order(
            buyer_id=buyer().id, plan_id=plan.id, text=text, invoice=None, asker=designee
        )
    assert len(placing) < 20
    assert order.seat_count == 700 and order.amount_fen == 700 * plan.price_fen
    assert db.session.scalar(select(func.count()).where(OrderSeat.order_id == order.id)) == 700


def test_the_page_shows_each_failure_and_the_error_file_opens_in_a_spreadsheet(client, pay_sim):
    plan = factories.plan()
    designee = buyer()
    colleagues = [factories.learner() for _ in range(3)]
    log_in(client, designee)
    lines = [
        colleagues[0].id_number,
        colleagues[1].id_number.lower(),
        "",
        "=1+2",
        colleagues[0].id_number,
        "-12345",
        "@SUM(A1)",
        factories.valid_id_number(),
        colleagues[2].id_number,
    ]
    text = "\n".join(lines)
    response = submit_form(client, f"/h5/plans/{plan.id}/group", {"id_numbers": text})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r"<strong>8</strong><span>提交</span>", page)
    assert re.search(r"<strong>3</strong><span>可以购买</span>", page)
    assert re.search(r"<strong>5</strong><span>未通过</span>", page)
    assert "第 5 行" in page and "与第1行重复" in page
    assert "尚未注册账号" in page
    assert "3 人 × ¥30.00 = ¥90.00" in page

    download = submit_form(
        client,
        f"/h5/plans/{plan.id}/group/errors.xlsx",
        {"id_numbers": text},
        page=f"/h5/plans/{plan.id}/group",
    )
    assert download.status_code == 200
    assert download.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in download.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(download.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("行号", "输入内容", "原因")
    assert [row[0] for row in rows[1:]] == [4, 5, 6, 7, 8]
    by_line = {row[0]: row for row in rows[1:]}
    assert by_line[5][2] == "与第1行重复。"
    assert "尚未注册账号" in by_line[8][2]
    # Nothing in the file is a formula: what was typed stays text, made safe.
    for row in sheet.iter_rows(min_row=2):
        for cell in row[1:]:
            assert cell.data_type == "s"
    assert by_line[4][1] == "'=1+2" and by_line[6][1] == "'-12345" and by_line[7][1] == "'@SUM(A1)"


def test_the_valid_seats_are_ordered_paid_once_and_all_enrolled(client, pay_sim):
    plan = factories.plan()
    designee = buyer()
    colleagues = [factories.learner() for _ in range(25)]
    log_in(client, designee)
    text = "\n".join([c.id_number for c in colleagues] + ["110101199003071234"])
    response = submit_form(
        client,
        f"/h5/plans/{plan.id}/group/order",
        {
            "id_numbers": text,
            "invoice_choice": "now",
            "title": "重庆市渝中区人民医院",
            "tax_code": "91500000MA5U7LXX19",
            "email": "renshi@example.cn",
        },
        page=f"/h5/plans/{plan.id}/group",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    order = db.session.scalar(select(Order).where(Order.buyer_id == designee.id))
    assert order.kind is OrderKind.GROUP and order.seat_count == 25
    assert order.amount_fen == 25 * plan.price_fen

    page = start_payment(client, order.id).get_data(as_text=True)
    assert "25 人" in page and "¥750.00" in page
    pay_at_cashier(cashier_link(page))
    pay_sim.deliver()
    order = reload(order)
    assert order.status is OrderStatus.PAID
    assert all(seat.status is SeatStatus.ACTIVE for seat in order.seats)
    enrolled = set(
        db.session.scalars(
            select(Enrollment.learner_id).where(
                Enrollment.plan_id == plan.id, Enrollment.status == EnrollmentStatus.ACTIVE
            )
        )
    )
    assert enrolled == {c.id for c in colleagues}
    told = set(db.session.scalars(select(TemplateMessage.learner_id)))
    assert told == {designee.id} | {c.id for c in colleagues}

    listing = client.get("/h5/group-orders").get_data(as_text=True)
    assert order.out_trade_no in listing
    assert listing.count("已开通") == 25
    assert colleagues[0].id_number not in listing  # ID numbers are masked
    assert colleagues[0].id_number[:3] + "*" in listing


def test_nothing_to_order_when_no_line_is_valid(client, pay_sim):
    plan = factories.plan()
    log_in(client, buyer())
    response = submit_form(
        client,
        f"/h5/plans/{plan.id}/group/order",
        {"id_numbers": "123\n456"},
        page=f"/h5/plans/{plan.id}/group",
    )
    assert response.status_code == 400
    assert "没有可以购买的学员" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_too_many_lines_are_refused_with_a_reason(client, pay_sim, app):
    plan = factories.plan()
    log_in(client, buyer())
    limit = app.config["GROUP_PURCHASE_MAX_LINES"]
    text = "\n".join(["500103198506010011"] * (limit + 1))
    response = submit_form(client, f"/h5/plans/{plan.id}/group", {"id_numbers": text})
    assert response.status_code == 400
    assert f"一次最多提交{limit}个身份证号码" in response.get_data(as_text=True)


def test_an_empty_list_is_refused(client, pay_sim):
    plan = factories.plan()
    log_in(client, buyer())
    response = submit_form(client, f"/h5/plans/{plan.id}/group", {"id_numbers": " \n \n"})
    assert response.status_code == 400
    assert "请粘贴学员的身份证号码" in response.get_data(as_text=True)


def test_birth_dates_in_the_future_are_refused(pay_sim):
    plan = factories.plan()
    tomorrow = date.today() + timedelta(days=1)
    first17 = f"500103{tomorrow:%Y%m%d}001"
    check = group_purchase.check_lines(
        plan.id, first17 + id_check_character(first17), asker=asker()
    )
    assert "出生日期不正确" in check.failures[0].problem


def test_an_unpaid_group_order_does_not_reveal_whose_id_numbers_were_typed(client, pay_sim):
    """The check shows no names; an order placed and never paid shows none either."""
    plan = factories.plan()
    stranger = factories.learner(name="欧阳娜娜")
    log_in(client, buyer())
    response = submit_form(
        client,
        f"/h5/plans/{plan.id}/group/order",
        {"id_numbers": stranger.id_number, "invoice_choice": "later"},
        page=f"/h5/plans/{plan.id}/group",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    order = db.session.scalar(select(Order).where(Order.kind == OrderKind.GROUP))
    for path in ("/h5/group-orders", f"/h5/orders/{order.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "已注册" in page and "欧阳娜娜" not in page and "欧**娜" not in page, path

    # The colleague holds the plan by now: the pay page closes the order, naming nobody.
    factories.paid_order(stranger, plan)
    page = start_payment(client, order.id).get_data(as_text=True)
    assert f"{mask_id_number(stranger.id_number)}已拥有该学习计划" in page
    assert "欧阳娜娜" not in page and "欧**娜" not in page


def test_a_paid_seat_shows_its_colleagues_name(client, pay_sim):
    plan = factories.plan()
    colleague = factories.learner(name="欧阳娜娜")
    log_in(client, buyer())
    response = submit_form(
        client,
        f"/h5/plans/{plan.id}/group/order",
        {"id_numbers": colleague.id_number, "invoice_choice": "later"},
        page=f"/h5/plans/{plan.id}/group",
    )
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    pay_at_cashier(cashier_link(start_payment(client, order_id).get_data(as_text=True)))
    pay_sim.deliver()
    for path in ("/h5/group-orders", f"/h5/orders/{order_id}"):
        assert "欧阳娜娜" in client.get(path).get_data(as_text=True), path


def test_the_error_file_carries_lines_with_control_characters(client, pay_sim):
    """Copied from a chat or a spreadsheet, a line may carry characters a file cannot hold."""
    plan = factories.plan()
    log_in(client, buyer())
    text = "50010319850601\x01011\n" + factories.valid_id_number()
    download = submit_form(
        client,
        f"/h5/plans/{plan.id}/group/errors.xlsx",
        {"id_numbers": text},
        page=f"/h5/plans/{plan.id}/group",
    )
    assert download.status_code == 200
    rows = list(load_workbook(io.BytesIO(download.data)).active.iter_rows(values_only=True))
    assert rows[1][:2] == (1, "50010319850601011")
    assert "尚未注册账号" in rows[2][2]
