import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import request

from tests import factories
from tests.study_player import log_in
from wxapp import create_app
from wxapp.config import TUNABLES, ConfigurationError, build_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What a production deployment sets at least (the secret is 32 characters or more).
PRODUCTION = {
    "SECRET_KEY": "a-production-secret-of-40-characters-xx",
    "PUBLIC_BASE_URL": "https://gx.example.cn",
}


def production_environment(monkeypatch, **values: str) -> None:
    monkeypatch.delenv("APP_ENV", raising=False)
    for name in TUNABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", os.environ["TEST_DATABASE_URL"])
    monkeypatch.setenv("REDIS_URL", os.environ["TEST_REDIS_URL"])
    for name, value in (PRODUCTION | values).items():
        monkeypatch.setenv(name, value)


def test_production_refuses_to_start_without_its_secrets(monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    assert "SECRET_KEY" in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)
    assert "REDIS_URL" in str(caught.value)
    assert "PUBLIC_BASE_URL" in str(caught.value)


def test_production_refuses_to_start_without_its_public_address(monkeypatch):
    production_environment(monkeypatch)
    monkeypatch.delenv("PUBLIC_BASE_URL")
    with pytest.raises(
        ConfigurationError, match=r"needs these environment variables: PUBLIC_BASE_URL$"
    ):
        create_app()


@pytest.mark.parametrize(
    "address",
    [
        "http://gx.example.cn",  # WeChat Pay refuses notify URLs that are not https
        "gx.example.cn",
        "https://",
        "https://gx.example.cn/?from=menu",
        "ftp://gx.example.cn",
    ],
)
def test_production_wants_an_https_public_address(monkeypatch, address):
    production_environment(monkeypatch, PUBLIC_BASE_URL=address)
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    message = str(caught.value)
    assert message.startswith("PUBLIC_BASE_URL must be the https:// address")
    assert repr(address.rstrip("/")) in message
    assert "notify URL" in message


def test_production_refuses_a_short_secret_key(monkeypatch):
    production_environment(monkeypatch, SECRET_KEY="x" * 31)
    with pytest.raises(
        ConfigurationError, match=r"SECRET_KEY must be at least 32 characters.* 31$"
    ):
        create_app()


def test_production_names_every_problem_at_once(monkeypatch):
    production_environment(monkeypatch, SECRET_KEY="s3cret", PUBLIC_BASE_URL="http://gx.example.cn")
    with pytest.raises(ConfigurationError) as caught:
        build_config()
    assert "SECRET_KEY" in str(caught.value)
    assert "PUBLIC_BASE_URL" in str(caught.value)


def test_production_starts_with_a_long_secret_and_an_https_address(monkeypatch):
    production_environment(
        monkeypatch, SECRET_KEY="x" * 32, PUBLIC_BASE_URL="https://gx.example.cn/"
    )
    config = build_config()
    assert config["PUBLIC_BASE_URL"] == "https://gx.example.cn"


def test_production_takes_its_configuration_from_the_environment(monkeypatch):
    production_environment(monkeypatch)
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
    production_environment(monkeypatch, TRUSTED_PROXIES="1")
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


