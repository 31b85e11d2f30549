"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from wxapp.config import PROJECT_ROOT, build_config

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates_h5"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.update(build_config(config))
    configure(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    compose_wsgi(app)
    announce(app)
    return app


def configure(app: Flask) -> None:
    from wxapp.logging_setup import configure_logging

    configure_logging(app)
    Path(app.config["STORAGE_DIR"]).mkdir(parents=True, exist_ok=True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )


def register_extensions(app: Flask) -> None:
    from flask_wtf import FlaskForm

    import models  # noqa: F401  (every table registered before migrations look)
    from infra.extensions import csrf, db, limiter, migrate
    from infra.redis_client import init_redis
    from wxapp import static_assets, templating

    # Every page is in Chinese, WTForms' own messages (lengths, numbers) too.
    FlaskForm.Meta.locales = ("zh",)
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    csrf.init_app(app)
    init_redis(app)
    limiter.init_app(app)
    templating.init_app(app)
    static_assets.init_app(app)


def register_blueprints(app: Flask) -> None:
    from handlers import register_blueprints as register

    register(app)


def register_error_handlers(app: Flask) -> None:
    from wxapp.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from wxapp.cli import register_commands as register

    register(app)


def compose_wsgi(app: Flask) -> None:
    """Everything that answers HTTP, in this one place: the study ingest app's endpoints
    (heartbeats and 防挂机 answers, without Flask's request machinery) and, in development,
    the WeChat simulator, mounted beside the Flask app; then every middleware around all
    of them (security headers on every answer, ProxyFix). ``app.wsgi_app`` becomes this
    stack, so gunicorn (``wsgi:app``) and ``app.test_client()`` both go through it."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.middleware.proxy_fix import ProxyFix

    from handlers.study_ingest import StudyIngest
    from wxapp.security_headers import SecurityHeaders

    mounts: dict[str, WSGIApplication] = dict(StudyIngest(app).mounts())
    if app.config["SIMULATOR_MOUNT"]:
        from wechat_sim import mount

        prefix = "/_sim"
        mounts[prefix] = mount(app, prefix).wsgi_app
    stack: WSGIApplication = SecurityHeaders(DispatcherMiddleware(app.wsgi_app, mounts))
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Client addresses and scheme as the proxy saw them, for Flask and ingest alike.
        stack = ProxyFix(stack, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.wsgi_app = stack  # type: ignore[method-assign,assignment]


def announce(app: Flask) -> None:
    if app.config["APP_ENV"] == "development":
        log.warning(
            "development mode: SQLite at %s, in-process Redis stand-in (fakeredis), "
            "WeChat and WeChat Pay simulator at /_sim; never use this mode in production",
            app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"),
        )
