"""A unit admin's list of the unit's learners who have not finished the year, and its .xlsx."""

from __future__ import annotations

import io
import re

import openpyxl
from sqlalchemy import select

from infra.extensions import db
from models.enrollments import Enrollment
from models.staff import StaffRole
from tests import factories
from tests.conftest import count_statements


def a_unit_with_colleagues():
    unit = factories.unit("重庆市渝北区测试学校")
    plan = factories.plan(year=2022, required_hours=30)
    not_bought = factories.learner(name="赵未买", unit_obj=unit, phone="13900000001")
    halfway = factories.learner(name="钱一半", unit_obj=unit, phone="13900000002")
    factories.paid_order(halfway, plan)
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == halfway.id))
    enrollment.earned_hours = 15
    done = factories.learner(name="孙完成", unit_obj=unit)
    factories.completed_enrollment(done, plan)
    elsewhere = factories.learner(name="李别家")
    db.session.flush()
    return unit, plan, not_bought, halfway, done, elsewhere


def rows_of(page: str) -> list[str]:
    table = page.split('id="unfinished"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr>(.*?)</tr>", table, re.S)


def test_a_unit_admin_sees_who_has_not_finished_furthest_behind_first(client, login_staff):
    unit, *_, elsewhere = a_unit_with_colleagues()
    login_staff(StaffRole.UNIT_ADMIN, unit_obj=unit)
    page = client.get("/admin/unfinished?year=2022").get_data(as_text=True)
    assert "未完成学员</a>" in page  # in the navigation
    rows = rows_of(page)
    assert len(rows) == 2
    assert "赵未买" in rows[0] and "未购买" in rows[0] and "从未登录" in rows[0]
    assert "钱一半" in rows[1] and "15 / 30" in rows[1] and "50%" in rows[1]
    assert "139****0002" in rows[1] and "13900000002" not in page
    assert "孙完成" not in page and "李别家" not in page
    # Another unit's id in the address changes nothing for a unit admin.
    other = client.get(f"/admin/unfinished?year=2022&unit={elsewhere.unit_id}")
    assert "李别家" not in other.get_data(as_text=True)


def test_the_list_exports_as_a_real_workbook(client, login_staff):
    unit, *_ = a_unit_with_colleagues()
    login_staff(StaffRole.UNIT_ADMIN, unit_obj=unit)
    response = client.get("/admin/unfinished.xlsx?year=2022")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    values = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    assert values[0] == [
        "姓名",
        "身份证号码",
        "手机号码",
        "状态",
        "已获学时",
        "要求学时",
        "进度(%)",
        "最近登录",
    ]
    assert [row[0] for row in values[1:]] == ["赵未买", "钱一半"]
    assert values[2][3:7] == ["学习中", 15, 30, 50]
    assert values[1][2] == "139****0001"


def test_desk_staff_pick_the_unit_and_the_page_keeps_its_query_count(client, login_staff):
    unit, *_ = a_unit_with_colleagues()
    login_staff(StaffRole.STAFF)
    chosen = client.get("/admin/unfinished")
    assert chosen.status_code == 302 and chosen.headers["Location"].endswith("/admin/units")
    url = f"/admin/unfinished?year=2022&unit={unit.id}"
    with count_statements() as few:
        assert len(rows_of(client.get(url).get_data(as_text=True))) == 2
    for index in range(6):
        factories.learner(name=f"周学员{index}", unit_obj=unit)
    with count_statements() as many:
        assert len(rows_of(client.get(url).get_data(as_text=True))) == 8
    assert len(many) == len(few)


def test_finance_staff_do_not_get_the_list(client, login_staff):
    unit, *_ = a_unit_with_colleagues()
    login_staff(StaffRole.FINANCE)
    assert client.get(f"/admin/unfinished?unit={unit.id}").status_code == 403
