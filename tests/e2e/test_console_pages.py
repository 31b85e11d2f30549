"""The staff console's main pages at a desktop's size, with a year's worth of figures behind
them: the dashboard, the report and its chart, orders, the review queue, a learner's page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from infra.transaction import commit
from models.base import utcnow
from models.staff import StaffRole
from services.paperwork import certificates, makeup
from tests import factories
from tests.e2e.conftest import desktop, snap


def _a_year_of_figures() -> dict:
    """Two districts, three units, individual and group orders, a finished learner with a
    certificate, and a make-up application waiting."""
    year = date.today().year
    yuzhong = factories.unit("重庆市渝中区人民医院", "500103")
    school = factories.unit("重庆市第一中学校", "500103")
    jiangbei = factories.unit("重庆市江北区建筑设计院", "500105")
    plan = factories.plan(year=year, price_fen=3000, required_hours=30, courses=3)
    old = factories.makeup_plan(2019)
    people = {
        "张伟": factories.learner(name="张伟", unit_obj=yuzhong),
        "李娜": factories.learner(name="李娜", unit_obj=yuzhong),
        "王芳": factories.learner(name="王芳", unit_obj=school),
        "刘洋": factories.learner(name="刘洋", unit_obj=jiangbei),
        "陈静": factories.learner(name="陈静", unit_obj=jiangbei),
        "赵磊": factories.learner(name="赵磊", unit_obj=jiangbei),
    }
    factories.completed_enrollment(people["张伟"], plan)
    certificates.issue_certificate(people["张伟"].id, plan.id)
    factories.paid_order(people["李娜"], plan)
    factories.paid_order(people["刘洋"], plan, seats=[people["刘洋"], people["陈静"]])
    factories.paid_order(people["王芳"], old)
    makeup.submit_commitment(
        people["赵磊"].id,
        old.id,
        makeup.Commitment(
            paid_on="2019-06-01", reason="原平台已关闭", signature="赵磊", agreed=True
        ),
        now=utcnow() - timedelta(days=1),
    )
    commit()
    return people


@pytest.mark.committed
def test_the_console_main_pages(live_platform, browser, shots):
    base = live_platform.url
    people = _a_year_of_figures()
    admin = factories.staff(StaffRole.ADMIN)
    commit()

    console = desktop(browser).new_page()
    console.goto(base + "/admin/login")
    console.fill("#username", admin.username)
    console.fill("#password", factories.PASSWORD)
    console.get_by_role("button", name="登录").click()

    # 首页: the year's figures.
    expect(console.locator("h1")).to_contain_text("您好")
    stats = console.locator(".admin-stats")
    expect(stats).to_contain_text("注册人数6")
    expect(stats).to_contain_text("购买人数4")
    expect(stats).to_contain_text("完成人数1")
    expect(stats).to_contain_text("收入（元）120.00")
    snap(console, shots, "console-01-dashboard")

    # 统计报表: by district with the chart, then by unit.
    nav = console.locator(".admin-nav")
    nav.get_by_role("link", name="统计报表").click()
    chart = console.get_by_role("img", name="各区县注册、购买与完成人数")
    expect(chart).to_be_visible()
    expect(chart.locator("text", has_text="渝中区")).to_have_count(1)
    expect(chart.locator("text", has_text="江北区")).to_have_count(1)
    table = console.locator(".admin-table")
    expect(table.locator("thead")).to_contain_text("收入（元）")
    yuzhong = table.locator("tbody tr", has_text="渝中区")
    # 王芳 bought 2019 make-up study only: registered here, not a buyer of this year.
    expect(yuzhong.locator("td")).to_have_text(["渝中区", "3", "2", "1", "50.0%", "60.00"])
    snap(console, shots, "console-02-report-by-district")
    console.select_option("select[name=by]", "unit")
    console.get_by_role("button", name="查询").click()
    expect(console.get_by_role("img", name="各单位注册、购买与完成人数")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(3)
    snap(console, shots, "console-03-report-by-unit")

    # 订单: the individual and group orders, newest first.
    nav.get_by_role("link", name="订单", exact=True).click()
    rows = console.locator(".admin-table tbody tr")
    expect(rows).to_have_count(4)
    expect(console.locator(".admin-table")).to_contain_text("团体购买")
    expect(console.locator(".admin-table")).not_to_contain_text(people["刘洋"].id_number)
    snap(console, shots, "console-04-orders")

    # 补学审核: the waiting application and its deadline.
    nav.get_by_role("link", name="补学审核").click()
    expect(console.locator("h1")).to_have_text("补学审核（待审核 1）")
    expect(console.locator(".admin-table tbody tr")).to_contain_text("赵磊")
    expect(console.locator(".admin-table tbody tr")).to_contain_text("个工作日")
    snap(console, shots, "console-05-review-queue")

    # 学员查询 → a learner's page: plans, orders and certificates.
    nav.get_by_role("link", name="学员查询").click()
    console.get_by_role("searchbox", name="查询条件").fill("张伟")
    console.get_by_role("button", name="查询").click()
    console.get_by_role("link", name="张伟").click()
    expect(console.locator("h1")).to_have_text("张伟")
    sections = console.locator(".admin-table")
    expect(sections.nth(0)).to_contain_text("30 / 30")
    expect(sections.nth(1)).to_contain_text("尚无学习记录")  # the chapter study records
    expect(sections.nth(2)).to_contain_text("已支付")
    expect(sections.nth(3)).to_contain_text("有效")
    expect(console.locator(".admin-facts")).not_to_contain_text(people["张伟"].id_number)
    snap(console, shots, "console-06-learner-detail")
