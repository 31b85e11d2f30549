"""Roster import speed: a 10,000-row roster (附件2) imported into PostgreSQL.

    .venv/bin/python bench/roster_import.py [DATABASE_URL] [--rows 10000] [--repeat 3]

DATABASE_URL defaults to $BENCH_DATABASE_URL, then postgresql://postgres@127.0.0.1:5432/gx_roster.
The schema is brought to the latest migration first; the accounts, unit and records the
bench creates are deleted again after each run.

Each run measures, in the same process and on the same file:
- the baseline: reading the file alone (openpyxl in streaming read-only mode, through the
  same hostile-file checks);
- the import: reading, checking every row, looking up existing ID numbers and phones,
  writing the accounts, the error report, the audit entry, and committing.
The import must finish in under 15 s. Exit status 1 when it does not.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import infra  # noqa: F401  (keeps openpyxl on defusedxml; must precede openpyxl)

# isort: split
from openpyxl import Workbook
from sqlalchemy import delete, select

from infra.extensions import db
from infra.transaction import commit
from models.accounts import Learner
from models.org import Unit
from models.roster import RosterImport
from models.staff import AuditLog
from services.accounts import roster
from services.accounts.identity import id_check_character
from services.audit import Actor
from wxapp import create_app

LIMIT_SECONDS = 15.0
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gx_roster"
UNIT = "重庆市渝中区基准测试医院"
NAMES = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨勇",
    "赵敏",
    "黄磊",
    "周婷",
    "吴昊",
    "阿依古丽·买买提",
]


def people(rows: int) -> list[tuple[str, str, str, str]]:
    result = []
    for index in range(rows):
        birth = date(1960, 1, 1) + timedelta(days=index // 999)
        sequence = f"{index % 999 + 1:03d}"
        first17 = f"500103{birth:%Y%m%d}{sequence}"
        gender = "男" if int(sequence[-1]) % 2 else "女"
        result.append(
            (
                NAMES[index % len(NAMES)],
                first17 + id_check_character(first17),
                f"135{index:08d}",
                gender,
            )
        )
    return result


def write_roster(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("学员注册名单")
    sheet.append(["重庆市专业技术人员继续教育公需科目培训学员注册名单"])
    sheet.append(["区 县：渝中区", None, None, "联系人：王老师"])
    sheet.append([f"单位全称：{UNIT}", None, None, "联系电话：023-63800000"])
    sheet.append(["序号", "姓名", "身份证号码", "手机号码", "性别", "备注"])
    for number, (name, id_number, phone, gender) in enumerate(rows, start=1):
        sheet.append([number, name, id_number, phone, gender, None])
    workbook.save(path)


def clean(id_numbers: list[str], record_id: int | None = None) -> None:
    """Remove what a run (or an interrupted earlier one) left behind."""
    if record_id is not None:
        db.session.execute(
            delete(AuditLog).where(
                AuditLog.target_type == "roster_import", AuditLog.target_id == str(record_id)
            )
        )
    for start in range(0, len(id_numbers), 5000):
        db.session.execute(
            delete(Learner).where(Learner.id_number.in_(id_numbers[start : start + 5000]))
        )
    db.session.execute(delete(RosterImport).where(RosterImport.unit_name == UNIT))
    db.session.execute(delete(Unit).where(Unit.name == UNIT))
    commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "database_url", nargs="?", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "APP_ENV": "test",
                "SQLALCHEMY_DATABASE_URI": args.database_url.replace(
                    "postgresql://", "postgresql+psycopg://", 1
                ),
                "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"),
                "STORAGE_DIR": folder,
                "ROSTER_MAX_ROWS": max(args.rows + 100, 20_000),
                "LOG_LEVEL": "WARNING",
            }
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
        path = Path(folder) / "roster.xlsx"
        rows = people(args.rows)
        started = time.perf_counter()
        write_roster(path, rows)
        written = time.perf_counter() - started
        id_numbers = [row[1] for row in rows]

        reads, imports = [], []
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            host = db.engine.url.render_as_string(hide_password=True)
            print(f"roster import: {args.rows:,} rows into {host}")
            print(
                f"  file written by openpyxl in {written:.2f} s "
                f"({path.stat().st_size / 1e6:.1f} MB; not part of the figures)"
            )
            for run in range(1, args.repeat + 1):
                clean(id_numbers)
                started = time.perf_counter()
                sheet = roster.read_roster(path, limits=roster.read_limits())
                reads.append(time.perf_counter() - started)
                assert len(sheet.rows) == args.rows
                del sheet

                started = time.perf_counter()
                record = roster.import_roster(path, filename=path.name, actor=Actor.system("bench"))
                commit()
                imports.append(time.perf_counter() - started)
                assert record.created_count == args.rows, record.created_count
                print(
                    f"  run {run}: read alone {reads[-1]:.2f} s, import {imports[-1]:.2f} s "
                    f"({imports[-1] / reads[-1]:.2f} × the read)"
                )
                clean(id_numbers, record.id)
            assert (
                db.session.scalar(select(Learner.id).where(Learner.id_number == id_numbers[0]))
                is None
            )

    read, full, worst = statistics.median(reads), statistics.median(imports), max(imports)
    verdict = "PASS" if worst < LIMIT_SECONDS else "FAIL"
    print(f"  baseline (read alone), median:   {read:.2f} s")
    print(f"  import, median:                  {full:.2f} s = {full / read:.2f} × the read")
    print(f"  import, slowest of {len(imports)}:            {worst:.2f} s")
    print(f"  {args.rows / full:,.0f} rows/s; limit {LIMIT_SECONDS:.0f} s: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
