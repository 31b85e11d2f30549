"""The player's JSON API: start a chapter, heartbeats, 防挂机 answers.

JSON in, JSON out. Requests come from our own player page with the learner's session
cookie (SameSite=Lax) and a JSON body, which a cross-site form cannot send, so these
routes need no CSRF token. Refusals are ``{"error": code, "message": 中文}`` with a 4xx
status; a heartbeat is one Redis round trip and touches PostgreSQL only when it finishes
a chapter.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, current_app, jsonify, request, session

from handlers.h5 import current_learner
from services import study
from services.errors import ServiceError, ValidationError
from wxapp.errors import error_response
from wxapp.extensions import limiter
from wxapp.jobs import commit

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")


class NotLoggedIn(ServiceError):
    status_code = 401
    code = "login_required"


@bp.errorhandler(redis.exceptions.RedisError)
def _ledger_unavailable(error: redis.exceptions.RedisError):
    log.warning("study ledger unavailable: %s", error)
    return error_response(
        503, "学习记录服务暂时不可用，请稍后刷新页面继续；已记录的学时不会丢失。", "unavailable"
    )


@bp.before_request
def _start_development_flusher() -> None:
    if current_app.config["STUDY_FLUSH_IN_PROCESS"]:
        from wxapp.study_flush import ensure_in_process_flusher

        ensure_in_process_flusher(current_app._get_current_object())


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise ValidationError(None, "请求格式不正确：请以 JSON 对象提交。")
    return body


def _number(body: dict[str, Any], field: str, kind: type = float) -> Any:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"缺少或无法识别的字段：{field}。")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError(field, f"字段 {field} 应为整数。")
        return int(value)
    return float(value)


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationError(field, f"缺少或无法识别的字段：{field}。")
    return value


def _learner_id() -> int:
    """The learner the signed session cookie names (no database: heartbeats stay cheap)."""
    learner_id = session.get("learner_id")
    if not isinstance(learner_id, int):
        raise NotLoggedIn("登录已失效，请重新登录后继续学习。")
    return learner_id


def _session_limit() -> str:
    return "20 per minute"


def _session_limit_key() -> str:
    return f"study-start:{session.get('learner_id')}"


@bp.post("/study/sessions")
@limiter.limit(_session_limit, key_func=_session_limit_key)
def start_session():
    body = _body()
    learner = current_learner()
    if learner is None:
        raise NotLoggedIn("登录已失效，请重新登录后继续学习。")
    started = study.start_session(learner.id, _number(body, "chapter_id", int))
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
        }
    ), 201


@bp.post("/study/heartbeats")
def heartbeat():
    body = _body()
    learner_id = _learner_id()
    beat = study.Heartbeat(
        seq=_number(body, "seq", int),
        segment_from=_number(body, "from"),
        position=_number(body, "position"),
        playing=body.get("playing") is True,
        rate=_number(body, "rate"),
    )
    result = study.record_heartbeat(learner_id, _text(body, "token"), beat)
    commit()  # only a finishing heartbeat has written anything
    return jsonify(
        {
            "counting": result.counting,
            "reason": result.reason,
            "message": result.message,
            "credited_seconds": result.credited_seconds,
            "covered_seconds": result.covered_seconds,
            "finished": result.finished,
            "question": result.question,
        }
    )


@bp.post("/study/answers")
def answer():
    body = _body()
    learner_id = _learner_id()
    result = study.answer_question(learner_id, _text(body, "token"), _number(body, "choice", int))
    return jsonify(
        {"correct": result.correct, "message": result.message, "question": result.question}
    )