def test_operational_settings_come_from_the_environment(monkeypatch):
    production_environment(
        monkeypatch,
        STUDY_HEARTBEAT_SECONDS="10",
        STUDY_MAX_RATE="1.25",
        STUDY_QUESTION_MIN_SECONDS="600",
        STUDY_QUESTION_MAX_SECONDS="1200",
        ORDER_PAY_MINUTES="15",
        RQ_QUEUE="gx-jobs",
        LOGIN_LIMIT_PER_IP="10 per minute",
        WECHAT_OAUTH_WECHAT_BROWSER_ONLY="no",
        WECHAT_REPLY_WAIT_SECONDS="3.5",
        PERMANENT_SESSION_LIFETIME="86400",
        LOG_LEVEL="warning",
    )
    config = build_config()
    assert config["STUDY_HEARTBEAT_SECONDS"] == 10
    assert config["STUDY_MAX_RATE"] == 1.25
    assert (config["STUDY_QUESTION_MIN_SECONDS"], config["STUDY_QUESTION_MAX_SECONDS"]) == (
        600,
        1200,
    )
    assert config["ORDER_PAY_MINUTES"] == 15
    assert config["RQ_QUEUE"] == "gx-jobs"
    assert config["LOGIN_LIMIT_PER_IP"] == "10 per minute"
    assert config["WECHAT_OAUTH_WECHAT_BROWSER_ONLY"] is False
    assert config["WECHAT_REPLY_WAIT_SECONDS"] == 3.5
    assert config["PERMANENT_SESSION_LIFETIME"] == timedelta(days=1)
    assert config["LOG_LEVEL"] == "WARNING"


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("STUDY_HEARTBEAT_SECONDS", "twelve", "must be a whole number"),
        ("STUDY_FLUSH_INTERVAL_SECONDS", "0.5", "must be a whole number"),
        ("STUDY_FLUSH_BATCH", "0", "must be at least 1"),
        ("STUDY_MAX_RATE", "fast", "must be a number"),
        ("STUDY_MAX_RATE", "nan", "must be a finite number"),
        ("STUDY_MAX_RATE", "0.5", "must be at least 1"),
        ("ORDER_PAY_MINUTES", "-5", "must be at least 5"),
        ("WECHAT_REPLY_WAIT_SECONDS", "6", "must be at most 4.5"),
        ("WECHAT_OAUTH_WECHAT_BROWSER_ONLY", "maybe", "must be true or false"),
        ("VERIFY_LIMIT_PER_IP", "lots", "must be rate limits"),
        ("LOG_LEVEL", "chatty", "must be one of DEBUG"),
        ("RQ_QUEUE", "two words", "must be a queue name"),
        ("PERMANENT_SESSION_LIFETIME", "7d", "must be a whole number"),
        ("CERTIFICATE_TSA_TRUST_ROOTS", "/nonexistent/tsa.pem", "names no file"),
    ],
)
def test_a_bad_setting_is_refused_by_name(monkeypatch, name, value, complaint):
    production_environment(monkeypatch, **{name: value})
    with pytest.raises(ConfigurationError) as caught:
        build_config()
    assert str(caught.value).startswith(f"{name} {complaint}")
    assert repr(value) in str(caught.value)


def test_development_reads_the_same_settings(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("STUDY_QUESTION_MAX_SECONDS", "90")
    monkeypatch.setenv("STUDY_FLUSH_INTERVAL_SECONDS", "x")
    with pytest.raises(ConfigurationError, match="STUDY_FLUSH_INTERVAL_SECONDS"):
        build_config()
    monkeypatch.delenv("STUDY_FLUSH_INTERVAL_SECONDS")
    assert build_config()["STUDY_QUESTION_MAX_SECONDS"] == 90


def test_test_mode_ignores_the_shell(monkeypatch):
    # A developer's exported settings must not change what the suite sees.
    monkeypatch.setenv("STUDY_HEARTBEAT_SECONDS", "7")
    assert build_config({"APP_ENV": "test"})["STUDY_HEARTBEAT_SECONDS"] == 12


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (
            {"STUDY_QUESTION_MIN_SECONDS": "900", "STUDY_QUESTION_MAX_SECONDS": "300"},
            "STUDY_QUESTION_MIN_SECONDS (900) must not exceed STUDY_QUESTION_MAX_SECONDS (300)",
        ),
        (
            {"STUDY_MIN_HEARTBEAT_SECONDS": "12"},
            "STUDY_MIN_HEARTBEAT_SECONDS (12) must be less than STUDY_HEARTBEAT_SECONDS (12)",
        ),
        (
            {"STUDY_HEARTBEAT_SECONDS": "40"},
            "STUDY_HEARTBEAT_SECONDS (40) must not exceed STUDY_MAX_SEGMENT_SECONDS (30)",
        ),
        (
            {
                "STUDY_SESSION_IDLE_SECONDS": "60",
                "STUDY_HEARTBEAT_SECONDS": "60",
                "STUDY_MAX_SEGMENT_SECONDS": "90",
            },
            "STUDY_HEARTBEAT_SECONDS (60) must be less than STUDY_SESSION_IDLE_SECONDS (60)",
        ),
    ],
)
def test_a_study_rhythm_that_cannot_work_is_refused(monkeypatch, values, complaint):
    production_environment(monkeypatch, **values)
    with pytest.raises(ConfigurationError) as caught:
        build_config()
    assert str(caught.value) == complaint


