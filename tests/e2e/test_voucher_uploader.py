"""The 缴费截图 uploader on the 补学 voucher form, in headless Chromium at a phone viewport with
WeChat's user agent: a preview before sending, Chinese messages for a wrong or too large file."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.transaction import commit
from tests import factories
from tests.e2e.conftest import phone, snap


@pytest.mark.committed
def test_the_voucher_screenshot_is_previewed_and_checked_before_sending(
    live_platform, browser, shots
):
    base = live_platform.url
    plan = factories.makeup_plan(2019)
    factories.course(plan, title="习近平新时代中国特色社会主义思想概论", chapters=2)
    learner = factories.learner(name="刘洋")
    commit()
    plan_id = plan.id

    page = phone(browser).new_page()
    page.set_content(
        "<style>body{background:#e8f4ff}h1{font-size:72px;color:#07c160}</style>"
        "<h1>付款成功 订单 JX2019052000123 ¥30.00</h1>"
    )
    picture = page.screenshot(type="png")
    page.goto(base + "/h5/login")
    page.fill("input[name=account]", learner.id_number)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/h5/makeup/{plan_id}/voucher")
    uploader = page.locator("[data-uploader]")
    error = page.locator("[data-uploader-error]")
    preview = uploader.locator(".h5-uploader__img")
    expect(uploader.locator(".h5-uploader__info")).to_have_text("0/1")
    box = uploader.locator(".h5-uploader__box").bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44

    # Not a picture: said in Chinese, nothing kept.
    page.set_input_files(
        "#screenshot", {"name": "凭证.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}
    )
    expect(error).to_be_visible()
    expect(error).to_contain_text("只能上传图片")
    expect(preview).to_have_count(0)
    assert page.locator("#screenshot").evaluate("i => i.files.length") == 0

    # Too large.
    page.set_input_files(
        "#screenshot",
        {"name": "大图.png", "mimeType": "image/png", "buffer": b"\x89PNG" + b"0" * (9 << 20)},
    )
    expect(error).to_contain_text("截图不能超过8MB")
    expect(preview).to_have_count(0)

    # A real screenshot: previewed, removable, then sent.
    page.set_input_files(
        "#screenshot", {"name": "付款记录.png", "mimeType": "image/png", "buffer": picture}
    )
    expect(error).to_be_hidden()
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth") > 0
    expect(uploader.locator(".h5-uploader__info")).to_have_text("1/1")
    expect(uploader.locator(".h5-uploader__box")).to_be_hidden()
    snap(page, shots, "voucher-1-preview")
    page.get_by_role("button", name="删除这张截图").click()
    expect(preview).to_have_count(0)
    expect(uploader.locator(".h5-uploader__box")).to_be_visible()
    page.set_input_files(
        "#screenshot", {"name": "付款记录.png", "mimeType": "image/png", "buffer": picture}
    )
    expect(preview).to_be_visible()

    page.fill("#order_no", "JX2019052000123")
    page.fill("#paid_at", "2019-05-20T10:30")
    page.fill("#platform", "某某继续教育网")
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator(".h5-flash").first).to_contain_text("工作人员将在3个工作日内审核")
