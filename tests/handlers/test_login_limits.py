"""The login limits: per account whichever of its names is typed, per address high enough
for a unit behind one NAT, and no phone or ID number in the limiter's keys or log lines."""

from __future__ import annotations

import logging

from flask import g

from infra.redis_client import as_text, get_redis
from tests import factories
from tests.conftest import csrf_from


def attempt(client, account: str, password: str):
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/h5/login").get_data(as_text=True))
    return client.post(
        "/h5/login", data={"account": account, "password": password, "csrf_token": token}
    )


def test_phone_and_id_number_of_one_account_share_its_limit(client):
    learner = factories.learner()
    for account in [learner.phone, learner.id_number] * 3:  # six wrong passwords
        assert attempt(client, account, "Wrong1234").status_code == 401
    # The account is locked for both of its names, even with the right password.
    assert attempt(client, learner.phone, factories.PASSWORD).status_code == 429
    assert attempt(client, learner.id_number.lower(), factories.PASSWORD).status_code == 429
    # Someone else, from the same address, is not.
    other = factories.learner()
    assert attempt(client, other.phone, factories.PASSWORD).status_code == 302


def test_a_unit_behind_one_address_is_not_locked_out_at_the_deadline(client):
    """Forty colleagues mistype their password within a minute from the unit's one public
    address (above the old 30 per minute); the next one still logs in."""
    for _ in range(40):
        colleague = factories.learner()
        assert attempt(client, colleague.phone, "Mistyped1").status_code == 401
    latecomer = factories.learner()
    assert attempt(client, latecomer.phone, factories.PASSWORD).status_code == 302


def test_the_address_limit_still_holds(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_IP", "5 per minute")
    for _ in range(5):
        assert attempt(client, factories.unique_phone(), "Wrong1234").status_code == 401
    assert attempt(client, factories.unique_phone(), "Wrong1234").status_code == 429


def test_limiter_keys_and_log_lines_hold_no_phone_or_id_number(client, caplog):
    learner = factories.learner()
    stranger = factories.unique_phone()
    with caplog.at_level(logging.INFO):
        for _ in range(7):
            attempt(client, learner.phone, "Wrong1234")
            attempt(client, stranger, "Wrong1234")
    assert "exceeded" in caplog.text
    keys = " ".join(as_text(key) for key in get_redis().keys("*"))
    assert "learner:" in keys
    for secret in (learner.phone, learner.id_number, stranger):
        assert secret not in caplog.text
        assert secret not in keys
