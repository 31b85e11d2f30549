"""首次登录 text messages are capped per phone and per client address each day."""

from __future__ import annotations

from flask import g

from infra.redis_client import as_text, get_redis
from services.accounts.sms import MemorySmsSender
from tests import factories
from tests.conftest import submit_form


def ask_for_code(client, learner, address: str = "203.0.113.9"):
    g.pop("csrf_token", None)
    return submit_form(
        client,
        "/h5/first-login",
        {"name": learner.name, "id_number": learner.id_number, "phone": learner.phone},
        environ_base={"REMOTE_ADDR": address},
    )


def a_minute_passes() -> None:
    redis = get_redis()
    for key in redis.keys("sms:cooldown:*"):
        redis.delete(key)


def test_one_phone_gets_at_most_five_codes_a_day(app, client):
    assert app.config["SMS_DAILY_LIMIT_PER_PHONE"] == 5
    MemorySmsSender.outbox.clear()
    learner = factories.learner()
    for _ in range(5):
        assert ask_for_code(client, learner).status_code == 302
        a_minute_passes()
    refused = ask_for_code(client, learner)
    assert refused.status_code == 400
    assert "今天向该手机号码发送的验证码已达上限" in refused.get_data(as_text=True)
    assert len(MemorySmsSender.outbox) == 5
    # Others, from the same address, still get theirs.
    assert ask_for_code(client, factories.learner()).status_code == 302
    assert len(MemorySmsSender.outbox) == 6


def test_one_address_asks_for_a_bounded_number_a_day(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_DAILY_LIMIT_PER_ADDRESS", 3)
    MemorySmsSender.outbox.clear()
    for _ in range(3):
        assert ask_for_code(client, factories.learner()).status_code == 302
    refused = ask_for_code(client, factories.learner())
    assert refused.status_code == 400
    assert "今天从您所在网络发送的验证码已达上限" in refused.get_data(as_text=True)
    assert len(MemorySmsSender.outbox) == 3
    assert ask_for_code(client, factories.learner(), address="198.51.100.7").status_code == 302


def test_the_counters_name_no_phone(client):
    learner = factories.learner()
    ask_for_code(client, learner)
    keys = " ".join(as_text(key) for key in get_redis().keys("sms:*"))
    assert "sms:day:phone:" in keys and "sms:cooldown:" in keys
    assert learner.phone not in keys and "203.0.113.9" not in keys
