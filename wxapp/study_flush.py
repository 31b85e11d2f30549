"""The study ledger's write-behind: copies credit from Redis to PostgreSQL every few seconds.

Production runs it as its own process (``flask --app wsgi study flush``, one or more: each
batch is popped atomically, so several never write the same entry twice at once).
Development runs it in a daemon thread of the web process, so one process is enough.

Loss bound: a heartbeat's credit reaches PostgreSQL at the next flush, at most
``STUDY_FLUSH_INTERVAL_SECONDS`` plus one flush's duration later (well under 5 s). If Redis
loses its data, only credit accepted within that window is lost; finished chapters are
written through by the heartbeat that finishes them and never wait here.

Sessions' evidence counters (``study_sessions``: reports accepted, refused, uncounted,
answers, intervals) are written by the first round after ``STUDY_SESSION_FLUSH_SECONDS``
(10 s) since the last that wrote them: at the rush every heartbeat dirties its session, and
one ``UPDATE`` per session each round cost the write-behind and PostgreSQL more than the
credit itself. Their loss bound is that period plus one flush.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask

from infra.extensions import db
from infra.transaction import commit
from services.study import ledger as study_ledger
from services.study import rules as study

log = logging.getLogger(__name__)


def flush_once(limit: int, *, sessions: bool = True) -> int:
    """Write one batch (with the sessions' evidence unless ``sessions`` is false); returns
    how many entries were written. Needs an app context."""
    states = study_ledger.take_dirty(limit)
    evidence = study_ledger.take_dirty_sessions(limit) if sessions else []
    try:
        study.persist_progress(states)
        study.persist_sessions(evidence)
        commit()
    except Exception:
        db.session.rollback()
        # Popped but not written: mark them again, the next round writes them.
        study_ledger.mark_dirty_again(states)
        study_ledger.mark_sessions_dirty_again(evidence)
        raise
    return max(len(states), len(evidence))


def flush_all(limit: int, *, sessions: bool = True) -> int:
    total = 0
    while True:
        written = flush_once(limit, sessions=sessions)
        total += written
        if written < limit:
            return total


def run_forever(app: Flask, *, stop: threading.Event | None = None) -> None:
    interval = float(app.config["STUDY_FLUSH_INTERVAL_SECONDS"])
    limit = int(app.config["STUDY_FLUSH_BATCH"])
    session_period = float(app.config["STUDY_SESSION_FLUSH_SECONDS"])
    stop = stop or threading.Event()
    sessions_written = -math.inf
    while not stop.is_set():
        started = time.monotonic()
        sessions = started - sessions_written >= session_period
        with app.app_context():
            try:
                written = flush_all(limit, sessions=sessions)
                if sessions:
                    sessions_written = started
                if written:
                    log.debug("study write-behind: %d progress entries written", written)
            except Exception:
                # Entries stay marked in Redis; the next round tries again.
                log.exception("study write-behind failed; retrying")
            finally:
                db.session.remove()
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


_thread_lock = threading.Lock()


def ensure_in_process_flusher(app: Flask) -> None:
    """Development: start the write-behind thread once per process."""
    if app.extensions.get("study_flusher") is not None:
        return
    with _thread_lock:
        if app.extensions.get("study_flusher") is None:
            thread = threading.Thread(
                target=run_forever, args=(app,), name="study-write-behind", daemon=True
            )
            app.extensions["study_flusher"] = thread
            thread.start()
