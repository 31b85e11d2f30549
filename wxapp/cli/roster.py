from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup

from infra.extensions import db
from infra.transaction import commit
from services.accounts import roster
from services.audit import Actor
from services.errors import ServiceError

if TYPE_CHECKING:
    # What click.progressbar returns; click names it only in its private module.
    from click._termui_impl import ProgressBar

group = AppGroup("roster", help="Rosters (附件2) that units email: batch registration.")


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="Check the file and write the error report; create nothing."
)
def import_command(file: Path, dry_run: bool) -> None:
    """Create an account for every good row of FILE (.xlsx in the layout of 附件2).

    Bad rows and existing accounts are listed in an error report; running the same file
    again creates nothing. Exits non-zero when the whole file is refused.
    """
    with ExitStack() as stack:
        bar: ProgressBar[int] | None = None

        def progress(done: int, total: int | None) -> None:
            nonlocal bar
            if bar is None:
                length = total or current_app.config["ROSTER_MAX_ROWS"]
                bar = stack.enter_context(
                    click.progressbar(length=length, label="读取名单", file=sys.stderr)
                )
            bar.update(done - bar.pos)

        try:
            if dry_run:
                record = roster.preview_roster(
                    file,
                    filename=file.name,
                    actor=Actor.system("cli:roster import --dry-run"),
                    keep_upload=False,
                    on_progress=progress,
                )
            else:
                record = roster.import_roster(
                    file,
                    filename=file.name,
                    actor=Actor.system("cli:roster import"),
                    on_progress=progress,
                )
        except ServiceError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from None
    report = roster.stored_file(record.error_report_path)
    summary = (
        f"{record.district_name} {record.unit_name}：共{record.total_rows}行，"
        f"{'将新建' if dry_run else '新建'}{record.created_count}个账号，"
        f"已存在{record.existing_count}个，有误{record.error_count}行。"
    )
    if dry_run:
        db.session.rollback()
        summary += "（试运行，未写入任何数据）"
    else:
        commit()
    click.echo(summary)
    if report is not None:
        click.echo(f"错误报告：{report.resolve()}")
