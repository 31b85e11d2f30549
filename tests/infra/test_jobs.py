"""A background job runs like a request: committed when it returns, rolled back when it raises,
its after-commit effects run only once its data is durable."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from infra.extensions import db
from infra.jobs import enqueue, get_queue, job
from infra.transaction import after_commit
from models.org import Unit
from tests import factories

SENT: list[str] = []


@job
def name_a_unit(name: str) -> None:
    factories.unit(name)
    after_commit(SENT.append, name)


@job
def name_a_unit_then_fail(name: str) -> None:
    factories.unit(name)
    after_commit(SENT.append, name)
    raise RuntimeError("WeChat did not answer")


def not_a_job() -> None:
    pass


def _names_seen_from_another_connection() -> set[str]:
    engine = create_engine(db.engine.url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(text("SELECT name FROM units")))
    finally:
        engine.dispose()


@pytest.mark.committed
def test_a_job_that_returns_is_committed_and_then_runs_its_side_effects():
    SENT.clear()
    enqueue(name_a_unit, "按时提交的单位")
    assert "按时提交的单位" in _names_seen_from_another_connection()
    assert SENT == ["按时提交的单位"]


@pytest.mark.committed
def test_a_job_that_raises_leaves_nothing_written_and_is_recorded_as_failed():
    SENT.clear()
    enqueue(name_a_unit_then_fail, "半途而废的单位")
    assert "半途而废的单位" not in _names_seen_from_another_connection()
    assert db.session.scalar(select(Unit).where(Unit.name == "半途而废的单位")) is None
    assert SENT == []
    assert get_queue().failed_job_registry.count == 1


def test_only_functions_marked_as_jobs_can_be_queued():
    with pytest.raises(TypeError, match="not marked @job"):
        enqueue(not_a_job)
