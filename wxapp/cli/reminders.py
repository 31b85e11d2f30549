from datetime import datetime

import click
from flask.cli import AppGroup

from infra.transaction import commit
from services.display import LOCAL_TZ
from services.errors import ServiceError
from services.wechat import reminders

group = AppGroup("reminders", help="Deadline reminders (template messages).")


@group.command("send")
@click.option("--year", type=int, required=True, help="training year whose plan closes")
def send(year: int) -> None:
    """Queue the deadline reminder to everyone with WeChat who bought the year's plan and has
    not finished it; they go out within the day's quota.

    Run from cron, e.g. on 1, 15 and 25 December; running twice on one day sends nothing twice.
    """
    try:
        plan = reminders.current_plan(year)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    today = datetime.now(LOCAL_TZ).date()
    queued = seen = 0
    for batch in reminders.reminder_targets(plan):
        queued += reminders.queue_reminders(plan, batch, today=today)
        seen += len(batch)
        commit()  # each batch's messages are durable before their jobs run
    click.echo(f"{plan.title}: {seen} learners not finished, {queued} reminders queued")
    _say_waiting()


@group.command("resume")
def resume() -> None:
    """Send the reminders that an earlier day's quota held back. Run from cron every day
    shortly after midnight (Beijing time), when WeChat's daily quota starts again."""
    reminders.resume_reminders(today=datetime.now(LOCAL_TZ).date())
    commit()
    _say_waiting()


def _say_waiting() -> None:
    waiting = reminders.waiting_reminders()
    if waiting:
        click.echo(
            f"{waiting} reminders not sent yet (over the day's quota: reminders resume sends them)"
        )
