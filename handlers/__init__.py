"""HTTP surfaces, one blueprint each: thin parsing and answering around services."""

from __future__ import annotations

from flask import Flask, g, redirect, request, url_for
from werkzeug.routing import IntegerConverter

from models.base import MAX_ROW_ID
from wxapp.errors import error_response


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in our URLs names a row: a number past the id column's range is no page
    (404), not a database error."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ROW_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


NUL_REFUSED = "提交的内容含有不允许的空字符（NUL），请检查后重新输入。"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _holds_nul() -> bool:
    """Whether the path, the query, a form field or an upload's file name carries a NUL
    character. (JSON bodies go to the study ledger and WeChat Pay's bodies to their own
    checks, not into text columns as they are.)"""
    texts: list[str] = [request.path]
    for key, value in request.args.items(multi=True):
        texts += (key, value)
    if request.mimetype in _FORM_TYPES:  # other bodies are left unread for their views
        for key, value in request.form.items(multi=True):
            texts += (key, value)
        texts += (upload.filename or "" for upload in request.files.values())
    return any("\x00" in text for text in texts)


def register_blueprints(app: Flask) -> None:
    from handlers import admin, api, h5, health, oauth, verify, wechat
    from handlers import pay as pay_notifications
    from infra.extensions import csrf

    # Before any route is added: rules pick their converters when they are added.
    app.url_map.converters["int"] = RowIdConverter

    app.register_blueprint(health.bp)
    app.register_blueprint(wechat.bp)
    app.register_blueprint(oauth.bp)
    csrf.exempt(wechat.bp)
    app.register_blueprint(h5.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(verify.bp)
    csrf.exempt(health.bp)
    app.register_blueprint(pay_notifications.bp)
    csrf.exempt(pay_notifications.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    # Heartbeats and answers are not Flask routes: wxapp.compose_wsgi mounts the study ingest
    # app beside Flask.

    @app.before_request
    def start_with_a_fresh_g() -> None:
        # ``g`` belongs to the app context, which outlives a request when one was already
        # pushed (commands, tests): nothing cached for one request may serve the next.
        for name in list(g):
            g.pop(name)

    @app.before_request
    def refuse_nul_characters():
        # PostgreSQL's text cannot hold NUL: refused here, once, in Chinese, before any
        # query could fail on it.
        if _holds_nul():
            return error_response(400, NUL_REFUSED, "nul_character")
        return None

    @app.get("/")
    def index():
        return redirect(url_for("h5.entry"))
