import click
from flask import current_app
from flask.cli import AppGroup

from infra.transaction import commit
from services.demo import seed_all

group = AppGroup("demo", help="Demo data for development and presentations.")


@group.command("seed")
def seed() -> None:
    """Create demo units, learners, staff and content (safe to run again)."""
    if current_app.config["APP_ENV"] == "production":
        # The demo's logins (admin / Admin2022 …) are public: never in a real database.
        raise click.ClickException(
            "演示数据只用于开发和演示环境，生产环境（APP_ENV=production）不能导入。"
        )
    notes = seed_all()
    commit()
    for line in notes:
        click.echo(line)
