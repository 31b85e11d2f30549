"""What the study pages show: plans, courses and chapters with the learner's progress.

Each function runs a fixed number of queries whatever the number of courses or chapters
(the page tests count them). Progress comes from PostgreSQL, which trails the ledger by a
few seconds at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, select

from infra.extensions import db
from models.base import utcnow
from models.catalog import Chapter, Course, Plan
from models.enrollments import Enrollment, EnrollmentStatus
from models.study import ChapterProgress, StudySession
from services.display import LOCAL_TZ
from services.errors import NotFound, PermissionDenied

COURSES_PER_PAGE = 10
LAST_PAGE = 10_000  # a larger number in the URL would overflow the database's OFFSET


@dataclass(frozen=True)
class PlanProgress:
    plan_id: int
    title: str
    year: int
    required_hours: int
    earned_hours: int
    completed: bool
    study_ends_at: datetime
    study_closed: bool
    days_left: int = 0  # whole days from today to the deadline's day, in Beijing

    @property
    def countdown(self) -> str:
        """距 12月31日 截止还有 N 天, from the plan's own deadline."""
        deadline = self.study_ends_at.astimezone(LOCAL_TZ)
        day = f"{deadline.month}月{deadline.day}日"
        if self.days_left <= 0:
            return f"今天（{day} {deadline:%H:%M}）截止"
        return f"距 {day} 截止还有 {self.days_left} 天"

    @property
    def percent(self) -> int:
        if self.required_hours <= 0:
            return 100
        return min(100, self.earned_hours * 100 // self.required_hours)


def _plan_progress(plan: Plan, enrollment: Enrollment) -> PlanProgress:
    return PlanProgress(
        plan_id=plan.id,
        title=plan.title,
        year=plan.year,
        required_hours=plan.required_hours,
        earned_hours=enrollment.earned_hours,
        completed=enrollment.completed_at is not None,
        study_ends_at=plan.study_ends_at,
        study_closed=utcnow() > plan.study_ends_at,
        days_left=(
            plan.study_ends_at.astimezone(LOCAL_TZ).date() - utcnow().astimezone(LOCAL_TZ).date()
        ).days,
    )


def _not_enrolled() -> PermissionDenied:
    return PermissionDenied("您还没有开通这个学习计划，请先购买或申请开通。")


def my_plans(learner_id: int) -> list[PlanProgress]:
    rows = db.session.execute(
        select(Plan, Enrollment)
        .join(Enrollment, Enrollment.plan_id == Plan.id)
        .where(Enrollment.learner_id == learner_id, Enrollment.status == EnrollmentStatus.ACTIVE)
        .order_by(Plan.year.desc(), Plan.kind)
    ).all()
    return [_plan_progress(plan, enrollment) for plan, enrollment in rows]


@dataclass(frozen=True)
class CourseLine:
    course_id: int
    title: str
    lecturer: str
    hours: int
    chapters: int
    finished_chapters: int
    finished: bool


@dataclass(frozen=True)
class PlanPage:
    plan: PlanProgress
    courses: list[CourseLine]
    page: Any  # the pagination (page, pages, has_prev, has_next, prev_num, next_num)
    resume: ChapterLink | None


@dataclass(frozen=True)
class ChapterLink:
    chapter_id: int
    chapter_title: str
    course_title: str
    position: int


def plan_page(learner_id: int, plan_id: int, page: int) -> PlanPage:
    row = db.session.execute(
        select(Plan, Enrollment)
        .join(Enrollment, Enrollment.plan_id == Plan.id)
        .where(
            Plan.id == plan_id,
            Enrollment.learner_id == learner_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
        )
    ).first()
    if row is None:
        raise _not_enrolled()
    plan, enrollment = row
    pagination = db.paginate(
        select(Course).where(Course.plan_id == plan_id).order_by(Course.sort_order, Course.id),
        page=min(max(1, page), LAST_PAGE),
        per_page=COURSES_PER_PAGE,
        error_out=False,
    )
    courses: list[Course] = list(pagination.items)
    course_ids = [course.id for course in courses]
    counts = {
        course_id: (total, done)
        for course_id, total, done in db.session.execute(
            select(
                Chapter.course_id, func.count(Chapter.id), func.count(ChapterProgress.finished_at)
            )
            .outerjoin(
                ChapterProgress,
                and_(
                    ChapterProgress.chapter_id == Chapter.id,
                    ChapterProgress.learner_id == learner_id,
                ),
            )
            .where(Chapter.course_id.in_(course_ids))
            .group_by(Chapter.course_id)
        )
    }
    lines = []
    for course in courses:
        total, done = counts.get(course.id, (0, 0))
        lines.append(
            CourseLine(
                course_id=course.id,
                title=course.title,
                lecturer=course.lecturer,
                hours=course.hours,
                chapters=total,
                finished_chapters=done,
                finished=total > 0 and done == total,
            )
        )
    return PlanPage(
        plan=_plan_progress(plan, enrollment),
        courses=lines,
        page=pagination,
        resume=_last_studied(learner_id, plan_id=plan_id),
    )


def _last_studied(learner_id: int, *, plan_id: int | None = None, course_id: int | None = None):
    """继续上次学习: the chapter last touched while it is unfinished; once it is finished, the
    next unfinished chapter in the plan's (or course's) order, wrapping round to an earlier one
    left unfinished; ``None`` before any study and once every chapter is finished."""
    scope = Course.plan_id == plan_id if plan_id is not None else Course.id == course_id
    last = db.session.execute(
        select(Chapter.id, Chapter.title, Course.title, ChapterProgress.last_position,
               ChapterProgress.finished_at)
        .join(Chapter, ChapterProgress.chapter_id == Chapter.id)
        .join(Course, Chapter.course_id == Course.id)
        .where(ChapterProgress.learner_id == learner_id, scope)
        .order_by(ChapterProgress.updated_at.desc(), ChapterProgress.id.desc())
        .limit(1)
    ).first()  # fmt: skip
    if last is None:
        return None
    if last[4] is None:
        return ChapterLink(
            chapter_id=last[0], chapter_title=last[1], course_title=last[2], position=last[3]
        )
    in_order = list(db.session.execute(
        select(Chapter.id, Chapter.title, Course.title, ChapterProgress.last_position,
               ChapterProgress.finished_at)
        .join(Course, Chapter.course_id == Course.id)
        .outerjoin(
            ChapterProgress,
            and_(ChapterProgress.chapter_id == Chapter.id, ChapterProgress.learner_id == learner_id),
        )
        .where(scope)
        .order_by(Course.sort_order, Course.id, Chapter.sort_order, Chapter.id)
    ))  # fmt: skip
    at = next((index for index, row in enumerate(in_order) if row[0] == last[0]), 0)
    for row in in_order[at + 1 :] + in_order[:at]:
        if row[4] is None:
            return ChapterLink(
                chapter_id=row[0], chapter_title=row[1], course_title=row[2], position=row[3] or 0
            )
    return None


def _covered_percent(covered_seconds: int, duration_seconds: int) -> int:
    if duration_seconds <= 0:
        return 0
    return min(100, covered_seconds * 100 // duration_seconds)


@dataclass(frozen=True)
class ChapterLine:
    chapter_id: int
    title: str
    duration_seconds: int
    covered_seconds: int
    last_position: int
    finished: bool

    @property
    def covered_percent(self) -> int:
        return _covered_percent(self.covered_seconds, self.duration_seconds)


@dataclass(frozen=True)
class CoursePage:
    plan: PlanProgress
    course_id: int
    title: str
    lecturer: str
    hours: int
    description: str
    finished: bool
    chapters: list[ChapterLine]
    resume: ChapterLink | None


def _course_with_enrollment(learner_id: int, course_id: int) -> tuple[Course, Plan, Enrollment]:
    row = db.session.execute(
        select(Course, Plan, Enrollment)
        .join(Plan, Course.plan_id == Plan.id)
        .outerjoin(
            Enrollment, and_(Enrollment.plan_id == Plan.id, Enrollment.learner_id == learner_id)
        )
        .where(Course.id == course_id)
    ).first()
    if row is None:
        raise NotFound("找不到这门课程，请返回学习计划重新选择。")
    course, plan, enrollment = row
    if enrollment is None or enrollment.status is not EnrollmentStatus.ACTIVE:
        raise _not_enrolled()
    return course, plan, enrollment


def course_page(learner_id: int, course_id: int) -> CoursePage:
    course, plan, enrollment = _course_with_enrollment(learner_id, course_id)
    lines = [
        ChapterLine(
            chapter_id=chapter_id,
            title=title,
            duration_seconds=duration,
            covered_seconds=covered or 0,
            last_position=position or 0,
            finished=finished_at is not None,
        )
        for chapter_id, title, duration, covered, position, finished_at in db.session.execute(
            select(
                Chapter.id,
                Chapter.title,
                Chapter.duration_seconds,
                ChapterProgress.covered_seconds,
                ChapterProgress.last_position,
                ChapterProgress.finished_at,
            )
            .outerjoin(
                ChapterProgress,
                and_(
                    ChapterProgress.chapter_id == Chapter.id,
                    ChapterProgress.learner_id == learner_id,
                ),
            )
            .where(Chapter.course_id == course_id)
            .order_by(Chapter.sort_order, Chapter.id)
        )
    ]
    return CoursePage(
        plan=_plan_progress(plan, enrollment),
        course_id=course.id,
        title=course.title,
        lecturer=course.lecturer,
        hours=course.hours,
        description=course.description,
        finished=bool(lines) and all(line.finished for line in lines),
        chapters=lines,
        resume=_last_studied(learner_id, course_id=course_id),
    )


@dataclass(frozen=True)
class ChapterPage:
    plan: PlanProgress
    course_id: int
    course_title: str
    chapter_id: int
    title: str
    duration_seconds: int
    media_url: str
    covered_seconds: int
    last_position: int
    finished: bool
    threshold_percent: int
    next_chapter_id: int | None

    @property
    def covered_percent(self) -> int:
        return _covered_percent(self.covered_seconds, self.duration_seconds)


def chapter_page(learner_id: int, chapter_id: int) -> ChapterPage:
    chapter = db.session.get(Chapter, chapter_id)
    if chapter is None:
        raise NotFound("找不到这个章节，请返回课程重新选择。")
    course, plan, enrollment = _course_with_enrollment(learner_id, chapter.course_id)
    progress = db.session.scalar(
        select(ChapterProgress).where(
            ChapterProgress.learner_id == learner_id, ChapterProgress.chapter_id == chapter_id
        )
    )
    sibling_ids = list(
        db.session.scalars(
            select(Chapter.id)
            .where(Chapter.course_id == course.id)
            .order_by(Chapter.sort_order, Chapter.id)
        )
    )
    index = sibling_ids.index(chapter_id)
    return ChapterPage(
        plan=_plan_progress(plan, enrollment),
        course_id=course.id,
        course_title=course.title,
        chapter_id=chapter.id,
        title=chapter.title,
        duration_seconds=chapter.duration_seconds,
        media_url=chapter.media_url,
        covered_seconds=progress.covered_seconds if progress else 0,
        last_position=progress.last_position if progress else 0,
        finished=bool(progress and progress.finished_at),
        threshold_percent=plan.chapter_threshold_percent,
        next_chapter_id=sibling_ids[index + 1] if index + 1 < len(sibling_ids) else None,
    )


# Why a report counted nothing, as the learner's 学习记录 says it.
_WHY_NOT = {
    "jump": "拖动或倍速跳过",
    "rate": "倍速播放",
    "gap": "长时间没有播放记录",
    "paused": "暂停",
    "still": "画面未向前播放",
    "rewatch": "重复观看",
    "no_media": "未加载视频",
    "question": "等待回答问题",
    "question_timeout": "长时间未答题",
    "daily_cap": "当天学时已达上限",
    "too_soon": "上报过于频繁",
    "superseded": "在其他设备开始学习",
    "stale": "重复的上报",
    "closed": "学习已截止",
    "absurd": "播放位置异常",
}


@dataclass(frozen=True)
class SessionLine:
    """One playback session in the learner's 学习记录 of a chapter."""

    started_at: datetime
    ended_at: datetime | None
    device: str
    credited_seconds: int
    why_not: list[str]
    wrong_answers: int


def study_record(learner_id: int, chapter_id: int, limit: int = 20) -> list[SessionLine]:
    """The learner's latest playback sessions of a chapter: when, on what device, how much
    counted, and why the rest did not (one query)."""
    rows = db.session.scalars(
        select(StudySession)
        .where(StudySession.learner_id == learner_id, StudySession.chapter_id == chapter_id)
        .order_by(StudySession.started_at.desc(), StudySession.id.desc())
        .limit(limit)
    ).all()
    lines = []
    for row in rows:
        reasons = {**(row.uncounted or {}), **(row.refusals or {})}
        why = [
            _WHY_NOT[code]
            for code, _ in sorted(reasons.items(), key=lambda item: -int(item[1]))
            if code in _WHY_NOT and code != "rewatch"
        ]
        lines.append(
            SessionLine(
                started_at=row.started_at,
                ended_at=row.ended_at or row.last_heartbeat_at,
                device=row.device or "未知设备",
                credited_seconds=row.credited_seconds,
                why_not=why[:3],
                wrong_answers=row.wrong_answers,
            )
        )
    return lines


def media_root() -> Path:
    """Where chapter media given as relative paths are kept."""
    configured = current_app.config.get("STUDY_MEDIA_DIR")
    return Path(configured) if configured else Path(current_app.config["STORAGE_DIR"]) / "media"


def media_allowed(learner_id: int, media_path: str) -> bool:
    """Whether the learner holds a plan with a chapter that plays this file."""
    return (
        db.session.scalar(
            select(Chapter.id)
            .join(Course, Chapter.course_id == Course.id)
            .join(Enrollment, Enrollment.plan_id == Course.plan_id)
            .where(
                Chapter.media_url == media_path,
                Enrollment.learner_id == learner_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
            .limit(1)
        )
        is not None
    )
