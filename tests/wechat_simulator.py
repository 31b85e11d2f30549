"""Fixtures that put the WeChat simulator on a loopback port and point the app at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from infra.pay_keys import (
    AlipayKeys,
    PayKeys,
    PlatformCertificate,
    generate_alipay_keys,
    generate_pay_keys,
    generate_platform_certificate,
)
from wechat_sim import config_for, create_sim_app, push, sim_state
from wechat_sim.alipay import AlipaySimulator
from wechat_sim.pay import PaySimulator
from wechat_sim.server import LoopbackServer
from wechat_sim.state import SimState

BASE_KEYS = ("WECHAT_API_BASE", "WECHAT_OPEN_BASE", "WECHAT_MP_BASE")
# A valid EncodingAESKey (43 characters) for compatible and safe mode tests.
TEST_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ"


@dataclass
class Simulator:
    app: Flask
    url: str
    state: SimState


@pytest.fixture
def wechat_sim(app: Flask) -> Iterator[Simulator]:
    """The simulator on 127.0.0.1, and the app's WeChat base URLs pointing at it."""
    sim = create_sim_app(config_for(app))
    server = LoopbackServer(sim).serve()
    saved = {key: app.config[key] for key in BASE_KEYS}
    app.config.update(dict.fromkeys(BASE_KEYS, server.url))
    app.extensions.pop("wechat_client", None)
    try:
        yield Simulator(sim, server.url, sim_state(sim))
    finally:
        app.config.update(saved)
        app.extensions.pop("wechat_client", None)
        server.stop()


@pytest.fixture(scope="session")
def pay_keys() -> PayKeys:
    """WeChat Pay keys made for the run: the platform's side and the simulator's."""
    return generate_pay_keys()


@pytest.fixture(scope="session")
def platform_certificate() -> PlatformCertificate:
    """A WeChat Pay platform certificate, for the week a merchant moves to public-key mode."""
    return generate_platform_certificate()


@pytest.fixture(scope="session")
def alipay_keys() -> AlipayKeys:
    """Alipay keys made for the run: the application's pair and Alipay's."""
    return generate_alipay_keys()


def alipay_simulator_settings(platform: Flask, keys: AlipayKeys) -> dict:
    """``ALIPAY_SIM``: the simulator's half of ``keys``, for ``platform``'s application."""
    return {
        "app_id": platform.config["ALIPAY_APP_ID"],
        "app_public_key": keys.app_public_key,
        "alipay_private_key": keys.alipay_private_key,
    }


def pay_simulator_settings(platform: Flask, keys: PayKeys, **settings) -> dict:
    """``WECHAT_PAY_SIM``: the simulator's half of ``keys``, for ``platform``'s merchant."""
    return {
        "apiv3_key": keys.apiv3_key,
        "merchant_serial": keys.merchant_serial,
        "merchant_public_key": keys.merchant_public_key,
        "platform_private_key": keys.platform_private_key,
        "public_key_id": keys.public_key_id,
        "appid": platform.config["WECHAT_APPID"],
        "mchid": platform.config["WECHAT_PAY_MCHID"],
        **settings,
    }


@pytest.fixture
def live_settings() -> dict:
    """More settings for ``live_platform``; a conftest overrides this fixture to add some."""
    return {}


@dataclass
class LivePlatform:
    """The platform served on a loopback port with the simulator mounted at /_sim, as in
    development (WeChat, and WeChat Pay with its cashier at /_sim/pay/cashier); tests using
    it commit their data (``@pytest.mark.committed``)."""

    app: Flask
    url: str
    sim: SimState

    @property
    def pay(self) -> PaySimulator:
        return self.app.extensions["wechat_sim"].extensions["wechat_pay_sim"]

    @property
    def alipay(self) -> AlipaySimulator:
        return self.app.extensions["wechat_sim"].extensions["alipay_sim"]


@pytest.fixture
def live_platform(
    make_app, tmp_path, app, pay_keys, alipay_keys, live_settings
) -> Iterator[LivePlatform]:
    from infra.extensions import db

    server = LoopbackServer()
    sim_base = server.url + "/_sim"
    platform = make_app(
        {
            "APP_ENV": "test",
            "STORAGE_DIR": str(tmp_path / "storage"),
            "PUBLIC_BASE_URL": server.url,
            "SIMULATOR_MOUNT": True,
            **dict.fromkeys(BASE_KEYS, sim_base),
            **pay_keys.platform_config(),
            "WECHAT_PAY_API_BASE": sim_base + "/pay",
            "WECHAT_PAY_CASHIER_URL": sim_base + "/pay/cashier",
            **alipay_keys.platform_config(),
            "ALIPAY_API_BASE": sim_base + "/alipay/gateway.do",
            "SIMULATOR_CONFIG": {
                "WECHAT_PAY_SIM": pay_simulator_settings(app, pay_keys),
                "ALIPAY_SIM": alipay_simulator_settings(app, alipay_keys),
            },
            **live_settings,
        }
    )
    server.serve(platform)
    live = LivePlatform(platform, server.url, sim_state(platform.extensions["wechat_sim"]))
    try:
        yield live
    finally:
        live.pay.stop()
        server.stop()
        with platform.app_context():
            db.engine.dispose()


def account_of(app: Flask) -> push.Account:
    config = app.config
    return push.Account(
        token=config["WECHAT_TOKEN"],
        appid=config["WECHAT_APPID"],
        original_id=config["WECHAT_ORIGINAL_ID"],
        aes_key=config["WECHAT_AES_KEY"],
    )


def _with_mode(app: Flask, mode: str) -> Iterator[str]:
    saved = app.config["WECHAT_AES_KEY"]
    app.config["WECHAT_AES_KEY"] = "" if mode == "plaintext" else TEST_AES_KEY
    try:
        yield mode
    finally:
        app.config["WECHAT_AES_KEY"] = saved


@pytest.fixture(params=push.MODES)
def mode(request: pytest.FixtureRequest, app: Flask) -> Iterator[str]:
    """Each of WeChat's three message modes; the app holds an AES key for the last two."""
    yield from _with_mode(app, request.param)


@pytest.fixture(params=("compatible", "safe"))
def encrypted_mode(request: pytest.FixtureRequest, app: Flask) -> Iterator[str]:
    yield from _with_mode(app, request.param)


def post_push(client: FlaskClient, app: Flask, xml: str, mode: str = "plaintext", **kwargs):
    """POST one push to /wechat exactly as WeChat would send it in ``mode``."""
    query, body = push.signed_push(account_of(app), xml, mode=mode, **kwargs)
    return client.post("/wechat", query_string=query, data=body, content_type="text/xml")


def reply_of(app: Flask, response, mode: str = "plaintext") -> dict | None:
    assert response.status_code == 200
    return push.read_reply(account_of(app), response.data, encrypted=mode != "plaintext")


@pytest.fixture
def short_wechat_timeout(app, monkeypatch, wechat_sim):
    """The client gives WeChat half a second; the simulator's late answers take longer."""
    monkeypatch.setattr("infra.wechat_client.HTTP_TIMEOUT_SECONDS", 0.5)
    app.extensions.pop("wechat_client", None)
    wechat_sim.state.late_seconds = 1.5
    yield
    app.extensions.pop("wechat_client", None)
