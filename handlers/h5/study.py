"""课程培训: my plans, a plan's courses, a course's chapters, the chapter player, its media."""

from __future__ import annotations

import logging

import redis
from flask import render_template, request, send_from_directory, url_for
from sqlalchemy import select

from handlers import study_ingest
from handlers.forms import page_arg
from handlers.h5 import bp, learner_required, signed_in_learner
from services.errors import NotFound
from services.study import overview as study_overview

log = logging.getLogger(__name__)


@bp.app_template_global()
def study_media_url(media_url: str) -> str:
    """URLs (absolute or site-rooted) play as they are; other paths are files under the media
    root, served to enrolled learners."""
    if media_url.startswith(("https://", "http://", "/")):
        return media_url
    return url_for("h5.study_media", path=media_url)


@bp.app_template_filter("clock")
def clock_filter(seconds: int) -> str:
    seconds = max(0, int(seconds or 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


@bp.get("/study")
@learner_required
def my_study():
    plans = study_overview.my_plans(signed_in_learner().id)
    return render_template("study/my_study.html", plans=plans)


@bp.get("/study/plans/<int:plan_id>")
@learner_required
def study_plan(plan_id: int):
    page = page_arg()
    view = study_overview.plan_page(signed_in_learner().id, plan_id, page)
    return render_template("study/plan.html", view=view)


@bp.get("/study/courses/<int:course_id>")
@learner_required
def study_course(course_id: int):
    view = study_overview.course_page(signed_in_learner().id, course_id)
    return render_template("study/course.html", view=view)


@bp.get("/study/chapters/<int:chapter_id>")
@learner_required
def study_chapter(chapter_id: int):
    learner_id = signed_in_learner().id
    view = study_overview.chapter_page(learner_id, chapter_id)
    # Heartbeats and answers go to the study ingest app, beside Flask (no Flask route).
    return render_template(
        "study/chapter.html",
        view=view,
        chapters=study_overview.course_page(learner_id, view.course_id).chapters,
        record=study_overview.study_record(learner_id, chapter_id),
        heartbeat_url=request.script_root + study_ingest.HEARTBEATS_PATH,
        answer_url=request.script_root + study_ingest.ANSWERS_PATH,
    )


@bp.get("/media/<path:path>")
@learner_required
def study_media(path: str):
    if not study_overview.media_allowed(signed_in_learner().id, path):
        raise NotFound("找不到这个视频，或您还没有开通包含它的学习计划。")
    # send_from_directory refuses paths outside the root and answers Range requests.
    response = send_from_directory(
        study_overview.media_root(), path, conditional=True, max_age=3600
    )
    signed = request.args.get("s")
    if signed and response.status_code in (200, 206):
        _record_fetch(signed, path, response)
    return response


def _record_fetch(signed: str, path: str, response) -> None:
    """Media proof: what a URL signed for a playback session served is recorded for it."""
    from infra.extensions import db
    from models.catalog import Chapter
    from services.study import rules as study_rules

    duration = db.session.scalar(
        select(Chapter.duration_seconds).where(Chapter.media_url == path).limit(1)
    )
    total = study_rules.served_media_bytes(path)
    if not duration or not total:
        return
    if response.status_code == 206 and response.content_range:
        start, end = response.content_range.start, response.content_range.stop
    else:
        start, end = 0, total
    try:
        study_rules.record_media_fetch(signed_in_learner().id, signed, duration, total, start, end)
    except redis.exceptions.RedisError as error:
        log.warning("media fetch not recorded: %s", error)
