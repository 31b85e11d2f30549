"""CPU per heartbeat inside one process: the composed WSGI stack (``wsgi.app``) called
directly from one thread, without gunicorn, sockets or other threads, beside the bare Flask
echo called the same way.

    .venv/bin/python bench/study_heartbeat_cpu.py [--players 256] [--rounds 10] [--profile FILE]

It prepares players as ``bench/study_heartbeat.py`` does (``BENCH_DATABASE_URL``,
``BENCH_REDIS_URL``, whose Redis database is emptied before and after), opens a session for
each, then sends ``--rounds`` heartbeats per player on the ledger's clock moved 12 s per
round (every rule applies; questions are answered). It prints the process's CPU per
heartbeat, per finishing heartbeat (the chapter written through to PostgreSQL) and per echo
request: what the product's own code costs, apart from the server around it. With
``--profile FILE`` the measured rounds also run under cProfile (on CPU time) and its
statistics are written to FILE (read them with ``python -m pstats FILE``); the figures of
such a run include the profiler's own cost.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.study_heartbeat as load  # noqa: E402


def environ(path: str, body: bytes, cookie: str | None = None) -> dict:
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "bench",
    }
    if cookie:
        env["HTTP_COOKIE"] = f"gx_session={cookie}"
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", load.DEFAULT_DATABASE)
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", load.DEFAULT_REDIS)
    )
    parser.add_argument("--profile", default="", help="write cProfile statistics here")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    players = load.prepare(args)  # sets the production environment in os.environ
    import wsgi

    app = wsgi.app
    clock = [time.time()]
    app.extensions["study_clock"] = lambda: clock[0]
    stack = app.wsgi_app

    def call(path: str, body: bytes, cookie: str | None = None) -> tuple[str, bytes]:
        status = []
        data = b"".join(stack(environ(path, body, cookie), lambda s, h, e=None: status.append(s)))
        return status[0], data

    for player in players:
        body = json.dumps({"chapter_id": player["chapter_id"]}).encode()
        status, data = call("/api/study/sessions", body, player["cookie"])
        assert status.startswith("201"), (status, data[:200])
        reply = json.loads(data)
        player.update(token=reply["token"], seq=0, position=0.0, question=reply["question"])
    right = load._right_answers()
    finishing: list[float] = []

    def one_round() -> int:
        clock[0] += load.HEARTBEAT_SECONDS
        sent = 0
        for player in players:
            if player["question"]:
                question = player["question"]
                body = json.dumps(
                    {
                        "token": player["token"],
                        "choice": question["options"].index(right[question["stem"]]),
                        "question_id": question["id"],
                    }
                ).encode()
                call("/api/study/answers", body)
                player["question"] = None
                continue
            player["seq"] += 1
            position = min(player["duration"], player["position"] + load.HEARTBEAT_SECONDS)
            body = (
                b'{"token":"%s","seq":%d,"from":%.2f,"position":%.2f,"playing":true,"rate":1}'
                % (player["token"].encode(), player["seq"], player["position"], position)
            )
            started = time.process_time()
            status, data = call("/api/study/heartbeats", body)
            spent = time.process_time() - started
            assert status.startswith("200"), (status, data)
            player["position"] = position
            reply = json.loads(data)
            player["question"] = reply["question"]
            if reply["finished"] and not player.get("finished"):
                player["finished"] = True
                finishing.append(spent)
            sent += 1
        return sent

    one_round()  # warm-up: compiled statements, the token cache
    finishing.clear()
    profile = cProfile.Profile(time.process_time) if args.profile else None
    started, count = time.process_time(), 0
    if profile:
        profile.enable()
    for _ in range(args.rounds):
        count += one_round()
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    spent = time.process_time() - started

    from bench.echo_wsgi import app as echo

    body = json.dumps({"token": "x" * 120, "seq": 1, "from": 0.0, "position": 12.0,
                       "playing": True, "rate": 1}).encode()  # fmt: skip
    for _ in range(500):
        b"".join(echo.wsgi_app(environ("/echo", body), lambda s, h, e=None: None))
    echo_started = time.process_time()
    for _ in range(5000):
        b"".join(echo.wsgi_app(environ("/echo", body), lambda s, h, e=None: None))
    echo_spent = time.process_time() - echo_started
    redis.Redis.from_url(args.redis_url).flushdb()

    print(f"{count} heartbeats of {len(players)} players: {1e6 * spent / count:.0f} µs CPU each")
    if finishing:
        print(f"  of which {len(finishing)} finished a chapter: "
              f"{1e6 * sum(finishing) / len(finishing):.0f} µs CPU each")  # fmt: skip
    print(f"bare Flask echo: {1e6 * echo_spent / 5000:.0f} µs CPU each")


if __name__ == "__main__":
    main()
