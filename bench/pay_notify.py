"""Payment notifications under load: N distinct valid notifications and N duplicates of them,
posted concurrently to the app served by gunicorn in production mode (PostgreSQL, Redis).

It reports the notifications' throughput and latency beside a baseline measured in the same
run (``GET /healthz``, which also touches PostgreSQL and Redis), and checks that exactly N
payments and N enrollments came of it.

    .venv/bin/python bench/pay_notify.py                 # N = 1000, 32 concurrent posts
    .venv/bin/python bench/pay_notify.py -n 2000 -c 64 --workers 4 --threads 4

The database (``BENCH_DATABASE_URL``, default ``…/gx_pay_bench``) is rebuilt on every run;
Redis (``BENCH_REDIS_URL``, default db 3) is emptied.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.pay_keys import PayKeys, generate_pay_keys  # noqa: E402

APPID = "wxbench0000000001"
MCHID = "1900000009"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{name}"')


def environment(args, keys: PayKeys) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "bench-secret-key-not-for-use-anywhere",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            # Production wants https; nothing here calls back to it (notifications are posted).
            "PUBLIC_BASE_URL": "https://bench.invalid",
            "WECHAT_APPID": APPID,
            "WECHAT_SECRET": "bench",
            "WECHAT_TOKEN": "bench",
            "WECHAT_PAY_MCHID": MCHID,
            "WECHAT_PAY_APIV3_KEY": keys.apiv3_key,
            "WECHAT_PAY_CERT_SERIAL": keys.merchant_serial,
            "WECHAT_PAY_PRIVATE_KEY": keys.merchant_private_key,
            "WECHAT_PAY_PUBLIC_KEY": keys.platform_public_key,
            "WECHAT_PAY_PUBLIC_KEY_ID": keys.public_key_id,
            "LOG_LEVEL": "WARNING",
            "STORAGE_DIR": str(ROOT / "instance" / "bench-storage"),
        }
    )
    return env


def prepare(args, env: dict[str, str]) -> list[tuple[str, int]]:
    """A fresh schema, one plan, N learners with one unpaid order each."""
    ensure_database(args.database_url)
    redis.Redis.from_url(args.redis_url).flushdb()
    os.environ.update(env)
    from flask_migrate import upgrade
    from sqlalchemy import insert, select, text

    from infra.extensions import db
    from models.accounts import Gender, Learner
    from models.catalog import Plan, PlanKind
    from models.orders import Order, OrderKind, OrderSeat
    from models.org import District, Unit
    from services.accounts.identity import id_check_character
    from wxapp import create_app

    app = create_app()
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        now = datetime.now(UTC)
        plan = Plan(
            year=2022,
            kind=PlanKind.CURRENT,
            title="重庆市2022年专技人员继续教育公需科目培训",
            price_fen=3000,
            sale_starts_at=now - timedelta(days=1),
            sale_ends_at=now + timedelta(days=30),
            study_ends_at=now + timedelta(days=30),
            is_published=True,
        )
        district = db.session.scalar(select(District).where(District.code == "500103"))
        unit = Unit(name="基准测试单位", district_id=district.id, code="BENCH001")
        db.session.add_all([plan, unit])
        db.session.flush()
        learners = []
        for index in range(args.notifications):
            first17 = f"500103{date(1960, 1, 1) + timedelta(days=index):%Y%m%d}123"
            learners.append(
                {
                    "name": "测试学员",
                    "id_number": first17 + id_check_character(first17),
                    "gender": Gender.MALE,
                    "birth_date": date(1960, 1, 1) + timedelta(days=index),
                    "unit_id": unit.id,
                    "district_id": district.id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        learner_ids = db.session.scalars(insert(Learner).returning(Learner.id), learners).all()
        orders = [
            {
                "out_trade_no": f"GXBENCH{index:017d}",
                "buyer_id": learner_id,
                "plan_id": plan.id,
                "kind": OrderKind.INDIVIDUAL,
                "seat_count": 1,
                "unit_price_fen": 3000,
                "amount_fen": 3000,
                "prepay_id": f"wxbench{index}",
                "expires_at": now + timedelta(minutes=30),
                "created_at": now,
                "updated_at": now,
            }
            for index, learner_id in enumerate(learner_ids)
        ]
        order_ids = db.session.scalars(insert(Order).returning(Order.id), orders).all()
        db.session.execute(
            insert(OrderSeat),
            [
                {"order_id": order_id, "learner_id": learner_id}
                for order_id, learner_id in zip(order_ids, learner_ids, strict=True)
            ],
        )
        db.session.commit()
        trades = [(order["out_trade_no"], order["amount_fen"]) for order in orders]
        db.engine.dispose()
    return trades


def notifications(keys: PayKeys, trades: list[tuple[str, int]]) -> list[tuple[dict, str]]:
    """Each trade's TRANSACTION.SUCCESS, signed and encrypted as WeChat Pay sends it."""
    from flask import Flask

    from wechat_sim.pay import PaySimulator, SimSettings

    sim_app = Flask("bench-sim")
    sim_app.config["WECHAT_PAY_SIM"] = {
        "apiv3_key": keys.apiv3_key,
        "merchant_serial": keys.merchant_serial,
        "merchant_public_key": keys.merchant_public_key,
        "platform_private_key": keys.platform_private_key,
        "public_key_id": keys.public_key_id,
        "delivery": "manual",
    }
    sim = PaySimulator(SimSettings.from_app(sim_app))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    made = []
    for index, (out_trade_no, amount) in enumerate(trades):
        resource = {
            "appid": APPID,
            "mchid": MCHID,
            "out_trade_no": out_trade_no,
            "transaction_id": f"4200{index:024d}",
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "success_time": now,
            "payer": {"openid": f"oBENCH{index:010d}"},
            "amount": {"total": amount, "payer_total": amount, "currency": "CNY"},
        }
        made.append(sim.signed_notification("TRANSACTION.SUCCESS", resource))
    return made


