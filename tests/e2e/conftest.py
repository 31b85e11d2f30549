"""Shared fixtures of the browser tests: Debian's Chromium driven by Playwright, pages at a
phone's size with WeChat's user agent or at a desktop's size for the console, screenshots,
and the live platform made fast for them (short study rhythm)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
# WeChat's built-in browser on an iPhone, as the platform sees it.
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
# What a browser test waits for at most before it calls a step failed.
STEP_TIMEOUT_MS = 15_000
expect.set_options(timeout=STEP_TIMEOUT_MS)


def screenshot_dir(tmp_path: Path) -> Path:
    """Screenshots go to SCREENSHOT_DIR when set (to look at them), else the test's tmp dir."""
    target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshot_dir(tmp_path)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Chromium is missing: ./dev test installs it (as root), or: sudo apt-get install -y chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def phone(browser: Browser) -> BrowserContext:
    """A phone inside WeChat: its own cookies, WeChat's user agent, a phone's screen."""
    context = browser.new_context(
        viewport=PHONE,
        user_agent=WECHAT_UA,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        accept_downloads=True,
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context


def desktop(browser: Browser) -> BrowserContext:
    """A staff member's computer."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context


def snap(page: Page, shots: Path, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=full_page)


@pytest.fixture
def live_settings() -> dict:
    """The player reports every 2 s and asks its first 防挂机 question within seconds."""
    return {
        "STUDY_HEARTBEAT_SECONDS": 2,
        "STUDY_MIN_HEARTBEAT_SECONDS": 1,
        "STUDY_QUESTION_MIN_SECONDS": 3,
        "STUDY_QUESTION_MAX_SECONDS": 4,
    }


def _option(page: Page, *, right: bool):
    """The shown question's right (or a wrong) option's button, found by the bank's answer."""
    from tests.study_player import right_option

    stem = page.locator("#study-question-stem").inner_text()
    answer = right_option({"stem": stem})
    buttons = page.locator("#study-question-options button")
    for index in range(buttons.count()):
        text = buttons.nth(index).inner_text()
        if (text.split(". ", 1)[1] == answer) is right:
            return buttons.nth(index)
    raise AssertionError(f"no such option for {stem}")


def answer_right(page: Page) -> None:
    _option(page, right=True).click()


def answer_wrong(page: Page) -> None:
    _option(page, right=False).click()


def watch_until_done(page: Page, *, seconds: int = 90) -> None:
    """Keep watching as a learner does until the chapter's green check shows: answer each
    防挂机 question, and if the video ends short of the threshold (a heartbeat refused on a
    busy machine left a gap), play it again from the start to cover what is missing."""
    check = page.locator("#study-check")
    dialog = page.locator("#study-question")
    for _ in range(seconds * 2):
        if check.is_visible():
            return
        if dialog.is_visible():
            answer_right(page)
        elif page.locator("#study-video").evaluate("v => v.ended"):
            page.locator("#study-video").evaluate("v => { v.currentTime = 0; v.play(); }")
        page.wait_for_timeout(500)
    expect(check).to_be_visible()
