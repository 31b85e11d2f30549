"""Test fixtures: real PostgreSQL and Redis, schema built once by the migrations, each test
rolled back.

``TEST_DATABASE_URL`` and ``TEST_REDIS_URL`` name the servers (the README's test command
sets them). Tests marked ``committed`` run outside the rolled-back transaction (for other
processes or threads that must see the data); their tables are emptied afterwards.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from infra.extensions import db, limiter
from infra.redis_client import get_redis
from wxapp import create_app

pytest_plugins = ("tests.wechat_simulator", "tests.safe_requests")

# A database whose name has "test" as a word of its own: test, gx_test, gx_ci_test, test_gx.
_TEST_DATABASE_NAME = re.compile(r"(^|[_-])test($|[_-])")

# Tables whose rows come from migrations and survive every test.
REFERENCE_TABLES = {"districts", "alembic_version"}


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("TEST_DATABASE_URL") or not os.environ.get("TEST_REDIS_URL"):
        raise pytest.UsageError(
            "TEST_DATABASE_URL and TEST_REDIS_URL must point at PostgreSQL and Redis; "
            "run the tests through ./dev test, which sets them"
        )
    name = make_url(os.environ["TEST_DATABASE_URL"]).database or ""
    # The schema is dropped and rebuilt: never on a database that is not for tests.
    if not _TEST_DATABASE_NAME.search(name):
        raise pytest.UsageError(
            f"TEST_DATABASE_URL names the database {name!r}; the tests drop its schema, so "
            "its name must say it is a test database (e.g. gx_test)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Browser tests: ``./dev test -m "not e2e"`` is the fast loop without them.
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app({"APP_ENV": "test", "STORAGE_DIR": str(tmp_path_factory.mktemp("storage"))})
    with app.app_context():
        _rebuild_schema()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def _rebuild_schema() -> None:
    from flask_migrate import upgrade

    if db.engine.dialect.name != "postgresql":
        raise pytest.UsageError("the test suite runs on PostgreSQL")
    if not _TEST_DATABASE_NAME.search(db.engine.url.database or ""):
        raise pytest.UsageError(f"refusing to drop the schema of {db.engine.url.database!r}")
    with db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade()


@pytest.fixture(autouse=True)
def _isolation(request: pytest.FixtureRequest, app: Flask) -> Iterator[None]:
    """Each test in its own transaction, rolled back; Redis emptied after it."""
    committed = request.node.get_closest_marker("committed") is not None
    with app.app_context():
        if committed:
            yield
            db.session.remove()
            _empty_tables()
        else:
            connection = db.engine.connect()
            outer = connection.begin()
            original = db.session
            db.session = db._make_scoped_session(
                {
                    "class_": _ConnectionBoundSession,
                    "bind": connection,
                    "join_transaction_mode": "create_savepoint",
                }
            )
            try:
                yield
            finally:
                db.session.remove()
                db.session = original
                outer.rollback()
                connection.close()
        get_redis().flushdb()


class _ConnectionBoundSession(Session):
    """A plain SQLAlchemy session on the test's connection (Flask-SQLAlchemy's own picks
    the engine by table and would step around the rolled-back transaction)."""

    def __init__(self, db=None, **options):
        super().__init__(**options)


def _empty_tables() -> None:
    tables = [t.name for t in db.metadata.sorted_tables if t.name not in REFERENCE_TABLES]
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def make_app(app: Flask):
    """Build another app (other settings) for one test. The rate limiter is one shared
    extension that every ``create_app`` points at its own storage: hand it back after."""

    def make(config: dict | None = None) -> Flask:
        return create_app(config)

    yield make
    limiter.init_app(app)
    # The one limiter remembers that another app's Redis was down: the suite's answers.
    limiter._storage_dead = False


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block (to show a page's query count stays fixed)."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.session.get_bind().engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def submit_form(client: FlaskClient, url: str, data: dict, *, page: str | None = None, **kwargs):
    """Open the page like a browser does, then post the form with its CSRF token."""
    response = client.get(page or url)
    token = csrf_from(response.get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)
