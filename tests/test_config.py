import os

import pytest
from flask import request

from wxapp import create_app
from wxapp.config import ConfigurationError, build_config


def test_production_refuses_to_start_without_its_secrets(monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    assert "SECRET_KEY" in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)
    assert "REDIS_URL" in str(caught.value)


def test_production_takes_its_configuration_from_the_environment(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.internal/gx")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    config = build_config()
    assert config["APP_ENV"] == "production"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db.internal/gx"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["WECHAT_API_BASE"] == "https://api.weixin.qq.com"
    # Verification codes are never written to a production log by default.
    assert config["SMS_PROVIDER"] != "log"


def test_development_falls_back_to_sqlite_and_says_so(monkeypatch, tmp_path, caplog, make_app):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    app = make_app({"STORAGE_DIR": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["WECHAT_API_BASE"].endswith("/_sim")
    assert "in-process Redis stand-in" in caplog.text
    assert type(app.extensions["redis"]).__module__.startswith("fakeredis")


def test_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(ConfigurationError, match="APP_ENV"):
        build_config()


def test_production_behind_a_proxy_sees_the_client_address(monkeypatch, make_app):
    # Rate limits per address and the audit log need the client's address, not the proxy's.
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("DATABASE_URL", os.environ["TEST_DATABASE_URL"])
    monkeypatch.setenv("REDIS_URL", os.environ["TEST_REDIS_URL"])
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    app = make_app()

    @app.get("/_client")
    def client_address():
        return {"address": request.remote_addr, "scheme": request.scheme}

    response = app.test_client().get(
        "/_client",
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.get_json() == {"address": "203.0.113.7", "scheme": "https"}


def test_trusted_proxies_must_be_a_number(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("TRUSTED_PROXIES", "nginx")
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES"):
        build_config()
