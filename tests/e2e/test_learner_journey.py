"""A learner's whole year in headless Chromium, as a person goes through it: a unit's QR
poster in the WeChat chat → the menu → OAuth → registration → buying and paying at the
cashier → studying a short chapter with a 防挂机 question → the certificate and its public
verification page → an invoice from 我的发票."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.accounts import Learner, WechatBinding
from models.certificates import Certificate
from models.enrollments import Enrollment
from models.invoices import Invoice, InvoiceStatus
from models.orders import Order, OrderStatus
from services.demo import media
from services.wechat import posters
from services.wechat.followers import Scene
from tests import factories
from tests.e2e.conftest import answer_right, desktop, phone, snap, watch_until_done

UNIT_NAME = "重庆市渝中区人民医院"
COURSE_TITLE = "数字经济与数字化转型"


@pytest.mark.committed
def test_a_learner_goes_from_the_poster_to_the_certificate_and_the_invoice(
    live_platform, browser, shots
):
    base = live_platform.url
    unit = factories.unit(UNIT_NAME)
    # One short course reaches the plan's requirement, so the year fits in a test.
    plan = factories.plan(required_hours=3, price_fen=3000)
    plan.chapter_threshold_percent = 90
    course = factories.course(plan, title=COURSE_TITLE, hours=3, chapters=1, chapter_seconds=8)
    course.chapters[0].media_url = "demo/chapter-8s.webm"
    factories.question(course, answer_index=1)
    commit()
    unit_code, plan_id, course_id = unit.code, plan.id, course.id
    with live_platform.app.app_context():
        assert media.seed() is not None  # the chapter's video, generated locally
        posters.create_qrcode(Scene("unit", unit_code), 7)
        db.session.remove()
    id_number = factories.valid_id_number("500103", male=False)

    # --- WeChat: unfollow, then follow again by scanning the unit's poster -------------------
    chat = desktop(browser).new_page()
    chat.goto(base + "/_sim/chat?user=oDEMO_guest1")
    talk = chat.locator("[data-chat]")
    follow = talk.locator("[data-follow]")
    expect(follow).to_have_text("取消关注")
    follow.click()
    expect(follow).to_have_text("关注")
    poster = chat.locator("[data-posters] button", has_text=f"unit:{unit_code}")
    poster.click()
    welcome = talk.locator(".sim-bubble_in").last
    expect(welcome).to_contain_text(f"您正在通过“{UNIT_NAME}”的二维码参加公需科目学习")
    expect(welcome.get_by_role("link", name="点此注册")).to_be_visible()
    assert "qrscene_unit:" + unit_code in chat.locator("[data-last-xml]").inner_text()
    snap(chat, shots, "journey-01-chat-poster", full_page=False)

    # The menu 继续教育 → 公需科目 opens the platform's entry.
    talk.get_by_role("button", name="继续教育").click()
    talk.get_by_role("button", name="公需科目").click()
    entry = chat.locator("[data-frame]").get_attribute("src")
    assert entry == base + "/h5/"
    talk.get_by_role("button", name="关闭").click()  # the chat shows what reaches it later

    # --- On the phone: WeChat's authorisation, then registration with the unit filled in ----
    h5 = phone(browser).new_page()
    h5.goto(entry)
    expect(h5.locator("h1")).to_have_text("选择微信用户")
    snap(h5, shots, "journey-02-oauth-picker")
    h5.get_by_role("button", name="王芳").click()
    expect(h5.locator("h1")).to_have_text("注册账号")
    expect(h5.locator("#unit_name")).to_have_value(UNIT_NAME)
    h5.fill("#name", "王芳")
    h5.fill("#id_number", id_number)
    h5.fill("#phone", "13912345678")
    h5.fill("#password", "Wangfang2022")
    h5.fill("#confirm_password", "Wangfang2022")
    # The separate consent to the privacy notice, never ticked in advance.
    expect(h5.locator("#privacy_consent")).not_to_be_checked()
    h5.locator("label[for=privacy_consent] .weui-cell__hd").click()
    expect(h5.locator("#privacy_consent")).to_be_checked()
    snap(h5, shots, "journey-03-register")
    h5.get_by_role("button", name="注册").click()
    registered = h5.locator(".h5-flash")
    expect(registered).to_have_count(1)  # one message for the account and its WeChat
    expect(registered).to_contain_text("注册成功，已绑定当前微信")
    expect(registered).to_have_css("background-color", "rgb(7, 193, 96)")  # legible, in green
    # Nothing bought yet: the new account lands on the plan to buy.
    expect(h5.locator(".h5-brand__title")).to_have_text("重庆市2022年专技人员继续教育公需科目培训")
    snap(h5, shots, "journey-04-landing")
    h5.locator(".h5-tabbar").get_by_role("link", name="我的", exact=True).click()
    expect(h5.locator(".h5-profile__name")).to_have_text("王芳")
    expect(h5.locator(".h5-profile")).to_contain_text(UNIT_NAME)
    snap(h5, shots, "journey-04-home")

    # --- The plan: 立即购买, 以后申请 the invoice, pay at the cashier ----------------------
    h5.locator(".h5-tabbar").get_by_role("link", name="首页").click()
    h5.locator(".weui-media-box", has_text="重庆市2022年专技人员继续教育公需科目培训").click()
    expect(h5.locator(".h5-brand__title")).to_have_text("重庆市2022年专技人员继续教育公需科目培训")
    expect(h5.locator(".weui-cells").first).to_contain_text("3 学时")
    snap(h5, shots, "journey-05-plan")
    h5.get_by_role("link", name="立即购买").click()
    expect(h5.locator(".h5-brand__title")).to_have_text("提交订单")
    expect(h5.locator("[data-invoice-fields]")).to_be_hidden()  # 以后申请 is the default
    h5.get_by_text("以后申请（缴费后在“我的发票”中申请）").click()
    snap(h5, shots, "journey-06-confirm")
    h5.get_by_role("button", name="提交订单并支付").click()
    expect(h5.locator(".pay-amount")).to_have_text("¥30.00")
    # Inside WeChat the page offers WeChat Pay; tapping it prepays (a POST). Outside the real
    # client no payment sheet opens, and the simulator's cashier stands in.
    expect(h5.get_by_role("button", name="微信支付")).to_be_visible()
    snap(h5, shots, "journey-07-pay")
    h5.get_by_role("button", name="微信支付").click()
    h5.get_by_role("link", name="前往模拟收银台").click()
    expect(h5.locator(".amount")).to_have_text("¥30.00")
    snap(h5, shots, "journey-08-cashier")
    h5.get_by_role("button", name="确认支付").click()

    # The notification unlocks the plan; the page waits for it and then says so.
    expect(h5.locator("[data-order-status]")).to_have_text("已支付")
    snap(h5, shots, "journey-09-paid")
    # …and the payment's template message reaches the learner's WeChat.
    expect(talk.locator("[data-template='sim-template-payment_received']")).to_contain_text(
        "缴费成功", timeout=10_000
    )
    snap(chat, shots, "journey-10-chat-payment-message", full_page=False)

    # --- 课程培训: the plan, the course, the chapter with its 防挂机 question ---------------
    h5.get_by_role("link", name="进入学习").click()
    expect(h5).to_have_url(f"{base}/h5/study/plans/{plan_id}")
    h5.locator(".h5-tabbar").get_by_role("link", name="课程培训").click()
    card = h5.locator(".study-plan-card")
    expect(card).to_contain_text("学分要求")
    expect(card.locator(".h5-progress")).to_have_attribute("aria-valuenow", "0")
    card.get_by_role("link", name="进入学习").click()
    h5.locator(".study-course", has_text=COURSE_TITLE).click()
    expect(h5).to_have_url(f"{base}/h5/study/courses/{course_id}")
    h5.locator(".study-chapter").first.click()
    expect(h5.locator("#study-status")).to_contain_text("点击播放")
    h5.locator("#study-video").evaluate("v => v.play()")
    expect(h5.locator("#study-status")).to_have_text("正在计时。")

    dialog = h5.locator("#study-question")
    expect(dialog).to_be_visible()
    expect(h5.locator("#study-question-stem")).to_contain_text("每年应完成多少学时")
    assert h5.locator("#study-video").evaluate("v => v.paused")
    snap(h5, shots, "journey-11-question", full_page=False)
    answer_right(h5)
    expect(dialog).to_be_hidden()
    watch_until_done(h5)  # a question may come again before the chapter ends
    snap(h5, shots, "journey-12-chapter-done", full_page=False)

    h5.locator(".study-back").click()  # back to the course: its chapter and itself are done
    expect(h5.locator(".study-chapter .h5-check")).to_be_visible()
    expect(h5.locator(".study-head__title .h5-check")).to_be_visible()
    expect(h5.locator(".study-note_done")).to_contain_text("本课程 3 学时已计入")
    h5.locator(".study-back").click()
    expect(h5).to_have_url(f"{base}/h5/study/plans/{plan_id}")
    expect(h5.locator(".study-course").first.locator(".h5-check")).to_be_visible()
    expect(h5.locator(".h5-progress").first).to_have_attribute("aria-valuenow", "100")
    expect(h5.locator(".study-note_done")).to_contain_text("可以打印合格证书")
    snap(h5, shots, "journey-13-plan-complete")

    # --- 我的证书 → 打印证书 → the profile → the certificate → the public check -------------
    h5.locator(".h5-tabbar").get_by_role("link", name="我的证书").click()
    h5.get_by_role("link", name="打印证书").click()
    expect(h5.locator(".h5-brand__title")).to_have_text("完善个人信息")
    expect(h5.locator("#unit_name")).to_have_value(UNIT_NAME)
    expect(h5.locator(".weui-cells").first).to_contain_text(id_number)
    snap(h5, shots, "journey-14-profile")
    h5.get_by_role("button", name="确认并打印证书").click()
    expect(h5.locator(".h5-brand__title")).to_have_text("合格证书")
    picture = h5.locator(".paper-certificate img")
    expect(picture).to_be_visible()
    h5.wait_for_function(
        "() => { const i = document.querySelector('.paper-certificate img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    # A phone-sized preview on the page; the full PNG and the PDF are the downloads.
    assert picture.evaluate("i => i.naturalWidth") == 720
    number = h5.locator(".weui-cell", has_text="证书编号").locator(".weui-cell__bd").inner_text()
    snap(h5, shots, "journey-15-certificate")
    with h5.expect_download() as download:
        h5.get_by_role("link", name="下载PDF").click()
    assert download.value.suggested_filename == f"合格证书-2022-{number}.pdf"
    signed_pdf = Path(download.value.path()).read_bytes()
    assert signed_pdf.startswith(b"%PDF")
    expect(talk.locator("[data-template='sim-template-certificate_ready']")).to_be_visible(
        timeout=10_000
    )

    h5.get_by_role("link", name="查看公开验证页").click()
    expect(h5).to_have_url(re.compile(r"/verify/"))
    expect(h5.locator("h1")).to_have_text("证书真实有效")
    expect(h5.locator(".weui-cells")).to_contain_text(number)
    expect(h5.locator(".weui-cells")).to_contain_text("王*")
    expect(h5.locator(".weui-cells")).not_to_contain_text(id_number)  # masked for the public
    snap(h5, shots, "journey-16-verify")
    # Anyone who scans the QR code sees the same, without logging in.
    stranger = browser.new_page(viewport={"width": 390, "height": 844})
    stranger.goto(f"{base}/verify/{number}")
    expect(stranger.locator("h1")).to_have_text("证书真实有效")
    # …and whoever receives the PDF uploads it: the signature is the issuer's and intact.
    stranger.goto(f"{base}/verify/")
    stranger.locator("#pdf").set_input_files(str(download.value.path()))
    stranger.get_by_role("button", name="上传并验证").click()
    expect(stranger.locator("h1")).to_have_text("签名完好，证书真实有效")
    expect(stranger.locator(".weui-cells").first).to_contain_text("合格证书电子签名")
    expect(stranger.locator(".weui-cells").last).to_contain_text(number)
    snap(stranger, shots, "journey-16b-verify-pdf")
    # A copy with one byte changed is caught.
    tampered = bytearray(signed_pdf)
    tampered[len(tampered) // 3] ^= 0x01
    stranger.goto(f"{base}/verify/")
    stranger.locator("#pdf").set_input_files(
        files=[{"name": "证书.pdf", "mimeType": "application/pdf", "buffer": bytes(tampered)}]
    )
    stranger.get_by_role("button", name="上传并验证").click()
    expect(stranger.locator("h1")).to_have_text("签名已损坏：文件在签名后被改动过")
    stranger.close()

    # 学习档案: the year, its 学时 and the certificate number in one signed PDF.
    h5.goto(base + "/h5/certificates")
    with h5.expect_download() as record:
        h5.get_by_role("link", name=re.compile("下载学习档案")).click()
    assert record.value.suggested_filename == "学习档案-王芳.pdf"
    assert Path(record.value.path()).read_bytes().startswith(b"%PDF")

    # --- 我的发票: ask for the invoice now --------------------------------------------------
    h5.goto(base + "/h5/home")
    h5.get_by_role("link", name="我的发票").click()
    expect(h5.locator(".paper-row")).to_contain_text("个人购买 · ¥30.00")
    h5.get_by_role("link", name="申请开票").click()
    expect(h5.locator(".h5-brand__title")).to_have_text("申请开票")
    expect(h5.get_by_text("个人（王芳）")).to_be_visible()
    expect(h5.locator("#title")).to_be_hidden()  # the unit fields are for a unit title
    h5.fill("#email", "wangfang@example.com")
    snap(h5, shots, "journey-17-invoice-form")
    h5.get_by_role("button", name="提交申请").click()
    expect(h5.locator(".h5-flash").first).to_contain_text("已提交开票申请")
    expect(h5.locator(".paper-row")).to_contain_text("开票中")
    snap(h5, shots, "journey-18-invoices")

    # --- What the database now holds ------------------------------------------------------------
    db.session.expire_all()
    learner = db.session.scalar(select(Learner).where(Learner.id_number == id_number))
    assert learner.unit_id == unit.id
    binding = db.session.scalar(select(WechatBinding).where(WechatBinding.openid == "oDEMO_guest1"))
    assert binding.learner_id == learner.id
    order = db.session.scalar(select(Order).where(Order.buyer_id == learner.id))
    assert order.status is OrderStatus.PAID
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == learner.id))
    assert enrollment.earned_hours == 3 and enrollment.completed_at is not None
    certificate = db.session.scalar(select(Certificate).where(Certificate.learner_id == learner.id))
    assert certificate.number == number and certificate.hours == 3
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    assert invoice.status is InvoiceStatus.REQUESTED and invoice.title == "王芳"
