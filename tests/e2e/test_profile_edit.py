"""个人信息 in headless Chromium at a phone viewport with WeChat's user agent: a learner changes
their phone with a code sent to the new number, and their unit."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from infra.extensions import db
from infra.transaction import commit
from models.accounts import Learner
from services.accounts.sms import MemorySmsSender
from tests import factories
from tests.e2e.conftest import phone, snap


@pytest.mark.committed
def test_a_learner_changes_phone_with_a_code_and_unit(live_platform, browser, shots):
    app, base = live_platform.app, live_platform.url
    MemorySmsSender.outbox.clear()
    learner = factories.learner(name="陈静")
    other = factories.learner(name="赵磊")
    factories.unit("重庆市渝中区人民医院")
    commit()
    learner_id, old_phone, taken = learner.id, learner.phone, other.phone
    new_phone = factories.unique_phone()
    masked = new_phone[:3] + "****" + new_phone[-4:]

    page = phone(browser).new_page()
    page.goto(base + "/h5/login")
    page.fill("input[name=account]", learner.id_number)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(base + "/h5/home")
    page.get_by_role("link", name=re.compile("个人信息")).first.click()
    expect(page).to_have_url(base + "/h5/profile")
    expect(page.locator("#profile-phone")).to_have_text(old_phone[:3] + "****" + old_phone[-4:])

    # Another account's number is refused, with nothing sent.
    page.fill("#phone", taken)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".h5-field-error")).to_contain_text("该手机号码已被其他账号使用")
    page.fill("#phone", "2345")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".h5-field-error")).to_contain_text("手机号码应为以1开头的11位数字")
    assert MemorySmsSender.outbox == []

    # The code goes to the new number; the button counts down.
    page.fill("#phone", new_phone)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".h5-flash").first).to_contain_text(f"验证码已发送到 {masked}")
    expect(page.locator(".h5-masked-phone")).to_have_text(masked)
    expect(page.locator(".h5-code-button")).to_be_disabled()
    expect(page.locator(".h5-code-button")).to_contain_text("秒后可重新获取")
    expect(page.locator("#phone")).to_have_value(new_phone)
    [(sent_to, text)] = MemorySmsSender.outbox
    assert sent_to == new_phone
    code = re.search(r"\d{6}", text).group(0)
    snap(page, shots, "profile-1-code-sent")

    page.fill("#code", "000000" if code != "000000" else "111111")
    page.get_by_role("button", name="确认修改手机号码").click()
    expect(page.locator(".h5-field-error")).to_contain_text("验证码不正确")
    page.fill("#code", code)
    page.get_by_role("button", name="确认修改手机号码").click()
    expect(page.locator(".h5-flash").first).to_contain_text("手机号码已修改")
    expect(page.locator("#profile-phone")).to_have_text(masked)

    # The unit, found by name.
    page.fill("#unit_name", "渝中区人民")
    page.get_by_role("option", name=re.compile("重庆市渝中区人民医院")).click()
    page.get_by_role("button", name="保存工作单位").click()
    expect(page.locator(".h5-flash").first).to_contain_text("工作单位已修改")
    expect(page.locator("#unit-form")).to_contain_text("当前：重庆市渝中区人民医院")
    snap(page, shots, "profile-2-saved")

    with app.app_context():
        saved = db.session.get(Learner, learner_id)
        assert saved.phone == new_phone
        assert saved.unit is not None and saved.unit.name == "重庆市渝中区人民医院"
        db.session.remove()

    # The new number logs in.
    context = phone(browser)
    again = context.new_page()
    again.goto(base + "/h5/login")
    again.fill("input[name=account]", new_phone)
    again.fill("input[name=password]", factories.PASSWORD)
    again.click("button[type=submit]")
    expect(again).not_to_have_url(re.compile(r"/h5/login"))
    context.close()
