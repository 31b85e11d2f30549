"""The desk tools in a real browser: the to-do list on the console's home page, the help
desk on a learner's page, the audit log in Chinese, the official account's menu, posters and
reminders, a unit admin's 未完成学员 and its .xlsx, and the forms a designee downloads."""

from __future__ import annotations

import io

import openpyxl
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.accounts import Learner
from models.base import utcnow
from models.staff import StaffRole
from models.study import ChapterProgress
from services.paperwork import makeup
from tests import factories
from tests.e2e.conftest import desktop, phone, snap


def log_in_console(browser, base, member):
    page = desktop(browser).new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm questions
    page.goto(base + "/admin/login")
    page.fill("#username", member.username)
    page.fill("#password", factories.PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("h1")).to_contain_text("您好")
    return page


@pytest.mark.committed
def test_the_desk_works_a_learners_problem_and_reads_the_log(live_platform, browser, shots):
    base = live_platform.url
    plan = factories.plan(year=utcnow().year, courses=1, chapters_per_course=2, chapter_seconds=600)
    old = factories.makeup_plan(2019)
    learner = factories.learner(name="刘洋", phone="13911112222")
    factories.bind_wechat(learner, "oDEMO_zhangwei")
    factories.paid_order(learner, plan)
    first = plan.courses[0].chapters[0]
    db.session.add(
        ChapterProgress(
            learner_id=learner.id, chapter_id=first.id, intervals=[[0, 300]],
            covered_seconds=300, credited_seconds=290, last_position=300,
        )
    )  # fmt: skip
    waiting = factories.learner(name="周敏")
    makeup.submit_commitment(
        waiting.id,
        old.id,
        makeup.Commitment(
            paid_on="2019-06-01", reason="原平台已关闭", signature="周敏", agreed=True
        ),
    )
    admin = factories.staff(StaffRole.ADMIN)
    commit()

    console = log_in_console(browser, base, admin)
    todo = console.locator(".admin-todo")
    expect(todo.get_by_role("link", name="补学缴费承诺书")).to_contain_text("1")
    snap(console, shots, "desk-01-dashboard-todo")
    todo.get_by_role("link", name="补学缴费承诺书").click()
    expect(console.locator("h1")).to_have_text("补学审核（待审核 1）")

    console.goto(f"{base}/admin/learners/{learner.id}")
    records = console.locator("#chapter-records tbody tr")
    expect(records).to_have_count(1)
    expect(records.first).to_contain_text("05:00（50%）")
    snap(console, shots, "desk-02-learner-detail")
    desk = console.locator(".admin-desk")
    desk.get_by_label("新手机号码").fill("1391111")
    desk.get_by_role("button", name="修改手机号码").click()
    expect(console.locator(".admin-flash_error")).to_contain_text("手机号码应为以1开头的11位数字")
    desk.get_by_label("新手机号码").fill("13933334444")
    desk.get_by_role("button", name="修改手机号码").click()
    expect(console.locator(".admin-flash_success")).to_contain_text("手机号码已修改")
    desk.get_by_role("button", name="重置密码").click()
    expect(console.locator(".admin-flash_success")).to_contain_text("已将密码重置为初始密码")
    desk.get_by_role("button", name="解除微信绑定").click()
    expect(console.locator(".admin-facts")).to_contain_text("未绑定")
    snap(console, shots, "desk-03-learner-after-actions")
    db.session.expire_all()
    changed = db.session.scalar(select(Learner).where(Learner.id == learner.id))
    assert changed.phone == "13933334444" and changed.password_hash is None

    console.locator(".admin-nav").get_by_role("link", name="操作日志").click()
    log = console.locator(".admin-table tbody")
    expect(log).to_contain_text("解除学员微信绑定")
    expect(log).to_contain_text("重置学员密码")
    expect(log).to_contain_text("139****2222 → 139****4444")
    expect(log).not_to_contain_text("learner.")
    snap(console, shots, "desk-04-audit-log")


