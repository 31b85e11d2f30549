"""A unit's designee buys seats for colleagues in headless Chromium: pasted ID numbers checked
line by line, the failures downloaded as a spreadsheet, the valid seats paid at once at the
cashier, every colleague finding the plan, and the designee following each seat."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.invoices import Invoice, InvoiceStatus, InvoiceTitleType
from models.orders import Order, OrderKind, OrderStatus
from services.accounts.identity import credit_code_check_character
from tests import factories
from tests.e2e.conftest import phone, snap

PLAN_TITLE = "重庆市2022年专技人员继续教育公需科目培训"
UNIT_TITLE = "重庆市渝中区人民医院"


def _with_wrong_check_character(id_number: str) -> str:
    wrong = "0" if id_number[-1] != "0" else "1"
    return id_number[:-1] + wrong


@pytest.mark.committed
def test_a_designee_buys_seats_for_colleagues_and_follows_them(live_platform, browser, shots):
    base = live_platform.url
    unit = factories.unit(UNIT_TITLE)
    plan = factories.plan(courses=2, price_fen=3000)
    designee = factories.learner(name="李娜", unit_obj=unit)
    factories.bind_wechat(designee, "oDEMO_lina")
    chen = factories.learner(name="陈静", unit_obj=unit)
    zhao = factories.learner(name="赵磊", unit_obj=unit)
    sun = factories.learner(name="孙丽", unit_obj=unit)  # already holds the plan
    factories.paid_order(sun, plan)
    commit()
    plan_id = plan.id
    unregistered = factories.valid_id_number("500106")
    invalid = _with_wrong_check_character(factories.valid_id_number("500107"))
    pasted = "\n".join(
        [
            chen.id_number,
            zhao.id_number,
            invalid,
            unregistered,
            chen.id_number,
            sun.id_number,
        ]
    )
    first17 = "91500103MA5U1234X"
    tax_code = first17 + credit_code_check_character(first17)

    # The designee opens the account's menu inside WeChat; her WeChat is bound.
    h5 = phone(browser).new_page()
    h5.goto(base + "/h5/")
    h5.get_by_role("button", name="李娜").click()
    # Nothing bought herself: the entry lands on the year's plan to buy.
    expect(h5.locator(".h5-brand__title")).to_have_text(PLAN_TITLE)
    h5.get_by_role("link", name="团体购买（为同事购买）").click()
    expect(h5.locator(".h5-brand__title")).to_have_text("团体购买")

    # --- The list is checked line by line --------------------------------------------------------
    h5.locator("textarea[name=id_numbers]").fill(pasted)
    h5.get_by_role("button", name="验证名单").click()
    summary = h5.locator(".pay-summary")
    expect(summary.locator("div").nth(0)).to_contain_text("6提交")
    expect(summary.locator(".pay-summary__ok")).to_contain_text("2可以购买")
    expect(summary.locator(".pay-summary__bad")).to_contain_text("4未通过")
    failures = h5.locator(".pay-failures .weui-cell")
    expect(failures).to_have_count(4)
    expect(failures.nth(0)).to_contain_text("第 3 行")
    expect(failures.nth(0).locator(".pay-problem")).to_contain_text("校验")
    expect(failures.nth(1)).to_contain_text("第 4 行")
    expect(failures.nth(1).locator(".pay-problem")).to_contain_text("尚未注册账号")
    expect(failures.nth(2)).to_contain_text("第 5 行")
    expect(failures.nth(2).locator(".pay-problem")).to_have_text("与第1行重复。")
    expect(failures.nth(3)).to_contain_text("第 6 行")
    expect(failures.nth(3).locator(".pay-problem")).to_contain_text("已拥有该学习计划")
    h5.get_by_text("可以购买的学员（2 人）").click()
    # No names before payment: pasting an ID number must not reveal whose it is.
    expect(h5.locator(".pay-valid")).to_contain_text("已注册")
    expect(h5.locator(".pay-valid")).not_to_contain_text("陈")
    expect(h5.locator(".pay-valid")).not_to_contain_text("赵")
    expect(h5.locator(".pay-price").last).to_contain_text("2 人 × ¥30.00 = ¥60.00")
    snap(h5, shots, "group-01-checked")

    # --- The failures download as a spreadsheet with their reasons -------------------------------
    with h5.expect_download() as download:
        h5.get_by_role("button", name="下载未通过名单（Excel）").click()
    assert download.value.suggested_filename == "团体购买未通过名单.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
    assert rows[0] == ("行号", "输入内容", "原因")
    assert [(number, text) for number, text, _ in rows[1:]] == [
        (3, invalid),
        (4, unregistered),
        (5, chen.id_number),
        (6, sun.id_number),
    ]
    assert "尚未注册账号" in rows[2][2] and rows[3][2] == "与第1行重复。"

    # --- The valid seats, with the unit's invoice asked for now, paid at the cashier ------------
    h5.get_by_text("立即申请", exact=True).click()
    h5.fill("#title", UNIT_TITLE)
    h5.fill("#tax_code", tax_code)
    h5.fill("#email", "caiwu@example.com")
    snap(h5, shots, "group-02-order-form")
    h5.get_by_role("button", name="提交订单（2 人）").click()
    expect(h5.locator(".pay-amount")).to_have_text("¥60.00")
    expect(h5.locator(".weui-msg__desc").first).to_contain_text("2 人")
    h5.get_by_role("button", name="微信支付").click()  # prepays (a POST)
    h5.get_by_role("link", name="前往模拟收银台").click()
    expect(h5.locator(".amount")).to_have_text("¥60.00")
    h5.get_by_role("button", name="确认支付").click()
    expect(h5.locator("[data-order-status]")).to_have_text("已支付")
    seats = h5.locator(".weui-cells", has_text="陈静").locator(".weui-cell")
    expect(seats).to_have_count(2)
    expect(seats.locator(".pay-status")).to_have_text(["已开通", "已开通"])
    snap(h5, shots, "group-03-paid")

    # --- Each colleague logs in and finds the plan in 课程培训 ---------------------------------
    for colleague in (chen, zhao):
        colleague_phone = phone(browser)
        page = colleague_phone.new_page()
        page.goto(base + "/h5/login")
        page.fill("input[name=account]", colleague.id_number)
        page.fill("input[name=password]", factories.PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.locator(".h5-tabbar").get_by_role("link", name="课程培训").click()
        card = page.locator(".study-plan-card")
        expect(card).to_have_count(1)
        expect(card).to_contain_text(PLAN_TITLE)
        card.get_by_role("link", name="进入学习").click()
        expect(page.locator(".study-course")).to_have_count(2)
        if colleague is chen:
            snap(page, shots, "group-04-colleague-plan")
        colleague_phone.close()

    # --- The designee follows every seat in 团体购买订单, and the unit's invoice ---------------
    h5.goto(base + "/h5/home")
    h5.get_by_role("link", name="团体购买订单").click()
    panel = h5.locator(".weui-panel", has_text=PLAN_TITLE)
    expect(panel.locator(".pay-panel-head .pay-status")).to_have_text("已支付")
    expect(panel.locator(".pay-seats .weui-cell")).to_have_count(2)
    expect(panel.locator(".pay-seats")).to_contain_text("陈静")
    expect(panel.locator(".pay-seats")).to_contain_text("赵磊")
    expect(panel.locator(".pay-seats")).not_to_contain_text(chen.id_number)  # masked
    expect(panel.locator(".pay-seats .pay-status")).to_have_text(["已开通", "已开通"])
    snap(h5, shots, "group-05-group-orders")
    h5.goto(base + "/h5/home")
    h5.get_by_role("link", name="我的发票").click()
    row = h5.locator(".paper-row", has_text="团体购买")
    expect(row).to_contain_text(UNIT_TITLE)
    expect(row).to_contain_text("开票中")

    db.session.expire_all()
    order = db.session.scalar(select(Order).where(Order.buyer_id == designee.id))
    assert order.kind is OrderKind.GROUP and order.status is OrderStatus.PAID
    assert order.amount_fen == 6000 and order.plan_id == plan_id
    assert sorted(seat.learner_id for seat in order.seats) == sorted([chen.id, zhao.id])
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    assert invoice.title_type is InvoiceTitleType.UNIT and invoice.tax_code == tax_code
    assert invoice.status is InvoiceStatus.REQUESTED
