"""Study ingest: the player's heartbeats and 防挂机 answers, a small WSGI app of its own.

Heartbeats are most of the platform's traffic at the deadline rush. Flask's request
machinery (the session cookie opened and signed again, the rate limiter's and CSRF's hooks,
the request and response objects) costs several times the ledger's own work, and neither
endpoint needs any of it: both are authenticated by the study token alone, which
``POST /api/study/sessions`` (Flask, with the cookie login) hands to the player. The token
is signed and names the learner, the chapter, the playback session and the login that
opened it; the ledger's Lua script refuses it once that session or that login is over.

``wxapp.compose_wsgi`` mounts the two endpoints beside the Flask app, inside the same
middleware. Each request runs in an app context (configuration, Redis, the database for
the heartbeat that finishes a chapter): one per thread, pushed for the request and popped
after it (its teardown, which ends the database session, runs every time; ``g`` starts
empty every time), since building one costs as much as the reply's other Python work.
Every refusal is JSON ``{"error": code, "message": 中文}`` with a 4xx status, and nothing
that goes wrong here answers anything but JSON.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import redis
from flask import Flask
from flask.ctx import AppContext

from handlers import json_body
from infra.transaction import commit
from services.errors import ServiceError, ValidationError
from services.study import rules as study

log = logging.getLogger(__name__)

HEARTBEATS_PATH = "/api/study/heartbeats"
ANSWERS_PATH = "/api/study/answers"

LEDGER_UNAVAILABLE = "学习记录服务暂时不可用，请稍后刷新页面继续；已记录的学时不会丢失。"

Reply = tuple[int, dict[str, Any]]
StartResponse = Callable[..., Any]


def queued_segments(body: dict[str, Any]) -> tuple[tuple[float, float], ...]:
    """The optional ``queued`` field: segments played before ``from``→``position`` that no
    report has carried yet, oldest first, as ``[from, to]`` pairs."""
    value = body.get("queued", [])
    if not isinstance(value, list) or len(value) > study.MAX_QUEUED_SEGMENTS:
        raise ValidationError(
            "queued", f"字段 queued 应为不超过 {study.MAX_QUEUED_SEGMENTS} 段的播放区间列表。"
        )
    segments = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValidationError("queued", "字段 queued 的每一段应为 [开始, 结束] 两个数字。")
        start, end = (json_body.number({"queued": item}, "queued") for item in pair)
        segments.append((start, end))
    return tuple(segments)


def heartbeat_reply(body: dict[str, Any]) -> Reply:
    beat = study.Heartbeat(
        seq=json_body.number(body, "seq", int),
        segment_from=json_body.number(body, "from"),
        position=json_body.number(body, "position"),
        playing=body.get("playing") is True,
        rate=json_body.number(body, "rate"),
        queued=queued_segments(body),
    )
    result = study.record_heartbeat(json_body.text(body, "token"), beat)
    if result.chapter_finished_now:
        commit()  # the only heartbeat that writes to PostgreSQL
    return 200, {
        "counting": result.counting,
        "reason": result.reason,
        "message": result.message,
        "credited_seconds": result.credited_seconds,
        "covered_seconds": result.covered_seconds,
        "finished": result.finished,
        "question": result.question,
    }


def answer_reply(body: dict[str, Any]) -> Reply:
    question_id = body.get("question_id", "")
    if not isinstance(question_id, str) or len(question_id) > 64:
        raise ValidationError("question_id", "缺少或无法识别的字段：question_id。")
    result = study.answer_question(
        json_body.text(body, "token"), json_body.number(body, "choice", int), question_id
    )
    return 200, {
        "correct": result.correct,
        "message": result.message,
        "question": result.question,
        "withdrawn_seconds": result.withdrawn_seconds,
        "wait_seconds": result.wait_seconds,
    }


class StudyIngest:
    """The two endpoints as WSGI callables, ``heartbeats`` and ``answers``, each mounted at
    its own path (so below it, ``PATH_INFO`` is empty)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._threads = threading.local()
        # json.dumps with options builds a new encoder on every call.
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def mounts(self) -> dict[str, Callable[[dict[str, Any], StartResponse], Iterable[bytes]]]:
        return {HEARTBEATS_PATH: self.heartbeats, ANSWERS_PATH: self.answers}

    def heartbeats(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return self._serve(environ, start_response, heartbeat_reply)

    def answers(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return self._serve(environ, start_response, answer_reply)

    def _serve(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        reply: Callable[[dict[str, Any]], Reply],
    ) -> list[bytes]:
        headers = [("Cache-Control", "no-store")]
        if environ.get("PATH_INFO"):
            status, payload = 404, {"error": "not_found", "message": "您访问的页面不存在。"}
        elif environ.get("REQUEST_METHOD") != "POST":
            status, payload = 405, {"error": "method_not_allowed", "message": "不支持该操作。"}
            headers.append(("Allow", "POST"))
        else:
            status, payload = self._answer(environ, reply)
        data = self._encode(payload).encode()
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]

    def _context(self) -> AppContext:
        """This thread's app context, with an empty ``g``."""
        context: AppContext | None = getattr(self._threads, "context", None)
        if context is None:
            context = self._threads.context = self.app.app_context()
        else:
            context.g = self.app.app_ctx_globals_class()
        return context

    def _answer(self, environ: dict[str, Any], reply: Callable[[dict[str, Any]], Reply]) -> Reply:
        with self._context():
            try:
                if self.app.config["STUDY_FLUSH_IN_PROCESS"]:
                    from wxapp.study_flush import ensure_in_process_flusher

                    ensure_in_process_flusher(self.app)
                body = json_body.parse_object(
                    json_body.read_body(environ), environ.get("CONTENT_TYPE", "")
                )
                return reply(body)
            except ServiceError as error:
                return error.status_code, {"error": error.code, "message": error.message}
            except redis.exceptions.RedisError as error:
                log.warning("study ledger unavailable: %s", error)
                return 503, {"error": "unavailable", "message": LEDGER_UNAVAILABLE}
            except Exception as error:
                from wxapp.errors import unavailable_database

                if unavailable_database(error):
                    cause = str(getattr(error, "orig", error)).strip().splitlines()[:1]
                    log.error("database unavailable on %s: %s", environ.get("SCRIPT_NAME"), cause)
                    return 503, {"error": "unavailable", "message": "服务暂时不可用，请稍后再试。"}
                log.exception(
                    "unhandled error on %s from %s",
                    environ.get("SCRIPT_NAME"),
                    environ.get("REMOTE_ADDR"),
                )
                return 500, {"error": "internal", "message": "系统繁忙，请稍后再试。"}
