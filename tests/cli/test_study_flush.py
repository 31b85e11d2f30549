"""The write-behind process as production runs it: ``flask --app wsgi study flush``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_write_behind_stops_cleanly_when_asked():
    # A deploy stops it with SIGTERM: it finishes the batch in hand (already taken from the
    # entries waiting in Redis) instead of dying with it.
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "study", "flush"],
        cwd=ROOT,
        env=os.environ | {"APP_ENV": "test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith("writing study progress every")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped" in out
