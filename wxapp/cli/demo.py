import click
from flask.cli import AppGroup

from services.demo import seed_all
from wxapp.jobs import commit

group = AppGroup("demo", help="Demo data for development and presentations.")


@group.command("seed")
def seed() -> None:
    """Create demo units, learners, staff and content (safe to run again)."""
    notes = seed_all()
    commit()
    for line in notes:
        click.echo(line)
