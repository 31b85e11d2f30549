"""A local stand-in for WeChat and WeChat Pay, for development, demos and tests.

It speaks the HTTP APIs the platform calls, with WeChat's JSON shapes, error codes,
signatures and encryption. Production code never imports it; the development server
mounts it under ``/_sim`` and tests run it on a loopback port.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from wechat_sim.pay import bp as pay_bp


def create_sim_app(config: dict[str, Any] | None = None) -> Flask:
    """``config`` names the platform under test: its base URL, appid, token, keys."""
    app = Flask(__name__)
    app.config.update(config or {})
    app.register_blueprint(pay_bp, url_prefix="/pay")

    @app.get("/")
    def index():
        return "WeChat simulator"

    return app


def mount(platform: Flask, prefix: str = "/_sim") -> None:
    """Serve the simulator from the platform's own process (development)."""
    sim = create_sim_app(
        {
            "PLATFORM_BASE_URL": platform.config["PUBLIC_BASE_URL"],
            "APPID": platform.config["WECHAT_APPID"],
            "APP_SECRET": platform.config["WECHAT_SECRET"],
            "TOKEN": platform.config["WECHAT_TOKEN"],
            "AES_KEY": platform.config["WECHAT_AES_KEY"],
            "MOUNT_PREFIX": prefix,
        }
    )
    platform.wsgi_app = DispatcherMiddleware(platform.wsgi_app, {prefix: sim.wsgi_app})
    platform.extensions["wechat_sim"] = sim
