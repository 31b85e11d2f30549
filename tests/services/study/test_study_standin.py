"""Development mode runs the ledger's Lua on the in-process Redis stand-in (fakeredis with
lupa): the same rules must hold there."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.study import ChapterProgress
from tests import factories
from tests.study_player import FakeClock, Player, log_in
from wxapp import study_flush


@pytest.mark.committed
def test_the_ledger_runs_on_the_development_redis_standin(tmp_path, make_app):
    app = make_app({"APP_ENV": "test", "REDIS_STANDIN": True, "STORAGE_DIR": str(tmp_path)})
    clock = FakeClock(time.time())
    app.extensions["study_clock"] = clock
    with app.app_context():
        learner = factories.learner()
        plan = factories.plan()
        course = factories.course(plan, chapters=1, chapter_seconds=60)
        factories.enrollment(learner, plan)
        chapter_id = course.chapters[0].id
        commit()

        client = app.test_client()
        log_in(client, learner)
        player = Player(client, clock, chapter_id)
        player.start()
        player.play(24)
        clock.advance(12)
        assert player.beat(position=60).get_json()["reason"] == "jump"
        player.position = 24
        player.play(36)
        assert player.replies[-1][1].get_json()["finished"] is True
        study_flush.flush_all(100)
        db.session.expire_all()
        progress = db.session.scalar(
            select(ChapterProgress).where(ChapterProgress.chapter_id == chapter_id)
        )
        assert progress.covered_seconds == 60
        assert progress.finished_at is not None
        db.session.remove()
    with app.app_context():
        db.engine.dispose()