def start_gunicorn(args, env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "30",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not come up: " + process.stderr.read().decode()[-2000:])


def hammer(url: str, items: list, concurrency: int, send) -> tuple[float, list[float], dict]:
    """Send every item with ``concurrency`` threads; wall time, latencies, status counts."""
    local = threading.local()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def one(item) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        status = send(session, url, item)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, items))
    return time.perf_counter() - started, latencies, statuses


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def check(args) -> dict[str, int]:
    with psycopg.connect(args.database_url) as conn:

        def one(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]

        return {
            "orders_paid": one("SELECT count(*) FROM orders WHERE status = 'paid'"),
            "payments": one("SELECT count(*) FROM payments"),
            "enrollments": one("SELECT count(*) FROM enrollments WHERE status = 'active'"),
            "notifications_kept": one("SELECT count(*) FROM pay_notifications"),
            "outcome_paid": one("SELECT count(*) FROM pay_notifications WHERE outcome = 'paid'"),
            "outcome_duplicate": one(
                "SELECT count(*) FROM pay_notifications WHERE outcome = 'duplicate'"
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--notifications", type=int, default=1000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gx_pay_bench"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
    )
    args = parser.parse_args()

    keys = generate_pay_keys()
    port = free_port()
    env = environment(args, keys)
    print(f"preparing {args.notifications} unpaid orders in {args.database_url} …", flush=True)
    trades = prepare(args, env)
    signed = notifications(keys, trades)
    # Every notification twice, shuffled: duplicates race their originals.
    batch = signed + signed
    random.Random(7).shuffle(batch)
    process = start_gunicorn(args, env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        hammer(
            base + "/healthz", range(200), args.concurrency, lambda s, u, _: s.get(u).status_code
        )
        baseline_time, baseline_latency, baseline_status = hammer(
            base + "/healthz",
            range(len(batch)),
            args.concurrency,
            lambda s, u, _: s.get(u).status_code,
        )
        notify_time, notify_latency, notify_status = hammer(
            base + "/pay/notify",
            batch,
            args.concurrency,
            lambda s, u, item: s.post(u, data=item[1].encode(), headers=item[0]).status_code,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    counts = check(args)
    baseline_rate = len(batch) / baseline_time
    notify_rate = len(batch) / notify_time
    result = {
        "notifications": args.notifications,
        "posted": len(batch),
        "concurrency": args.concurrency,
        "gunicorn": f"{args.workers} workers × {args.threads} threads",
        "baseline_healthz_per_s": round(baseline_rate, 1),
        "baseline_p50_ms": round(statistics.median(baseline_latency) * 1000, 1),
        "notify_per_s": round(notify_rate, 1),
        "notify_p50_ms": round(statistics.median(notify_latency) * 1000, 1),
        "notify_p95_ms": round(percentile(notify_latency, 0.95) * 1000, 1),
        "notify_over_baseline": round(notify_rate / baseline_rate, 3),
        "statuses": {str(k): v for k, v in sorted(notify_status.items())},
        "baseline_statuses": {str(k): v for k, v in sorted(baseline_status.items())},
        **counts,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"pay_notify-{datetime.now():%Y%m%d-%H%M%S}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2)
    )
    n = args.notifications
    ok = (
        counts["payments"] == n
        and counts["enrollments"] == n
        and counts["orders_paid"] == n
        and counts["outcome_paid"] == n
        and counts["outcome_duplicate"] == n
        and notify_status == {204: 2 * n}
    )
    print(f"enrollments == N ({n}): {'yes' if counts['enrollments'] == n else 'NO'}")
    if not ok:
        raise SystemExit("the notifications did not all end as they should")


if __name__ == "__main__":
    main()
