"""The transaction of a request, command or job, and the side effects that wait for it.

Services never commit. When a rule produces a side effect (a template message, a call to
WeChat), the service registers it with ``after_commit``; the handler or command that owns
the transaction calls ``commit()``, which runs the registered effects only once the data
they speak of is durable. A rollback discards them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from infra.extensions import db

log = logging.getLogger(__name__)

_PENDING = "after_commit"


def after_commit(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func`` after the current transaction commits (never if it rolls back)."""
    session = db.session()
    # Remembered with the savepoint it belongs to: rolling that back drops it, and only it.
    savepoint = session.get_nested_transaction()
    session.info.setdefault(_PENDING, []).append((savepoint, func, args, kwargs))


def commit() -> None:
    """Commit the request's or command's transaction, then run what waited for it."""
    db.session.commit()
    pending = db.session.info.pop(_PENDING, [])
    for _, func, args, kwargs in pending:
        try:
            func(*args, **kwargs)
        except Exception:
            # The data is committed; a failed side effect must not turn into an error page.
            log.exception("after-commit side effect %s failed", getattr(func, "__name__", func))


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_on_rollback(session: Session, previous: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    # What really rolled back: the enclosing savepoint, or the whole transaction (a failed
    # flush reports its own inner transaction first).
    undone = previous
    while not undone.nested and undone.parent is not None:
        undone = undone.parent
    if undone.parent is None:
        session.info.pop(_PENDING, None)
        return
    # Queued inside the savepoint: undone with it. Queued before it: still waits for commit.
    session.info[_PENDING] = [entry for entry in pending if not _within(entry[0], undone)]


def _within(savepoint: SessionTransaction | None, undone: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is undone:
            return True
        savepoint = savepoint.parent
    return False
