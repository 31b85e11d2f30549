"""课程培训 pages: figures, green checks, paging, the player, media, and constant queries."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from infra.extensions import db
from models.base import utcnow
from models.study import ChapterProgress
from tests import factories
from tests.conftest import count_statements
from tests.study_player import log_in


def finish(learner, chapter, covered=None):
    db.session.add(
        ChapterProgress(
            learner_id=learner.id,
            chapter_id=chapter.id,
            intervals=[[0, covered or chapter.duration_seconds]],
            covered_seconds=covered or chapter.duration_seconds,
            credited_seconds=covered or chapter.duration_seconds,
            last_position=covered or chapter.duration_seconds,
            finished_at=None if covered else utcnow(),
        )
    )
    db.session.flush()


@pytest.fixture
def learner(client):
    learner = factories.learner(name="张伟")
    log_in(client, learner)
    return learner


def test_my_study_lists_plans_with_requirement_hours_and_progress(client, learner):
    plan = factories.plan(required_hours=30, courses=2)
    enrollment = factories.enrollment(learner, plan)
    enrollment.earned_hours = 12
    db.session.flush()
    page = client.get("/h5/study").get_data(as_text=True)
    assert plan.title in page
    assert "学分要求" in page and "30 学时" in page
    assert "12 学时" in page
    assert 'aria-valuenow="40"' in page  # 12 of 30
    assert f'href="/h5/study/plans/{plan.id}"' in page
    assert "进入学习" in page
    assert 'aria-current="page"' in page  # the 课程培训 tab


def test_my_study_without_plans_says_what_to_do(client, learner):
    page = client.get("/h5/study").get_data(as_text=True)
    assert "您还没有开通学习计划" in page
    assert 'href="/h5/plans"' in page


def test_the_plan_page_pages_courses_and_checks_finished_ones(client, learner):
    plan = factories.plan(courses=12, chapters_per_course=2)
    factories.enrollment(learner, plan)
    first = plan.courses[0]
    for chapter in first.chapters:
        finish(learner, chapter)
    finish(learner, plan.courses[1].chapters[0])
    page = client.get(f"/h5/study/plans/{plan.id}").get_data(as_text=True)
    assert "课程列表（共 12 门）" in page
    assert "第 1 / 2 页" in page
    assert page.count('aria-label="已学完"') == 1
    assert "已学 2/2 章" in page and "已学 1/2 章" in page
    assert "继续上次学习" in page
    second = client.get(f"/h5/study/plans/{plan.id}?page=2").get_data(as_text=True)
    assert "课程11" in second and "课程1<" not in second
    assert "上一页" in second


def test_the_course_page_shows_chapters_durations_checks_and_where_the_learner_stopped(
    client, learner
):
    plan = factories.plan()
    course = factories.course(plan, chapters=3, chapter_seconds=754)
    factories.enrollment(learner, plan)
    finish(learner, course.chapters[0])
    finish(learner, course.chapters[1], covered=200)
    page = client.get(f"/h5/study/courses/{course.id}").get_data(as_text=True)
    assert "时长 12:34" in page
    assert page.count('aria-label="已学完"') == 1
    assert "已学 26%" in page and "未开始" in page
    assert "继续学习：第2章 03:20" in page
    assert "上次停在 03:20" in page


def test_the_player_page(client, learner):
    plan = factories.plan()
    course = factories.course(plan, chapters=2, chapter_seconds=90)
    factories.enrollment(learner, plan)
    chapter = course.chapters[0]
    chapter.media_url = "demo/chapter-90s.webm"
    finish(learner, chapter, covered=45)
    page = client.get(f"/h5/study/chapters/{chapter.id}").get_data(as_text=True)
    # The chapter's progress bar says its value to screen readers too.
    assert re.search(r'aria-label="本章已学" aria-valuenow="50"', page)
    assert re.search(r'id="study-covered"[^>]*>50%<', page)
    assert 'src="/h5/media/demo/chapter-90s.webm"' in page
    assert f'href="/h5/study/plans/{plan.id}"' in page  # the red round button
    assert "study-home-button" in page
    assert 'id="study-question"' in page and "weui-dialog" in page
    assert f'href="/h5/study/chapters/{course.chapters[1].id}"' in page  # next chapter
    assert "观看满 95% 即为学完" in page


def test_pages_refuse_plans_the_learner_does_not_hold(client, learner):
    plan = factories.plan(courses=1)
    course = plan.courses[0]
    for url in (
        f"/h5/study/plans/{plan.id}",
        f"/h5/study/courses/{course.id}",
        f"/h5/study/chapters/{course.chapters[0].id}",
    ):
        response = client.get(url)
        assert response.status_code == 403
        assert "开通" in response.get_data(as_text=True)
    assert client.get("/h5/study/courses/999999").status_code == 404


@pytest.mark.parametrize("page", ["plans", "courses", "chapters"])
def test_a_number_beyond_any_row_is_not_found(client, learner, page):
    response = client.get(f"/h5/study/{page}/{2**31}")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_a_page_number_beyond_any_page_is_no_error(client, learner):
    plan = factories.plan(courses=1)
    factories.enrollment(learner, plan)
    assert client.get(f"/h5/study/plans/{plan.id}?page={10**20}").status_code == 200


def test_pages_need_a_login(client):
    response = client.get("/h5/study")
    assert response.status_code == 302
    # The entry logs a WeChat user in silently, or sends them on to log in.
    assert response.headers["Location"].startswith("/h5/?next=")


@pytest.mark.parametrize("url", ["plan", "course", "my"])
def test_pages_run_a_constant_number_of_queries(client, learner, url):
    counts = []
    for size in (2, 14):
        plan = factories.plan(year=2000 + size, courses=size, chapters_per_course=size)
        factories.enrollment(learner, plan)
        for course in plan.courses[:2]:
            for chapter in course.chapters:
                finish(learner, chapter)
        target = {
            "plan": f"/h5/study/plans/{plan.id}",
            "course": f"/h5/study/courses/{plan.courses[0].id}",
            "my": "/h5/study",
        }[url]
        db.session.expire_all()
        with count_statements() as statements:
            assert client.get(target).status_code == 200
        counts.append(len([s for s in statements if not s.startswith("SAVEPOINT")]))
    assert counts[0] == counts[1]


def test_chapter_page_runs_a_constant_number_of_queries(client, learner):
    counts = []
    for size in (2, 20):
        plan = factories.plan(year=2000 + size, courses=1, chapters_per_course=size)
        factories.enrollment(learner, plan)
        db.session.expire_all()
        with count_statements() as statements:
            assert (
                client.get(f"/h5/study/chapters/{plan.courses[0].chapters[1].id}").status_code
                == 200
            )
        counts.append(len(statements))
    assert counts[0] == counts[1]


# --- media ----------------------------------------------------------------------------------


@pytest.fixture
def media_file(app):
    from services.study.overview import media_root

    with app.test_request_context():
        root = media_root()
    path = root / "demo" / "chapter-90s.webm"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(range(256)) * 40)
    return path


def test_media_is_served_with_ranges_to_enrolled_learners(client, learner, media_file):
    plan = factories.plan()
    course = factories.course(plan, chapters=1, chapter_seconds=90)
    course.chapters[0].media_url = "demo/chapter-90s.webm"
    factories.enrollment(learner, plan)
    db.session.flush()
    with client.get("/h5/media/demo/chapter-90s.webm") as whole:
        assert whole.status_code == 200
        assert whole.data == media_file.read_bytes()
    with client.get("/h5/media/demo/chapter-90s.webm", headers={"Range": "bytes=100-199"}) as part:
        assert part.status_code == 206
        assert part.data == media_file.read_bytes()[100:200]
        assert re.match(r"bytes 100-199/10240", part.headers["Content-Range"])


def test_media_is_refused_to_others_and_outside_the_root(client, learner, media_file):
    plan = factories.plan()
    course = factories.course(plan, chapters=1, chapter_seconds=90)
    course.chapters[0].media_url = "demo/chapter-90s.webm"
    db.session.flush()
    assert client.get("/h5/media/demo/chapter-90s.webm").status_code == 404  # not enrolled
    assert client.get("/h5/media/../../etc/passwd").status_code == 404


def test_study_closed_is_said_on_the_plan_page(client, learner):
    plan = factories.plan(courses=1)
    plan.study_ends_at = utcnow() - timedelta(days=1)
    factories.enrollment(learner, plan)
    db.session.flush()
    page = client.get(f"/h5/study/plans/{plan.id}").get_data(as_text=True)
    assert "观看不再计入学时" in page


def resume_link(client, plan):
    page = client.get(f"/h5/study/plans/{plan.id}").get_data(as_text=True)
    match = re.search(
        r'href="/h5/study/chapters/(\d+)">\s*<div class="weui-cell__bd"><p>继续上次学习', page
    )
    return int(match.group(1)) if match else None


def test_continue_points_at_the_next_unfinished_chapter_once_the_last_one_is_finished(
    client, learner
):
    plan = factories.plan()
    first = factories.course(plan, title="课程一", chapters=3, chapter_seconds=60)
    second = factories.course(plan, title="课程二", chapters=2, chapter_seconds=60)
    factories.enrollment(learner, plan)
    assert resume_link(client, plan) is None  # nothing studied yet

    finish(learner, first.chapters[1], covered=20)
    assert resume_link(client, plan) == first.chapters[1].id  # unfinished: where it stopped

    finish(learner, first.chapters[2])  # the last touched, finished: on to the next course
    assert resume_link(client, plan) == second.chapters[0].id
    course_page = client.get(f"/h5/study/courses/{first.id}").get_data(as_text=True)
    assert f"继续学习：{first.chapters[0].title}<" in course_page  # wraps round in the course

    for chapter in second.chapters:
        finish(learner, chapter)
    assert resume_link(client, plan) == first.chapters[0].id  # wraps round to one left behind
    finish(learner, first.chapters[0])
    db.session.query(ChapterProgress).filter_by(chapter_id=first.chapters[1].id).update(
        {"finished_at": utcnow()}
    )
    assert resume_link(client, plan) is None  # every chapter finished


def test_my_study_counts_down_to_the_plans_own_deadline(client, learner):
    plan = factories.plan()
    beijing = ZoneInfo("Asia/Shanghai")
    today = utcnow().astimezone(beijing).date()
    deadline = (utcnow() + timedelta(days=12)).astimezone(beijing).replace(hour=23, minute=59)
    plan.study_ends_at = deadline
    factories.enrollment(learner, plan)
    page = client.get("/h5/study").get_data(as_text=True)
    days = (deadline.date() - today).days
    assert f"距 {deadline.month}月{deadline.day}日 截止还有 {days} 天" in page
