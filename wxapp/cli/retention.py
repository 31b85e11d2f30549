"""``flask --app wsgi retention run``: delete personal data past its retention period."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from infra.transaction import commit
from services.audit import Actor
from services.retention import apply_retention

group = AppGroup("retention", help="Retention periods of personal data.")


@group.command("run")
@click.option("--dry-run", is_flag=True, help="count what is due, delete nothing")
def run(dry_run: bool) -> None:
    """Apply every retention rule (services/retention.py). Run once a day from cron; running
    it twice deletes nothing more."""
    results = apply_retention(actor=Actor.system("cli:retention run"), dry_run=dry_run)
    if not dry_run:
        commit()
    verb = "due" if dry_run else "deleted"
    for result in results:
        click.echo(
            f"{result.rule.description}, older than {result.days} days: {result.count} {verb}"
        )
