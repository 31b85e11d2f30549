"""学习异常: flagged learners with the evidence, and the withdrawal of their study credit."""

from __future__ import annotations

from flask import render_template, request, url_for

from handlers.admin import bp, staff_required
from handlers.admin.actions import console_action
from models.base import utcnow
from models.staff import StaffRole
from services.study import signals, withdrawal


@bp.get("/study/anomalies")
@staff_required(StaffRole.STAFF)
def study_anomalies():
    items = signals.flagged(utcnow())
    return render_template(
        "admin/study_anomalies.html",
        items=items,
        chapters=signals.chapter_titles(items),
        window_days=signals.WINDOW_DAYS,
    )


@bp.post("/study/sessions/<int:session_id>/withdraw")
@staff_required(StaffRole.STAFF)
def study_withdraw(session_id: int):
    scope = request.form.get("scope", "session")
    reason = request.form.get("reason", "")

    def perform(actor):
        from infra.extensions import db
        from models.catalog import Chapter
        from models.study import StudySession
        from services.errors import NotFound, ValidationError

        session = db.session.get(StudySession, session_id)
        if session is None:
            raise NotFound("找不到这次学习记录。")
        if scope == "session":
            return withdrawal.withdraw_session(session_id, reason=reason, actor=actor)
        if scope == "chapter":
            return withdrawal.withdraw_chapter(
                session.learner_id, session.chapter_id, reason=reason, actor=actor
            )
        if scope == "course":
            chapter = db.session.get(Chapter, session.chapter_id)
            assert chapter is not None
            return withdrawal.withdraw_course(
                session.learner_id, chapter.course_id, reason=reason, actor=actor
            )
        raise ValidationError("scope", "请选择撤销的范围：本次学习、本章节或本课程。")

    return console_action(
        perform,
        done=lambda result: (
            f"已撤销 {result.seconds} 秒学时，学员已获通知；计划学时 {result.hours_before} → "
            f"{result.hours_after}"
            + (
                f"，证书 {result.certificate_revoked} 已作废。"
                if result.certificate_revoked
                else "。"
            )
        ),
        then=url_for("admin.study_anomalies"),
        refused=url_for("admin.study_anomalies"),
    )
