"""A local stand-in for WeChat and WeChat Pay, for development, demos and tests.

It speaks the HTTP APIs the platform calls, with WeChat's JSON shapes, error codes,
signatures and encryption. Production code never imports it; the development server
mounts it under ``/_sim`` and tests run it on a loopback port (``wechat_sim.server``).

Each surface is a blueprint registered by ``create_sim_app``; what the simulator remembers
(tokens, codes, menu, QR codes, messages sent) is a ``SimState`` that tests read through
``sim_state(app)``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from wechat_sim.state import SimState

DEFAULTS: dict[str, Any] = {
    # The platform under test: where WeChat pushes messages and sends OAuth redirects.
    "PLATFORM_BASE_URL": "http://127.0.0.1:5000",
    # The official account as configured on WeChat's side.
    "APPID": "",
    "APP_SECRET": "",
    "TOKEN": "",
    "AES_KEY": "",
    "ORIGINAL_ID": "",
    # Template ids added to the account; others are refused with 40037.
    "TEMPLATE_IDS": (),
    "MOUNT_PREFIX": "",
    # WeChat Pay's keys (pay.py): ``WECHAT_PAY_SIM`` in tests, otherwise the
    # development keys the platform also reads; Alipay's likewise (``ALIPAY_SIM``), and the
    # provincial registry's platform id and secret (``REGISTRY_SIM``, registry.py).
}


def create_sim_app(config: dict[str, Any] | None = None) -> Flask:
    """``config`` names the platform under test: its base URL, appid, token, keys."""
    from wechat_sim import api, chat, oauth

    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    app.extensions["wechat_sim"] = SimState.with_demo_users()
    for module in (api, oauth, chat):
        app.register_blueprint(module.bp)
    _register_pay(app)
    from wechat_sim import registry

    app.register_blueprint(registry.bp, url_prefix="/registry")
    return app


def _register_pay(app: Flask) -> None:
    """The WeChat Pay simulator lives in its own module, served under /pay; Alipay's under
    /alipay (it shares WeChat Pay's scheduler, so it comes second)."""
    from wechat_sim import (
        alipay,
        complaints,  # noqa: F401  (consumer complaints: routes on pay.bp)
        fapiao,  # noqa: F401  (数电 e-invoices: routes on pay.bp)
        pay,
    )

    app.register_blueprint(pay.bp, url_prefix="/pay")
    app.register_blueprint(alipay.bp, url_prefix="/alipay")


def sim_state(app: Flask) -> SimState:
    return app.extensions["wechat_sim"]


def config_for(platform: Flask) -> dict[str, Any]:
    """The simulator's configuration that matches a platform app's own."""
    config = platform.config
    base = config["PUBLIC_BASE_URL"]
    return {
        "PLATFORM_BASE_URL": base,
        "APPID": config["WECHAT_APPID"],
        "APP_SECRET": config["WECHAT_SECRET"],
        "TOKEN": config["WECHAT_TOKEN"],
        "AES_KEY": config["WECHAT_AES_KEY"],
        "ORIGINAL_ID": config["WECHAT_ORIGINAL_ID"],
        "TEMPLATE_IDS": tuple(config["WECHAT_TEMPLATE_IDS"].values()),
    }


def mount(platform: Flask, prefix: str = "/_sim") -> Flask:
    """The simulator for the platform's own process (development), to be served at
    ``prefix``: ``wxapp.compose_wsgi`` mounts its ``wsgi_app`` there.

    The account starts with the repository's menu already created, as a running account
    has it; ``flask --app wsgi wechat menu-push`` replaces it while the server runs. The
    platform's ``SIMULATOR_CONFIG`` (tests) adds to the simulator's settings, for example
    the WeChat Pay keys of ``WECHAT_PAY_SIM``.
    """
    from services.wechat.menu import build_menu

    sim = create_sim_app(
        {
            **config_for(platform),
            "MOUNT_PREFIX": prefix,
            **(platform.config.get("SIMULATOR_CONFIG") or {}),
        }
    )
    sim_state(sim).menu = build_menu(platform.config["PUBLIC_BASE_URL"])
    platform.extensions["wechat_sim"] = sim
    return sim
