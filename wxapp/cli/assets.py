"""``flask assets …``: the static files derived from others."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from wxapp import weui_trim

group = AppGroup("assets", help="Static files derived from others.")


@group.command("weui-trim")
def weui_trim_command() -> None:
    """Write static/weui/weui.used.css: WeUI without the rules of classes no page uses."""
    before, after = weui_trim.write_trimmed()
    click.echo(f"{weui_trim.TRIMMED.name}: {after} bytes (WeUI {before} bytes)")
