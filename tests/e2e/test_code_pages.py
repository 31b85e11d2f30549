"""The text-message code pages in headless Chromium at a phone viewport with WeChat's user
agent: the destination shown masked, the send button counting down the minute's wait."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from infra.redis_client import get_redis
from infra.transaction import commit
from models.accounts import AccountSource
from services.accounts import sms
from services.accounts.sms import MemorySmsSender
from tests import factories
from tests.e2e.conftest import phone, snap


def seconds_left(button) -> int:
    match = re.match(r"^(\d+) 秒后可重新获取$", button.inner_text())
    assert match, button.inner_text()
    return int(match.group(1))


@pytest.mark.committed
def test_first_login_code_page_masks_the_phone_and_counts_down(live_platform, browser, shots):
    app, base = live_platform.app, live_platform.url
    MemorySmsSender.outbox.clear()
    learner = factories.learner(name="王芳", source=AccountSource.LEGACY)
    learner.password_hash = "md5$legacy$0123456789abcdef"
    commit()
    number = learner.phone
    masked = number[:3] + "****" + number[-4:]

    context = phone(browser)
    page = context.new_page()
    page.goto(base + "/h5/first-login")
    page.fill("input[name=name]", "王芳")
    page.fill("input[name=id_number]", learner.id_number)
    page.fill("input[name=phone]", number)
    page.get_by_role("button", name="获取验证码").click()
    expect(page).to_have_url(base + "/h5/first-login/password")

    # The destination, masked; the whole number is nowhere on the page.
    expect(page.locator(".h5-masked-phone")).to_have_text(masked)
    assert number not in page.content()
    button = page.locator(".h5-code-button")
    expect(button).to_be_disabled()
    first = seconds_left(button)
    assert 55 <= first <= 60
    page.wait_for_timeout(2_200)
    assert seconds_left(button) <= first - 2
    snap(page, shots, "code-1-first-login-countdown")
    # A reload keeps counting from the server's wait, not from 60 again.
    page.reload()
    assert seconds_left(page.locator(".h5-code-button")) <= first - 2
    assert len(MemorySmsSender.outbox) == 1

    # The minute passes: the button is live again and sends another code.
    with app.app_context():
        get_redis().delete(f"sms:cooldown:{sms._pseudonym(number)}")
    page.reload()
    button = page.locator(".h5-code-button")
    expect(button).to_be_enabled()
    expect(button).to_have_text("重新获取验证码")
    button.click()
    expect(page.locator(".h5-flash").first).to_contain_text(f"验证码已发送到 {masked}")
    expect(page.locator(".h5-code-button")).to_be_disabled()
    assert len(MemorySmsSender.outbox) == 2
    code = re.search(r"\d{6}", MemorySmsSender.outbox[-1][1]).group(0)

    page.fill("input[name=code]", code)
    page.fill("input[name=new_password]", "Fresh2022x")
    page.fill("input[name=confirm_password]", "Fresh2022x")
    page.get_by_role("button", name="确定").click()
    expect(page.get_by_text("密码已重置。")).to_be_visible()
    context.close()
