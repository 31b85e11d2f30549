"""The player's JSON API: start a chapter, heartbeats, 防挂机 answers.

JSON in, JSON out. Requests come from our own player page with the learner's session
cookie (SameSite=Lax) and a JSON body, which a cross-site form cannot send, so these
routes need no CSRF token. Refusals are ``{"error": code, "message": 中文}`` with a 4xx
status; a heartbeat is one Redis round trip and touches PostgreSQL only when it finishes
a chapter.
"""

from __future__ import annotations

import json
import logging
import time
from http import HTTPStatus
from typing import Any

import redis
from flask import Blueprint, Flask, current_app, jsonify, request, session
from itsdangerous import BadSignature
from werkzeug.http import parse_cookie

from handlers.h5 import current_learner
from infra.extensions import limiter
from infra.transaction import commit
from services.errors import PermissionDenied, ServiceError, ValidationError
from services.study import rules as study
from wxapp.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")

LEDGER_UNAVAILABLE = "学习记录服务暂时不可用，请稍后刷新页面继续；已记录的学时不会丢失。"


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


def _session_limit_key() -> str:
    return f"study-start:{session.get('learner_id')}"


@bp.post("/study/sessions")
@limiter.limit("20 per minute", key_func=_session_limit_key)
def start_session():
    body = _body()
    learner = current_learner()
    # Who may study is who the study pages let in (``learner_required``).
    if learner is None:
        raise NotLoggedIn("登录已失效，请重新登录后继续学习。")
    if learner.must_change_password:
        raise PermissionDenied("请先修改初始密码，再开始学习。")
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


def heartbeat_reply(learner_id: Any, body: Any) -> tuple[int, dict[str, Any]]:
    """A heartbeat's status and JSON answer; the route and the fast path both answer here."""
    try:
        if not isinstance(learner_id, int):
            raise NotLoggedIn("登录已失效，请重新登录后继续学习。")
        if not isinstance(body, dict):
            raise ValidationError(None, "请求格式不正确：请以 JSON 对象提交。")
        beat = study.Heartbeat(
            seq=_number(body, "seq", int),
            segment_from=_number(body, "from"),
            position=_number(body, "position"),
            playing=body.get("playing") is True,
            rate=_number(body, "rate"),
        )
        result = study.record_heartbeat(learner_id, _text(body, "token"), beat)
        if result.chapter_finished_now:
            commit()  # the only heartbeat that writes to PostgreSQL
    except ServiceError as error:
        return error.status_code, {"error": error.code, "message": error.message}
    except redis.exceptions.RedisError as error:
        log.warning("study ledger unavailable: %s", error)
        return 503, {"error": "unavailable", "message": LEDGER_UNAVAILABLE}
    return 200, {
        "counting": result.counting,
        "reason": result.reason,
        "message": result.message,
        "credited_seconds": result.credited_seconds,
        "covered_seconds": result.covered_seconds,
        "finished": result.finished,
        "question": result.question,
    }


@bp.post("/study/heartbeats")
def heartbeat():
    body = request.get_json(silent=True) if request.is_json else None
    status, payload = heartbeat_reply(session.get("learner_id"), body)
    return jsonify(payload), status


class HeartbeatFastPath:
    """WSGI middleware that answers heartbeats without Flask's request machinery.

    Heartbeats are most of the platform's traffic at the deadline rush; profiling showed
    that the session cookie being opened and re-signed, the rate limiter's and CSRF's
    hooks and the response object cost several times the ledger's own work. This reads
    the signed session cookie and the JSON body itself, then answers through the same
    ``heartbeat_reply`` as the route. Every other request goes to the app unchanged."""

    PATH = "/api/study/heartbeats"
    MAX_BODY = 4096
    MAX_VERIFIED = 100_000

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.serializer = app.session_interface.get_signing_serializer(app)
        self.verified: dict[str, tuple[Any, float]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        status, payload = self.answer(environ)
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [data]

    def answer(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= self.MAX_BODY:
            return 413, {"error": "too_large", "message": "请求过大。"}
        body: Any = None
        if environ.get("CONTENT_TYPE", "").startswith("application/json"):
            try:
                body = json.loads(environ["wsgi.input"].read(length))
            except ValueError:
                body = None
        with self.app.app_context():
            if self.app.config["STUDY_FLUSH_IN_PROCESS"]:
                from wxapp.study_flush import ensure_in_process_flusher

                ensure_in_process_flusher(self.app)
            try:
                return heartbeat_reply(self.learner_id(environ), body)
            except Exception:
                log.exception("unhandled error on a study heartbeat")
                return 500, {"error": "internal", "message": "系统繁忙，请稍后再试。"}

    def learner_id(self, environ: dict[str, Any]) -> Any:
        cookie = parse_cookie(environ.get("HTTP_COOKIE", "")).get(self.cookie_name)
        if not cookie or self.serializer is None:
            return None
        # The same cookie comes with every heartbeat: its signature is checked once, its
        # age every time.
        known = self.verified.get(cookie)
        if known is None:
            try:
                data, signed_at = self.serializer.loads(cookie, return_timestamp=True)
            except BadSignature:
                return None
            known = (data.get("learner_id"), signed_at.timestamp())
            if len(self.verified) >= self.MAX_VERIFIED:
                self.verified.clear()
            self.verified[cookie] = known
        learner_id, signed_at = known
        return learner_id if time.time() - signed_at <= self.max_age else None


@bp.post("/study/answers")
def answer():
    body = _body()
    learner_id = _learner_id()
    result = study.answer_question(learner_id, _text(body, "token"), _number(body, "choice", int))
    return jsonify(
        {"correct": result.correct, "message": result.message, "question": result.question}
    )
