"""The deadline rush, rehearsed on real engines: faults under load, and nothing lost.

Starts everything itself on ports 16000-16999, in a temporary directory: a PostgreSQL cluster
(Debian's ``initdb``), PgBouncer in transaction pooling in front of it, Redis with one replica
and three Sentinels, two gunicorn app nodes (production mode, through PgBouncer without
prepared statements, Redis through the Sentinels) behind ``bench/balancer.py``, the study
write-behind, an RQ worker and the WeChat / WeChat Pay simulator in this process. Simulated
learners then do the whole journey in proportion (log in, open the plan, study chapters with
heartbeats and 防挂机 answers, pay through WeChat Pay's signed notifications with duplicates
and retries, print certificates) while faults come one at a time at known moments:

    kill one app node (a worker first, then the node) · kill the Redis primary (a Sentinel
    promotes the replica) · restart PostgreSQL · stop the write-behind for 30 s · stop the
    RQ worker for 30 s

At the end it checks what must hold (no finished chapter lost, credit lost per learner at
most the write-behind window, never more credit than wall time, one enrollment per paid seat,
one certificate per learner, every failed request a Chinese 503 inside a fault's window,
every template message sent once) and exits non-zero otherwise. The figures are printed as a
table and written to ``bench/results/rush.json`` with the command that produced them.

    .venv/bin/python bench/rush.py                    # about 5 minutes
    .venv/bin/python bench/rush.py --learners 40 --load-seconds 240

Runs as root (PostgreSQL and PgBouncer run as the ``postgres`` user); installs
``pgbouncer`` and ``redis-sentinel`` with apt-get when they are missing. Every process and the
temporary directory are removed on exit, on Ctrl-C and on failure.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import glob
import json
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import balancer  # noqa: E402

PG_PORT, BOUNCER_PORT = 16001, 16002
REDIS_PORTS = {"primary": 16010, "replica": 16011}
SENTINEL_PORTS = (16020, 16021, 16022)
SIM_PORT, LB_PORT = 16050, 16100
NODE_PORTS = (16101, 16102)
MASTER = "gx-rush"
APPID, MCHID = "wxrush00000000001", "1900000016"
PASSWORD = "Rush2022x"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
CHAPTER_SECONDS = 45
WRITE_BEHIND_WINDOW = 5.0  # seconds of credit a Redis failover may cost (docs/study-ledger.md)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# The engines


class Rig:
    """Every process and file of the rehearsal; ``close`` removes them all (idempotent)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gx-rush-"))
        os.chmod(self.dir, 0o755)
        self.processes: dict[str, subprocess.Popen] = {}
        self.pg_data = self.dir / "pg"
        self.pg_bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.closed = False
        self.env: dict[str, str] = {}

    # -- generic --------------------------------------------------------------------------
    def spawn(self, name: str, args: list[str], *, env: dict[str, str] | None = None) -> None:
        with open(self.dir / f"{name}.log", "ab") as out:
            self.processes[name] = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> float:
        """Signal a process group and wait; returns the seconds it took to exit."""
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return 0.0
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return time.monotonic() - started

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for name in reversed(list(self.processes)):
            self.stop(name, timeout=8)
        if (self.pg_data / "postmaster.pid").exists():
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(self.pg_bin / "pg_ctl"),
                    "-D",
                    str(self.pg_data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
            )
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- PostgreSQL and PgBouncer ---------------------------------------------------------
    def start_postgres(self) -> None:
        self.pg_data.mkdir()
        (self.dir / "sock").mkdir()
        shutil.chown(self.pg_data, "postgres")
        shutil.chown(self.dir / "sock", "postgres")
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.pg_bin / "initdb"),
                "-D",
                str(self.pg_data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self.pg_ctl("start")
        with psycopg.connect(self.pg_url("postgres"), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "gx_rush"')

    def pg_ctl(self, action: str) -> None:
        options = (
            f"-p {PG_PORT} -k {self.dir / 'sock'} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c max_connections=120"
        )
        done = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.pg_bin / "pg_ctl"),
                "-D",
                str(self.pg_data),
                "-o",
                options,
                "-l",
                str(self.dir / "sock" / "postgres.log"),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                action,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"pg_ctl {action} failed: {done.stdout}{done.stderr}")

    def pg_url(self, database: str = "gx_rush", port: int = PG_PORT) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def start_pgbouncer(self) -> None:
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"gx_rush = host=127.0.0.1 port={PG_PORT} dbname=gx_rush user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {BOUNCER_PORT}\n"
            f"unix_socket_dir = {self.dir / 'sock'}\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            "default_pool_size = 20\nmax_client_conn = 400\n"
            # A restarting server: clients wait a few seconds, then get an error (a 503 of
            # ours), rather than hanging for PgBouncer's default two minutes.
            "query_wait_timeout = 10\nserver_connect_timeout = 3\nserver_login_retry = 1\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        for path in (ini, self.dir / "userlist.txt"):
            shutil.chown(path, "postgres")
        self.spawn("pgbouncer", ["runuser", "-u", "postgres", "--", "pgbouncer", str(ini)])
        wait_for(
            lambda: psycopg.connect(self.pg_url(port=BOUNCER_PORT)).close() or True, 20, "PgBouncer"
        )

    # -- Redis and Sentinel ---------------------------------------------------------------
    def redis_conf(self, name: str, port: int, extra: list[str]) -> Path:
        conf = self.dir / f"{name}.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {port}",
                    "bind 127.0.0.1",
                    f"dir {self.dir}",
                    "save ''",
                    f"dbfilename {name}.rdb",
                    *extra,
                ]
            )
            + "\n"
        )
        return conf

    def start_redis(self, name: str) -> None:
        port = REDIS_PORTS[name]
        extra = [] if name == "primary" else [f"replicaof 127.0.0.1 {REDIS_PORTS['primary']}"]
        conf = self.redis_conf(name, port, extra)
        self.spawn(f"redis-{name}", ["redis-server", str(conf)])
        wait_for(lambda: redis.Redis(port=port).ping(), 10, f"Redis {name}")

    def start_sentinels(self) -> None:
        for n, port in enumerate(SENTINEL_PORTS):
            conf = self.redis_conf(
                f"sentinel{n}",
                port,
                [
                    f"sentinel monitor {MASTER} 127.0.0.1 {REDIS_PORTS['primary']} 2",
                    f"sentinel down-after-milliseconds {MASTER} 1000",
                    f"sentinel failover-timeout {MASTER} 5000",
                ],
            )
            self.spawn(f"sentinel{n}", ["redis-server", str(conf), "--sentinel"])
            wait_for(lambda port=port: redis.Redis(port=port).ping(), 10, "a Sentinel")

    def redis_master_port(self) -> int:
        return int(redis.Redis(port=SENTINEL_PORTS[0]).sentinel_get_master_addr_by_name(MASTER)[1])

    # -- the app's processes --------------------------------------------------------------
    def start_node(self, n: int) -> None:
        self.spawn(
            f"node{n}",
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--bind",
                f"127.0.0.1:{NODE_PORTS[n]}",
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
                "wsgi:app",
            ],
            env=self.env,
        )

    def start_flusher(self) -> None:
        self.spawn(
            "write-behind",
            [sys.executable, "-m", "flask", "--app", "wsgi", "study", "flush"],
            env=self.env,
        )

    def start_worker(self) -> None:
        self.spawn(
            "rq-worker",
            [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker"],
            env=self.env,
        )

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:
            last = error
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {seconds} s ({last})")


def ensure_packages() -> None:
    missing = [
        pkg
        for pkg, binary in (
            ("pgbouncer", "pgbouncer"),
            ("redis-server", "redis-server"),
            ("redis-sentinel", "redis-sentinel"),
        )
        if shutil.which(binary) is None
    ]
    if missing:
        log(f"installing {' '.join(missing)} with apt-get")
        subprocess.run(["apt-get", "install", "-y", *missing], check=True, capture_output=True)
    if os.geteuid() != 0:
        raise SystemExit("bench/rush.py runs as root (PostgreSQL and PgBouncer as postgres)")


# --------------------------------------------------------------------------------------------
# The platform's data and the simulator


@dataclass
class World:
    plan_id: int
    chapter_ids: list[int]
    answers: dict[str, str]  # question stem → the right option's text (options come shuffled)
    studiers: list[str]  # id numbers
    payers: list[tuple[str, int, str]]  # out_trade_no, amount, openid
    printers: list[str]


def app_environment(rig: Rig, keys) -> dict[str, str]:
    from services.paperwork.signing import development_bundle

    # Certificates are signed in production: a CA of the rehearsal's own signs them.
    signing = development_bundle(rig.dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))}
    env.update(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "rush-rehearsal-secret-key-not-for-use-anywhere",
            "DATABASE_URL": rig.pg_url(port=BOUNCER_PORT),
            "DATABASE_PREPARED_STATEMENTS": "false",
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}" for p in SENTINEL_PORTS),
            "REDIS_SENTINEL_MASTER": MASTER,
            "PUBLIC_BASE_URL": "https://rush.invalid",
            "WECHAT_APPID": APPID,
            "WECHAT_SECRET": "rush-secret",
            "WECHAT_TOKEN": "rushtoken",
            "WECHAT_API_BASE": f"http://127.0.0.1:{SIM_PORT}",
            "WECHAT_PAY_API_BASE": f"http://127.0.0.1:{SIM_PORT}/pay",
            "WECHAT_PAY_BACKUP_API_BASE": "",
            "WECHAT_PAY_MCHID": MCHID,
            "WECHAT_PAY_APIV3_KEY": keys.apiv3_key,
            "WECHAT_PAY_CERT_SERIAL": keys.merchant_serial,
            "WECHAT_PAY_PRIVATE_KEY": keys.merchant_private_key,
            "WECHAT_PAY_PUBLIC_KEY": keys.platform_public_key,
            "WECHAT_PAY_PUBLIC_KEY_ID": keys.public_key_id,
            "WECHAT_TEMPLATE_PAYMENT_RECEIVED": "rush-payment-received",
            "WECHAT_TEMPLATE_CERTIFICATE_READY": "rush-certificate-ready",
            "LOG_LEVEL": "WARNING",
            "STORAGE_DIR": str(rig.dir / "storage"),
            "CERTIFICATE_SIGNING_KEY": str(signing / "key.pem"),
            "CERTIFICATE_SIGNING_CERT": str(signing / "cert.pem"),
            "CERTIFICATE_SIGNING_CHAIN": str(signing / "ca.pem"),
            # The rhythm of a short chapter: reports every 3 s, a question within the first.
            "STUDY_HEARTBEAT_SECONDS": "3",
            "STUDY_MIN_HEARTBEAT_SECONDS": "1",
            "STUDY_QUESTION_MIN_SECONDS": "15",
            "STUDY_QUESTION_MAX_SECONDS": "25",
            "STUDY_FLUSH_INTERVAL_SECONDS": "2",
            "LOGIN_LIMIT_PER_IP": "10000 per minute",
        }
    )
    return env


