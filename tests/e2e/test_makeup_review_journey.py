"""Make-up study through a payment voucher, in headless Chromium: the learner uploads a real
screenshot from the phone, a staff member reviews the queue in the console and approves, the
learner finds the year's plan open free and WeChat carries the review result."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.base import utcnow
from models.enrollments import Enrollment, EnrollmentSource
from models.makeup import MakeupApplication, ReviewStatus
from models.orders import Order
from models.staff import StaffRole
from services.paperwork import makeup
from tests import factories
from tests.e2e.conftest import desktop, phone, snap

MAKEUP_TITLE = "重庆市2019年专技人员继续教育公需科目培训（补学）"
# What the other site's payment record looked like on the learner's phone.
PAYMENT_RECORD = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<body style="margin:0;font:16px sans-serif;background:#f5f5f5">
<div style="background:#1677ff;color:#fff;padding:16px;font-size:18px">某某继续教育网 · 我的订单</div>
<div style="background:#fff;margin:12px;padding:16px;border-radius:8px;line-height:2">
<div>订单编号：<b>JX2019052000123</b></div><div>培训项目：2019年度公需科目</div>
<div>付款人：刘洋</div><div>缴费时间：2019-05-20 10:30</div>
<div>金额：<b style="color:#e4393c">¥30.00</b></div><div>状态：<b>已支付</b></div></div></body></html>"""


