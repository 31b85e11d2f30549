"""The plan list and a plan's page for learners; plans, courses, chapters and questions in
the console for staff."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from infra.extensions import db
from models.base import utcnow
from models.catalog import Chapter, Course, Plan, PlanKind, Question
from models.staff import AuditLog, StaffRole
from tests import factories
from tests.conftest import count_statements
from tests.services.payments.conftest import log_in, submit_form


def staff_console(app, role=StaffRole.STAFF):
    staff = factories.staff(role)
    console = app.test_client()
    submit_form(
        console, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    return console, staff


def test_the_plan_list_puts_the_current_year_first_and_make_up_years_below(client):
    learner = factories.learner()
    makeup = [factories.plan(year=year, kind=PlanKind.MAKEUP) for year in (2013, 2021, 2017)]
    current = factories.plan(year=2022)
    factories.plan(year=2011, kind=PlanKind.MAKEUP, published=False)
    factories.paid_order(learner, makeup[0])
    log_in(client, learner)
    page = client.get("/h5/plans").get_data(as_text=True)
    titles = re.findall(r"重庆市(\d{4})年专技人员继续教育公需科目培训", page)
    assert titles == ["2022", "2021", "2017", "2013"]
    assert page.index("本年度培训") < page.index(current.title) < page.index("往年补学")
    assert "已购买" in page and "¥30.00" in page
    assert 'aria-current="page"' in page  # the 首页 tab


def test_a_plans_page_shows_price_requirement_courses_and_deadline(client):
    learner = factories.learner()
    plan = factories.plan(courses=3, hours_per_course=12)
    plan.study_ends_at = plan.study_ends_at.replace(month=12, day=31, hour=15, minute=59)
    db.session.flush()
    log_in(client, learner)
    page = client.get(f"/h5/plans/{plan.id}").get_data(as_text=True)
    assert "¥30.00" in page and "30 学时" in page and "每学时 45 分钟" in page
    assert "3 门，共 36 学时" in page
    assert "12-31 23:59" in page  # Beijing time
    assert "课程1" in page and "课程3" in page
    assert f'/h5/plans/{plan.id}/buy"' in page and "立即购买" in page
    assert f"/h5/plans/{plan.id}/group" in page


def test_unpublished_plans_are_not_shown(client):
    learner = factories.learner()
    plan = factories.plan(published=False)
    log_in(client, learner)
    assert client.get(f"/h5/plans/{plan.id}").status_code == 404


def test_a_plan_not_yet_on_sale_has_no_buy_button(client):
    learner = factories.learner()
    plan = factories.plan()
    plan.sale_starts_at = utcnow() + timedelta(days=3)
    db.session.flush()
    log_in(client, learner)
    page = client.get(f"/h5/plans/{plan.id}").get_data(as_text=True)
    assert "立即购买" not in page and "不在购买时间内" in page


def test_staff_create_a_plan_with_courses_chapters_and_questions(app):
    console, staff = staff_console(app)
    response = submit_form(
        console,
        "/admin/plans/new",
        {
            "year": "2023",
            "kind": "current",
            "title": "重庆市2023年专技人员继续教育公需科目培训",
            "price_yuan": "30",
            "required_hours": "30",
            "minutes_per_hour": "45",
            "chapter_threshold_percent": "95",
            "sale_starts_at": "2023-06-01T00:00",
            "sale_ends_at": "2023-12-31T23:59",
            "study_ends_at": "2023-12-31T23:59",
            "is_published": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    plan = db.session.scalar(select(Plan).where(Plan.year == 2023))
    assert plan.price_fen == 3000 and plan.is_published
    assert plan.study_ends_at.isoformat() == "2023-12-31T15:59:00+00:00"

    response = submit_form(
        console,
        f"/admin/plans/{plan.id}/courses",
        {"title": "数字经济", "lecturer": "重庆邮电大学", "hours": "3", "sort_order": "1"},
        page=f"/admin/plans/{plan.id}",
    )
    assert response.status_code == 302
    course = db.session.scalar(select(Course).where(Course.plan_id == plan.id))
    response = submit_form(
        console,
        f"/admin/courses/{course.id}/chapters",
        {"title": "第1节 数字经济的内涵", "duration": "1:30", "media_url": "demo/chapter-90s.webm"},
        page=f"/admin/courses/{course.id}",
    )
    assert response.status_code == 302
    chapter = db.session.scalar(select(Chapter).where(Chapter.course_id == course.id))
    assert chapter.duration_seconds == 90 and chapter.media_url == "demo/chapter-90s.webm"
    response = submit_form(
        console,
        f"/admin/courses/{course.id}/questions",
        {
            "stem": "数字经济的核心生产要素是什么？",
            "options": "土地\n数据\n\n劳动力",
            "answer": "2",
        },
        page=f"/admin/courses/{course.id}",
    )
    assert response.status_code == 302
    question = db.session.scalar(select(Question).where(Question.course_id == course.id))
    assert question.options == ["土地", "数据", "劳动力"] and question.answer_index == 1
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.staff_id == staff.id).order_by(AuditLog.id)
    ).all()
    assert actions == ["plan.create", "course.create", "chapter.create", "question.create"]
    page = console.get(f"/admin/courses/{course.id}").get_data(as_text=True)
    assert "1:30" in page and "数据 ✓" in page


def test_plan_form_errors_are_shown_next_to_their_fields(app):
    console, _ = staff_console(app)
    factories.plan(year=2022)
    response = submit_form(
        console,
        "/admin/plans/new",
        {
            "year": "2022",
            "kind": "current",
            "title": "",
            "price_yuan": "abc",
            "required_hours": "0",
            "minutes_per_hour": "45",
            "chapter_threshold_percent": "95",
            "sale_starts_at": "2022-12-31T00:00",
            "sale_ends_at": "2022-06-01T00:00",
            "study_ends_at": "soon",
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for message in (
        "请填写名称",
        "价格应为数字",
        "学分要求应在1到200之间",
        "停止销售时间应晚于开始销售时间",
        "学习截止时间格式应为",
        "2022年度已有本年度学习计划",
    ):
        assert message in page, message
    assert db.session.scalar(select(Plan.id).where(Plan.title == "")) is None


def test_a_chapters_media_must_be_a_url_or_a_media_path(app):
    console, _ = staff_console(app)
    plan = factories.plan(courses=1)
    course = plan.courses[0]
    for bad in ("/etc/passwd", "../secret.webm", "javascript:alert(1)"):
        response = submit_form(
            console,
            f"/admin/courses/{course.id}/chapters",
            {"title": "x", "duration": "60", "media_url": bad},
            page=f"/admin/courses/{course.id}",
        )
        assert response.status_code == 400, bad
        assert "视频地址应为" in response.get_data(as_text=True)


def test_chapters_of_a_plan_learners_hold_cannot_be_deleted(app):
    console, _ = staff_console(app)
    plan = factories.plan(courses=1)
    factories.paid_order(factories.learner(), plan)
    chapter = plan.courses[0].chapters[0]
    response = submit_form(
        console,
        f"/admin/chapters/{chapter.id}/delete",
        {},
        page=f"/admin/courses/{chapter.course_id}",
    )
    page = console.get(response.headers["Location"]).get_data(as_text=True)
    assert "不能删除章节" in page
    assert db.session.get(Chapter, chapter.id) is not None


def test_content_pages_are_for_content_staff_and_order_pages_for_finance(app):
    finance, _ = staff_console(app, StaffRole.FINANCE)
    content, _ = staff_console(app, StaffRole.STAFF)
    assert finance.get("/admin/plans").status_code == 403
    assert content.get("/admin/orders").status_code == 403
    assert finance.get("/admin/orders").status_code == 200
    assert content.get("/admin/plans").status_code == 200
    nav = content.get("/admin/").get_data(as_text=True)
    assert "学习计划与课程" in nav and "/admin/orders" not in nav


def test_staff_find_an_order_by_the_buyers_id_number(app):
    console, _ = staff_console(app, StaffRole.FINANCE)
    learner = factories.learner(name="赵敏")
    order = factories.paid_order(learner, factories.plan())
    other = factories.paid_order(factories.learner(), factories.plan(year=2021))
    page = console.get(f"/admin/orders?q={learner.id_number.lower()}").get_data(as_text=True)
    assert order.out_trade_no in page and other.out_trade_no not in page
    # Masked in the list (the search box echoes what was typed, a lower-case x included).
    assert learner.id_number not in page.split("<table", 1)[1]
    detail = console.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "整单退款" in detail and "赵敏" in detail


def test_odd_numbers_and_dates_in_the_plan_form_are_refused_with_a_reason(app):
    console, _ = staff_console(app)
    good = {
        "year": "2023",
        "kind": "current",
        "title": "重庆市2023年专技人员继续教育公需科目培训",
        "price_yuan": "30",
        "required_hours": "30",
        "minutes_per_hour": "45",
        "chapter_threshold_percent": "95",
        "sale_starts_at": "2023-06-01T00:00",
        "sale_ends_at": "2023-12-31T23:59",
        "study_ends_at": "2023-12-31T23:59",
    }
    for field, bad, message in (
        ("price_yuan", "1e30", "价格"),
        ("price_yuan", "Infinity", "价格"),
        ("price_yuan", "sNaN", "价格"),
        ("required_hours", "፫፩", "学分要求应为整数"),
        ("sale_starts_at", "0001-01-01T00:00", "开始销售时间"),
    ):
        response = submit_form(console, "/admin/plans/new", {**good, field: bad})
        assert response.status_code == 400, (field, bad)
        assert message in response.get_data(as_text=True), (field, bad)
    assert db.session.scalar(select(Plan.id).where(Plan.year == 2023)) is None


def test_a_chapters_duration_in_other_digits_is_refused_with_a_reason(app):
    console, _ = staff_console(app)
    course = factories.plan(courses=1).courses[0]
    response = submit_form(
        console,
        f"/admin/courses/{course.id}/chapters",
        {"title": "x", "duration": "፩:፫", "media_url": "demo/chapter-60s.webm"},
        page=f"/admin/courses/{course.id}",
    )
    assert response.status_code == 400
    assert "时长格式应为" in response.get_data(as_text=True)


def test_a_plan_already_held_leads_to_its_study_page(client):
    learner = factories.learner()
    plan = factories.plan()
    order = factories.paid_order(learner, plan)
    log_in(client, learner)
    for path in (f"/h5/plans/{plan.id}", f"/h5/orders/{order.id}"):
        page = client.get(path).get_data(as_text=True)
        assert f'href="/h5/study/plans/{plan.id}"' in page and "立即购买" not in page, path


def test_a_plans_console_page_costs_the_same_queries_for_many_courses(app):
    console, _ = staff_console(app)
    small = factories.plan(year=2022, courses=2, chapters_per_course=2)
    large = factories.plan(year=2021, kind=PlanKind.MAKEUP, courses=12, chapters_per_course=2)
    counts = []
    for plan in (small, large):
        db.session.expire_all()
        with count_statements() as statements:
            page = console.get(f"/admin/plans/{plan.id}").get_data(as_text=True)
        assert f"共 {len(plan.courses)} 门" in page
        counts.append(len(statements))
    assert counts[0] == counts[1]
