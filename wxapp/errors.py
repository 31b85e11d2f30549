"""Error pages in Chinese for people, JSON for programs."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

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
    layout = "admin/base.html" if request.path.startswith("/admin") else "base.html"
    return render_template("error.html", layout=layout, status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError):
        return error_response(error.status_code, error.message, error.code)

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
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, _MESSAGES[500], "internal")
