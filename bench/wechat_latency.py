"""Reply latency of the official account's server URL (/wechat) under concurrent load, beside
a bare Flask echo endpoint served with the same server settings in the same run.

    .venv/bin/python bench/wechat_latency.py [--concurrency 16] [--requests 2000]
                                             [--workers 2] [--threads 8]

PostgreSQL and Redis come from $BENCH_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/gx_wechat) and $BENCH_REDIS_URL (default
redis://127.0.0.1:6379/2); the schema is brought to the latest migration first, and the
followers the bench creates are deleted afterwards.

Two gunicorn servers (gthread, same workers and threads) run on loopback ports: the
platform, and a one-route Flask app that echoes the body back. Each gets a warm-up, then the
same number of signed WeChat pushes from the same number of concurrent clients: keyword texts
answered from the FAQ, menu clicks, and subscribe events that write a follower row, each with
its own MsgId or CreateTime (no retries, so every push is really answered). WeChat gives an
answer 5 s; the figures to watch are p99 against that and the overhead over the echo.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/gx_wechat"
DEFAULT_REDIS = "redis://127.0.0.1:6379/2"
KEYWORDS = ["证书", "发票", "忘记密码", "学时", "补学", "客服电话", "你好"]


def platform_app():
    """gunicorn factory: the platform in test mode (PostgreSQL, Redis, no simulator)."""
    from wxapp import create_app

    return create_app({"APP_ENV": "test", "LOG_LEVEL": "WARNING"})


def echo_app():
    """gunicorn factory: the baseline, a bare Flask app that answers the body it got."""
    from flask import Flask, Response, request

    app = Flask("echo")

    @app.post("/wechat")
    def echo():
        return Response(request.get_data(), mimetype="application/xml")

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(factory: str, port: int, workers: int, threads: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--chdir",
            str(ROOT),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            f"bench.wechat_latency:{factory}()",
        ],
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{factory} did not start on port {port}")


def pushes(account, count: int, run: str):
    from wechat_sim import push

    for i in range(count):
        if i % 5 == 4:
            xml = push.event_message(
                account, f"oBENCH_{run}_{i}", "subscribe", create_time=1700000000 + i
            )
        elif i % 5 == 3:
            xml = push.event_message(
                account, f"oBENCH_{run}", "CLICK", key="ONLINE_SERVICE", create_time=1700000000 + i
            )
        else:
            xml = push.text_message(account, f"oBENCH_{run}", KEYWORDS[i % len(KEYWORDS)])
        yield push.signed_push(account, xml)


def load(url: str, work: list, concurrency: int) -> tuple[list[float], float, int]:
    """Send every push in ``work`` from ``concurrency`` clients; latencies in ms."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    queue = iter(work)

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            query, body = item
            started = time.perf_counter()
            response = session.post(url, params=query, data=body, timeout=10)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if response.status_code != 200 or not response.content.startswith(b"<xml>"):
                    failures[0] += 1

    started = time.perf_counter()
    clients = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    return latencies, time.perf_counter() - started, failures[0]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    env = {
        **os.environ,
        "APP_ENV": "test",
        "TEST_DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB),
        "TEST_REDIS_URL": os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
    }
    os.environ.update({key: env[key] for key in ("TEST_DATABASE_URL", "TEST_REDIS_URL")})
    app = platform_app()
    from flask_migrate import upgrade
    from sqlalchemy import delete

    from infra.extensions import db
    from models.wechat import WechatFollower
    from wechat_sim import push

    with app.app_context():
        upgrade()
    account = push.Account(
        app.config["WECHAT_TOKEN"], app.config["WECHAT_APPID"], app.config["WECHAT_ORIGINAL_ID"]
    )

    run = str(int(time.time()))
    results = {}
    servers = []
    try:
        for name, factory in (("bare Flask echo", "echo_app"), ("/wechat", "platform_app")):
            port = free_port()
            servers.append(serve(factory, port, args.workers, args.threads, env))
            url = f"http://127.0.0.1:{port}/wechat"
            load(url, list(pushes(account, 200, run + "w" + factory)), args.concurrency)
            latencies, seconds, failures = load(
                url, list(pushes(account, args.requests, run + factory)), args.concurrency
            )
            results[name] = (latencies, seconds, failures)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        with app.app_context():
            db.session.execute(delete(WechatFollower).where(WechatFollower.openid.like("oBENCH_%")))
            db.session.commit()

    print(
        f"\n{args.requests} pushes per target, {args.concurrency} concurrent clients, "
        f"gunicorn gthread {args.workers} workers x {args.threads} threads, loopback"
    )
    print(
        f"{'target':<18}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>9}{'errors':>8}"
    )
    for name, (latencies, seconds, failures) in results.items():
        print(
            f"{name:<18}{statistics.median(latencies):>9.1f}{percentile(latencies, 0.9):>9.1f}"
            f"{percentile(latencies, 0.99):>9.1f}{max(latencies):>9.1f}"
            f"{len(latencies) / seconds:>9.0f}{failures:>8}"
        )
    echo, wechat = results["bare Flask echo"][0], results["/wechat"][0]
    print(
        f"/wechat over echo: p50 x{statistics.median(wechat) / statistics.median(echo):.1f}, "
        f"p99 x{percentile(wechat, 0.99) / percentile(echo, 0.99):.1f}; "
        f"p99 {percentile(wechat, 0.99):.0f} ms of WeChat's 5000 ms"
    )
    if results["/wechat"][2]:
        raise SystemExit(f"{results['/wechat'][2]} pushes were not answered with a reply")


if __name__ == "__main__":
    main()
