"""``flask --app wsgi invoices …``: 数电 invoices through WeChat Pay's fapiao API."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from infra.jobs import enqueue
from services.errors import ExternalServiceError
from services.paperwork import fapiao, tasks

group = AppGroup("invoices", help="Invoices through WeChat Pay's fapiao API.")


@group.command("callback-url")
def callback_url() -> None:
    """Register PUBLIC_BASE_URL/pay/fapiao-notify as the fapiao callback URL (配置开发选项)."""
    try:
        url = fapiao.set_callback_url()
    except ExternalServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"fapiao callback URL: {url}")


@group.command("sync")
def sync() -> None:
    """Issue the applications of orders paid since they were asked for, and follow up what a
    lost callback left open. Run every few minutes while INVOICE_PROVIDER=wechatpay."""
    work = fapiao.open_invoice_ids()
    for invoice_id, action in work:
        enqueue(tasks.issue_fapiao if action == "issue" else tasks.sync_fapiao, invoice_id)
    click.echo(f"invoices followed up: {len(work)}")
