"""The player's JSON API in Flask: starting a chapter.

``POST /api/study/sessions`` needs the learner's login (the session cookie) and opens a
playback session, whose signed token the player then sends with every heartbeat and
answer; those two endpoints are the study ingest app (``handlers/study_ingest.py``),
mounted beside Flask. Requests come from our own player page with the session cookie
(SameSite=Lax) and a JSON body, which a cross-site form cannot send, so this route needs no
CSRF token. Refusals are ``{"error": code, "message": 中文}`` with a 4xx status.
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, current_app, jsonify, request, session

from handlers import json_body
from handlers.h5 import current_learner
from handlers.study_ingest import LEDGER_UNAVAILABLE
from infra.extensions import limiter
from infra.transaction import commit
from services.accounts.learners import session_tag
from services.errors import PermissionDenied, ServiceError
from services.study import rules as study
from wxapp.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")


class NotLoggedIn(ServiceError):
    status_code = 401
    code = "login_required"


@bp.errorhandler(redis.exceptions.RedisError)
def _ledger_unavailable(error: redis.exceptions.RedisError):
    log.warning("study ledger unavailable: %s", error)
    return error_response(503, LEDGER_UNAVAILABLE, "unavailable")


@bp.before_request
def _start_development_flusher() -> None:
    if current_app.config["STUDY_FLUSH_IN_PROCESS"]:
        from wxapp.study_flush import ensure_in_process_flusher

        # Flask's current_app is a LocalProxy; its types call it the app itself.
        ensure_in_process_flusher(current_app._get_current_object())  # type: ignore[attr-defined]


def _session_limit_key() -> str:
    return f"study-start:{session.get('learner_id')}"


@bp.post("/study/sessions")
@limiter.limit("20 per minute", key_func=_session_limit_key)
def start_session():
    body = json_body.parse_object(json_body.read_body(request.environ), request.content_type or "")
    learner = current_learner()
    # Who may study is who the study pages let in (``learner_required``).
    if learner is None:
        raise NotLoggedIn("登录已失效，请重新登录后继续学习。")
    if learner.must_change_password:
        raise PermissionDenied("请先修改初始密码，再开始学习。")
    started = study.start_session(
        learner.id,
        json_body.number(body, "chapter_id", int),
        session_tag(learner),
        user_agent=request.headers.get("User-Agent", ""),
        address=request.remote_addr or "",
    )
    commit()
    return jsonify(
        {
            "token": started.token,
            "chapter_id": started.chapter_id,
            "duration_seconds": started.duration_seconds,
            "threshold_seconds": started.threshold_seconds,
            "resume_position": started.resume_position,
            "covered_seconds": started.covered_seconds,
            "finished": started.finished,
            "heartbeat_seconds": started.heartbeat_seconds,
            "min_heartbeat_seconds": started.min_heartbeat_seconds,
            "question": started.question,
            "media_url": started.media_url,
        }
    ), 201