def test_the_player_gets_the_rhythm_the_environment_sets(monkeypatch, make_app):
    production_environment(
        monkeypatch, STUDY_HEARTBEAT_SECONDS="9", STUDY_MIN_HEARTBEAT_SECONDS="3"
    )
    production = make_app()
    learner = factories.learner()
    plan = factories.plan(required_hours=3)
    course = factories.course(plan, hours=3, chapters=1, chapter_seconds=120)
    factories.enrollment(learner, plan)
    with production.test_request_context():
        client = production.test_client()
        log_in(client, learner)
        response = client.post("/api/study/sessions", json={"chapter_id": course.chapters[0].id})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["heartbeat_seconds"] == 9
    assert response.get_json()["min_heartbeat_seconds"] == 3


def test_every_setting_the_environment_may_set_is_documented():
    operations = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", operations, flags=re.MULTILINE))
    core = {"APP_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL"}
    missing = sorted((core | set(TUNABLES)) - documented)
    assert not missing, f"docs/operations.md does not list {missing}"


def test_production_refuses_alipay_half_configured(monkeypatch):
    production_environment(monkeypatch, ALIPAY_APP_ID="2021000000000001")
    with pytest.raises(
        ConfigurationError,
        match=r"Alipay is half configured: set ALIPAY_PRIVATE_KEY, ALIPAY_PUBLIC_KEY",
    ):
        build_config()


def test_alipay_keys_given_as_the_bare_base64_of_alipays_key_tool_are_read_as_pem(monkeypatch):
    from infra.pay_keys import generate_alipay_keys

    keys = generate_alipay_keys()

    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    production_environment(
        monkeypatch,
        ALIPAY_APP_ID="2021000000000001",
        ALIPAY_PRIVATE_KEY=bare(keys.app_private_key),
        ALIPAY_PUBLIC_KEY=bare(keys.alipay_public_key),
    )
    config = build_config()
    assert config["ALIPAY_PUBLIC_KEY"].startswith("-----BEGIN PUBLIC KEY-----\n")
    from Cryptodome.PublicKey import RSA

    assert RSA.import_key(config["ALIPAY_PUBLIC_KEY"]).n == RSA.import_key(keys.alipay_public_key).n
    assert RSA.import_key(config["ALIPAY_PRIVATE_KEY"]).has_private()


def test_production_refuses_signing_files_that_are_not_there(monkeypatch, tmp_path):
    production_environment(
        monkeypatch,
        CERTIFICATE_SIGNING_PKCS12=str(tmp_path / "missing.p12"),
        CERTIFICATE_SIGNING_KEY=str(tmp_path / "key.pem"),
    )
    with pytest.raises(ConfigurationError) as caught:
        build_config()
    message = str(caught.value)
    assert "CERTIFICATE_SIGNING_PKCS12 names no file" in message
    assert "CERTIFICATE_SIGNING_KEY and CERTIFICATE_SIGNING_CERT go together" in message


def test_production_reads_the_signing_settings(monkeypatch, tmp_path):
    p12 = tmp_path / "signing.p12"
    p12.write_bytes(b"not checked at start")
    production_environment(
        monkeypatch,
        CERTIFICATE_SIGNING_PKCS12=str(p12),
        CERTIFICATE_SIGNING_PKCS12_PASSWORD="s3cret",
        CERTIFICATE_TSA_URL="https://tsa.example.cn/tsr",
    )
    config = build_config()
    assert config["CERTIFICATE_SIGNING_PKCS12"] == str(p12)
    assert config["CERTIFICATE_SIGNING_PKCS12_PASSWORD"] == "s3cret"
    assert config["CERTIFICATE_TSA_URL"] == "https://tsa.example.cn/tsr"
    assert config["CERTIFICATE_SIGNING_DEV_CA"] is False


def test_the_tsa_trust_roots_must_be_pem_certificates(monkeypatch, tmp_path):
    roots = tmp_path / "tsa.pem"
    roots.write_bytes(b"not a certificate")
    production_environment(monkeypatch, CERTIFICATE_TSA_TRUST_ROOTS=str(roots))
    with pytest.raises(ConfigurationError, match="CERTIFICATE_TSA_TRUST_ROOTS must be a PEM"):
        build_config()
    roots.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert build_config()["CERTIFICATE_TSA_TRUST_ROOTS"] == str(roots)


def test_a_bare_key_longer_than_a_file_name_is_read_as_a_key(monkeypatch):
    body = "A" * 1600  # one path segment far longer than a file name may be
    production_environment(monkeypatch, WECHAT_PAY_PUBLIC_KEY=body)
    assert build_config()["WECHAT_PAY_PUBLIC_KEY"] == body
