"""The database settings a deployment behind PgBouncer needs: psycopg's prepared statements
off, the pool's bounds, and a pool that stays busy answered with a Chinese 503."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from infra.extensions import db
from wxapp.config import ConfigurationError, build_config


def test_prepared_statements_are_off_when_told(make_app, tmp_path):
    app = make_app(
        {"APP_ENV": "test", "STORAGE_DIR": str(tmp_path), "DATABASE_PREPARED_STATEMENTS": False}
    )
    with app.app_context():
        with db.engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw.prepare_threshold is None
            # A statement run many times is never prepared on the server.
            for _ in range(8):
                connection.execute(text("SELECT 1 WHERE 1 = :one"), {"one": 1})
            prepared = connection.execute(text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar_one() == 0
        db.engine.dispose()


def test_prepared_statements_stay_on_by_default(make_app, tmp_path):
    app = make_app({"APP_ENV": "test", "STORAGE_DIR": str(tmp_path)})
    with app.app_context():
        with db.engine.connect() as connection:
            for _ in range(8):
                connection.execute(text("SELECT 1 WHERE 1 = :one"), {"one": 1})
            prepared = connection.execute(text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar_one() >= 1
        db.engine.dispose()


def test_pool_bounds_reach_the_engine(make_app, tmp_path):
    app = make_app(
        {
            "APP_ENV": "test",
            "STORAGE_DIR": str(tmp_path),
            "DATABASE_POOL_SIZE": 3,
            "DATABASE_MAX_OVERFLOW": 2,
            "DATABASE_POOL_TIMEOUT": 2,
        }
    )
    with app.app_context():
        pool = db.engine.pool
        assert pool.size() == 3  # type: ignore[attr-defined]
        assert pool._max_overflow == 2  # type: ignore[attr-defined]
        assert pool._timeout == 2  # type: ignore[attr-defined]
        db.engine.dispose()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_POOL_SIZE", "0", "DATABASE_POOL_SIZE must be at least 1"),
        ("DATABASE_MAX_OVERFLOW", "-1", "DATABASE_MAX_OVERFLOW must be at least 0"),
        ("DATABASE_POOL_TIMEOUT", "soon", "DATABASE_POOL_TIMEOUT must be a whole number"),
        ("DATABASE_PREPARED_STATEMENTS", "maybe", "DATABASE_PREPARED_STATEMENTS must be true"),
    ],
)
def test_bad_database_settings_are_refused_by_name(monkeypatch, name, value, message):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        build_config()


def test_prepared_statements_off_from_the_environment(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("DATABASE_URL", "postgresql://gx@pgbouncer.internal:6432/gx")
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "off")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "2")
    options = build_config()["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"prepare_threshold": None}
    assert options["pool_size"] == 2
    assert options["pool_pre_ping"] is True


@pytest.mark.committed  # the app under test must use its own pool, not the test's connection
def test_a_pool_that_stays_busy_answers_a_chinese_503(make_app, tmp_path):
    app = make_app(
        {
            "APP_ENV": "test",
            "STORAGE_DIR": str(tmp_path),
            "DATABASE_POOL_SIZE": 1,
            "DATABASE_MAX_OVERFLOW": 0,
            "DATABASE_POOL_TIMEOUT": 1,
        }
    )
    client = app.test_client()
    with app.app_context():
        held = db.engine.connect()  # the pool's only connection, busy elsewhere
    try:
        page = client.get("/verify/GX2022-000001")
    finally:
        held.close()
    free = client.get("/verify/GX2022-000001")
    with app.app_context():
        assert db.engine.pool.checkedout() == 0  # nothing left half-held
        db.engine.dispose()
    assert page.status_code == 503
    body = page.get_data(as_text=True)
    assert "服务暂时不可用" in body and "Traceback" not in body
    assert free.status_code == 404  # the page recovers as soon as a connection is free
