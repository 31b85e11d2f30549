"""The catalogue: training plans per year (the current 公需科目 plan and the make-up plans of
2011-2021), their courses, chapters and 防挂机 questions.

Learners see published plans and whether each is theirs; staff create and edit everything.
Rules that differ by province and year (学时 required, minutes per 学时, the share of a chapter
that must be watched, the sale and study windows) are fields of the plan, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from infra.extensions import db
from models.base import utcnow
from models.catalog import Chapter, Course, Plan, PlanKind, Question
from models.enrollments import Enrollment, EnrollmentStatus
from models.orders import Order, OrderKind, OrderStatus
from services.accounts.identity import clean_text, normalise_code
from services.audit import Actor, record_action
from services.display import LOCAL_TZ, local_time
from services.errors import Conflict, NotFound, StopValidation, ValidationError
from services.rows import get_row

MAKEUP_YEARS = range(2011, 2022)
# The years a plan's sale and study windows may fall in.
_YEARS = range(2000, 2101)
# A chapter's media: an absolute URL, or a path under the media root the study pages serve.
_MEDIA_PATH = re.compile(r"^(?!/)(?!.*\.\.)[A-Za-z0-9._/-]{1,300}$")


# --- what learners see -----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanCard:
    plan: Plan
    course_count: int
    total_hours: int
    owned: bool
    on_sale: bool


@dataclass(frozen=True)
class PlanPage:
    plan: Plan
    courses: list[Course]
    total_hours: int
    owned: bool
    on_sale: bool
    pending_order_id: int | None
    study_closed: bool = False

    @property
    def offers_makeup(self) -> bool:
        """A make-up year not held yet: paid elsewhere, the learner may apply (补学申请)."""
        return self.plan.kind is PlanKind.MAKEUP and not self.owned

    @property
    def makeup_closed(self) -> bool:
        """A make-up year whose study window has ended: nothing may be bought or applied for."""
        return self.offers_makeup and self.study_closed


def is_on_sale(plan: Plan, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (
        plan.is_published
        and plan.sale_starts_at <= now < plan.sale_ends_at
        and now < plan.study_ends_at
    )


def held_plan_ids(learner_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(Enrollment.plan_id).where(
                Enrollment.learner_id == learner_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        )
    )


@dataclass(frozen=True)
class Landing:
    """Where a learner starts after entering from the menu, registering or resetting a
    password: 课程培训 when a plan is held, else the plan to buy (``plan_id``), else the list."""

    studying: bool
    plan_id: int | None


def landing_for(learner_id: int, now: datetime | None = None) -> Landing:
    if held_plan_ids(learner_id):
        return Landing(studying=True, plan_id=None)
    now = now or utcnow()
    plan_id = db.session.scalar(
        select(Plan.id)
        .where(
            Plan.kind == PlanKind.CURRENT,
            Plan.is_published.is_(True),
            Plan.sale_starts_at <= now,
            Plan.sale_ends_at > now,
            Plan.study_ends_at > now,
        )
        .order_by(Plan.year.desc(), Plan.id.desc())
        .limit(1)
    )
    return Landing(studying=False, plan_id=plan_id)


def learner_holds_plan(learner_id: int, plan_id: int) -> bool:
    return (
        db.session.scalar(
            select(Enrollment.id).where(
                Enrollment.learner_id == learner_id,
                Enrollment.plan_id == plan_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        )
        is not None
    )


def list_plans(learner_id: int | None) -> tuple[list[PlanCard], list[PlanCard]]:
    """Published plans: the current year's first (newest first), then the make-up years;
    ``None`` for a visitor not signed in (nothing is held)."""
    plans = db.session.scalars(
        select(Plan).where(Plan.is_published.is_(True)).order_by(Plan.year.desc(), Plan.id)
    ).all()
    totals = {
        plan_id: (count, hours or 0)
        for plan_id, count, hours in db.session.execute(
            select(Course.plan_id, func.count(Course.id), func.sum(Course.hours)).group_by(
                Course.plan_id
            )
        )
    }
    owned = held_plan_ids(learner_id) if learner_id is not None else set()
    now = utcnow()
    cards = [
        PlanCard(
            plan=plan,
            course_count=totals.get(plan.id, (0, 0))[0],
            total_hours=totals.get(plan.id, (0, 0))[1],
            owned=plan.id in owned,
            on_sale=is_on_sale(plan, now),
        )
        for plan in plans
    ]
    current = [card for card in cards if card.plan.kind is PlanKind.CURRENT]
    makeup = [card for card in cards if card.plan.kind is PlanKind.MAKEUP]
    return current, makeup


def get_published_plan(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None or not plan.is_published:
        raise NotFound("该学习计划不存在或已下架。")
    return plan


def plan_page(plan_id: int, learner_id: int) -> PlanPage:
    plan = get_published_plan(plan_id)
    courses = list(plan.courses)
    pending_order_id = db.session.scalar(
        select(Order.id).where(
            Order.buyer_id == learner_id,
            Order.plan_id == plan_id,
            Order.kind == OrderKind.INDIVIDUAL,
            Order.status == OrderStatus.PENDING,
            Order.expires_at > utcnow(),
        )
    )
    return PlanPage(
        plan=plan,
        courses=courses,
        total_hours=sum(course.hours for course in courses),
        owned=learner_holds_plan(learner_id, plan_id),
        on_sale=is_on_sale(plan),
        pending_order_id=pending_order_id,
        study_closed=utcnow() >= plan.study_ends_at,
    )


def plan_for_sale(plan_id: int, now: datetime | None = None) -> Plan:
    """A plan that may be bought now, or the reason it may not."""
    plan = get_published_plan(plan_id)
    now = now or utcnow()
    if now < plan.sale_starts_at:
        raise Conflict(f"该学习计划将于{local_time(plan.sale_starts_at)}开始购买。")
    if now >= plan.sale_ends_at:
        raise Conflict("该学习计划已停止购买。")
    if now >= plan.study_ends_at:  # bought now, it could no longer be studied
        if plan.kind is PlanKind.MAKEUP:
            raise Conflict("该年度补学已截止，已停止购买。")
        raise Conflict("该学习计划的学习时间已结束，已停止购买。")
    return plan


# --- what staff edit -------------------------------------------------------------------------


def parse_yuan(raw: str | None, field: str = "price") -> int:
    """ "30" or "30.00" yuan → 3000 fen."""
    text = normalise_code(raw).replace("元", "").replace("¥", "").strip()
    if not text:
        raise ValidationError(field, "请填写价格（元）。")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(field, "价格应为数字，例如 30 或 30.00。") from None
    if not amount.is_finite():
        raise ValidationError(field, "价格应为数字，例如 30 或 30.00。")
    if amount < Decimal("0.01"):
        raise ValidationError(field, "价格至少为0.01元（微信支付不支持0元订单）。")
    if amount > 100_000:
        raise ValidationError(field, "价格不能超过100000元。")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(field, "价格最多精确到分（两位小数）。")
    return int(amount * 100)


def _parse_int(raw: str | None, field: str, label: str, low: int, high: int) -> int:
    text = normalise_code(raw)
    if not text:
        raise ValidationError(field, f"请填写{label}。")
    if not (text.isascii() and text.isdigit()):
        raise ValidationError(field, f"{label}应为整数。")
    value = int(text)
    if not low <= value <= high:
        raise ValidationError(field, f"{label}应在{low}到{high}之间。")
    return value


def parse_local_datetime(raw: str | None, field: str, label: str) -> datetime:
    """ "2022-12-31T23:59" (the browser's datetime-local), read as Beijing time."""
    text = normalise_code(raw).replace(" ", "T")
    if not text:
        raise ValidationError(field, f"请填写{label}。")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{label}格式应为 2022-12-31 23:59。") from None
    if not _YEARS.start <= moment.year < _YEARS.stop:
        raise ValidationError(field, f"{label}应在{_YEARS.start}年至{_YEARS.stop - 1}年之间。")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment


def _text(raw: str | None, field: str, label: str, limit: int, *, required=True) -> str:
    text = clean_text(raw)
    if required and not text:
        raise ValidationError(field, f"请填写{label}。")
    if len(text) > limit:
        raise ValidationError(field, f"{label}不能超过{limit}个字。")
    return text


class _Collector:
    """Runs parsers and keeps every refusal, so a form shows all its errors at once."""

    def __init__(self) -> None:
        self.errors: list[ValidationError] = []

    def __call__(self, parser, *args, **kwargs):
        try:
            return parser(*args, **kwargs)
        except ValidationError as error:
            self.errors.append(error)
            return None

    def done(self) -> None:
        if self.errors:
            raise StopValidation(self.errors)


@dataclass(frozen=True)
class PlanInput:
    year: str
    kind: str
    title: str
    price_yuan: str
    required_hours: str
    minutes_per_hour: str
    chapter_threshold_percent: str
    sale_starts_at: str
    sale_ends_at: str
    study_ends_at: str
    description: str = ""
    is_published: bool = False


def _plan_snapshot(plan: Plan) -> dict:
    return {
        "year": plan.year,
        "kind": plan.kind.value,
        "title": plan.title,
        "price_fen": plan.price_fen,
        "required_hours": plan.required_hours,
        "minutes_per_hour": plan.minutes_per_hour,
        "chapter_threshold_percent": plan.chapter_threshold_percent,
        "sale_starts_at": plan.sale_starts_at.isoformat(),
        "sale_ends_at": plan.sale_ends_at.isoformat(),
        "study_ends_at": plan.study_ends_at.isoformat(),
        "is_published": plan.is_published,
    }


def save_plan(data: PlanInput, *, plan_id: int | None, actor: Actor) -> Plan:
    check = _Collector()
    year = check(_parse_int, data.year, "year", "年度", 2011, 2100)
    kind = check(_parse_kind, data.kind)
    title = check(_text, data.title, "title", "名称", 120)
    description = check(_text, data.description, "description", "简介", 2000, required=False)
    price_fen = check(parse_yuan, data.price_yuan, "price_yuan")
    required_hours = check(_parse_int, data.required_hours, "required_hours", "学分要求", 1, 200)
    minutes = check(_parse_int, data.minutes_per_hour, "minutes_per_hour", "每学时分钟数", 1, 120)
    threshold = check(
        _parse_int,
        data.chapter_threshold_percent,
        "chapter_threshold_percent",
        "章节完成比例",
        50,
        100,
    )
    sale_starts = check(parse_local_datetime, data.sale_starts_at, "sale_starts_at", "开始销售时间")
    sale_ends = check(parse_local_datetime, data.sale_ends_at, "sale_ends_at", "停止销售时间")
    study_ends = check(parse_local_datetime, data.study_ends_at, "study_ends_at", "学习截止时间")
    if sale_starts and sale_ends and sale_ends <= sale_starts:
        check.errors.append(ValidationError("sale_ends_at", "停止销售时间应晚于开始销售时间。"))
    if sale_ends and study_ends and study_ends < sale_ends:
        check.errors.append(ValidationError("study_ends_at", "学习截止时间不应早于停止销售时间。"))
    if kind is PlanKind.MAKEUP and year is not None and year not in MAKEUP_YEARS:
        check.errors.append(ValidationError("year", "补学计划的年度应在2011至2021年之间。"))
    if year is not None and kind is not None:
        clash = db.session.scalar(
            select(Plan.id).where(Plan.year == year, Plan.kind == kind, Plan.id != (plan_id or 0))
        )
        if clash:
            check.errors.append(
                ValidationError("year", f"{year}年度已有{kind.label}学习计划，请直接编辑它。")
            )
    check.done()
    before = None
    if plan_id is None:
        plan = Plan()
        db.session.add(plan)
    else:
        plan = get_row(Plan, plan_id, "该学习计划不存在。")
        before = _plan_snapshot(plan)
    plan.year, plan.kind, plan.title, plan.description = year, kind, title, description
    plan.price_fen, plan.required_hours, plan.minutes_per_hour = price_fen, required_hours, minutes
    plan.chapter_threshold_percent = threshold
    plan.sale_starts_at, plan.sale_ends_at, plan.study_ends_at = sale_starts, sale_ends, study_ends
    plan.is_published = bool(data.is_published)
    db.session.flush()
    record_action(
        actor,
        action="plan.create" if before is None else "plan.update",
        target_type="plan",
        target_id=plan.id,
        before=before,
        after=_plan_snapshot(plan),
    )
    return plan


def _parse_kind(raw: str | None) -> PlanKind:
    try:
        return PlanKind(raw or "")
    except ValueError:
        raise ValidationError("kind", "请选择计划类型（本年度或补学）。") from None


def _plan_has_learners(plan_id: int) -> bool:
    return db.session.scalar(select(Enrollment.id).where(Enrollment.plan_id == plan_id)) is not None


@dataclass(frozen=True)
class CourseInput:
    title: str
    hours: str
    lecturer: str = ""
    description: str = ""
    sort_order: str = "0"


def save_course(
    data: CourseInput,
    *,
    plan_id: int | None = None,
    course_id: int | None = None,
    actor: Actor,
) -> Course:
    check = _Collector()
    title = check(_text, data.title, "title", "课程名称", 120)
    hours = check(_parse_int, data.hours, "hours", "学时", 1, 100)
    lecturer = check(_text, data.lecturer, "lecturer", "主讲人", 60, required=False)
    description = check(_text, data.description, "description", "简介", 2000, required=False)
    sort_order = check(_parse_int, data.sort_order or "0", "sort_order", "排序", 0, 9999)
    check.done()
    if course_id is None:
        get_row(Plan, plan_id, "该学习计划不存在。")
        course = Course(plan_id=plan_id)
        db.session.add(course)
        before = None
    else:
        course = get_row(Course, course_id, "该课程不存在。")
        before = {"title": course.title, "hours": course.hours}
    course.title, course.hours, course.lecturer = title, hours, lecturer
    course.description, course.sort_order = description, sort_order
    db.session.flush()
    record_action(
        actor,
        action="course.create" if before is None else "course.update",
        target_type="course",
        target_id=course.id,
        before=before,
        after={"plan_id": course.plan_id, "title": title, "hours": hours},
    )
    return course


def delete_course(course_id: int, *, actor: Actor) -> int:
    """Remove a course (with its chapters and questions) while nobody studies the plan."""
    course = get_row(Course, course_id, "该课程不存在。")
    if _plan_has_learners(course.plan_id):
        raise Conflict("已有学员购买该学习计划，不能删除课程；可以修改课程内容。")
    plan_id = course.plan_id
    for question in db.session.scalars(select(Question).where(Question.course_id == course_id)):
        db.session.delete(question)
    for chapter in course.chapters:
        db.session.delete(chapter)
    db.session.delete(course)
    record_action(
        actor,
        action="course.delete",
        target_type="course",
        target_id=course_id,
        before={"plan_id": plan_id, "title": course.title},
    )
    db.session.flush()
    return plan_id


def parse_duration(raw: str | None) -> int:
    """ "90", "1:30" or "01:02:03" → seconds."""
    text = normalise_code(raw).replace("：", ":")
    if not text:
        raise ValidationError("duration", "请填写时长。")
    parts = text.split(":")
    if len(parts) > 3 or not all(part.isascii() and part.isdigit() for part in parts):
        raise ValidationError("duration", "时长格式应为秒数，或 分:秒、时:分:秒。")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    if not 1 <= seconds <= 6 * 3600:
        raise ValidationError("duration", "时长应在1秒到6小时之间。")
    return seconds


def parse_media_url(raw: str | None) -> str:
    text = clean_text(raw)
    if not text:
        raise ValidationError("media_url", "请填写视频地址。")
    if text.startswith(("https://", "http://")):
        if len(text) > 500 or any(char.isspace() for char in text):
            raise ValidationError("media_url", "视频地址不正确。")
        return text
    if not _MEDIA_PATH.match(text):
        raise ValidationError(
            "media_url",
            "视频地址应为 https:// 开头的完整地址，或媒体目录下的相对路径（如 demo/chapter-60s.webm）。",
        )
    return text


@dataclass(frozen=True)
class ChapterInput:
    title: str
    duration: str
    media_url: str
    sort_order: str = "0"


def save_chapter(
    data: ChapterInput,
    *,
    course_id: int | None = None,
    chapter_id: int | None = None,
    actor: Actor,
) -> Chapter:
    check = _Collector()
    title = check(_text, data.title, "title", "章节名称", 120)
    duration = check(parse_duration, data.duration)
    media_url = check(parse_media_url, data.media_url)
    sort_order = check(_parse_int, data.sort_order or "0", "sort_order", "排序", 0, 9999)
    check.done()
    if chapter_id is None:
        get_row(Course, course_id, "该课程不存在。")
        chapter = Chapter(course_id=course_id)
        db.session.add(chapter)
        before = None
    else:
        chapter = get_row(Chapter, chapter_id, "该章节不存在。")
        before = {"title": chapter.title, "duration_seconds": chapter.duration_seconds}
    chapter.title, chapter.duration_seconds = title, duration
    chapter.media_url, chapter.sort_order = media_url, sort_order
    db.session.flush()
    record_action(
        actor,
        action="chapter.create" if before is None else "chapter.update",
        target_type="chapter",
        target_id=chapter.id,
        before=before,
        after={"course_id": chapter.course_id, "title": title, "duration_seconds": duration},
    )
    return chapter


def delete_chapter(chapter_id: int, *, actor: Actor) -> int:
    chapter = get_row(Chapter, chapter_id, "该章节不存在。")
    course = chapter.course
    if _plan_has_learners(course.plan_id):
        raise Conflict("已有学员购买该学习计划，不能删除章节；可以修改章节内容。")
    db.session.delete(chapter)
    record_action(
        actor,
        action="chapter.delete",
        target_type="chapter",
        target_id=chapter_id,
        before={"course_id": course.id, "title": chapter.title},
    )
    db.session.flush()
    return course.id


@dataclass(frozen=True)
class QuestionInput:
    stem: str
    options: str  # one a line
    answer: str  # the right option's number, from 1


def save_question(
    data: QuestionInput,
    *,
    course_id: int | None = None,
    question_id: int | None = None,
    actor: Actor,
) -> Question:
    check = _Collector()
    stem = check(_text, data.stem, "stem", "题目", 500)
    options = [clean_text(line) for line in (data.options or "").splitlines()]
    options = [option for option in options if option]
    if not 2 <= len(options) <= 6:
        check.errors.append(ValidationError("options", "请填写2到6个选项，每行一个。"))
    elif any(len(option) > 100 for option in options):
        check.errors.append(ValidationError("options", "每个选项不能超过100个字。"))
    answer = check(_parse_int, data.answer, "answer", "正确答案的序号", 1, max(len(options), 1))
    check.done()
    if question_id is None:
        if course_id is not None:
            get_row(Course, course_id, "该课程不存在。")
        question = Question(course_id=course_id, is_active=True)
        db.session.add(question)
        before = None
    else:
        question = get_row(Question, question_id, "该题目不存在。")
        before = {"stem": question.stem, "options": question.options}
    question.stem, question.options, question.answer_index = stem, options, answer - 1
    db.session.flush()
    record_action(
        actor,
        action="question.create" if before is None else "question.update",
        target_type="question",
        target_id=question.id,
        before=before,
        after={"course_id": question.course_id, "stem": stem, "options": options},
    )
    return question


def set_question_active(question_id: int, active: bool, *, actor: Actor) -> Question:
    question = get_row(Question, question_id, "该题目不存在。")
    question.is_active = active
    record_action(
        actor,
        action="question.enable" if active else "question.disable",
        target_type="question",
        target_id=question.id,
    )
    db.session.flush()
    return question


def plans_for_staff() -> list[tuple[Plan, int, int, int]]:
    """Every plan with its course count, 学时 total and number of learners holding it."""
    courses = {
        plan_id: (count, hours or 0)
        for plan_id, count, hours in db.session.execute(
            select(Course.plan_id, func.count(Course.id), func.sum(Course.hours)).group_by(
                Course.plan_id
            )
        )
    }
    learners = dict(
        db.session.execute(
            select(Enrollment.plan_id, func.count(Enrollment.id))
            .where(Enrollment.status == EnrollmentStatus.ACTIVE)
            .group_by(Enrollment.plan_id)
        )
        .tuples()
        .all()
    )
    plans = db.session.scalars(select(Plan).order_by(Plan.kind, Plan.year.desc())).all()
    return [(plan, *courses.get(plan.id, (0, 0)), learners.get(plan.id, 0)) for plan in plans]


def staff_plan(plan_id: int) -> Plan:
    """A plan with its courses and their chapters, for the console's plan page."""
    plan = db.session.scalar(
        select(Plan)
        .where(Plan.id == plan_id)
        .options(selectinload(Plan.courses).selectinload(Course.chapters))
    )
    if plan is None:
        raise NotFound("该学习计划不存在。")
    return plan


def all_plans() -> list[Plan]:
    return list(db.session.scalars(select(Plan).order_by(Plan.kind, Plan.year.desc())))


def course_questions(course_id: int) -> list[Question]:
    return list(
        db.session.scalars(
            select(Question).where(Question.course_id == course_id).order_by(Question.id)
        )
    )


def bank_questions() -> list[Question]:
    return list(
        db.session.scalars(
            select(Question).where(Question.course_id.is_(None)).order_by(Question.id)
        )
    )
