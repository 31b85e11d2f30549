"""``flask --app wsgi …`` commands. Like handlers: parse, call a service, commit, report."""

from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    from wxapp.cli import (
        assets,
        demo,
        invoices,
        jobs,
        pay,
        registry,
        reminders,
        retention,
        roster,
        staff,
        study,
        wechat,
    )

    for group in (
        assets.group,
        demo.group,
        invoices.group,
        jobs.group,
        pay.group,
        registry.group,
        reminders.group,
        retention.group,
        roster.group,
        staff.group,
        study.group,
        wechat.group,
    ):
        app.cli.add_command(group)
