import pytest
import redis

from wxapp import create_app


def test_healthz_answers_when_database_and_redis_do(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.committed  # the broken app must get its own session, not the test's connection
def test_healthz_names_what_failed(app, tmp_path):
    broken = create_app(
        {
            "APP_ENV": "test",
            "STORAGE_DIR": str(tmp_path),
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none",
            # The limiter is one object shared by every app in the process and takes the
            # storage of the last app created; keep it on the suite's working Redis.
            "RATELIMIT_STORAGE_URI": app.config["RATELIMIT_STORAGE_URI"],
        }
    )
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error")
    assert body["checks"]["redis"].startswith("error")


def test_healthz_reports_redis_alone(app, client, monkeypatch):
    def refuse(*args, **kwargs):
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(app.extensions["redis"], "ping", refuse)
    body = client.get("/healthz").get_json()
    assert body["checks"] == {"database": "ok", "redis": "error: ConnectionError"}
