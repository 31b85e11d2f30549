"""Reports over 200,000 learners: how long the district and unit reports take.

Builds a bench database with generated data (COPY, a minute or so the first time), then
times `services.reports.build_report` by district and by unit, median of several runs,
beside a baseline query in the same run (`SELECT count(*) FROM learners`).

    .venv/bin/python bench/report_queries.py [--learners 200000] [--database-url URL]

The goal is under 2 s per report.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import text

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gx_bench_reports"


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows) -> None:
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def generate(url: str, learners: int) -> None:
    from services.accounts.identity import id_check_character

    rng = random.Random(2022)
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT count(*) FROM learners").fetchone()[0] >= learners:
            return
        print(f"generating {learners} learners …", flush=True)
        conn.execute(
            "TRUNCATE learners, units, plans, enrollments, orders, order_seats, payments RESTART IDENTITY CASCADE"
        )
        districts = [row[0] for row in conn.execute("SELECT id FROM districts ORDER BY id")]
        unit_count = max(learners // 100, 10)
        copy_rows(
            conn,
            "units",
            ["name", "district_id", "code", "created_at"],
            (
                (f"单位{n:06d}", districts[n % len(districts)], f"B{n:07d}", now)
                for n in range(unit_count)
            ),
        )
        unit_district = dict(conn.execute("SELECT id, district_id FROM units").fetchall())
        unit_ids = list(unit_district)
        start = now - timedelta(days=300)
        conn.execute(
            "INSERT INTO plans (year, kind, title, description, price_fen, required_hours, minutes_per_hour,"
            " chapter_threshold_percent, sale_starts_at, sale_ends_at, study_ends_at, is_published, created_at)"
            " VALUES (2022, 'current', '重庆市2022年专技人员继续教育公需科目培训', '', 3000, 30, 45, 95, %s, %s, %s, true, %s)",
            (start, now + timedelta(days=30), now + timedelta(days=30), now),
        )
        plan_id = conn.execute("SELECT id FROM plans").fetchone()[0]

        def learner_rows():
            for n in range(learners):
                birth = date(1960, 1, 1) + timedelta(days=n // 1000)
                first17 = f"500103{birth:%Y%m%d}{n % 1000:03d}"
                unit_id = rng.choice(unit_ids)
                yield (
                    f"学员{n}",
                    first17 + id_check_character(first17),
                    f"1{n:010d}"[:11],
                    "male" if n % 2 else "female",
                    birth,
                    unit_id,
                    unit_district[unit_id],
                    None,
                    False,
                    "self",
                    now,
                    now,
                )

        copy_rows(
            conn,
            "learners",
            ["name", "id_number", "phone", "gender", "birth_date", "unit_id", "district_id", "password_hash",
             "must_change_password", "source", "created_at", "updated_at"],
            learner_rows(),
        )  # fmt: skip
        # 75% bought (one order each), two thirds of those finished.
        buyers = [n + 1 for n in range(learners) if rng.random() < 0.75]
        copy_rows(
            conn,
            "orders",
            ["out_trade_no", "buyer_id", "plan_id", "kind", "seat_count", "unit_price_fen", "amount_fen",
             "refunded_fen", "status", "invoice_choice", "expires_at", "paid_at", "created_at", "updated_at"],
            ((f"B{learner_id:020d}", learner_id, plan_id, "individual", 1, 3000, 3000, 0, "paid", "later",
              now, now, now, now) for learner_id in buyers),
        )  # fmt: skip
        copy_rows(
            conn,
            "order_seats",
            ["order_id", "learner_id", "status"],
            ((index + 1, learner_id, "active") for index, learner_id in enumerate(buyers)),
        )
        copy_rows(
            conn,
            "enrollments",
            [
                "learner_id",
                "plan_id",
                "status",
                "source",
                "order_id",
                "earned_hours",
                "completed_at",
                "created_at",
            ],
            (
                (
                    learner_id,
                    plan_id,
                    "active",
                    "order",
                    index + 1,
                    30 if done else 12,
                    now if done else None,
                    now,
                )
                for index, learner_id in enumerate(buyers)
                for done in [rng.random() < 0.66]
            ),
        )
        conn.execute("ANALYZE")
        conn.commit()


def timed(func, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=200_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    ensure_database(args.database_url)
    os.environ["TEST_DATABASE_URL"] = args.database_url
    os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    from flask_migrate import upgrade

    from infra.extensions import db
    from services import reports
    from wxapp import create_app

    app = create_app({"APP_ENV": "test", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        upgrade()
        db.session.remove()
        generate(args.database_url, args.learners)
        baseline = timed(lambda: db.session.execute(text("SELECT count(*) FROM learners")).scalar())
        by_district = timed(lambda: reports.build_report(2022, by="district"))
        by_unit = timed(lambda: reports.build_report(2022, by="unit"))
        total = reports.build_report(2022).total
    print(f"learners={total.registered} bought={total.bought} finished={total.finished}")
    print(f"baseline count(*) of learners: {baseline * 1000:.0f} ms")
    print(
        f"report by district: {by_district * 1000:.0f} ms ({by_district / baseline:.1f}x baseline)"
    )
    print(f"report by unit:     {by_unit * 1000:.0f} ms ({by_unit / baseline:.1f}x baseline)")
    print("goal: under 2000 ms each:", "met" if max(by_district, by_unit) < 2 else "NOT met")


if __name__ == "__main__":
    main()
