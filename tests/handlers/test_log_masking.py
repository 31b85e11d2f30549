"""No phone, ID number or console search term reaches a log: not the access logs of the
development server or gunicorn, not the limiter's lines, not a database error's parameters."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from infra.extensions import db
from wechat_sim.server import LoopbackServer
from wxapp.config import PROJECT_ROOT
from wxapp.logging_setup import MaskingFormatter

PHONE = "13800000001"
ID_NUMBER = "500103198806011016"
SEARCHES = (
    f"/admin/learners?q={PHONE}",
    f"/admin/learners?page=2&q={ID_NUMBER}",
    "/admin/learners?q=%E7%8E%8B%E8%8A%B3",  # 王芳
    f"/h5/?next=/h5/home&phone={PHONE}",
)


def assert_masked(log_text: str) -> None:
    assert PHONE not in log_text and ID_NUMBER not in log_text
    assert "%E7%8E%8B" not in log_text and "王芳" not in log_text
    assert "q=***" in log_text and "138****0001" in log_text


def test_the_development_server_s_access_log(app, caplog):
    server = LoopbackServer(app).serve()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for path in SEARCHES:
                requests.get(server.url + path, allow_redirects=False, timeout=5)
    finally:
        server.stop()
    lines = "\n".join(r.getMessage() for r in caplog.records if r.name == "werkzeug")
    assert "/admin/learners" in lines
    assert_masked(lines)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorn_s_access_log(tmp_path):
    port = _free_port()
    env = {**os.environ, "APP_ENV": "test"}
    gunicorn = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--access-logfile", "-", "--error-logfile", "-", "wsgi:app",
        ],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        for _ in range(300):  # until gunicorn listens; its worker then loads the app
            try:
                requests.get(f"http://127.0.0.1:{port}/static/js/h5.js", timeout=60)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        for path in SEARCHES:
            requests.get(
                f"http://127.0.0.1:{port}{path}",
                headers={"Referer": f"https://gx.example.cn/admin/learners?q={PHONE}"},
                allow_redirects=False,
                timeout=5,
            )
    finally:
        gunicorn.terminate()
        output, _ = gunicorn.communicate(timeout=20)
    assert '"GET /admin/learners' in output, output[-2000:]
    assert_masked(output)


def test_database_errors_carry_no_parameters_and_are_logged_masked(app):
    with pytest.raises(DBAPIError) as raised:
        db.session.execute(
            text("SELECT CAST(:name AS integer), :phone"), {"name": "王芳", "phone": PHONE}
        )
    db.session.rollback()
    error = str(raised.value)
    assert "[SQL parameters hidden" in error and PHONE not in error
    # PostgreSQL quotes the value it could not take; logged, phones and ID numbers are masked.
    record = logging.makeLogRecord({"msg": "failed: %s", "args": (f"{error} {PHONE}",)})
    assert PHONE not in MaskingFormatter("%(message)s").format(record)


def test_tracebacks_are_masked():
    try:
        raise ValueError(f"row ({ID_NUMBER}, {PHONE}) failed")
    except ValueError:
        record = logging.getLogger("test").makeRecord(
            "test", logging.ERROR, __file__, 1, "lookup of %s failed", (PHONE,), sys.exc_info()
        )
    line = MaskingFormatter("%(message)s").format(record)
    assert PHONE not in line and ID_NUMBER not in line
    assert "138****0001" in line and "500***********1016" in line
