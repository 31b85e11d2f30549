"""Study heartbeats under load, against a bare Flask JSON echo on the same gunicorn settings.

Runs gunicorn with the production configuration (environment variables; real PostgreSQL
in a bench database, real Redis) and the write-behind process beside it, then drives many
simulated players over 64 keep-alive connections. Each player has its own learner, plan
enrollment and playback session, and reports what it played since its previous heartbeat;
the server's clock runs BENCH_TIME_SCALE times faster, so 12-second heartbeat spacing is
compressed into real time while every rule still applies (questions come and are answered,
short chapters finish and are written through). In the same run the echo app is measured
the same way. Prints throughput, p50/p99 latency and the ratio.

    .venv/bin/python bench/study_heartbeat.py [--players 1024] [--connections 64] [--rounds 3]

Goal: heartbeat throughput at least 0.6 of the echo's, p99 under 50 ms at 64 connections.
The Redis database (``BENCH_REDIS_URL``, default db 4) is emptied before and after the run.

A ratio says something only when the heartbeats were answered by the ledger: when most of
them were refused (a 410 for every one, say), the run prints the outcome mix, reports no
ratio and exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/gx_study_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/4"
SECRET_KEY = "bench-secret-key-not-for-production"
HEARTBEAT_SECONDS = 12  # the spacing players keep, in the server's (compressed) time
SHORT_CHAPTER = 300
LONG_CHAPTER = 2700


# --- setup -------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def server_env(args: argparse.Namespace, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEST_", "APP_", "STUDY_"))
    }
    env.update(
        APP_ENV="production",
        SECRET_KEY=SECRET_KEY,
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        PUBLIC_BASE_URL="https://bench.invalid",
        STORAGE_DIR=str(ROOT / "bench" / "results" / "storage"),
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def prepare(args: argparse.Namespace) -> list[dict]:
    """A plan, its chapters, one learner and enrollment per player; a session cookie each."""
    ensure_database(args.database_url)
    env = server_env(args)
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    from services.accounts.identity import id_check_character

    now = datetime.now(UTC)
    with psycopg.connect(args.database_url) as conn:
        conn.execute(
            "TRUNCATE chapter_progress, enrollments, questions, chapters, courses, plans, "
            "template_messages, learners, units RESTART IDENTITY CASCADE"
        )
        district = conn.execute("SELECT id FROM districts ORDER BY id LIMIT 1").fetchone()[0]
        unit = conn.execute(
            "INSERT INTO units (name, district_id, code, created_at) "
            "VALUES ('压测单位', %s, 'BENCH001', %s) RETURNING id",
            (district, now),
        ).fetchone()[0]
        plan = conn.execute(
            "INSERT INTO plans (year, kind, title, description, price_fen, required_hours, "
            "minutes_per_hour, chapter_threshold_percent, sale_starts_at, sale_ends_at, "
            "study_ends_at, is_published, created_at) VALUES (2022, 'current', "
            "'压测计划', '', 3000, 30, 45, 95, %s, %s, %s, true, %s) RETURNING id",
            (now - timedelta(days=1), now + timedelta(days=30), now + timedelta(days=30), now),
        ).fetchone()[0]
        chapters = []
        for index, seconds in enumerate((SHORT_CHAPTER, LONG_CHAPTER)):
            course = conn.execute(
                "INSERT INTO courses (plan_id, title, lecturer, hours, description, sort_order) "
                "VALUES (%s, %s, '', 3, '', %s) RETURNING id",
                (plan, f"课程{index + 1}", index),
            ).fetchone()[0]
            chapters.append(
                (
                    conn.execute(
                        "INSERT INTO chapters (course_id, title, duration_seconds, media_url, "
                        "sort_order) VALUES (%s, '第1讲', %s, 'demo/x.webm', 0) RETURNING id",
                        (course, seconds),
                    ).fetchone()[0],
                    seconds,
                )
            )
        conn.execute(
            "INSERT INTO questions (course_id, stem, options, answer_index, is_active) "
            "VALUES (NULL, '课程名称后出现绿色小勾表示什么？', "
            '\'["课程已学完", "课程已收藏", "课程需重学"]\', 0, true)'
        )
        players = []
        with conn.cursor().copy(
            "COPY learners (name, id_number, phone, gender, birth_date, unit_id, district_id, "
            "must_change_password, source, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(args.players):
                first17 = f"500103{1960 + n // 1000:04d}0101{n % 1000:03d}"
                id_number = first17 + id_check_character(first17)
                copy.write_row(
                    ("压测学员", id_number, None, "male" if n % 2 else "female", "1980-01-01",
                     unit, district, False, "self", now, now)
                )  # fmt: skip
                players.append({"id_number": id_number})
        learner_ids = [row[0] for row in conn.execute("SELECT id FROM learners ORDER BY id")]
        with conn.cursor().copy(
            "COPY enrollments (learner_id, plan_id, status, source, earned_hours, created_at) "
            "FROM STDIN"
        ) as copy:
            for learner_id in learner_ids:
                copy.write_row((learner_id, plan, "active", "order", 0, now))
    from flask.sessions import SecureCookieSessionInterface

    from services.accounts import sessions
    from services.accounts.learners import session_tag
    from wxapp import create_app

    os.environ.update(env)
    app = create_app()
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    with app.app_context():
        from infra.extensions import db
        from models.accounts import Learner

        learners = {row.id: row for row in db.session.query(Learner).all()}
        for index, (player, learner_id) in enumerate(zip(players, learner_ids, strict=True)):
            cookie = serializer.dumps(
                {
                    "learner_id": learner_id,
                    # Logins live in Redis: each player's is opened as the login page does.
                    "learner_login": sessions.open_login(sessions.LEARNER, learner_id),
                    "learner_tag": session_tag(learners[learner_id]),
                    "_permanent": True,
                }
            )
            chapter_id, seconds = chapters[0] if index % 8 == 0 else chapters[1]
            player.update(
                learner_id=learner_id, cookie=cookie, chapter_id=chapter_id, duration=seconds
            )
        db.engine.dispose()
    return players


# --- gunicorn ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(args, module: str, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "--worker-class",
            "gthread",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "30",
            "--keep-alive",
            "75",
            "--log-level",
            "warning",
            module,
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"gunicorn {module} did not start")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


# --- the load ------------------------------------------------------------------------------


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    heartbeat_statuses: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    started: float = 0.0
    ended: float = 0.0
    server_cpu: float = 0.0
    cpu_parts: dict = field(default_factory=dict)

    def record(self, kind: str, status: int, latency: float, now: float) -> None:
        if self.started <= now <= self.ended:
            self.latencies.append(latency)
            self.statuses[status] += 1
            self.kinds[kind] += 1
            if kind == "heartbeat":
                self.heartbeat_statuses[status] += 1

    def summary(self) -> dict:
        ordered = sorted(self.latencies)
        count = len(ordered)
        return {
            "requests": count,
            "throughput": count / (self.ended - self.started),
            "p50_ms": 1000 * statistics.median(ordered) if ordered else 0,
            "p99_ms": 1000 * ordered[min(count - 1, int(count * 0.99))] if ordered else 0,
            "statuses": dict(self.statuses),
            "kinds": dict(self.kinds),
            "heartbeat_statuses": dict(self.heartbeat_statuses),
            "server_cpu_us_per_request": 1e6 * self.server_cpu / count if count else 0,
            "server_cpu_us_by_process": {
                name: round(1e6 * value / count) if count else 0
                for name, value in self.cpu_parts.items()
            },
        }


async def request(reader, writer, path: str, body: bytes, cookie: str | None) -> tuple[int, bytes]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if cookie:
        head += f"Cookie: gx_session={cookie}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    header = await reader.readuntil(b"\r\n\r\n")
    status = int(header[9:12])
    length = 0
    for line in header.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system, every thread) the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def drive(
    port: int, connections: int, seconds: float, warmup: float, work, server_pids=None
) -> Results:
    results = Results()
    loop_start = time.monotonic()
    results.started = loop_start + warmup
    results.ended = results.started + seconds

    async def account() -> None:
        # The server side's CPU per request: a figure the machine's other load moves less
        # than throughput does.
        await asyncio.sleep(warmup)
        groups = server_pids() if server_pids else {}
        before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        await asyncio.sleep(seconds)
        results.cpu_parts = {
            name: cpu_seconds(pids) - before[name] for name, pids in groups.items()
        }
        results.server_cpu = sum(results.cpu_parts.values())

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < results.ended:
                await work(reader, writer, results)
        finally:
            writer.close()

    await asyncio.gather(account(), *(connection() for _ in range(connections)))
    return results


def echo_work(body: bytes):
    async def work(reader, writer, results: Results) -> None:
        sent = time.monotonic()
        status, _ = await request(reader, writer, "/echo", body, None)
        now = time.monotonic()
        results.record("echo", status, now - sent, now)

    return work


def _right_answers() -> dict[str, str]:
    from services.study.questions import PLATFORM_RULES

    answers = {stem: options[answer] for stem, options, answer in PLATFORM_RULES}
    answers["课程名称后出现绿色小勾表示什么？"] = "课程已学完"
    return answers


RIGHT = _right_answers()


def player_work(players: list[dict], scale: float, reasons: Counter):
    queue = deque(players)
    # A heartbeat waits at least the ledger's minimum gap (2 s of server time) after the last.
    min_real_gap = 2.5 / scale

    async def work(reader, writer, results: Results) -> None:
        player = queue.popleft()
        try:
            wait = player["last_sent"] + min_real_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if player["question"]:
                # A learner who watched knows the answer: the bench knows its bank's answers.
                question = player["question"]
                choice = question["options"].index(RIGHT[question["stem"]])
                body = b'{"token":"%s","choice":%d,"question_id":"%s"}' % (
                    player["token"].encode(),
                    choice,
                    question["id"].encode(),
                )
                path, kind = "/api/study/answers", "answer"
            else:
                played = (time.monotonic() - player["last_sent"]) * scale * 0.97
                start = player["position"]
                position = min(player["duration"], start + played)
                player["seq"] += 1
                body = (
                    b'{"token":"%s","seq":%d,"from":%.2f,"position":%.2f,"playing":true,"rate":1}'
                    % (player["token"].encode(), player["seq"], start, position)
                )
                player["position"] = position
                path, kind = "/api/study/heartbeats", "heartbeat"
            sent = time.monotonic()
            status, reply = await request(reader, writer, path, body, player["cookie"])
            now = time.monotonic()
            player["last_sent"] = sent
            results.record(kind, status, now - sent, now)
            if status == 200:
                # Read only what a player acts on: a question, or a part that did not count.
                player["question"] = (
                    json.loads(reply)["question"] if b'"question":{' in reply else None
                )
                if kind == "heartbeat":
                    reason = reply[reply.index(b'"reason":"') + 10 :].split(b'"', 1)[0]
                    if reason in (b"gap", b"jump"):
                        player["position"] = start  # not counted: play that part again
                    if results.started <= now <= results.ended:
                        reasons[reason.decode() or "counted"] += 1
        finally:
            queue.append(player)

    return work


async def start_sessions(port: int, players: list[dict]) -> None:
    async def one(chunk: list[dict]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for player in chunk:
            body = json.dumps({"chapter_id": player["chapter_id"]}).encode()
            status, reply = await request(
                reader, writer, "/api/study/sessions", body, player["cookie"]
            )
            if status != 201:
                raise RuntimeError(f"session start refused: {status} {reply[:200]!r}")
            data = json.loads(reply)
            player.update(
                token=data["token"],
                seq=0,
                position=float(data["resume_position"]),
                question=data["question"],
                last_sent=time.monotonic(),
            )
        writer.close()

    await asyncio.gather(*(one(players[i::16]) for i in range(16)))


# --- main ----------------------------------------------------------------------------------


def heartbeat_refusal(study_rounds: list[dict]) -> str:
    """Why the heartbeat rounds measured no ledger work (most heartbeats refused), or ""."""
    statuses: Counter = Counter()
    for result in study_rounds:
        statuses.update(result["heartbeat_statuses"])
    total = sum(statuses.values())
    refused = total - statuses[200]
    if total == 0:
        return "no heartbeat was answered during the measured rounds"
    if refused * 2 > total:
        return (
            f"{refused} of {total} heartbeats were refused (statuses {dict(statuses)}): the run "
            "measured refusals, not the ledger"
        )
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1024)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    print(f"preparing {args.players} players …", flush=True)
    players = prepare(args)

    # Both servers run side by side and are loaded in turn (echo, heartbeats, echo, …): the
    # machine's other load then weighs on both alike. The first echo round also sets how
    # fast the server's clock runs, so that the players' spacing is about 12 s of server
    # time at 0.7 of the echo's rate.
    echo, echo_port = start_gunicorn(args, "bench.echo_wsgi:app", server_env(args))
    body = json.dumps({"token": "x" * 120, "seq": 1, "from": 0.0, "position": 12.0,
                       "playing": True, "rate": 1}).encode()  # fmt: skip
    processes = [echo]
    echo_rounds, study_rounds = [], []
    reasons: Counter = Counter()
    try:

        def echo_pids() -> dict[str, list[int]]:
            return {"gunicorn": [echo.pid, *children(echo.pid)]}

        echo_rounds.append(
            asyncio.run(
                drive(
                    echo_port,
                    args.connections,
                    args.seconds,
                    args.warmup,
                    echo_work(body),
                    echo_pids,
                )
            ).summary()
        )
        scale = max(1.0, HEARTBEAT_SECONDS * 0.7 * echo_rounds[0]["throughput"] / args.players)
        env = server_env(
            args, BENCH_TIME_SCALE=f"{scale:.3f}", BENCH_CLOCK_EPOCH=f"{time.time():.3f}"
        )
        app, port = start_gunicorn(args, "bench.study_wsgi:app", env)
        processes.append(app)
        # The write-behind runs as in production, a process of its own.
        processes.append(
            subprocess.Popen(
                [
                    str(ROOT / ".venv" / "bin" / "flask"),
                    "--app",
                    "bench.study_wsgi",
                    "study",
                    "flush",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
        )
        redis_pid = int(redis.Redis.from_url(args.redis_url).info("server")["process_id"])

        def study_pids() -> dict[str, list[int]]:
            # The app's workers, the write-behind process, Redis and the bench database's
            # PostgreSQL backends: everything a heartbeat costs on the server side.
            with psycopg.connect(args.database_url, autocommit=True) as conn:
                backends = [
                    row[0]
                    for row in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                ]
            return {
                "gunicorn": [app.pid, *children(app.pid)],
                "write-behind": [processes[2].pid],
                "redis": [redis_pid],
                "postgresql": backends,
            }

        asyncio.run(start_sessions(port, players))
        random.shuffle(players)
        for round_number in range(args.rounds):
            if round_number:
                echo_rounds.append(
                    asyncio.run(
                        drive(
                            echo_port,
                            args.connections,
                            args.seconds,
                            args.warmup,
                            echo_work(body),
                            echo_pids,
                        )
                    ).summary()
                )
            study_rounds.append(
                asyncio.run(
                    drive(
                        port,
                        args.connections,
                        args.seconds,
                        args.warmup,
                        player_work(players, scale, reasons),
                        study_pids,
                    )
                ).summary()
            )
        time.sleep(3)  # one more write-behind round
    finally:
        for process in processes:
            stop(process)
        # Leave nothing behind for whatever uses this Redis database next.
        redis.Redis.from_url(args.redis_url).flushdb()

    with psycopg.connect(args.database_url) as conn:
        durable, finished, credited = conn.execute(
            "SELECT count(*), count(finished_at), coalesce(sum(credited_seconds), 0) "
            "FROM chapter_progress"
        ).fetchone()

    def median(rounds: list[dict], key: str) -> float:
        return statistics.median(result[key] for result in rounds)

    ratios = [
        s["throughput"] / e["throughput"] for e, s in zip(echo_rounds, study_rounds, strict=True)
    ]
    ratio = median(study_rounds, "throughput") / median(echo_rounds, "throughput")
    print()
    print(f"gunicorn --workers {args.workers} --threads {args.threads}; {args.connections} "
          f"connections; {args.players} players; server clock x{scale:.1f}; {args.rounds} rounds "
          f"of {args.seconds:.0f} s each after {args.warmup:.0f} s warm-up")  # fmt: skip
    for name, rounds in (("echo (bare Flask)", echo_rounds), ("study heartbeats", study_rounds)):
        for result in rounds:
            print(
                f"  {name:18} {result['throughput']:8.0f} req/s   p50 {result['p50_ms']:5.1f} ms"
                f"   p99 {result['p99_ms']:5.1f} ms   server CPU "
                f"{result['server_cpu_us_per_request']:4.0f} µs/request "
                f"{result['server_cpu_us_by_process']}   {result['statuses']}"
            )
    kinds = Counter()
    for result in study_rounds:
        kinds.update(result["kinds"])
    print(f"  requests of players: {dict(kinds)}; heartbeat outcomes: {dict(reasons)}")
    print(f"  PostgreSQL after the run: {durable} progress rows, {finished} chapters finished, "
          f"{credited} s credited")  # fmt: skip
    refusal = heartbeat_refusal(study_rounds)
    if refusal:
        print(f"no ratio: {refusal}", file=sys.stderr)
        sys.exit(1)
    print(f"median throughput: echo {median(echo_rounds, 'throughput'):.0f} req/s, heartbeats "
          f"{median(study_rounds, 'throughput'):.0f} req/s")  # fmt: skip
    print(f"ratio heartbeat/echo throughput: {ratio:.2f} (rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}; goal ≥ 0.60)")  # fmt: skip
    cpu_ratio = median(echo_rounds, "server_cpu_us_per_request") / median(
        study_rounds, "server_cpu_us_per_request"
    )
    print(f"server CPU per request: echo {median(echo_rounds, 'server_cpu_us_per_request'):.0f} µs, "
          f"heartbeat {median(study_rounds, 'server_cpu_us_per_request'):.0f} µs (Redis, "
          f"write-behind and PostgreSQL included): capacity ratio {cpu_ratio:.2f}")  # fmt: skip
    print(f"median p99: heartbeats {median(study_rounds, 'p99_ms'):.1f} ms (goal < 50 ms), "
          f"echo {median(echo_rounds, 'p99_ms'):.1f} ms")  # fmt: skip
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "study_heartbeat.json").write_text(
        json.dumps(
            {
                "echo": echo_rounds,
                "study": study_rounds,
                "ratio": ratio,
                "scale": scale,
                "reasons": dict(reasons),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
