from flask import current_app
from flask.cli import AppGroup
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job

from infra.extensions import db
from infra.redis_client import get_redis

group = AppGroup("jobs", help="Background jobs (RQ).")


class AppWorker(SimpleWorker):
    """Runs jobs in the app's process and context; each job gets a fresh database session."""

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        try:
            return super().perform_job(job, queue, execution)
        finally:
            db.session.remove()


@group.command("worker")
def worker() -> None:
    """Run an RQ worker for the app's queue (run as many as the load needs)."""
    queue_name = current_app.config["RQ_QUEUE"]
    AppWorker([queue_name], connection=get_redis()).work(with_scheduler=True)
