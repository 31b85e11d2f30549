"""Error pages in Chinese for people, JSON for programs.

An error page needs nothing that may be what failed: ``error.html`` stands alone (no layout
that looks up the signed-in learner or staff member), and should even it fail, the answer
is a line of Chinese text. A database that does not answer is a 503 in Chinese.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from infra.extensions import db
from services.errors import ServiceError

log = logging.getLogger(__name__)

_MESSAGES = {
    400: "请求有误，请返回后重试。",
    401: "请先登录。",
    403: "您没有权限访问该页面。",
    404: "您访问的页面不存在。",
    405: "不支持该操作。",
    413: "上传的文件过大。",
    429: "操作过于频繁，请稍后再试。",
    500: "系统繁忙，请稍后再试。",
    503: "服务暂时不可用，请稍后再试。",
}

_JSON_PREFIXES = ("/api/", "/pay/", "/healthz", "/wechat")


def wants_json() -> bool:
    if request.path.startswith(_JSON_PREFIXES):
        return True
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, message: str, code: str = "error"):
    if wants_json():
        return jsonify({"error": code, "message": message}), status
    try:
        page = render_template(
            "error.html", console=request.path.startswith("/admin"), status=status, message=message
        )
    except Exception:
        log.exception("the error page itself failed for %s", request.path)
        return Response(message, status, mimetype="text/plain"), status
    return page, status


def unavailable_database(error: BaseException) -> bool:
    """The database did not answer (down, restarting, out of connections), or every
    connection of this process's pool stayed busy for ``DATABASE_POOL_TIMEOUT``."""
    return isinstance(error, OperationalError | InterfaceError | PoolTimeoutError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError):
        return error_response(error.status_code, error.message, error.code)

    @app.errorhandler(redis.exceptions.RedisError)
    def handle_redis_down(error: redis.exceptions.RedisError):
        # Logins, text-message codes and caches live in Redis; rate limits fall back to
        # memory on their own (see RATELIMIT_IN_MEMORY_FALLBACK_ENABLED).
        log.error("redis unavailable on %s %s: %s", request.method, request.path, error)
        return error_response(503, _MESSAGES[503], "unavailable")

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        log.info("CSRF refused on %s: %s", request.path, error.description)
        return error_response(400, "页面已过期或来源不明，请刷新页面后重新提交。", "csrf")

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        # Werkzeug's own descriptions are English: a status without ours gets its class's.
        message = _MESSAGES.get(status) or _MESSAGES[400 if status < 500 else 500]
        return error_response(status, message, error.name.lower().replace(" ", "_"))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        try:
            db.session.rollback()
        except Exception:  # the connection may be what failed
            log.debug("rollback after an error failed too", exc_info=True)
        if unavailable_database(error):
            # The driver's own words, without the statement and its parameters.
            cause = str(getattr(error, "orig", error)).strip().splitlines()[:1]
            log.error("database unavailable on %s %s: %s", request.method, request.path, cause)
            return error_response(503, _MESSAGES[503], "unavailable")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, _MESSAGES[500], "internal")
