"""The RQ worker as production runs it: ``flask --app wsgi jobs worker``."""

import logging
import signal
import threading

import redis
from flask import current_app
from flask.cli import AppGroup
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job

from infra.extensions import db
from infra.redis_client import get_redis

group = AppGroup("jobs", help="Background jobs (RQ).")
log = logging.getLogger(__name__)

# After Redis went away (a failover, a restart) the worker starts again this soon.
RECONNECT_SECONDS = 1.0


class AppWorker(SimpleWorker):
    """Runs jobs in the app's process and context; each job gets a fresh database session."""

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        try:
            return super().perform_job(job, queue, execution)
        finally:
            db.session.remove()


def work_until_stopped(queue_name: str, *, stop: threading.Event | None = None) -> None:
    """Run RQ's worker loop, and run it again whenever it ends because Redis went away.

    RQ's loop quits on any Redis error (a failover drops its connection); the Redis client
    asks the Sentinels for the new primary, so a fresh worker on it carries on. SIGTERM or
    Ctrl-C stops it: RQ's own handlers while its loop runs (a job in hand is finished first),
    ours while it waits to start again."""
    stop = stop or threading.Event()
    while not stop.is_set():
        worker = AppWorker([queue_name], connection=get_redis())
        try:
            worker.work(with_scheduler=True)
        except redis.exceptions.RedisError as error:
            # Registering the worker (or its death) failed: Redis is not there yet.
            log.warning("RQ worker could not reach Redis: %s", error)
        # RQ notes the time a stop signal came (it raises StopRequested when idle).
        if worker._shutdown_requested_date is not None or stop.is_set():
            break
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda *_: stop.set())
        log.warning("RQ worker stopped without being asked; starting again")
        stop.wait(RECONNECT_SECONDS)


@group.command("worker")
def worker() -> None:
    """Run an RQ worker for the app's queue (run as many as the load needs)."""
    work_until_stopped(current_app.config["RQ_QUEUE"])
