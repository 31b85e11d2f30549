"""GET requests change nothing: a guard over the whole suite.

While a test runs, every statement the app sends to the database while it answers a GET or
HEAD request is watched, in every blueprint; one that writes (INSERT, UPDATE, DELETE) fails
the test. A link opened twice, prefetched by a browser or followed by a scanner must leave the
data as it was. The GETs allowed to write are listed here, each with why it is idempotent and
safe to prefetch, and the test that shows it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

IDEMPOTENT_GETS = {
    # WeChat's web authorisation comes back by GET (its protocol, not ours to change); signing
    # in records when the learner last logged in.
    "oauth.callback": "tests/handlers/test_oauth_entry.py",
    # Takes in a payment only when WeChat Pay reports it, once whatever the number of polls.
    "h5.order_status": "tests/services/payments/test_safe_requests.py",
    # The certificate's files are drawn on the first request and kept: the same bytes after.
    "h5.certificate_png": "tests/handlers/test_safe_requests.py",
    "h5.certificate_pdf": "tests/handlers/test_safe_requests.py",
    # WeChat's 订阅通知 consent page comes back by GET (its protocol); a learner holds at most
    # one open consent per plan, so a repeated answer records nothing more.
    "h5.deadline_notice_answer": "tests/handlers/test_deadline_notice.py",
    # A unit's archive draws (once) the certificates not drawn yet: the same files after.
    "admin.certificate_archive_download": "tests/handlers/admin/test_certificate_archive.py",
    "h5.certificate_preview": "tests/handlers/test_static_assets.py",
}

_WRITES = {"INSERT", "UPDATE", "DELETE"}
_lock = threading.Lock()
_written: list[str] = []


@event.listens_for(Engine, "before_cursor_execute")
def _watch(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if not has_request_context() or request.method not in ("GET", "HEAD"):
        return
    if request.endpoint in IDEMPOTENT_GETS:
        return
    if statement.lstrip().split(None, 1)[0].upper() in _WRITES:
        where = f"{request.method} {request.full_path} ({request.endpoint})"
        with _lock:
            _written.append(f"{where}: {statement.splitlines()[0][:120]}")


@pytest.fixture(autouse=True)
def _get_requests_write_nothing() -> Iterator[None]:
    with _lock:
        _written.clear()
    yield
    with _lock:
        written, _written[:] = list(_written), []
    assert not written, "a GET request wrote to the database:\n" + "\n".join(written)
