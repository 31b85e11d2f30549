"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from wxapp.config import PROJECT_ROOT, build_config

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
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Flask's documented way to wrap the app in middleware; its types call it a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )


def register_extensions(app: Flask) -> None:
    from flask_wtf import FlaskForm

    import models  # noqa: F401  (every table registered before migrations look)
    from infra.extensions import csrf, db, limiter, migrate
    from infra.redis_client import init_redis
    from wxapp import templating

    # Every page is in Chinese, WTForms' own messages (lengths, numbers) too.
    FlaskForm.Meta.locales = ("zh",)
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    csrf.init_app(app)
    init_redis(app)
    limiter.init_app(app)
    templating.init_app(app)


def register_blueprints(app: Flask) -> None:
    from handlers import register_blueprints as register

    register(app)


def register_error_handlers(app: Flask) -> None:
    from wxapp.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from wxapp.cli import register_commands as register

    register(app)


def announce(app: Flask) -> None:
    if app.config["APP_ENV"] == "development":
        log.warning(
            "development mode: SQLite at %s, in-process Redis stand-in (fakeredis), "
            "WeChat and WeChat Pay simulator at /_sim; never use this mode in production",
            app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"),
        )
