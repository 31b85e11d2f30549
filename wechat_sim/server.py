"""Serve a WSGI app on a loopback port from a thread (tests, benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class LoopbackServer:
    """A threaded werkzeug server on 127.0.0.1 and a free port; ``url`` has no trailing slash.

    The app may be given later (``serve(app)``) when it needs to know its own URL first.
    """

    def __init__(self, app: Callable[..., Any] | None = None) -> None:
        self._app = app
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        # Request threads are tracked so that ``stop`` can wait for the last responses to
        # finish their teardown (database sessions returned) before the caller cleans up.
        self._server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        return self._app(environ, start_response)

    def serve(self, app: Callable[..., Any] | None = None) -> LoopbackServer:
        if app is not None:
            self._app = app
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        for thread in list(vars(self._server).get("_threads") or []):
            thread.join(timeout=5)
        self._server.block_on_close = False
        self._server.server_close()
        self._thread.join(timeout=5)
