"""``flask --app wsgi pay …``: close expired orders, reconcile a day, follow up refunds."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import click
from flask.cli import AppGroup

from infra.extensions import db
from infra.pay_client import complaint_notify_url
from infra.transaction import commit
from services.display import LOCAL_TZ
from services.errors import ExternalServiceError
from services.payments import checkout, complaints, reconciliation, refunds

group = AppGroup(
    "pay", help="WeChat Pay and Alipay: expired orders, reconciliation, refunds, complaints."
)


@group.command("close-expired")
def close_expired() -> None:
    """Close unpaid orders past their expiry (at the providers first). Run every few minutes."""
    counts: dict[str, int] = {}
    for order_id in checkout.expired_order_ids():
        try:
            outcome = checkout.close_expired_order(order_id)
        except ExternalServiceError as error:
            db.session.rollback()
            outcome = "failed"
            click.echo(f"order {order_id}: {error.message}", err=True)
        else:
            commit()
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    click.echo(f"expired orders: {sum(counts.values())}" + (f" ({summary})" if summary else ""))


@group.command("reconcile")
@click.argument("day", required=False)
def reconcile(day: str | None) -> None:
    """Check DAY's bills, WeChat Pay's and Alipay's (YYYY-MM-DD, default yesterday in Beijing
    time)."""
    if day is None:
        bill_day = datetime.now(LOCAL_TZ).date() - timedelta(days=1)
    else:
        try:
            bill_day = date.fromisoformat(day)
        except ValueError:
            raise click.BadParameter("日期格式应为 YYYY-MM-DD", param_hint="DAY") from None
    try:
        report = reconciliation.reconcile_day(bill_day)
    except ExternalServiceError as error:
        raise click.ClickException(error.message) from None
    commit()
    click.echo(
        f"trade bill {report.day}: {report.bill_trades} payments, {report.bill_refunds} refunds"
    )
    click.echo(f"matched: {report.matched}")
    for title, lines in (
        ("paid at the provider but not here, now fixed", report.fixed),
        ("paid at the provider, still not paid here", report.unresolved),
        ("paid at the provider for an order we do not know", report.unknown),
        ("amounts that differ", report.amount_mismatch),
        ("paid here but not in the provider's bill", report.missing_at_wechat),
    ):
        click.echo(f"{title}: {len(lines)}")
        for line in lines:
            click.echo(f"  {line}")
    if not report.clean:
        raise SystemExit(1)


@group.command("sync-refunds")
def sync_refunds() -> None:
    """Send refunds that did not get through and ask for results that have not arrived."""
    counts: dict[str, int] = {}
    for refund_id in refunds.refunds_to_sync():
        try:
            outcome = refunds.sync_refund(refund_id)
        except ExternalServiceError as error:
            commit()  # keeps the error noted on the refund
            outcome = "failed to reach the provider"
            click.echo(f"refund {refund_id}: {error.message}", err=True)
        else:
            commit()
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    click.echo(
        f"refunds followed up: {sum(counts.values())}" + (f" ({summary})" if summary else "")
    )


@group.command("complaint-notify-url")
def complaint_url() -> None:
    """Register PUBLIC_BASE_URL/pay/complaint-notify as WeChat Pay's complaint notification URL."""
    url = complaint_notify_url()
    try:
        outcome = complaints.register_notify_url(url)
    except ExternalServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"complaint notifications: {url} ({outcome})")


@group.command("sync-complaints")
@click.option("--days", default=30, show_default=True, help="how far back (at most 30)")
def sync_complaints(days: int) -> None:
    """Fetch the consumer complaints of the last DAYS from WeChat Pay."""
    try:
        seen = complaints.sync_recent(days)
    except ExternalServiceError as error:
        raise click.ClickException(error.message) from None
    commit()
    click.echo(f"complaints fetched: {seen}")
