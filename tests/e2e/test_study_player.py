"""The learner's study journey in headless Chromium: plans, a course, the player with a
防挂机 question, the chapter's green check, and the plan's progress bar moving."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.base import utcnow
from models.study import StudySession
from services.demo import media
from services.study import signals
from tests import factories
from tests.e2e.conftest import PHONE, answer_right, answer_wrong, phone, snap, watch_until_done
from wxapp import study_flush


@pytest.mark.committed
def test_a_learner_plays_a_chapter_to_its_green_check(live_platform, browser, shots):
    # The live platform's player reports every 2 s and asks within the first seconds.
    app, base = live_platform.app, live_platform.url
    learner = factories.learner(name="张伟")
    plan = factories.plan(required_hours=3, courses=0)
    plan.chapter_threshold_percent = 90
    course = factories.course(
        plan, title="数字经济与数字化转型", hours=3, chapters=1, chapter_seconds=12
    )
    factories.course(plan, title="专业技术人员职业道德", hours=3, chapters=2, sort_order=1)
    chapter = course.chapters[0]
    chapter.media_url = "demo/chapter-12s.webm"
    factories.question(course, answer_index=1)
    factories.enrollment(learner, plan)
    commit()
    chapter_id, plan_id, course_id = chapter.id, plan.id, course.id
    with app.app_context():
        assert media.seed()  # the chapter's media, generated locally
        db.session.remove()

    page = browser.new_page(viewport=PHONE)
    page.goto(base + "/h5/login")
    page.fill("input[name=account]", learner.id_number)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")

    page.goto(base + "/h5/study")
    expect(page.locator(".study-plan-card")).to_contain_text("学分要求")
    page.screenshot(path=shots / "study-1-my-plans.png", full_page=True)
    page.get_by_role("link", name="进入学习").click()
    expect(page.locator(".study-course")).to_have_count(2)
    page.screenshot(path=shots / "study-2-plan.png", full_page=True)
    page.locator(".study-course").first.click()
    expect(page).to_have_url(f"{base}/h5/study/courses/{course_id}")
    page.screenshot(path=shots / "study-3-course.png", full_page=True)
    page.locator(".study-chapter").first.click()
    expect(page).to_have_url(f"{base}/h5/study/chapters/{chapter_id}")

    video = page.locator("#study-video")
    expect(page.locator("#study-status")).to_contain_text("点击播放")
    page.evaluate("document.getElementById('study-video').play()")
    expect(page.locator("#study-status")).to_have_text("正在计时。", timeout=10_000)

    # 防挂机: the question pauses playback until it is answered.
    dialog = page.locator("#study-question")
    expect(dialog).to_be_visible(timeout=15_000)
    assert page.evaluate("document.getElementById('study-video').paused")
    page.screenshot(path=shots / "study-4-question.png")
    expect(page.locator("#study-question-stem")).to_contain_text("每年应完成多少学时")
    answer_wrong(page)
    expect(page.locator("#study-question-tip")).to_contain_text("回答错误", timeout=5_000)
    # Another question, and the next answer waits: answered too soon, it is refused.
    expect(page.locator("#study-question-stem")).not_to_contain_text("每年应完成多少学时")
    answer_right(page)
    expect(page.locator("#study-question-tip")).to_contain_text("才能再次作答")
    page.wait_for_timeout(15_500)
    answer_right(page)
    expect(dialog).to_be_hidden()
    assert video.evaluate("v => !v.paused")

    # Questions keep coming every few seconds of watched time; answer each until done.
    watch_until_done(page)
    expect(page.locator("#study-covered")).to_have_text(re.compile(r"^(9\d|100)%$"))
    page.screenshot(path=shots / "study-5-finished.png")

    # The red round button goes back to the plan: the course has its check, 3 of 3 学时.
    page.locator(".study-home-button").click()
    expect(page).to_have_url(f"{base}/h5/study/plans/{plan_id}")
    expect(page.locator(".study-course").first.locator(".h5-check")).to_be_visible()
    expect(page.locator(".h5-progress").first).to_have_attribute("aria-valuenow", "100")
    page.screenshot(path=shots / "study-6-plan-after.png", full_page=True)


@pytest.mark.committed
def test_the_real_player_reports_every_second_through_pauses_questions_and_a_network_drop(
    live_platform, browser, shots
):
    # A 100% threshold: the chapter is finished only if every second played was reported.
    app, base = live_platform.app, live_platform.url
    learner = factories.learner(name="李娜")
    plan = factories.plan(required_hours=3, courses=0)
    plan.chapter_threshold_percent = 100
    course = factories.course(
        plan, title="数字经济与数字化转型", hours=3, chapters=1, chapter_seconds=30
    )
    chapter = course.chapters[0]
    chapter.media_url = "demo/chapter-30s.webm"
    factories.question(course, answer_index=1)
    factories.enrollment(learner, plan)
    commit()
    chapter_id = chapter.id
    with app.app_context():
        assert media.seed()
        db.session.remove()

    context = phone(browser)
    page = context.new_page()
    page.goto(base + "/h5/login")
    page.fill("input[name=account]", learner.id_number)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/h5/study/chapters/{chapter_id}")
    expect(page.locator("#study-status")).to_contain_text("点击播放")
    page.wait_for_timeout(2_000)  # play is pressed a moment after the page loads
    page.evaluate("document.getElementById('study-video').play()")
    expect(page.locator("#study-status")).to_have_text("正在计时。", timeout=10_000)

    dialog = page.locator("#study-question")
    check = page.locator("#study-check")
    video = page.locator("#study-video")
    paused = dropped = False
    ended_at = None
    for _ in range(240):
        if check.is_visible():
            break
        if dialog.is_visible():
            page.wait_for_timeout(2_500)  # the learner reads the question first
            answer_right(page)
        position = video.evaluate("v => v.currentTime")
        if not paused and position > 5 and not dialog.is_visible():
            # A pause just after a report, for a few seconds.
            paused = True
            video.evaluate("v => v.pause()")
            page.wait_for_timeout(3_000)
            video.evaluate("v => v.play()")
        elif paused and not dropped and position > 12:
            # The network goes for 8 s while the video plays on.
            dropped = True
            page.route("**/api/study/heartbeats", lambda route: route.abort())
            for _ in range(16):
                if dialog.is_visible():
                    break
                page.wait_for_timeout(500)
            page.unroute("**/api/study/heartbeats")
        if video.evaluate("v => v.ended"):
            ended_at = ended_at or time.monotonic()
            # The last reports may wait for the minimum gap and a slow reply (a busy machine);
            # the chapter is never played again from the start to finish it.
            assert time.monotonic() - ended_at < 30, page.locator("#study-covered").inner_text()
        page.wait_for_timeout(250)
    assert paused and dropped
    expect(check).to_be_visible()
    expect(page.locator("#study-covered")).to_have_text("100%")
    snap(page, shots, "study-7-every-second")
    context.close()

    # Nothing in the session's evidence flags this learner: in particular its reports came
    # at no machine's rhythm.
    with app.app_context():
        study_flush.flush_all(500)
        commit()
        recorded = db.session.scalars(
            select(StudySession).where(StudySession.learner_id == learner.id)
        ).all()
        assert sum(row.report_intervals for row in recorded) >= 10
        for row in recorded:
            if row.report_intervals >= 5:
                mean = row.report_interval_sum_ms / row.report_intervals
                deviation = (
                    row.report_interval_squares_ms2 / row.report_intervals - mean**2
                ) ** 0.5
                assert deviation / mean > signals.TIMING_MAX_CV, (row.report_intervals, mean)
        flags = {
            flag.code
            for item in signals.flagged(utcnow())
            if item.learner_id == learner.id
            for flag in item.flags
        }
        # The honest learner, who reads each question before answering, is never flagged.
        assert flags == set(), flags
        db.session.remove()
