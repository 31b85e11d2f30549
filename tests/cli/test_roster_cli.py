"""``flask roster import FILE [--dry-run]``."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import AccountSource, Learner
from models.roster import RosterImport, RosterImportStatus
from models.staff import AuditLog
from tests import factories
from tests.roster_files import save_roster, zip_bomb


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(Learner.id))),
        db.session.scalar(select(func.count(RosterImport.id))),
    )


def report_path(output: str) -> Path:
    line = next(line for line in output.splitlines() if line.startswith("错误报告："))
    return Path(line.removeprefix("错误报告："))


def test_import_creates_the_accounts_and_prints_counts_and_the_report(runner, tmp_path):
    existing = factories.learner()
    good = factories.valid_id_number()
    path = save_roster(
        tmp_path,
        [
            ("张三", good, "13700001001", "男"),
            ("李四", "123", "13700001002", ""),
            ("王五", existing.id_number, existing.phone, ""),
        ],
    )
    result = runner.invoke(args=["roster", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "渝中区 重庆市渝中区人民医院：共3行，新建1个账号，已存在1个，有误1行。" in result.output
    learner = db.session.scalar(select(Learner).where(Learner.id_number == good))
    assert learner.source is AccountSource.ROSTER
    record = db.session.get(RosterImport, learner.roster_import_id)
    assert record.status is RosterImportStatus.IMPORTED
    assert record.filename == path.name
    report = openpyxl.load_workbook(report_path(result.output), read_only=True)
    rows = list(report.worksheets[0].iter_rows(min_row=2, values_only=True))
    report.close()
    assert [(row[0], row[7]) for row in rows] == [(6, "有误"), (7, "已存在")]
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "roster.import"))
    assert (audit.actor, audit.staff_id, audit.after["created"]) == ("cli:roster import", None, 1)

    again = runner.invoke(args=["roster", "import", str(path)])
    assert again.exit_code == 0
    assert "新建0个账号，已存在2个，有误1行" in again.output


def test_dry_run_writes_nothing_but_the_report(runner, tmp_path):
    path = save_roster(
        tmp_path,
        [("张三", factories.valid_id_number(), "13700001001", ""), ("李四", "1", "2", "")],
    )
    before = counts()
    result = runner.invoke(args=["roster", "import", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    assert "将新建1个账号" in result.output
    assert "试运行，未写入任何数据" in result.output
    assert report_path(result.output).is_file()
    assert counts() == before


def test_a_refused_file_exits_non_zero_with_the_reason(runner, tmp_path):
    before = counts()
    bomb = runner.invoke(
        args=["roster", "import", str(zip_bomb(tmp_path / "b.xlsx", inflated_bytes=80 << 20))]
    )
    assert bomb.exit_code == 1
    assert "压缩炸弹" in bomb.output
    unknown = save_roster(
        tmp_path,
        [("张三", factories.valid_id_number(), "13700001001", "")],
        district="火星区",
        name="x.xlsx",
    )
    result = runner.invoke(args=["roster", "import", str(unknown)])
    assert result.exit_code == 1
    assert "“火星区”不是本市的区县" in result.output
    missing = runner.invoke(args=["roster", "import", str(tmp_path / "none.xlsx")])
    assert missing.exit_code == 2
    assert counts() == before
