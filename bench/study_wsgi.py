"""The production app for the heartbeat benchmark, on a clock that runs BENCH_TIME_SCALE
times faster, so that players' 12-second heartbeat spacing is compressed into real time.

``wsgi.app`` is the whole composed stack (``wxapp.compose_wsgi``): the Flask app with the
study ingest app mounted beside it. Both read the ledger's clock from the Flask app's
extensions, so one injected clock serves session starts (Flask) and heartbeats and answers
(ingest) alike."""

import os
import time

from wsgi import app

_scale = float(os.environ.get("BENCH_TIME_SCALE") or 1)
if _scale != 1:
    _epoch = float(os.environ["BENCH_CLOCK_EPOCH"])
    app.extensions["study_clock"] = lambda: _epoch + (time.time() - _epoch) * _scale
