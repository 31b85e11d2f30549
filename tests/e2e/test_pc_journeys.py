"""The PC site and every way to pay it offers, in headless Chromium at a desktop's size (and a
phone browser outside WeChat): logging in by scanning the official account's QR code in the
simulator, a designee's seats paid by a WeChat Pay QR code, a learner paying at Alipay's
cashier, and a phone browser paying by WeChat Pay H5; each unlocks the plan."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import Order, OrderStatus, PayChannel, Payment
from tests import factories
from tests.e2e.conftest import DESKTOP, STEP_TIMEOUT_MS, desktop, snap

PLAN_TITLE = "重庆市2022年专技人员继续教育公需科目培训"
# Safari on an iPhone: a phone browser, not WeChat's.
PHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def log_in_with_password(page, base: str, learner) -> None:
    page.goto(base + "/h5/login")
    page.fill("input[name=account]", learner.id_number)
    page.fill("input[name=password]", factories.PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    # Signed in, on the landing: 课程培训, or the plan to buy.
    expect(page).to_have_url(re.compile(r"/h5/(study|plans)"))


def active_enrollments(learner_ids: list[int], plan_id: int) -> int:
    db.session.expire_all()
    return len(
        db.session.scalars(
            select(Enrollment).where(
                Enrollment.learner_id.in_(learner_ids),
                Enrollment.plan_id == plan_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        ).all()
    )


def payment_channel(order_id: int) -> PayChannel:
    db.session.expire_all()
    return db.session.scalar(select(Payment.channel).where(Payment.order_id == order_id))


@pytest.mark.committed
def test_a_pc_logs_in_by_scanning_the_accounts_qr_code(live_platform, browser: Browser, shots):
    base = live_platform.url
    learner = factories.learner(name="张伟")
    factories.bind_wechat(learner, "oDEMO_zhangwei")
    commit()

    pc = desktop(browser).new_page()
    pc.goto(base + "/h5/login")
    expect(pc.locator(".h5-topnav")).to_be_visible()
    expect(pc.locator(".h5-tabbar")).to_have_count(0)
    code = pc.locator("[data-qr-image]")
    expect(code).to_be_visible()
    pc.wait_for_function("() => document.querySelector('[data-qr-image]').naturalWidth > 0")
    snap(pc, shots, "pc-01-login-qr", full_page=False)

    # 张伟 scans it with WeChat: the simulator's 扫一扫 lists the temporary code.
    chat = desktop(browser).new_page()
    chat.goto(base + "/_sim/chat?user=oDEMO_zhangwei")
    poster = chat.locator("[data-posters] button", has_text="login:")
    expect(poster).to_have_count(1)
    poster.click()
    reply = chat.locator(".sim-bubble_in").last
    expect(reply).to_contain_text("张伟，您已在电脑上登录")
    assert "<Event><![CDATA[SCAN]]></Event>" in chat.locator("[data-last-xml]").inner_text()

    # The PC page was waiting: it logs in by itself, on the landing.
    expect(pc).to_have_url(re.compile(r"/h5/(study|plans)"))
    expect(pc.locator(".h5-topnav__user")).to_have_text("张伟")
    snap(pc, shots, "pc-02-logged-in", full_page=False)


@pytest.mark.committed
def test_a_designee_pays_for_seats_with_a_wechat_pay_qr_code(live_platform, browser, shots):
    base = live_platform.url
    unit = factories.unit("重庆市渝中区人民医院")
    plan = factories.plan(courses=2, price_fen=3000)
    designee = factories.learner(name="李娜", unit_obj=unit)
    chen = factories.learner(name="陈静", unit_obj=unit)
    zhao = factories.learner(name="赵磊", unit_obj=unit)
    commit()
    plan_id, seat_ids = plan.id, [chen.id, zhao.id]

    pc = desktop(browser).new_page()
    log_in_with_password(pc, base, designee)
    snap(pc, shots, "pc-03-home", full_page=False)
    pc.goto(f"{base}/h5/plans/{plan_id}/group")
    pc.locator("textarea[name=id_numbers]").fill(f"{chen.id_number}\n{zhao.id_number}")
    pc.get_by_role("button", name="验证名单").click()
    expect(pc.locator(".pay-summary__ok")).to_contain_text("2可以购买")
    pc.get_by_role("button", name="提交订单（2 人）").click()
    expect(pc.locator(".pay-amount")).to_have_text("¥60.00")
    # On a PC: WeChat Pay's QR code and Alipay, no WeixinJSBridge.
    expect(pc.get_by_role("button", name="微信支付（扫码）")).to_be_visible()
    expect(pc.get_by_role("button", name="支付宝支付")).to_be_visible()
    snap(pc, shots, "pc-04-pay-choice", full_page=False)
    pc.get_by_role("button", name="微信支付（扫码）").click()

    qr = pc.locator(".pay-qr")
    expect(qr.locator(".pay-qr__amount")).to_have_text("¥60.00")
    expect(qr).to_contain_text("二维码有效期至")
    pc.wait_for_function("() => document.querySelector('.pay-qr__image').naturalWidth > 0")
    snap(pc, shots, "pc-05-native-qr", full_page=False)
    order_id = int(re.search(r"/h5/pay/(\d+)", pc.url).group(1))

    # The designee scans the code with a phone: the simulator's cashier takes its code_url.
    scan_link = pc.get_by_role("link", name="模拟扫码支付").get_attribute("href")
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(scan_link)
    expect(phone.locator(".amount")).to_have_text("¥60.00")
    snap(phone, shots, "pc-06-scan-cashier")
    phone.get_by_role("button", name="确认支付").click()
    expect(phone.locator(".msg")).to_have_text("支付成功")

    # The PC page follows the order and shows it paid, every seat open.
    expect(pc.locator("[data-order-status]")).to_have_text("已支付", timeout=STEP_TIMEOUT_MS * 2)
    expect(pc.locator(".pay-status").filter(has_text="已开通")).to_have_count(2)
    snap(pc, shots, "pc-07-group-paid", full_page=False)
    db.session.expire_all()
    assert db.session.get(Order, order_id).status is OrderStatus.PAID
    assert payment_channel(order_id) is PayChannel.WECHAT_NATIVE
    assert active_enrollments(seat_ids, plan_id) == 2


@pytest.mark.committed
def test_a_learner_pays_at_alipays_cashier_and_studies(live_platform, browser, shots):
    base = live_platform.url
    plan = factories.plan(courses=2, price_fen=3000)
    learner = factories.learner(name="王芳")
    commit()
    plan_id, learner_id = plan.id, learner.id

    pc = desktop(browser).new_page()
    log_in_with_password(pc, base, learner)
    pc.get_by_role("navigation", name="网站导航").get_by_role("link", name="首页").click()
    pc.locator(".weui-media-box", has_text=PLAN_TITLE).click()
    snap(pc, shots, "pc-08-plan", full_page=False)
    pc.get_by_role("link", name="立即购买").click()
    pc.get_by_role("button", name="提交订单并支付").click()
    pc.get_by_role("button", name="支付宝支付").click()

    # Alipay's 电脑网站支付 (the simulator's cashier).
    expect(pc.locator(".top")).to_contain_text("电脑网站支付")
    expect(pc.locator(".amount")).to_have_text("¥30.00")
    snap(pc, shots, "pc-09-alipay-cashier", full_page=False)
    pc.get_by_role("button", name="确认付款").click()

    expect(pc.locator("[data-order-status]")).to_have_text("已支付", timeout=STEP_TIMEOUT_MS * 2)
    snap(pc, shots, "pc-10-alipay-paid", full_page=False)
    order_id = int(re.search(r"/h5/orders/(\d+)", pc.url).group(1))
    assert payment_channel(order_id) is PayChannel.ALIPAY_PAGE
    assert active_enrollments([learner_id], plan_id) == 1

    # The plan is open: its courses, and a chapter with the course's chapters beside the player.
    pc.get_by_role("link", name="进入学习").click()
    expect(pc).to_have_url(f"{base}/h5/study/plans/{plan_id}")
    pc.locator(".study-course").first.click()
    pc.locator(".study-chapter").first.click()
    player = pc.locator("#study-video").bounding_box()
    aside = pc.locator(".study-aside").bounding_box()
    assert player and aside and aside["x"] > player["x"] + player["width"] - 1  # side by side
    assert pc.viewport_size == DESKTOP
    snap(pc, shots, "pc-11-chapter", full_page=False)


@pytest.mark.committed
def test_a_phone_browser_outside_wechat_pays_by_wechat_pay_h5(live_platform, browser, shots):
    base = live_platform.url
    plan = factories.plan(courses=2, price_fen=3000)
    learner = factories.learner(name="刘洋")
    commit()
    plan_id, learner_id = plan.id, learner.id

    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        user_agent=PHONE_SAFARI,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    phone = context.new_page()
    log_in_with_password(phone, base, learner)
    expect(phone.locator(".h5-topnav")).to_be_hidden()  # a phone keeps the tab bar
    expect(phone.locator(".h5-tabbar")).to_be_visible()
    phone.goto(f"{base}/h5/plans/{plan_id}/buy")
    phone.get_by_role("button", name="提交订单并支付").click()
    expect(phone.get_by_role("button", name="微信支付")).to_be_visible()
    expect(phone.get_by_role("button", name="支付宝支付")).to_be_visible()
    snap(phone, shots, "phone-01-pay-choice")
    phone.get_by_role("button", name="微信支付").click()

    # The h5_url opens the WeChat app (the simulator's H5 page), which comes back after paying.
    expect(phone.locator(".sim")).to_contain_text("H5 支付")
    snap(phone, shots, "phone-02-h5-pay")
    phone.get_by_role("button", name="确认支付").click()
    expect(phone.locator("[data-order-status]")).to_have_text("已支付", timeout=STEP_TIMEOUT_MS * 2)
    snap(phone, shots, "phone-03-paid")
    order_id = int(re.search(r"/h5/orders/(\d+)", phone.url).group(1))
    assert payment_channel(order_id) is PayChannel.WECHAT_H5
    assert active_enrollments([learner_id], plan_id) == 1
    expect(phone.get_by_role("link", name="进入学习")).to_be_visible()
    context.close()
