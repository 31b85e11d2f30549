"""Redis behind Sentinel, on real engines: the primary is killed, a Sentinel promotes the
replica, and the app, the RQ worker and the write-behind carry on with the new primary
without being restarted; the worker and the write-behind still stop promptly on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from infra.extensions import db
from infra.jobs import get_queue
from infra.redis_client import get_redis
from infra.transaction import commit
from models.study import ChapterProgress
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat.tasks import send_template_message
from tests import factories
from tests.redis_sentinels import MASTER, SentinelCluster
from tests.study_player import Player, log_in

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server (Debian's redis-server)"
)


@pytest.fixture
def cluster(tmp_path):
    cluster = SentinelCluster(tmp_path).start()
    yield cluster
    cluster.stop()


def _process(cluster: SentinelCluster, *command: str) -> subprocess.Popen:
    """A production process (``flask --app wsgi …``) whose Redis is the Sentinels' primary."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REDIS_", "RATELIMIT_", "APP_ENV"))
    }
    env |= {
        "APP_ENV": "production",
        "SECRET_KEY": "a-production-secret-of-40-characters-xx",
        "PUBLIC_BASE_URL": "https://gx.example.cn",
        "DATABASE_URL": os.environ["TEST_DATABASE_URL"],
        # The database number the test app uses too (the host is the Sentinels' primary).
        "REDIS_URL": os.environ["TEST_REDIS_URL"],
        "REDIS_SENTINELS": cluster.sentinels,
        "REDIS_SENTINEL_MASTER": MASTER,
        "STUDY_FLUSH_INTERVAL_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _eventually(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} within {seconds} s")


def _message_status(message_id: int) -> TemplateMessageStatus:
    db.session.remove()
    return db.session.get(TemplateMessage, message_id).status


def _queue_message(key: str, learner_id: int) -> int:
    message = TemplateMessage(
        learner_id=learner_id, kind="payment_received", dedupe_key=key, payload={}
    )
    db.session.add(message)
    commit()
    get_queue().enqueue(send_template_message, message.id)
    return message.id


def _stop(process: subprocess.Popen) -> tuple[float, str]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    return time.monotonic() - started, out


@pytest.mark.committed  # the worker and write-behind are other processes: they see commits
def test_a_sentinel_failover_leaves_the_app_its_worker_and_write_behind_working(
    make_app, cluster, tmp_path
):
    app = make_app(
        {
            "APP_ENV": "test",
            "STORAGE_DIR": str(tmp_path),
            "REDIS_SENTINELS": cluster.sentinels,
            "REDIS_SENTINEL_MASTER": MASTER,
            "RQ_ASYNC": True,
        }
    )
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("redis+sentinel://")
    worker = _process(cluster, "jobs", "worker")
    flusher = _process(cluster, "study", "flush")
    try:
        with app.app_context():
            learner = factories.learner()  # no WeChat bound: the job marks its message skipped
            plan = factories.plan(required_hours=3)
            course = factories.course(plan, hours=3, chapters=1, chapter_seconds=600)
            factories.enrollment(learner, plan)
            commit()
            chapter_id, learner_id = course.chapters[0].id, learner.id
            assert get_redis().connection_pool.get_master_address()[1] == cluster.ports["primary"]

            client = app.test_client()
            log_in(client, learner)
            assert client.get("/h5/home").status_code == 200
            first = _queue_message("sentinel-before", learner_id)
            _eventually(
                lambda: _message_status(first) is TemplateMessageStatus.SKIPPED, 20, "job done"
            )

            took = cluster.kill_primary()
            assert took < 20

            # The login (kept in Redis, replicated) still holds on the new primary.
            home = _eventually(
                lambda: (r := client.get("/h5/home")).status_code == 200 and r, 15, "home page"
            )
            assert "Traceback" not in home.get_data(as_text=True)
            assert get_redis().connection_pool.get_master_address()[1] == cluster.ports["replica"]

            # The worker started again on the new primary and runs what is queued there.
            second = _queue_message("sentinel-after", learner_id)
            _eventually(
                lambda: _message_status(second) is TemplateMessageStatus.SKIPPED,
                30,
                "the worker running a job queued after the failover",
            )

            # The write-behind copies credit accepted on the new primary to PostgreSQL.
            player = Player(client, _RealClock(), chapter_id)
            player.start()
            time.sleep(3)
            assert player.beat(position=3.0).status_code == 200

            def written() -> int:
                db.session.remove()
                progress = db.session.scalar(
                    select(ChapterProgress).where(
                        ChapterProgress.learner_id == learner_id,
                        ChapterProgress.chapter_id == chapter_id,
                    )
                )
                return progress is not None and progress.covered_seconds > 0

            _eventually(written, 20, "the write-behind writing credit after the failover")
            db.session.remove()
            db.engine.dispose()
    finally:
        try:
            worker_stop, worker_out = _stop(worker)
        finally:
            flusher_stop, flusher_out = _stop(flusher)
    assert worker.returncode == 0, worker_out
    assert flusher.returncode == 0, flusher_out
    assert worker_stop < 5, worker_out
    assert flusher_stop < 5, flusher_out


class _RealClock:
    """The player's clock when the ledger keeps real time."""

    def __call__(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        time.sleep(seconds)
