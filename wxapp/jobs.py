"""Background jobs on RQ, and side effects that must wait for the transaction to commit.

Services never commit. When a rule produces a side effect (a template message, a call to
WeChat), the service registers it with ``after_commit``; the handler or command that owns
the transaction calls ``commit()``, which runs the registered effects only once the data
they speak of is durable. A rollback discards them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from rq import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

from wxapp.extensions import db
from wxapp.redis_client import get_redis

log = logging.getLogger(__name__)

_PENDING = "after_commit"


def after_commit(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func`` after the current transaction commits (never if it rolls back)."""
    db.session.info.setdefault(_PENDING, []).append((func, args, kwargs))


def commit() -> None:
    """Commit the request's or command's transaction, then run what waited for it."""
    db.session.commit()
    pending = db.session.info.pop(_PENDING, [])
    for func, args, kwargs in pending:
        try:
            func(*args, **kwargs)
        except Exception:
            # The data is committed; a failed side effect must not turn into an error page.
            log.exception("after-commit side effect %s failed", getattr(func, "__name__", func))


def discard_pending() -> None:
    db.session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_rollback")
def _drop_pending_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def get_queue() -> Queue:
    return Queue(
        current_app.config["RQ_QUEUE"],
        connection=get_redis(),
        is_async=current_app.config["RQ_ASYNC"],
    )


def enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Queue a job; in synchronous mode (development, tests) it runs at once."""
    get_queue().enqueue(func, *args, **kwargs)