@pytest.mark.committed
def test_a_staff_member_approves_a_voucher_and_the_year_opens_free(live_platform, browser, shots):
    base = live_platform.url
    plan = factories.makeup_plan(2019)
    factories.course(plan, title="习近平新时代中国特色社会主义思想概论", chapters=2)
    learner = factories.learner(name="刘洋")
    factories.bind_wechat(learner, "oDEMO_guest2")
    earlier = factories.learner(name="周敏")
    reviewer = factories.staff(StaffRole.STAFF)
    commit()
    # Another learner's commitment letter, two days older: the queue puts it first.
    makeup.submit_commitment(
        earlier.id,
        plan.id,
        makeup.Commitment(
            paid_on="2019-06-01", reason="原平台已关闭", signature="周敏", agreed=True
        ),
        now=utcnow() - timedelta(days=2),
    )
    commit()

    # --- The learner, inside WeChat, fills the voucher form with a real screenshot ---------------
    h5 = phone(browser).new_page()
    h5.set_content(PAYMENT_RECORD)
    screenshot = h5.screenshot(type="png")
    h5.goto(base + "/h5/")
    h5.get_by_role("button", name="刘洋").click()
    h5.locator(".h5-tabbar").get_by_role("link", name="我的", exact=True).click()
    h5.get_by_role("link", name="补学申请").click()
    expect(h5.locator(".makeup-actions")).to_have_count(0)  # first the year, then its actions
    h5.locator(".makeup-years").get_by_role("link", name="2019年度公需科目").click()
    expect(h5.locator(".makeup-year")).to_contain_text("2019")
    snap(h5, shots, "makeup-00-year-chosen")
    h5.locator(".makeup-actions").get_by_role("link", name="提交缴费凭证").click()
    expect(h5.locator(".h5-brand__title")).to_have_text("2019年公需科目缴费凭证")
    expect(h5.locator(".weui-cells").first).to_contain_text(learner.id_number)
    h5.fill("#order_no", "JX2019052000123")
    expect(h5.locator("#payer")).to_have_value("刘洋")
    h5.fill("#paid_at", "2019-05-20T10:30")
    h5.fill("#platform", "某某继续教育网")
    h5.set_input_files(
        "#screenshot", {"name": "付款记录.png", "mimeType": "image/png", "buffer": screenshot}
    )
    snap(h5, shots, "makeup-01-voucher-form")
    h5.get_by_role("button", name="提交审核").click()
    expect(h5.locator(".h5-flash").first).to_contain_text("工作人员将在3个工作日内审核")
    record = h5.locator(".makeup-applications")
    expect(record).to_contain_text("2019年度 · 缴费凭证")
    expect(record).to_contain_text("待审核")
    snap(h5, shots, "makeup-02-submitted")

    # --- A staff member in the console: the queue, oldest first, with its deadlines --------------
    console = desktop(browser).new_page()
    console.goto(base + "/admin/")
    expect(console).to_have_url(f"{base}/admin/login?next=/admin/")
    console.fill("#username", reviewer.username)
    console.fill("#password", factories.PASSWORD)
    console.get_by_role("button", name="登录").click()
    console.locator(".admin-nav").get_by_role("link", name="补学审核").click()
    expect(console.locator("h1")).to_have_text("补学审核（待审核 2）")
    rows = console.locator(".admin-table tbody tr")
    expect(rows.nth(0)).to_contain_text("周敏")
    expect(rows.nth(0)).to_contain_text("缴费承诺书")
    expect(rows.nth(1)).to_contain_text("刘洋")
    expect(rows.nth(1)).to_contain_text("缴费凭证")
    expect(rows.nth(1)).not_to_contain_text(learner.id_number)  # masked in the list
    expect(rows.nth(1)).to_contain_text("剩余")
    expect(rows.nth(1)).to_contain_text("个工作日")
    snap(console, shots, "makeup-03-review-queue")

    rows.nth(1).get_by_role("link", name="审核").click()
    expect(console.locator("h1")).to_contain_text("2019年度补学申请 · 缴费凭证（待审核）")
    expect(console.locator(".admin-card").nth(1)).to_contain_text("JX2019052000123")
    image = console.get_by_role("img", name="缴费截图")
    expect(image).to_be_visible()
    console.wait_for_function(
        "() => { const i = document.querySelector('img[alt=缴费截图]');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    # The stored picture is the learner's, re-encoded at its size (metadata dropped).
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == list(
        Image.open(io.BytesIO(screenshot)).size
    )
    snap(console, shots, "makeup-04-review-detail")
    with console.expect_popup() as popup:  # full size, in a tab of its own
        image.click()
    full = popup.value
    full.wait_for_load_state()
    assert full.evaluate("document.contentType") == "image/jpeg"
    full.close()
    console.get_by_role("button", name="审核通过，免费开通2019年度计划").click()
    expect(console.locator(".admin-flash")).to_contain_text("已审核通过")
    expect(console.locator("h1")).to_have_text("补学审核（待审核 1）")

    # --- The learner finds 2019 open in 课程培训; WeChat brought the result -------------------
    h5.goto(base + "/h5/makeup")
    mine = h5.locator(".makeup-applications")
    expect(mine).to_contain_text("已通过")
    expect(mine.get_by_role("link")).to_have_attribute("href", f"/h5/study/plans/{plan.id}")
    snap(h5, shots, "makeup-05a-opened-row")
    h5.get_by_role("link", name="返回我的").click()
    h5.locator(".h5-tabbar").get_by_role("link", name="课程培训").click()
    card = h5.locator(".study-plan-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(MAKEUP_TITLE)
    card.get_by_role("link", name="进入学习").click()
    expect(h5.locator(".study-course")).to_have_count(1)
    snap(h5, shots, "makeup-05-plan-open")

    chat = desktop(browser).new_page()
    chat.goto(base + "/_sim/chat?user=oDEMO_guest2")
    card = chat.locator("[data-template='sim-template-review_result']")
    expect(card).to_contain_text("审核通过")
    expect(card).to_contain_text("已免费开通，可以开始补学")
    snap(chat, shots, "makeup-06-chat-review-result", full_page=False)
    sent = [
        message
        for message in live_platform.sim.template_messages
        if message["touser"] == "oDEMO_guest2"
    ]
    assert [message["template_id"] for message in sent] == ["sim-template-review_result"]

    db.session.expire_all()
    application = db.session.scalar(
        select(MakeupApplication).where(MakeupApplication.learner_id == learner.id)
    )
    assert application.status is ReviewStatus.APPROVED and application.reviewer_id == reviewer.id
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.learner_id == learner.id, Enrollment.plan_id == plan.id)
    )
    assert enrollment.source is EnrollmentSource.MAKEUP_REVIEW
    assert enrollment.makeup_application_id == application.id
    # Opened free: nothing was bought.
    assert db.session.scalar(select(Order.id).where(Order.buyer_id == learner.id)) is None
