"""Console: plans, courses, chapters and 防挂机 questions (staff and admins)."""

from __future__ import annotations

from typing import TypeVar

from flask import render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField

from handlers.admin import bp, staff_required
from handlers.admin.actions import console_action
from models.base import Model
from models.catalog import Chapter, Course, Plan, PlanKind, Question
from models.staff import StaffRole
from services import catalog
from services.display import local_time
from services.rows import get_row

M = TypeVar("M", bound=Model)

content_staff = staff_required(StaffRole.STAFF)
_DATETIME = "%Y-%m-%dT%H:%M"


class PlanForm(FlaskForm):
    year = StringField("年度")
    kind = StringField("类型", default=PlanKind.CURRENT.value)
    title = StringField("名称")
    description = TextAreaField("简介")
    price_yuan = StringField("价格（元）")
    required_hours = StringField("学分要求（学时）")
    minutes_per_hour = StringField("每学时分钟数")
    chapter_threshold_percent = StringField("章节完成比例（%）")
    sale_starts_at = StringField("开始销售")
    sale_ends_at = StringField("停止销售")
    study_ends_at = StringField("学习截止")
    is_published = BooleanField("发布（学员可见）")


class CourseForm(FlaskForm):
    title = StringField("课程名称")
    lecturer = StringField("主讲人")
    hours = StringField("学时")
    description = TextAreaField("简介")
    sort_order = StringField("排序", default="0")


class ChapterForm(FlaskForm):
    title = StringField("章节名称")
    duration = StringField("时长（秒，或 分:秒）")
    media_url = StringField("视频地址")
    sort_order = StringField("排序", default="0")


class QuestionForm(FlaskForm):
    stem = TextAreaField("题目")
    options = TextAreaField("选项（每行一个）")
    answer = StringField("正确答案（第几个选项）")


def _get(model: type[M], object_id: int | None) -> M:
    return get_row(model, object_id, "记录不存在。")


@bp.get("/plans")
@content_staff
def plans():
    return render_template("admin/catalog/plans.html", rows=catalog.plans_for_staff())


@bp.route("/plans/new", methods=["GET", "POST"])
@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@content_staff
def plan_edit(plan_id: int | None = None):
    plan = _get(Plan, plan_id) if plan_id else None
    form = PlanForm(data=_plan_form_data(plan) if plan and request.method == "GET" else None)
    if plan is None and request.method == "GET":
        form.minutes_per_hour.data, form.required_hours.data = "45", "30"
        form.chapter_threshold_percent.data = "95"
    saved = console_action(
        lambda actor: catalog.save_plan(
            catalog.PlanInput(
                **{name: form[name].data or "" for name in _PLAN_TEXT_FIELDS},
                is_published=form.is_published.data,
            ),
            plan_id=plan_id,
            actor=actor,
        ),
        form=form,
        done="学习计划已保存。",
        then=lambda plan: url_for("admin.plan_view", plan_id=plan.id),
    )
    if saved is not None:
        return saved
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/catalog/plan_form.html", form=form, plan=plan, kinds=list(PlanKind)
    ), status


_PLAN_TEXT_FIELDS = (
    "year",
    "kind",
    "title",
    "description",
    "price_yuan",
    "required_hours",
    "minutes_per_hour",
    "chapter_threshold_percent",
    "sale_starts_at",
    "sale_ends_at",
    "study_ends_at",
)


def _plan_form_data(plan: Plan) -> dict:
    return {
        "year": str(plan.year),
        "kind": plan.kind.value,
        "title": plan.title,
        "description": plan.description,
        "price_yuan": f"{plan.price_fen // 100}.{plan.price_fen % 100:02d}",
        "required_hours": str(plan.required_hours),
        "minutes_per_hour": str(plan.minutes_per_hour),
        "chapter_threshold_percent": str(plan.chapter_threshold_percent),
        "sale_starts_at": local_time(plan.sale_starts_at, _DATETIME),
        "sale_ends_at": local_time(plan.sale_ends_at, _DATETIME),
        "study_ends_at": local_time(plan.study_ends_at, _DATETIME),
        "is_published": plan.is_published,
    }


@bp.get("/plans/<int:plan_id>")
@content_staff
def plan_view(plan_id: int):
    return render_template(
        "admin/catalog/plan.html", plan=catalog.staff_plan(plan_id), course_form=CourseForm()
    )


