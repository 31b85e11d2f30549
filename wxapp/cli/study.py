import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from wxapp import study_flush

group = AppGroup("study", help="The study ledger.")


@group.command("flush")
@click.option("--once", is_flag=True, help="Write what is waiting, then stop.")
def flush(once: bool) -> None:
    """Write study progress from Redis to PostgreSQL every few seconds (run one or more)."""
    if once:
        written = study_flush.flush_all(int(current_app.config["STUDY_FLUSH_BATCH"]))
        click.echo(f"{written} progress entries written")
        return
    stop = threading.Event()
    # Stopped (a deploy's SIGTERM, or Ctrl-C), it first finishes the batch in hand: that
    # batch is already taken from the entries waiting in Redis, and would otherwise be
    # written only when its learners study those chapters again.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stop.set())
    click.echo(
        f"writing study progress every {current_app.config['STUDY_FLUSH_INTERVAL_SECONDS']} s"
    )
    # current_app is a LocalProxy that Flask types as the app itself.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    study_flush.run_forever(app, stop=stop)
    click.echo("study write-behind stopped")
