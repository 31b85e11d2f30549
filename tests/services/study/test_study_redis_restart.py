"""The loss bound of the write-behind, shown by restarting a real Redis mid-study.

No finished chapter is lost (finishing is written through), and of the credit at most what
was accepted since the last flush is: here, the one heartbeat after it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redis
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.enrollments import Enrollment
from models.study import ChapterProgress
from tests import factories
from tests.study_player import FakeClock, Player, log_in
from wxapp import study_flush


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [shutil.which("redis-server") or "redis-server", "--port", str(self.port)]
        command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                probe.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.mark.committed
def test_restarting_redis_loses_no_finished_chapter_and_at_most_the_unflushed_credit(
    redis_server, tmp_path, make_app
):
    app = make_app({"APP_ENV": "test", "REDIS_URL": redis_server.url, "STORAGE_DIR": str(tmp_path)})
    clock = FakeClock(time.time())
    app.extensions["study_clock"] = clock
    with app.app_context():
        learner = factories.learner()
        plan = factories.plan(required_hours=30)
        course = factories.course(plan, hours=3, chapters=2, chapter_seconds=60)
        factories.enrollment(learner, plan)
        first, second = (chapter.id for chapter in course.chapters)
        commit()

        client = app.test_client()
        log_in(client, learner)
        player = Player(client, clock, first)
        player.start()
        player.play(60)
        assert player.replies[-1][1].get_json()["finished"] is True

        player = Player(client, clock, second)
        player.start()
        player.play(36)
        assert study_flush.flush_all(500) >= 1  # the write-behind has run: 36 s are durable
        player.play(12)  # accepted, still only in Redis

        redis_server.stop()
        clock.advance(12)
        outage = player.beat(position=player.position + 12)
        assert outage.status_code == 503
        assert "不会丢失" in outage.get_json()["message"]
        redis_server.start()  # empty: it keeps nothing on disk

        clock.advance(12)
        assert player.beat(position=player.position + 12).status_code == 410
        log_in(client, learner)  # logins were in Redis too
        restarted = player.start()
        assert restarted["covered_seconds"] == 36  # lost: the one heartbeat since the flush
        assert restarted["resume_position"] == 36

        db.session.expire_all()
        rows = {
            row.chapter_id: row
            for row in db.session.scalars(
                select(ChapterProgress).where(ChapterProgress.learner_id == learner.id)
            )
        }
        assert rows[first].finished_at is not None
        assert rows[first].covered_seconds == 60
        assert rows[second].covered_seconds == 36
        # Studying goes on from there.
        player.play(24)
        assert study_flush.flush_all(500) == 1
        db.session.expire_all()
        assert db.session.get(ChapterProgress, rows[second].id).covered_seconds == 60
        assert db.session.get(ChapterProgress, rows[second].id).finished_at is not None
        enrollment = db.session.scalar(
            select(Enrollment).where(Enrollment.learner_id == learner.id)
        )
        assert enrollment.earned_hours == 3
        db.session.remove()
    with app.app_context():
        db.engine.dispose()
