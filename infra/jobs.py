"""Background jobs on RQ, each run like a request.

A job is a plain function marked with ``@job`` that lives in its domain's ``tasks.py``
(``services/wechat/tasks.py``, ``services/payments/tasks.py``). It takes ids, never rows, and
like a service it only flushes: the wrapper owns its transaction. When the function returns,
the wrapper commits (running what waited with ``after_commit``); when it raises, the wrapper
rolls back and the job fails in RQ, with its exception in the log. A worker runs jobs inside
the app's context (``flask --app wsgi jobs worker``); in synchronous mode (development and
tests) ``enqueue`` runs the job at once, after the commit that queued it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import current_app
from rq import Queue

from infra.extensions import db
from infra.redis_client import get_redis
from infra.transaction import commit

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_JOB_MARK = "_runs_as_job"


def job(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` as a job: committed when it returns, rolled back when it raises."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = func(*args, **kwargs)
            commit()
        except BaseException:
            db.session.rollback()
            log.exception("job %s failed", func.__qualname__)
            raise
        return result

    setattr(run, _JOB_MARK, True)
    return run


def get_queue() -> Queue:
    return Queue(
        current_app.config["RQ_QUEUE"],
        connection=get_redis(),
        is_async=current_app.config["RQ_ASYNC"],
    )


def enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Queue a job (a function marked ``@job``); in synchronous mode it runs at once."""
    if not getattr(func, _JOB_MARK, False):
        raise TypeError(f"{func.__qualname__} is not marked @job")
    get_queue().enqueue(func, *args, **kwargs)