@bp.post("/plans/<int:plan_id>/courses")
@bp.route("/courses/<int:course_id>/edit", methods=["GET", "POST"])
@content_staff
def course_edit(plan_id: int | None = None, course_id: int | None = None):
    course = _get(Course, course_id) if course_id else None
    plan = course.plan if course else _get(Plan, plan_id)
    form = CourseForm(obj=course if course and request.method == "GET" else None)
    if course is not None and request.method == "GET":
        form.hours.data, form.sort_order.data = str(course.hours), str(course.sort_order)
    saved = console_action(
        lambda actor: catalog.save_course(
            catalog.CourseInput(
                title=form.title.data or "",
                hours=form.hours.data or "",
                lecturer=form.lecturer.data or "",
                description=form.description.data or "",
                sort_order=form.sort_order.data or "0",
            ),
            plan_id=plan.id,
            course_id=course_id,
            actor=actor,
        ),
        form=form,
        done="课程已保存。",
        then=lambda course: url_for("admin.course_view", course_id=course.id),
    )
    if saved is not None:
        return saved
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/catalog/course_form.html", form=form, plan=plan, course=course
    ), status


@bp.get("/courses/<int:course_id>")
@content_staff
def course_view(course_id: int):
    course = _get(Course, course_id)
    return render_template(
        "admin/catalog/course.html",
        course=course,
        questions=catalog.course_questions(course_id),
        chapter_form=ChapterForm(),
        question_form=QuestionForm(),
    )


@bp.post("/courses/<int:course_id>/delete")
@content_staff
def course_delete(course_id: int):
    return console_action(
        lambda actor: catalog.delete_course(course_id, actor=actor),
        done="课程已删除。",
        then=lambda plan_id: url_for("admin.plan_view", plan_id=plan_id),
        refused=url_for("admin.course_view", course_id=course_id),
    )


@bp.post("/courses/<int:course_id>/chapters")
@bp.route("/chapters/<int:chapter_id>/edit", methods=["GET", "POST"])
@content_staff
def chapter_edit(course_id: int | None = None, chapter_id: int | None = None):
    chapter = _get(Chapter, chapter_id) if chapter_id else None
    course = chapter.course if chapter else _get(Course, course_id)
    form = ChapterForm(obj=chapter if chapter and request.method == "GET" else None)
    if chapter is not None and request.method == "GET":
        form.duration.data = str(chapter.duration_seconds)
        form.sort_order.data = str(chapter.sort_order)
    saved = console_action(
        lambda actor: catalog.save_chapter(
            catalog.ChapterInput(
                title=form.title.data or "",
                duration=form.duration.data or "",
                media_url=form.media_url.data or "",
                sort_order=form.sort_order.data or "0",
            ),
            course_id=course.id,
            chapter_id=chapter_id,
            actor=actor,
        ),
        form=form,
        done="章节已保存。",
        then=url_for("admin.course_view", course_id=course.id),
    )
    if saved is not None:
        return saved
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/catalog/chapter_form.html", form=form, course=course, chapter=chapter
    ), status


@bp.post("/chapters/<int:chapter_id>/delete")
@content_staff
def chapter_delete(chapter_id: int):
    back = url_for("admin.course_view", course_id=_get(Chapter, chapter_id).course_id)
    return console_action(
        lambda actor: catalog.delete_chapter(chapter_id, actor=actor),
        done="章节已删除。",
        then=back,
        refused=back,
    )


@bp.post("/courses/<int:course_id>/questions")
@bp.post("/questions")
@bp.route("/questions/<int:question_id>/edit", methods=["GET", "POST"])
@content_staff
def question_edit(course_id: int | None = None, question_id: int | None = None):
    question = _get(Question, question_id) if question_id else None
    if question is not None:
        course_id = question.course_id
    course = _get(Course, course_id) if course_id else None
    form = QuestionForm()
    if question is not None and request.method == "GET":
        form.stem.data = question.stem
        form.options.data = "\n".join(question.options)
        form.answer.data = str(question.answer_index + 1)
    saved = console_action(
        lambda actor: catalog.save_question(
            catalog.QuestionInput(
                stem=form.stem.data or "",
                options=form.options.data or "",
                answer=form.answer.data or "",
            ),
            course_id=course_id,
            question_id=question_id,
            actor=actor,
        ),
        form=form,
        done="题目已保存。",
        then=_questions_page,
    )
    if saved is not None:
        return saved
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/catalog/question_form.html", form=form, course=course, question=question
    ), status


@bp.post("/questions/<int:question_id>/active")
@content_staff
def question_toggle(question_id: int):
    return console_action(
        lambda actor: catalog.set_question_active(
            question_id, request.form.get("active") == "1", actor=actor
        ),
        done=lambda question: "题目已启用。" if question.is_active else "题目已停用。",
        then=_questions_page,
        refused=_questions_page(_get(Question, question_id)),
    )


def _questions_page(question: Question) -> str:
    """Where a question is listed: its course, or the generic bank."""
    if question.course_id:
        return url_for("admin.course_view", course_id=question.course_id)
    return url_for("admin.question_bank")


@bp.get("/questions")
@content_staff
def question_bank():
    return render_template(
        "admin/catalog/question_bank.html",
        questions=catalog.bank_questions(),
        question_form=QuestionForm(),
    )
