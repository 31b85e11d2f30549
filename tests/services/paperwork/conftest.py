"""Fixtures for paperwork tests: the simulated provincial registry on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from wechat_sim import create_sim_app
from wechat_sim.registry import RegistrySimulator
from wechat_sim.server import LoopbackServer

REGISTRY_PLATFORM_ID = "GX-TEST-PLATFORM"
REGISTRY_SECRET = "registry-secret-for-the-test-run"


@pytest.fixture(scope="session")
def _registry_server() -> Iterator[tuple[Flask, str]]:
    sim_app = create_sim_app(
        {"REGISTRY_SIM": {"platform_id": REGISTRY_PLATFORM_ID, "secret": REGISTRY_SECRET}}
    )
    server = LoopbackServer(sim_app).serve()
    yield sim_app, server.url
    server.stop()


@pytest.fixture
def registry_sim(app: Flask, _registry_server, monkeypatch) -> Iterator[RegistrySimulator]:
    """The registry, empty, and the app sending to it over HTTP (adapter ``https``)."""
    sim_app, url = _registry_server
    sim: RegistrySimulator = sim_app.extensions["registry_sim"]
    sim.reset()
    for key, value in {
        "REGISTRY_ADAPTER": "https",
        "REGISTRY_ENDPOINT": url + "/registry/api/records",
        "REGISTRY_PLATFORM_ID": REGISTRY_PLATFORM_ID,
        "REGISTRY_SECRET": REGISTRY_SECRET,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    yield sim
    sim.reset()


# WeChat Pay's simulator (its fapiao API), shared with the payment tests.
from tests.services.payments.conftest import _sim_server, pay_sim  # noqa: E402,F401