def seed(rig: Rig, args) -> World:
    """Migrations, then one plan of three short chapters, and the three kinds of learner."""
    os.environ.update(rig.env | {"DATABASE_URL": rig.pg_url()})
    from flask_migrate import upgrade

    from infra.extensions import db
    from models.orders import Order, OrderKind, OrderSeat
    from services.demo.media import generate_missing_media
    from services.study.questions import PLATFORM_RULES
    from tests import factories
    from wxapp import create_app

    app = create_app({"PASSWORD_HASH_METHOD": "scrypt:1024:8:1"})
    with app.app_context():
        upgrade()
        factories.PASSWORD = PASSWORD
        plan = factories.plan(required_hours=1)
        course = factories.course(plan, hours=1, chapters=3, chapter_seconds=CHAPTER_SECONDS)
        # Media the platform serves itself, so every span must be proved by a signed fetch.
        for chapter in course.chapters:
            chapter.media_url = f"demo/chapter-{CHAPTER_SECONDS}s.webm"
        db.session.flush()
        generate_missing_media()
        question = factories.question(course, answer_index=1)
        unit = factories.unit("重庆市渝中区人民医院")
        studiers, payers, printers = [], [], []
        n_pay = max(1, args.learners // 4)
        n_print = max(1, args.learners // 6)
        n_study = max(1, args.learners - n_pay - n_print)
        for _ in range(n_study):
            learner = factories.learner(password=PASSWORD, unit_obj=unit)
            factories.enrollment(learner, plan)
            studiers.append(learner.id_number)
        now = datetime.now(UTC)
        for index in range(n_pay):
            learner = factories.learner(password=PASSWORD, unit_obj=unit)
            openid = f"oRUSH{index:010d}"
            factories.bind_wechat(learner, openid)
            order = Order(
                out_trade_no=f"GXRUSH{index:018d}",
                buyer_id=learner.id,
                plan_id=plan.id,
                kind=OrderKind.INDIVIDUAL,
                seat_count=1,
                unit_price_fen=3000,
                amount_fen=3000,
                prepay_id=f"wxrush{index}",
                expires_at=now + timedelta(minutes=30),
            )
            db.session.add(order)
            db.session.flush()
            db.session.add(OrderSeat(order_id=order.id, learner_id=learner.id))
            payers.append((order.out_trade_no, 3000, openid))
        for _ in range(n_print):
            learner = factories.learner(password=PASSWORD, unit_obj=unit)
            factories.completed_enrollment(learner, plan)
            printers.append(learner.id_number)
        db.session.commit()
        world = World(
            plan_id=plan.id,
            chapter_ids=[c.id for c in sorted(course.chapters, key=lambda c: c.sort_order)],
            answers={
                question.stem: question.options[question.answer_index],
                **{stem: options[right] for stem, options, right in PLATFORM_RULES},
            },
            studiers=studiers,
            payers=payers,
            printers=printers,
        )
        db.session.remove()
        db.engine.dispose()
    return world


def start_simulator(rig: Rig, keys, world: World):
    """WeChat and WeChat Pay's simulator, in this process, on SIM_PORT."""
    from werkzeug.serving import make_server

    from wechat_sim import create_sim_app, sim_state
    from wechat_sim.pay import PaySimulator, SimSettings
    from wechat_sim.state import SimUser

    sim = create_sim_app(
        {
            "PLATFORM_BASE_URL": f"http://127.0.0.1:{LB_PORT}",
            "APPID": APPID,
            "APP_SECRET": "rush-secret",
            "TOKEN": "rushtoken",
            "AES_KEY": "",
            "ORIGINAL_ID": "gh_rush00000000",
            "TEMPLATE_IDS": ("rush-payment-received", "rush-certificate-ready"),
            "WECHAT_PAY_SIM": {
                "apiv3_key": keys.apiv3_key,
                "merchant_serial": keys.merchant_serial,
                "merchant_public_key": keys.merchant_public_key,
                "platform_private_key": keys.platform_private_key,
                "public_key_id": keys.public_key_id,
                "appid": APPID,
                "mchid": MCHID,
                "delivery": "manual",
            },
        }
    )
    state = sim_state(sim)
    for _, _, openid in world.payers:
        state.users[openid] = SimUser(openid, "学员", "缴费的学员")
        state.subscribed.add(openid)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise
    server = make_server("127.0.0.1", SIM_PORT, sim, threaded=True)
    threading.Thread(target=server.serve_forever, name="simulator", daemon=True).start()
    pay = PaySimulator(SimSettings.from_app(sim))
    return server, state, pay


# --------------------------------------------------------------------------------------------
# Load: what each request did


@dataclass
class Outcome:
    t: float
    kind: str
    status: int
    seconds: float
    clean: bool  # a refusal in Chinese (JSON or page), not a traceback
    code: str = ""  # a JSON refusal's error code


class Recorder:
    def __init__(self, started: float) -> None:
        self.started = started
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.started

    def call(self, session: requests.Session, kind: str, method: str, url: str, **kwargs):
        began = time.monotonic()
        try:
            response = session.request(
                method,
                f"http://127.0.0.1:{LB_PORT}{url}",
                timeout=35,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException:
            response = None
        elapsed = time.monotonic() - began
        status = response.status_code if response is not None else 0
        clean, code = True, ""
        if response is not None:
            for cookie in session.cookies:
                cookie.secure = False  # the rehearsal speaks http to the balancer
            if status >= 400:
                text = response.text
                if "json" in response.headers.get("Content-Type", ""):
                    try:
                        text = str(response.json().get("message", ""))
                        code = str(response.json().get("error", ""))
                    except ValueError:
                        text = ""
                clean = bool(CHINESE.search(text)) and "Traceback" not in text
        with self.lock:
            self.outcomes.append(Outcome(began - self.started, kind, status, elapsed, clean, code))
        return response


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def ok(response) -> bool:
    return response is not None and response.status_code < 400


def log_in(rec: Recorder, session: requests.Session, account: str, stop: threading.Event) -> bool:
    while not stop.is_set():
        page = rec.call(session, "page", "GET", "/h5/login")
        if ok(page) and (token := CSRF.search(page.text)):
            answer = rec.call(
                session,
                "login",
                "POST",
                "/h5/login",
                data={"csrf_token": token.group(1), "account": account, "password": PASSWORD},
            )
            if answer is not None and answer.status_code == 302:
                return True
        stop.wait(2)
    return False


class StudyLearner:
    """Everything a learner's player does, in one place (so a new study protocol swaps only
    this class), as docs/study-ingest.md describes it: open a chapter and load its media from
    the signed URL, keep a queue of what was played and report it every few seconds (what a
    refused or failed report carried goes again with the next), answer 防挂机 questions by the
    text of the right option (options come shuffled), go on to the next chapter when one is
    finished, and start again by itself after a refusal."""

    BEAT = 3.0
    MAX_QUEUED = 12  # MAX_QUEUED_SEGMENTS
    JOIN_UP_TO = 12.0  # heartbeat_seconds: contiguous segments are joined up to this length

    def __init__(self, rec: Recorder, world: World, account: str) -> None:
        self.rec, self.world, self.account = rec, world, account
        self.session = requests.Session()
        self.acked: dict[int, int] = {}  # chapter → coverage the server last confirmed
        self.finished: set[int] = set()
        self.wall: dict[int, float] = {}  # chapter → wall seconds spent playing it

    def run(self, stop: threading.Event) -> None:
        if not log_in(self.rec, self.session, self.account, stop):
            return
        self.rec.call(self.session, "page", "GET", f"/h5/plans/{self.world.plan_id}")
        for chapter_id in self.world.chapter_ids:
            if stop.is_set():
                return
            self.study(chapter_id, stop)

    def start(self, chapter_id: int, stop: threading.Event) -> dict[str, Any] | None:
        while not stop.is_set():
            answer = self.rec.call(
                self.session,
                "start",
                "POST",
                "/api/study/sessions",
                json={"chapter_id": chapter_id},
            )
            if answer is not None and answer.status_code == 201:
                opened = answer.json()
                if opened.get("media_url"):
                    # The phone's video element loads the chapter through the signed URL.
                    self.rec.call(self.session, "media", "GET", opened["media_url"])
                return opened
            if answer is not None and answer.status_code in (401, 302):
                log_in(self.rec, self.session, self.account, stop)
            stop.wait(self.BEAT)
        return None

    def answer(self, token: str, question: dict[str, Any], stop: threading.Event):
        """The learner reads the question and taps the right option; playback waits."""
        stop.wait(1.5)
        right = self.world.answers.get(question.get("stem", ""))
        options = list(question.get("options") or [])
        choice = options.index(right) if right in options else 0
        reply = self.rec.call(
            self.session,
            "answer",
            "POST",
            "/api/study/answers",
            json={"token": token, "choice": choice},
        )
        if not ok(reply):
            return question  # shown again: it stays pending
        body = reply.json()
        return None if body.get("correct") else body.get("question") or question

    def study(self, chapter_id: int, stop: threading.Event) -> None:
        opened = self.start(chapter_id, stop)
        if opened is None:
            return
        token, seq = opened["token"], 0
        position = float(opened["resume_position"])
        question = opened.get("question")
        queue: list[list[float]] = []
        last = time.monotonic()
        while not stop.is_set():
            if question:
                question = self.answer(token, question, stop)
                last = time.monotonic()  # nothing played while the question was shown
                continue
            stop.wait(self.BEAT)
            now = time.monotonic()
            if position >= CHAPTER_SECONDS - 0.5:
                # At the end but not finished: the learner plays it again from the start.
                position = 0.0
            played = min(now - last, CHAPTER_SECONDS - position)
            last = now
            self.wall[chapter_id] = self.wall.get(chapter_id, 0.0) + played
            segment = [position, position + played]
            position = segment[1]
            if (
                queue
                and queue[-1][1] == segment[0]
                and segment[1] - queue[-1][0] <= self.JOIN_UP_TO
            ):
                queue[-1][1] = segment[1]
            else:
                queue.append(segment)
            del queue[: max(0, len(queue) - self.MAX_QUEUED - 1)]  # the oldest cannot go
            seq += 1
            body: dict[str, Any] = {
                "token": token,
                "seq": seq,
                "from": queue[-1][0],
                "position": queue[-1][1],
                "playing": True,
                "rate": 1.0,
            }
            if len(queue) > 1:
                body["queued"] = [list(s) for s in queue[:-1]]
            reply = self.rec.call(
                self.session, "heartbeat", "POST", "/api/study/heartbeats", json=body
            )
            if reply is None or reply.status_code >= 500 or reply.status_code == 429:
                continue  # the queue goes again with the next report
            if reply.status_code == 409 and (reply.json() or {}).get("error") == "stale":
                continue
            if reply.status_code >= 400:
                # Refused (a session the failover forgot, a sequence out of step): reopen.
                opened = self.start(chapter_id, stop)
                if opened is None:
                    return
                token, seq, queue = opened["token"], 0, []
                position = float(opened["resume_position"])
                question, last = opened.get("question"), time.monotonic()
                continue
            answer = reply.json()
            if answer.get("reason") not in ("question", "question_timeout"):
                queue = []  # taken
            question = answer.get("question")
            self.acked[chapter_id] = max(
                self.acked.get(chapter_id, 0), int(answer.get("covered_seconds") or 0)
            )
            if answer.get("finished"):
                self.finished.add(chapter_id)
                return


def pay_all(
    rec: Recorder,
    pay,
    world: World,
    stop: threading.Event,
    load_seconds: float,
    paid_at: dict[str, float],
    rq_down: threading.Event,
) -> None:
    """WeChat Pay's notifications: half spread over the first part of the load, the rest while
    the RQ worker is stopped; each twice (a duplicate), and each again until it is answered
    2xx, as WeChat Pay retries."""
    session = requests.Session()
    half = max(1, len(world.payers) // 2)
    gap = load_seconds * 0.5 / half
    for index, (out_trade_no, amount, openid) in enumerate(world.payers):
        if index < half:
            if stop.wait(gap if index else 2):
                return
        else:
            while not rq_down.is_set():
                if stop.wait(0.5):
                    return
            stop.wait(1)
        resource = {
            "appid": APPID,
            "mchid": MCHID,
            "out_trade_no": out_trade_no,
            "transaction_id": f"4200{index:024d}",
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "success_time": datetime.now(UTC).isoformat(timespec="seconds"),
            "payer": {"openid": openid},
            "amount": {"total": amount, "payer_total": amount, "currency": "CNY"},
        }
        for _copy in range(2):
            while True:
                headers, body = pay.signed_notification("TRANSACTION.SUCCESS", resource)
                reply = rec.call(
                    session,
                    "pay-notify",
                    "POST",
                    "/pay/notify",
                    data=body.encode(),
                    headers=headers,
                )
                if ok(reply) or stop.wait(1.0):
                    break
        paid_at[out_trade_no] = rec.now()


def print_certificate(rec: Recorder, world: World, account: str, stop: threading.Event) -> None:
    session = requests.Session()
    if not log_in(rec, session, account, stop):
        return
    for _visit in range(2):  # printed, then opened again: one certificate
        while not stop.is_set():
            rec.call(session, "page", "GET", "/h5/certificates")
            page = rec.call(session, "page", "GET", f"/h5/certificates/plan/{world.plan_id}/print")
            if page is not None and page.status_code == 302:
                view = page.headers["Location"]
            elif ok(page) and (token := CSRF.search(page.text)):
                tag = re.search(r'<input[^>]*name="unit_id"[^>]*>', page.text)
                unit = tag and re.search(r'value="(\d+)"', tag.group(0))
                issued = rec.call(
                    session,
                    "certificate",
                    "POST",
                    f"/h5/certificates/plan/{world.plan_id}/print",
                    data={"csrf_token": token.group(1), "unit_id": unit.group(1) if unit else ""},
                )
                if issued is None or issued.status_code != 302:
                    stop.wait(2)
                    continue
                view = issued.headers["Location"]
            else:
                stop.wait(2)
                continue
            path = view.split("://", 1)[-1]
            path = path[path.index("/") :] if "://" in view else view
            image = rec.call(session, "certificate", "GET", path.rstrip("/") + "/certificate.png")
            if ok(image):
                break
            stop.wait(2)
        stop.wait(5)


# --------------------------------------------------------------------------------------------
# Faults


@dataclass
class Fault:
    name: str
    at: float
    started: float = 0.0
    ended: float = 0.0  # when the engine was back (or the process started again)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def run_faults(
    rig: Rig, rec: Recorder, faults: list[Fault], stop: threading.Event, rq_down: threading.Event
) -> None:
    for fault in faults:
        if stop.wait(max(0.0, fault.at - rec.now())):
            return
        fault.started = rec.now()
        log(f"fault: {fault.name}")
        if fault.name == "app node killed":
            node = rig.processes["node0"]
            workers = subprocess.run(
                ["pgrep", "-P", str(node.pid)], capture_output=True, text=True
            ).stdout.split()
            if workers:
                os.kill(int(workers[0]), signal.SIGKILL)  # a worker dies mid-request
            stop.wait(2)
            rig.stop("node0", signal.SIGKILL)  # then the whole node
            stop.wait(15)
            rig.start_node(0)
            wait_for(
                lambda: (
                    requests.get(f"http://127.0.0.1:{NODE_PORTS[0]}/healthz", timeout=3).status_code
                    == 200
                ),
                60,
                "node 0",
            )
        elif fault.name == "Redis primary killed":
            old = rig.redis_master_port()
            name = "redis-primary" if old == REDIS_PORTS["primary"] else "redis-replica"
            rig.stop(name, signal.SIGKILL)
            wait_for(lambda old=old: rig.redis_master_port() != old, 30, "a Sentinel's promotion")
            fault.extra["promoted_after_s"] = round(rec.now() - fault.started, 2)
            # The old primary comes back; the Sentinels make it a replica of the new one.
            stop.wait(5)
            rig.spawn(name, ["redis-server", str(rig.dir / f"{name.split('-')[1]}.conf")])
        elif fault.name == "PostgreSQL restarted":
            rig.pg_ctl("restart")
        elif fault.name == "write-behind stopped 30 s":
            fault.extra["stop_s"] = round(rig.stop("write-behind"), 2)
            stop.wait(30)
            rig.start_flusher()
        elif fault.name == "RQ worker stopped 30 s":
            fault.extra["stop_s"] = round(rig.stop("rq-worker"), 2)
            rq_down.set()
            stop.wait(30)
            rig.start_worker()
        fault.ended = rec.now()
        log(f"fault over: {fault.name} ({fault.ended - fault.started:.1f} s)")


# --------------------------------------------------------------------------------------------
# Checks and figures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


GRACE = 10.0  # after an engine is back, requests already in flight may still fail


def window_of(outcome: Outcome, faults: list[Fault]) -> Fault | None:
    for fault in faults:
        if fault.started and fault.started - 1 <= outcome.t <= (fault.ended or 1e9) + GRACE:
            return fault
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=36)
    parser.add_argument("--load-seconds", type=float, default=230)
    args = parser.parse_args()
    command = " ".join([".venv/bin/python bench/rush.py", *sys.argv[1:]])
    ensure_packages()
    rig = Rig()
    atexit.register(rig.close)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    stop = threading.Event()
    try:
        code = rehearse(rig, args, stop, command)
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        code = 130
    finally:
        stop.set()
        rig.close()
    sys.exit(code)


def rehearse(rig: Rig, args, stop: threading.Event, command: str) -> int:
    from infra.pay_keys import generate_pay_keys

    began = time.monotonic()
    keys = generate_pay_keys()
    log(f"engines in {rig.dir}")
    rig.start_postgres()
    rig.start_pgbouncer()
    rig.start_redis("primary")
    rig.start_redis("replica")
    rig.start_sentinels()
    rig.env = app_environment(rig, keys)
    world = seed(rig, args)
    server, sim_state, pay = start_simulator(rig, keys, world)
    for n in range(len(NODE_PORTS)):
        rig.start_node(n)
    for port in NODE_PORTS:
        wait_for(
            lambda port=port: (
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=3).status_code == 200
            ),
            60,
            "a node",
        )
    rig.start_flusher()
    rig.start_worker()
    lb = balancer.serve(LB_PORT, [("127.0.0.1", p) for p in NODE_PORTS])
    setup_seconds = time.monotonic() - began
    log(
        f"ready after {setup_seconds:.0f} s: {len(world.studiers)} studying, "
        f"{len(world.payers)} paying, {len(world.printers)} printing"
    )

    rec = Recorder(time.monotonic())
    load = args.load_seconds
    faults = [
        Fault("app node killed", load * 0.10),
        Fault("Redis primary killed", load * 0.27),
        Fault("PostgreSQL restarted", load * 0.42),
        Fault("write-behind stopped 30 s", load * 0.52),
        Fault("RQ worker stopped 30 s", load * 0.70),
    ]
    learners = [StudyLearner(rec, world, account) for account in world.studiers]
    paid_at: dict[str, float] = {}
    rq_down = threading.Event()
    threads = [threading.Thread(target=lr.run, args=(stop,), daemon=True) for lr in learners]
    threads.append(
        threading.Thread(
            target=pay_all, args=(rec, pay, world, stop, load, paid_at, rq_down), daemon=True
        )
    )
    for n, account in enumerate(world.printers):
        threads.append(
            threading.Thread(
                target=lambda a=account, n=n: (
                    stop.wait(load * 0.1 * n / len(world.printers)),
                    print_certificate(rec, world, a, stop),
                ),
                daemon=True,
            )
        )
    fault_thread = threading.Thread(
        target=run_faults, args=(rig, rec, faults, stop, rq_down), daemon=True
    )
    for thread in threads:
        thread.start()
        time.sleep(0.15)  # learners arrive over a few seconds, not in one instant
    fault_thread.start()
    fault_thread.join(timeout=load + 300)
    # The load goes on past the last fault, so that recovery is seen under load.
    stop.wait(max(0.0, load - rec.now(), faults[-1].ended + 15 - rec.now()))
    stop.set()
    log("load over; draining")
    for thread in threads:
        thread.join(timeout=40)
    load_seconds = rec.now()

    # Drain: everything waiting is written, every job run, the cron sweep once.
    wait_for(
        lambda: redis.Redis(port=rig.redis_master_port()).llen("rq:queue:default") == 0,
        60,
        "the RQ queue empty",
    )
    rig.flask("study", "flush", "--once")
    sweep = rig.flask("wechat", "send-queued").strip()
    time.sleep(1)
    shutdown = {
        "write-behind": round(rig.stop("write-behind"), 2),
        "rq-worker": round(rig.stop("rq-worker"), 2),
    }
    lb.shutdown()
    lb.server_close()

    checks: dict[str, bool] = {}
    figures: dict[str, Any] = {}
    with psycopg.connect(rig.pg_url()) as conn:

        def rows(sql: str, *params) -> list[tuple]:
            return conn.execute(sql, params).fetchall()

        ids = dict(rows("SELECT id_number, id FROM learners"))
        progress = {
            (lid, cid): (covered, credited, finished)
            for lid, cid, covered, credited, finished in rows(
                "SELECT learner_id, chapter_id, covered_seconds, credited_seconds, finished_at"
                " FROM chapter_progress"
            )
        }
        lost_finished, lost_credit, over_wall = 0, [], 0
        for learner in learners:
            lid = ids[learner.account]
            for chapter_id in learner.finished:
                if progress.get((lid, chapter_id), (0, 0, None))[2] is None:
                    lost_finished += 1
            # What the server confirmed to the player and PostgreSQL no longer holds.
            lost = sum(
                max(0, acked - progress.get((lid, cid), (0, 0, None))[0])
                for cid, acked in learner.acked.items()
            )
            lost_credit.append(lost)
            credited = sum(progress.get((lid, cid), (0, 0, None))[1] for cid in learner.acked)
            if credited > sum(learner.wall.values()) + 1:
                over_wall += 1
        finished_total = sum(len(lr.finished) for lr in learners)
        checks["no finished chapter lost"] = lost_finished == 0 and finished_total > 0
        checks[f"credit lost per learner <= {WRITE_BEHIND_WINDOW:g} s"] = (
            max(lost_credit, default=0) <= WRITE_BEHIND_WINDOW
        )
        checks["credit never above wall time"] = over_wall == 0

        seats = rows(
            "SELECT s.learner_id, count(e.id) FROM order_seats s JOIN orders o "
            "ON o.id = s.order_id LEFT JOIN enrollments e ON e.learner_id = s.learner_id "
            "AND e.plan_id = o.plan_id WHERE o.out_trade_no LIKE 'GXRUSH%%' "
            "GROUP BY s.learner_id"
        )
        payments = rows(
            "SELECT count(*), count(DISTINCT p.order_id) FROM payments p JOIN orders o "
            "ON o.id = p.order_id WHERE o.out_trade_no LIKE 'GXRUSH%%'"
        )[0]
        paid_orders = rows(
            "SELECT count(*) FROM orders WHERE status = 'paid' AND out_trade_no LIKE 'GXRUSH%%'"
        )[0][0]
        checks["one enrollment per paid seat"] = (
            len(seats) == len(world.payers)
            and all(n == 1 for _, n in seats)
            and paid_orders == len(world.payers)
        )
        figures["payments"] = {"rows": payments[0], "orders": payments[1]}
        checks["one payment per order"] = payments[0] == payments[1] == len(world.payers)
        certificates = rows("SELECT learner_id, count(*) FROM certificates GROUP BY learner_id")
        printer_ids = {ids[a] for a in world.printers}
        checks["every certificate issued once"] = {
            lid for lid, _ in certificates
        } == printer_ids and all(n == 1 for _, n in certificates)
        template = rows(
            "SELECT status, count(*) FROM template_messages "
            "WHERE kind = 'payment_received' GROUP BY status"
        )
        figures["template_messages"] = {str(s): n for s, n in template}
    sent = [
        m["touser"]
        for m in sim_state.template_messages
        if m["template_id"] == "rush-payment-received"
    ]
    checks["template messages sent once, none twice"] = sorted(sent) == sorted(
        openid for _, _, openid in world.payers
    )
    rq_fault = next(f for f in faults if f.name.startswith("RQ"))
    during_rq = [t for t in paid_at.values() if rq_fault.started <= t <= rq_fault.ended]
    figures["payments_during_rq_outage"] = len(during_rq)
    checks["payments came during the RQ outage"] = len(during_rq) > 0
    checks["worker and write-behind stop within 5 s"] = all(v < 5 for v in shutdown.values())

    failures = [o for o in rec.outcomes if o.status == 0 or o.status >= 500]
    refused = [o for o in rec.outcomes if 400 <= o.status < 500]
    unclean = [o for o in failures + refused if o.status and not o.clean]
    outside = [o for o in failures if window_of(o, faults) is None]
    tracebacks = [o for o in rec.outcomes if o.status == 500 or o.status == 0]
    checks["failed requests are Chinese refusals"] = not unclean
    checks["failed requests only 503, never 500 or a dropped connection"] = not tracebacks
    checks["failed requests only inside a fault's window"] = not outside
    # "too_soon" (429) is the ledger's flood guard answering a report that came less than
    # STUDY_MIN_HEARTBEAT_SECONDS after the one before; the player just reports again later.
    # It is counted in the table, not taken for a fault's refusal.
    checks["refusals (4xx) only inside a fault's window"] = all(
        window_of(o, faults) is not None for o in refused if o.code != "too_soon"
    )

    kinds = sorted({o.kind for o in rec.outcomes})
    per_kind = {}
    for kind in kinds:
        done = [o for o in rec.outcomes if o.kind == kind]
        good = [o.seconds for o in done if 200 <= o.status < 400]
        per_kind[kind] = {
            "requests": len(done),
            "per_s": round(len(good) / load_seconds, 2),
            "p50_ms": round(statistics.median(good) * 1000, 1) if good else None,
            "p99_ms": round(percentile(good, 0.99) * 1000, 1) if good else None,
            "failed": sum(1 for o in done if o.status == 0 or o.status >= 500),
            "refused_4xx": sum(1 for o in done if 400 <= o.status < 500),
            "codes": {c: sum(1 for o in done if o.code == c) for c in {o.code for o in done} if c},
        }
    per_fault = {}
    for fault in faults:
        mine = [o for o in failures + refused if window_of(o, [fault]) is fault]
        last = max((o.t for o in mine), default=fault.started)
        per_fault[fault.name] = {
            "at_s": round(fault.started, 1),
            "engine_back_after_s": round(fault.ended - fault.started, 1),
            "errors": len(mine),
            "by_status": {
                str(s): sum(1 for o in mine if o.status == s)
                for s in sorted({o.status for o in mine})
            },
            "recovered_after_s": round(max(0.0, last - fault.started), 1),
            **fault.extra,
        }
    figures.update(
        {
            "command": command,
            "learners": args.learners,
            "studying": len(world.studiers),
            "paying": len(world.payers),
            "printing": len(world.printers),
            "setup_s": round(setup_seconds, 1),
            "load_s": round(load_seconds, 1),
            "total_s": round(time.monotonic() - (rec.started - setup_seconds), 1),
            "kinds": per_kind,
            "faults": per_fault,
            "credit_lost_per_learner_s": {
                "max": max(lost_credit, default=0),
                "mean": round(statistics.mean(lost_credit), 2) if lost_credit else 0,
            },
            "chapters_finished": finished_total,
            "balancer_503": lb.refused,
            "sweep": sweep,
            "shutdown_s": shutdown,
            "checks": checks,
        }
    )
    server.shutdown()

    print()
    print(
        f"{'kind':<12}{'requests':>9}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}{'4xx':>6}"
    )
    for kind, f in per_kind.items():
        print(
            f"{kind:<12}{f['requests']:>9}{f['per_s']:>8}{f['p50_ms'] or '-':>9}"
            f"{f['p99_ms'] or '-':>9}{f['failed']:>8}{f['refused_4xx']:>6}"
        )
    print()
    print(f"{'fault':<28}{'at s':>6}{'back s':>8}{'errors':>8}{'recovered s':>13}")
    for name, f in per_fault.items():
        print(
            f"{name:<28}{f['at_s']:>6}{f['engine_back_after_s']:>8}{f['errors']:>8}"
            f"{f['recovered_after_s']:>13}"
        )
    print()
    print(
        f"credit lost per learner: max {figures['credit_lost_per_learner_s']['max']} s, "
        f"mean {figures['credit_lost_per_learner_s']['mean']} s; chapters finished "
        f"{finished_total}; template messages {figures['template_messages']}; {sweep}"
    )
    for name, held in checks.items():
        print(f"  {'ok  ' if held else 'FAIL'} {name}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "rush.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    print(f"\n{command}: {figures['total_s']} s in all; bench/results/rush.json written")
    if not all(checks.values()):
        for o in (unclean + outside)[:10]:
            print(f"  outside/unclean: t={o.t:.1f} {o.kind} {o.status}")
        return 1
    return 0


if __name__ == "__main__":
    main()
