"""A small HTTP load balancer for the rush rehearsal: round robin over app nodes.

A request goes to the next node; a node that refuses the connection (down, restarting) is
skipped for two seconds and the request tried on the next one (it never reached the first,
so trying again is safe). When no node takes it, or a node fails after the request was sent
(killed while answering), the client gets a 503 with a Chinese JSON body, never a hang:
what a real balancer in front of the app nodes answers.

    .venv/bin/python bench/balancer.py 8000 127.0.0.1:8001 127.0.0.1:8002
"""

from __future__ import annotations

import http.client
import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNAVAILABLE = json.dumps(
    {"error": "unavailable", "message": "服务暂时不可用，请稍后再试。"}, ensure_ascii=False
).encode()
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}
DOWN_SECONDS = 2.0
UPSTREAM_TIMEOUT = 30.0


class Balancer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, upstreams: list[tuple[str, int]]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstreams = upstreams
        self._turn = itertools.cycle(range(len(upstreams)))
        self._down_until = [0.0] * len(upstreams)
        self._lock = threading.Lock()
        self.refused = 0  # answers of our own 503

    def order(self) -> list[int]:
        """The nodes to try for one request: the next in turn first, nodes marked down last."""
        with self._lock:
            first = next(self._turn)
            now = time.monotonic()
            ring = [(first + n) % len(self.upstreams) for n in range(len(self.upstreams))]
            return sorted(ring, key=lambda i: self._down_until[i] > now)

    def mark_down(self, index: int) -> None:
        with self._lock:
            self._down_until[index] = time.monotonic() + DOWN_SECONDS


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Balancer

    def log_message(self, format: str, *args) -> None:
        pass

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        headers["X-Forwarded-For"] = self.client_address[0]
        for index in self.server.order():
            host, port = self.server.upstreams[index]
            connection = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
            try:
                connection.connect()
            except OSError:
                self.server.mark_down(index)
                connection.close()
                continue  # never reached the node: the next one may take it
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException):
                self.server.mark_down(index)
                connection.close()
                break  # the node took the request and failed: not sent twice
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_HEADERS and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()
            return
        with self.server._lock:
            self.server.refused += 1
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(UNAVAILABLE)))
        self.send_header("Retry-After", "2")
        self.end_headers()
        self.wfile.write(UNAVAILABLE)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _proxy  # noqa: N815 (http.server's names)


def serve(port: int, upstreams: list[tuple[str, int]]) -> Balancer:
    """Start a balancer in a daemon thread; ``shutdown()`` and ``server_close()`` stop it."""
    balancer = Balancer(port, upstreams)
    threading.Thread(target=balancer.serve_forever, name="balancer", daemon=True).start()
    return balancer


if __name__ == "__main__":
    listen = int(sys.argv[1])
    nodes = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in sys.argv[2:]]
    Balancer(listen, nodes).serve_forever()
