"""``flask --app wsgi registry …``: the provincial registry outbox."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from infra.jobs import enqueue
from infra.transaction import commit
from services.paperwork import registry, tasks

group = AppGroup("registry", help="The provincial continuing-education registry outbox.")


@group.command("send")
def send() -> None:
    """Queue the sending of every HTTPS record due (new ones, retries). Run every few minutes."""
    due = registry.due_record_ids()
    enqueue(tasks.send_due_registry_records)
    click.echo(f"registry records due: {len(due)}")


@group.command("backfill")
@click.option("--limit", default=10000, show_default=True, help="certificates at most")
def backfill(limit: int) -> None:
    """Queue the completion of every valid certificate the registry has not been told of."""
    count = registry.backfill(limit)
    commit()
    click.echo(f"completions queued: {count}")
