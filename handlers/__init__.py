"""HTTP surfaces, one blueprint each: thin parsing and answering around services."""

from __future__ import annotations

from flask import Flask, redirect, url_for


def register_blueprints(app: Flask) -> None:
    from handlers import admin, api, h5, health
    from wxapp.extensions import csrf

    app.register_blueprint(health.bp)
    app.register_blueprint(h5.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(health.bp)
    csrf.exempt(api.bp)
    app.wsgi_app = api.HeartbeatFastPath(app, app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/")
    def index():
        return redirect(url_for("h5.entry"))

    if app.config.get("SIMULATOR_MOUNT"):
        from wechat_sim import mount

        mount(app)
