"""The chapter list under the player and 自动播放下一节, in headless Chromium at a phone
viewport with WeChat's user agent."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.extensions import db
from infra.transaction import commit
from models.base import utcnow
from models.study import ChapterProgress
from services.demo import media
from tests import factories
from tests.e2e.conftest import phone, snap, watch_until_done


def until(page, predicate: str, *, seconds: int = 10) -> None:
    """Poll the video (the page's CSP refuses the string functions ``wait_for_function`` sends)."""
    video = page.locator("#study-video")
    for _ in range(seconds * 4):
        if video.evaluate(predicate):
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"the video never satisfied {predicate}")


@pytest.mark.committed
def test_autoplay_goes_on_to_the_next_unfinished_chapter(live_platform, browser, shots):
    app, base = live_platform.app, live_platform.url
    learner = factories.learner(name="王芳")
    plan = factories.plan(required_hours=3, courses=0)
    plan.chapter_threshold_percent = 90
    course = factories.course(
        plan, title="数字经济与数字化转型", hours=3, chapters=3, chapter_seconds=6
    )
    first, second, third = course.chapters
    for chapter in course.chapters:
        chapter.media_url = "demo/chapter-6s.webm"
    factories.enrollment(learner, plan)
    db.session.add(
        ChapterProgress(
            learner_id=learner.id,
            chapter_id=second.id,
            intervals=[[0, 6]],
            covered_seconds=6,
            credited_seconds=6,
            last_position=6,
            finished_at=utcnow(),
        )
    )
    commit()
    first_id, second_id, third_id = first.id, second.id, third.id
    with app.app_context():
        assert media.seed()
        db.session.remove()

    context = phone(browser)
    page = context.new_page()
    page.goto(base + "/h5/login")
    page.fill("input[name=account]", learner.id_number)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/h5/study/chapters/{first_id}")

    # The course's chapters under the player: this one marked, the finished one ticked.
    rows = page.locator("#study-list .study-chapter")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("aria-current", "page")
    expect(rows.nth(1).locator(".h5-check")).to_be_visible()
    expect(rows.nth(0).locator(".h5-check")).to_have_count(0)
    expect(rows.nth(2)).to_contain_text("未开始")
    switch = page.locator("#study-autoplay")
    expect(switch).not_to_be_checked()
    assert page.locator(".study-autoplay .weui-cell").bounding_box()["height"] >= 44

    # The switch is remembered across pages.
    page.locator(".study-autoplay .weui-cell").click()
    expect(switch).to_be_checked()
    page.reload()
    expect(page.locator("#study-autoplay")).to_be_checked()
    snap(page, shots, "chapter-list-1-switch-on")

    expect(page.locator("#study-status")).to_contain_text("点击播放")
    page.evaluate("document.getElementById('study-video').play()")
    expect(page.locator("#study-status")).to_have_text("正在计时。", timeout=10_000)
    watch_until_done(page)
    # Finished: ticked in the list too, then on to the next unfinished chapter (the second
    # is finished already), which starts playing.
    expect(rows.nth(0).locator(".h5-check")).to_be_visible()
    expect(page).to_have_url(f"{base}/h5/study/chapters/{third_id}", timeout=20_000)
    expect(page.locator("#study-list .study-chapter").nth(2)).to_have_attribute(
        "aria-current", "page"
    )
    until(page, "v => !v.paused && v.currentTime > 0")
    snap(page, shots, "chapter-list-2-next-playing")

    # Switched off, a finished chapter stays where it is when its video ends.
    page.locator(".study-autoplay .weui-cell").click()
    expect(page.locator("#study-autoplay")).not_to_be_checked()
    assert page.evaluate("localStorage.getItem('study.autoplay')") == "0"
    page.goto(f"{base}/h5/study/chapters/{second_id}")
    expect(page.locator("#study-autoplay")).not_to_be_checked()
    page.evaluate("document.getElementById('study-video').play()")
    until(page, "v => v.ended", seconds=20)
    page.wait_for_timeout(2_500)
    expect(page).to_have_url(f"{base}/h5/study/chapters/{second_id}")
    context.close()
