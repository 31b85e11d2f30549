"""The learner's pages in WeChat at a phone's size: text kept as typed, no dead ends after a
year has closed or a payment is being confirmed, and where each entry lands."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.base import utcnow
from models.invoices import Invoice
from models.orders import Order, OrderStatus
from models.study import ChapterProgress
from services.accounts.identity import credit_code_check_character
from services.audit import Actor
from services.display import local_time
from services.paperwork import invoices
from services.payments import orders
from tests import factories
from tests.e2e.conftest import phone, snap

UNIT = "重庆建工（集团）股份有限公司"


def signed_in(browser, base, name, *, path="/h5/"):
    page = phone(browser).new_page()
    page.goto(base + path)
    page.get_by_role("button", name=name).click()
    return page


@pytest.mark.committed
def test_an_invoice_title_typed_with_full_width_brackets_is_kept(live_platform, browser, shots):
    base = live_platform.url
    learner = factories.learner(name="王芳")
    factories.bind_wechat(learner, "oDEMO_guest1")
    order = factories.paid_order(learner, factories.plan())
    commit()
    first17 = "91500000202812345"
    code = first17 + credit_code_check_character(first17)

    h5 = signed_in(browser, base, "王芳")
    h5.goto(f"{base}/h5/invoices/order/{order.id}/apply")
    h5.get_by_text("单位", exact=True).click()
    h5.fill("#title", f" {UNIT} ")
    h5.fill("#tax_code", "".join(chr(ord(c) + 0xFEE0) for c in code))  # a full-width keyboard
    h5.fill("#email", "cw@example.cn")
    snap(h5, shots, "text-01-invoice-form")
    h5.get_by_role("button", name="提交申请").click()
    expect(h5.locator(".h5-flash").first).to_contain_text("已提交开票申请")
    h5.locator(".paper-row").first.get_by_role("link").first.click()
    expect(h5.locator("body")).to_contain_text(UNIT)
    snap(h5, shots, "text-02-invoice-view")

    db.session.expire_all()
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    assert (invoice.title, invoice.tax_code) == (UNIT, code)


@pytest.mark.committed
def test_a_closed_makeup_year_refuses_with_its_buttons_disabled(live_platform, browser, shots):
    base = live_platform.url
    learner = factories.learner(name="刘洋")
    factories.bind_wechat(learner, "oDEMO_guest2")
    factories.makeup_plan(2019)
    closed = factories.makeup_plan(2018)
    closed.study_ends_at = utcnow() - timedelta(hours=1)
    commit()

    h5 = signed_in(browser, base, "刘洋", path="/h5/makeup")
    expect(h5.locator(".makeup-years a", has_text="2018年度公需科目")).to_contain_text("已截止")
    h5.locator(".makeup-years a", has_text="2018年度公需科目").click()
    expect(h5.locator(".makeup-year")).to_contain_text("该年度补学已截止")
    actions = h5.locator(".makeup-actions")
    for name in ("购买", "提交缴费凭证", "填写缴费承诺书"):
        expect(actions.get_by_role("button", name=name)).to_be_disabled()
    snap(h5, shots, "makeup-closed-01-list")
    h5.locator(".makeup-years a", has_text="2019年度公需科目").click()
    expect(h5.locator(".makeup-actions").get_by_role("link", name="提交缴费凭证")).to_be_visible()

    h5.goto(f"{base}/h5/makeup/{closed.id}/voucher")
    expect(h5.get_by_role("alert")).to_contain_text("该年度补学已截止")
    expect(h5.get_by_role("button", name="提交审核")).to_be_disabled()
    h5.goto(f"{base}/h5/plans/{closed.id}")
    expect(h5.get_by_role("alert")).to_contain_text("该年度补学已截止")
    expect(h5.get_by_role("button", name="立即购买")).to_be_disabled()
    snap(h5, shots, "makeup-closed-02-plan")


@pytest.mark.committed
def test_the_order_page_waits_while_paying_and_offers_a_new_order_once_expired(
    live_platform, browser, shots
):
    base = live_platform.url
    learner = factories.learner(name="王芳")
    factories.bind_wechat(learner, "oDEMO_guest1")
    plan = factories.plan()
    waiting = orders.place_individual_order(learner_id=learner.id, plan_id=plan.id, invoice=None)
    commit()

    # Back from the cashier before the result has arrived: a waiting state, nothing to tap.
    h5 = signed_in(browser, base, "王芳", path=f"/h5/orders/{waiting.id}?paying=1")
    expect(h5.locator("[data-order-status]")).to_have_text("正在确认支付结果")
    expect(h5.get_by_role("link", name="去支付")).to_have_count(0)
    expect(h5.get_by_role("button", name="取消订单")).to_have_count(0)
    expect(h5.locator("body")).not_to_contain_text("待支付")
    expect(h5.get_by_role("link", name="刷新订单状态")).to_be_hidden()
    snap(h5, shots, "order-01-confirming")

    # An order left unpaid past its time: 已超时 and 重新下单.
    late = db.session.get(Order, waiting.id)
    late.expires_at = utcnow() - timedelta(minutes=1)
    commit()
    h5.goto(f"{base}/h5/orders/{waiting.id}")
    expect(h5.locator("[data-order-status]")).to_have_text("已超时")
    expect(h5.get_by_role("link", name="去支付")).to_have_count(0)
    snap(h5, shots, "order-02-expired")
    h5.get_by_role("link", name="重新下单").click()
    expect(h5).to_have_url(f"{base}/h5/plans/{plan.id}/buy")
    h5.goto(f"{base}/h5/orders")
    expect(h5.locator(".pay-status").first).to_have_text("已超时")


@pytest.mark.committed
def test_the_menu_entry_lands_on_the_study_and_continue_skips_finished_chapters(
    live_platform, browser, shots
):
    base = live_platform.url
    learner = factories.learner(name="刘洋")
    factories.bind_wechat(learner, "oDEMO_guest2")
    plan = factories.plan()
    course = factories.course(plan, title="数字经济概论", chapters=3, chapter_seconds=60)
    factories.enrollment(learner, plan)
    db.session.add(
        ChapterProgress(
            learner_id=learner.id, chapter_id=course.chapters[0].id, intervals=[[0, 60]],
            covered_seconds=60, credited_seconds=60, last_position=60, finished_at=utcnow(),
        )
    )  # fmt: skip
    commit()

    h5 = signed_in(browser, base, "刘洋")  # the menu's 公需科目 entry
    expect(h5).to_have_url(re.compile(rf"^{re.escape(base)}/h5/study(#wechat_redirect)?$"))
    expect(h5.locator(".h5-tabbar [aria-current=page]")).to_contain_text("课程培训")
    expect(h5.locator("[data-countdown]")).to_have_text(
        re.compile(r"^距 \d+月\d+日 截止还有 \d+ 天$")
    )
    snap(h5, shots, "landing-01-study")
    h5.get_by_role("link", name="进入学习").first.click()
    resume = h5.get_by_role("link", name=re.compile("继续上次学习"))
    expect(resume).to_contain_text("数字经济概论 · 第2章")
    snap(h5, shots, "landing-02-continue")
    resume.click()
    expect(h5).to_have_url(f"{base}/h5/study/chapters/{course.chapters[1].id}")


@pytest.mark.committed
def test_the_designee_sees_a_colleagues_own_order_and_a_refunded_orders_reversal(
    live_platform, browser, shots
):
    base = live_platform.url
    designee = factories.learner(name="李娜")
    factories.bind_wechat(designee, "oDEMO_guest1")
    plan = factories.plan()
    colleague = factories.learner(name="陈静")
    own = orders.place_individual_order(learner_id=colleague.id, plan_id=plan.id, invoice=None)
    refunded = factories.paid_order(
        designee, factories.plan(year=2021), seats=[factories.learner()]
    )
    first17 = "91500000202812345"
    invoice = invoices.request_invoice(
        order_id=refunded.id,
        learner_id=designee.id,
        request=invoices.InvoiceRequest(
            title_type="unit", email="cw@example.cn", title=UNIT,
            tax_code=first17 + credit_code_check_character(first17),
        ),
    )  # fmt: skip
    staff = factories.staff()
    actor = Actor.staff(staff.id, staff.username, None)
    pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    invoices.record_issued(invoice.id, invoice_number="25500000000000000001", pdf=pdf, actor=actor)
    refunded.refunded_fen, refunded.status = refunded.amount_fen, OrderStatus.REFUNDED
    invoices.reverse_for_refund(refunded.id)
    commit()

    h5 = signed_in(browser, base, "王芳", path=f"/h5/plans/{plan.id}/group")  # her WeChat
    h5.locator("textarea[name=id_numbers]").fill(colleague.id_number)
    h5.get_by_role("button", name="验证名单").click()
    problem = h5.locator(".pay-failures .pay-problem")
    expect(problem).to_contain_text(
        f"该同事本人有一笔未支付的订单，将于{local_time(own.expires_at)}自动关闭"
    )
    snap(h5, shots, "designee-01-colleague-order")

    h5.goto(f"{base}/h5/invoices")
    row = h5.locator(".paper-row", has_text=refunded.out_trade_no)
    expect(row).to_contain_text("红冲中")
    expect(row).to_contain_text("发票号码：25500000000000000001")
    expect(row).not_to_contain_text("该订单已关闭或已退款")
    snap(h5, shots, "designee-02-invoice-reversing")
    row.get_by_role("link", name="查看发票").click()
    expect(h5.locator("body")).to_contain_text("红冲申请")


@pytest.mark.committed
def test_touch_targets_are_at_least_44_px_and_phone_numbers_can_be_tapped(
    live_platform, browser, shots
):
    base = live_platform.url
    stranger = phone(browser).new_page()
    stranger.goto(base + "/h5/plans")  # 首页 before logging in
    expect(stranger.locator(".h5-brand__title")).to_have_text("公需科目网络培训")
    expect(stranger.get_by_role("link", name="登录 / 注册后购买学习")).to_be_visible()
    snap(stranger, shots, "touch-00-plans-before-login")
    stranger.goto(base + "/h5/login")
    call = stranger.locator("a[href='tel:4000239229']")
    expect(call).to_have_text("400-023-9229")
    assert call.bounding_box()["height"] >= 44

    learner = factories.learner(name="刘洋")
    factories.bind_wechat(learner, "oDEMO_guest2")
    makeup_plan = factories.makeup_plan(2019)
    plan = factories.plan()
    factories.course(plan, chapters=1)
    factories.enrollment(learner, plan)
    commit()
    h5 = signed_in(browser, base, "刘洋", path="/h5/makeup?year=2019")

    def tall(locator, what):
        box = locator.bounding_box()
        assert box is not None and box["height"] >= 44, (what, box)
        return box

    actions = h5.locator(".makeup-actions")
    for name in ("未缴过费？直接购买", "提交缴费凭证", "填写缴费承诺书"):
        tall(actions.get_by_role("link", name=name, exact=True), name)
    tall(h5.locator(".makeup-years .weui-cell").first, "a year in the list")
    tall(h5.locator(".h5-links a").first, "返回我的")
    snap(h5, shots, "touch-01-makeup")

    h5.goto(f"{base}/h5/makeup/{makeup_plan.id}/commitment")
    agree = tall(h5.locator("label.weui-agree"), "the commitment's label")
    box = h5.locator("#agreed").bounding_box()
    assert box["x"] >= 12 and agree["x"] + agree["width"] <= 390  # not flush with the edge
    snap(h5, shots, "touch-02-commitment")

    h5.goto(f"{base}/h5/study/plans/{plan.id}")
    tall(h5.locator(".study-back"), "the study's back link")
