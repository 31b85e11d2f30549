"""操作手册 / 在线客服 from the learner pages and the tab bar's icons, in headless Chromium at a
phone viewport with WeChat's user agent."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.transaction import commit
from tests import factories
from tests.e2e.conftest import phone, snap


def log_in(page, base, learner) -> None:
    page.goto(base + "/h5/login")
    page.fill("input[name=account]", learner.id_number)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.committed
def test_manual_and_customer_service_are_a_tap_away(live_platform, browser, shots):
    base = live_platform.url
    learner = factories.learner(name="黄敏")
    plan = factories.plan(required_hours=3, courses=0)
    course = factories.course(plan, title="数字经济与数字化转型", hours=3, chapters=2)
    factories.enrollment(learner, plan)
    commit()
    chapter_id, course_id = course.chapters[0].id, course.id

    page = phone(browser).new_page()
    log_in(page, base, learner)
    page.goto(base + "/h5/home")

    # The tab bar: an icon per tab, views of one SVG file, the current one in its "on" colour.
    icons = page.locator(".h5-tabbar .h5-tabbar__icon")
    expect(icons).to_have_count(4)
    for index in range(4):
        icon = icons.nth(index)
        assert icon.evaluate("i => i.complete && i.naturalWidth") > 0
        assert "/static/icons/tabbar.svg" in icon.get_attribute("src")
    current = page.locator(".h5-tabbar [aria-current=page] .h5-tabbar__icon")
    assert current.get_attribute("src").endswith("#me-on")
    assert page.locator(".h5-tabbar .h5-tabbar__icon").first.get_attribute("src").endswith("#plans")
    assert page.locator(".h5-tabbar .weui-tabbar__item").first.bounding_box()["height"] >= 44
    snap(page, shots, "help-1-home")

    page.get_by_role("link", name="在线客服").click()
    expect(page).to_have_url(base + "/h5/service")
    lines = page.locator("a[href^='tel:']")
    expect(lines).to_have_count(3)
    expect(lines.first).to_have_attribute("href", "tel:4000239229")
    expect(page.locator("body")).to_contain_text("发送“人工客服”")
    # Outside WeChat the chat cannot be reopened: the page says what to do instead.
    page.get_by_role("button", name="回到公众号发消息").click()
    expect(page.locator("[data-close-to-chat-tip]")).to_be_visible()
    snap(page, shots, "help-2-service")
    page.go_back()
    page.get_by_role("link", name="操作手册").click()
    expect(page).to_have_url(base + "/h5/manual")

    # The study pages' footer: the same two links and the number.
    for path in (
        "/h5/study",
        f"/h5/study/courses/{course_id}",
        f"/h5/study/chapters/{chapter_id}",
    ):
        page.goto(base + path)
        footer = page.locator(".h5-help-links")
        expect(footer.get_by_role("link", name="操作手册")).to_have_attribute("href", "/h5/manual")
        expect(footer.get_by_role("link", name="在线客服")).to_have_attribute("href", "/h5/service")
        assert footer.get_by_role("link", name="在线客服").bounding_box()["height"] >= 44
    snap(page, shots, "help-3-chapter-footer")
    page.locator(".h5-help-links").get_by_role("link", name="在线客服").click()
    expect(page.locator(".h5-brand__title")).to_have_text("在线客服")