@pytest.mark.committed
def test_the_official_account_is_managed_from_the_console(live_platform, browser, shots):
    base = live_platform.url
    plan = factories.plan(year=utcnow().year)
    unit = factories.unit("重庆市渝中区测试医院")
    behind = factories.learner(unit_obj=unit)
    factories.bind_wechat(behind, "oDEMO_lina")
    factories.paid_order(behind, plan)  # reminders go only to learners who bought the plan
    staff = factories.staff(StaffRole.STAFF)
    commit()

    console = log_in_console(browser, base, staff)
    console.locator(".admin-nav").get_by_role("link", name="菜单、海报与提醒").click()
    console.get_by_role("button", name="推送菜单到公众号").click()
    expect(console.locator(".admin-flash_success")).to_contain_text("菜单已推送到公众号")
    expect(console.locator("#menu")).to_contain_text("公众号现在的菜单与平台的菜单一致")
    expect(console.locator("#menu")).to_contain_text("在线客服 回复")
    assert live_platform.sim.menu is not None
    assert [button["name"] for button in live_platform.sim.menu["button"]] == ["继续教育", "服务"]
    snap(console, shots, "desk-05-wechat-page")

    console.locator(".admin-nav").get_by_role("link", name="单位与区县").click()
    console.get_by_role("row", name=unit.name).get_by_role("link", name="海报").click()
    expect(console.locator("#scene")).to_have_value(f"unit:{unit.code}")
    with console.expect_download() as download:
        console.get_by_role("button", name="生成并下载海报").click()
    assert download.value.suggested_filename == f"poster-unit-{unit.code}.png"

    console.select_option("select[name=year]", str(plan.year))
    console.get_by_role("button", name="发送截止提醒").click()
    expect(console.locator(".admin-flash_success")).to_contain_text("已向 1 人发送截止提醒")
    assert [m["touser"] for m in live_platform.sim.template_messages] == ["oDEMO_lina"]


@pytest.mark.committed
def test_a_unit_admin_chases_colleagues_and_a_designee_gets_the_forms(
    live_platform, browser, shots
):
    base = live_platform.url
    plan = factories.plan(year=utcnow().year, required_hours=30)
    factories.makeup_plan(2019)
    unit = factories.unit("重庆市江北区测试中学", "500105")
    for name in ("赵一", "钱二"):
        factories.learner(name=name, unit_obj=unit)
    designee = factories.learner(name="孙三", unit_obj=unit)
    factories.paid_order(designee, plan)
    unit_admin = factories.staff(StaffRole.UNIT_ADMIN, unit_obj=unit)
    commit()

    console = log_in_console(browser, base, unit_admin)
    console.locator(".admin-nav").get_by_role("link", name="未完成学员").click()
    rows = console.locator("#unfinished tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.last).to_contain_text("孙三")
    expect(rows.last).to_contain_text("0 / 30")
    snap(console, shots, "desk-06-unfinished")
    with console.expect_download() as download:
        console.get_by_role("link", name="导出 Excel").click()
    sheet = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).active
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(names[:2]) == sorted(["赵一", "钱二"]) and names[2] == "孙三"
    with console.expect_download() as template:
        console.get_by_role("link", name="下载附件2《学员注册名单》模板").click()
    assert (
        openpyxl.load_workbook(io.BytesIO(template.value.path().read_bytes()))
        .active["A3"]
        .value.endswith(unit.name)
    )

    h5 = phone(browser).new_page()
    h5.goto(base + "/h5/login")
    h5.fill("#account", designee.phone)
    h5.fill("#password", factories.PASSWORD)
    h5.get_by_role("button", name="登录").click()
    h5.goto(f"{base}/h5/plans/{plan.id}/group")
    link = h5.get_by_role("link", name="下载《学员注册名单》模板（附件2，Excel）")
    expect(link).to_be_visible()
    assert link.bounding_box()["height"] >= 44
    snap(h5, shots, "desk-07-group-purchase-forms")
    with h5.expect_download() as roster:
        link.click()
    workbook = openpyxl.load_workbook(io.BytesIO(roster.value.path().read_bytes()))
    assert workbook.active["A3"].value == f"单位全称：{unit.name}"

    h5.goto(base + "/h5/makeup")
    h5.locator(".makeup-years").get_by_role("link", name="2019年度公需科目").click()
    expect(h5.locator(".makeup-actions").get_by_role("link")).to_have_count(3)
    snap(h5, shots, "desk-08-makeup-year")
    with h5.expect_download() as letter:
        h5.get_by_role("link", name="缴费承诺书").last.click()
    assert letter.value.suggested_filename.endswith(".docx")
