"""The README's run command: migrations and demo data, in development mode on SQLite, and the
demo seed again on PostgreSQL; both twice, as a presenter restarting the server would."""

import os

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import Learner
from models.catalog import Course, Plan, Question
from models.staff import StaffUser


@pytest.mark.committed
def test_development_mode_migrates_and_seeds_sqlite_twice(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    dev = make_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
            "STORAGE_DIR": str(tmp_path / "storage"),
        }
    )
    runner = dev.test_cli_runner()
    with dev.app_context():
        upgrade()
        for _ in range(2):
            result = runner.invoke(args=["demo", "seed"])
            assert result.exit_code == 0, result.output + repr(result.exception)
        assert "admin / Admin2022" in result.output
        assert db.session.scalar(select(func.count(Plan.id))) >= 12
        db.session.remove()
        db.engine.dispose()


def test_demo_seed_runs_twice_on_postgresql(runner):
    for _ in range(2):
        result = runner.invoke(args=["demo", "seed"])
        assert result.exit_code == 0, result.output + repr(result.exception)
    assert db.session.scalar(select(func.count(Learner.id))) >= 5


@pytest.mark.committed
def test_demo_seed_refuses_a_production_database(make_app, monkeypatch):
    # The demo's staff logins are printed in the README: they must never reach production.
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-40-characters-xx")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://gx.example.cn")
    monkeypatch.setenv("DATABASE_URL", os.environ["TEST_DATABASE_URL"])
    monkeypatch.setenv("REDIS_URL", os.environ["TEST_REDIS_URL"])
    production = make_app()
    with production.app_context():
        result = production.test_cli_runner().invoke(args=["demo", "seed"])
        assert result.exit_code != 0
        assert "生产环境" in result.output
        assert db.session.scalar(select(func.count(StaffUser.id))) == 0
        db.session.remove()
        db.engine.dispose()


def test_every_demo_course_has_a_question_bank(runner):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    without = db.session.scalars(
        select(Course.title)
        .outerjoin(Question, Question.course_id == Course.id)
        .group_by(Course.id)
        .having(func.count(Question.id) == 0)
    ).all()
    assert db.session.scalar(select(func.count(Course.id))) > 10
    assert without == []
