"""Retention: personal data that nothing needs any more is deleted after a set time.

The rules are data (``RULES``): what, after how many days (a setting of wxapp/config.py,
quoted by the privacy notice), and how it is found and deleted. ``flask --app wsgi
retention run`` (cron, once a day) applies every rule and writes one line of the audit log
per rule that deleted something; ``--dry-run`` counts without deleting. Rows change in the
command's transaction; files go only once it has committed, so a failure leaves both.

- roster previews never confirmed: the row, its kept upload and its error report (full ID
  numbers and phones of a whole unit);
- imported rosters: the kept upload and the error report (the accounts exist by then);
- voucher screenshots (they may show an ID card), once the application is reviewed;
- samples of pay notifications that did not verify (see services/payments/notifications.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from infra.extensions import db
from infra.transaction import after_commit
from models.base import utcnow
from models.makeup import MakeupApplication, ReviewStatus
from models.orders import PayNotification
from models.roster import RosterImport, RosterImportStatus
from services import stored_files
from services.audit import Actor, record_action
from services.payments.notifications import UNVERIFIED_OUTCOMES


@dataclass(frozen=True)
class RetentionRule:
    name: str
    description: str  # as the command prints it
    setting: str  # the number of days, in the app's configuration
    purge: Callable[[datetime, datetime, bool], int]  # (cutoff, now, dry run) → how many

    def days(self) -> int:
        return int(current_app.config[self.setting])


def _delete_files_after_commit(paths: list[str | None]) -> None:
    kept = [path for path in paths if path]
    if kept:
        after_commit(_delete_files, kept)


def _delete_files(paths: list[str]) -> None:
    for relative in paths:
        stored_files.resolve(relative).unlink(missing_ok=True)


def _roster_previews(cutoff: datetime, now: datetime, dry_run: bool) -> int:
    records = list(
        db.session.scalars(
            select(RosterImport).where(
                RosterImport.status == RosterImportStatus.PREVIEWED,
                RosterImport.created_at < cutoff,
            )
        )
    )
    if not dry_run:
        for record in records:
            _delete_files_after_commit([record.stored_path, record.error_report_path])
            db.session.delete(record)
        db.session.flush()
    return len(records)


def _roster_files(cutoff: datetime, now: datetime, dry_run: bool) -> int:
    records = list(
        db.session.scalars(
            select(RosterImport).where(
                RosterImport.status == RosterImportStatus.IMPORTED,
                RosterImport.imported_at < cutoff,
                (RosterImport.stored_path.is_not(None))
                | (RosterImport.error_report_path.is_not(None)),
            )
        )
    )
    if not dry_run:
        for record in records:
            _delete_files_after_commit([record.stored_path, record.error_report_path])
            record.stored_path = record.error_report_path = None
        db.session.flush()
    return len(records)


def _voucher_screenshots(cutoff: datetime, now: datetime, dry_run: bool) -> int:
    applications = list(
        db.session.scalars(
            select(MakeupApplication).where(
                MakeupApplication.status != ReviewStatus.PENDING,
                MakeupApplication.reviewed_at < cutoff,
                MakeupApplication.screenshot_path.is_not(None),
            )
        )
    )
    if not dry_run:
        for application in applications:
            _delete_files_after_commit([application.screenshot_path])
            application.screenshot_path = None
            application.screenshot_deleted_at = now
        db.session.flush()
    return len(applications)


def _pay_notification_samples(cutoff: datetime, now: datetime, dry_run: bool) -> int:
    condition = (
        PayNotification.outcome.in_(sorted(UNVERIFIED_OUTCOMES)),
        PayNotification.received_at < cutoff,
    )
    ids = list(db.session.scalars(select(PayNotification.id).where(*condition)))
    if ids and not dry_run:
        db.session.execute(delete(PayNotification).where(PayNotification.id.in_(ids)))
    return len(ids)


RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "roster_previews",
        "roster previews never confirmed (rows, uploads, error reports)",
        "RETENTION_ROSTER_PREVIEW_DAYS",
        _roster_previews,
    ),
    RetentionRule(
        "roster_files",
        "uploads and error reports of imported rosters",
        "RETENTION_ROSTER_FILE_DAYS",
        _roster_files,
    ),
    RetentionRule(
        "voucher_screenshots",
        "make-up voucher screenshots, after review",
        "RETENTION_VOUCHER_SCREENSHOT_DAYS",
        _voucher_screenshots,
    ),
    RetentionRule(
        "pay_notification_samples",
        "samples of pay notifications that did not verify",
        "RETENTION_PAY_NOTIFY_SAMPLE_DAYS",
        _pay_notification_samples,
    ),
)


@dataclass(frozen=True)
class RetentionResult:
    rule: RetentionRule
    days: int
    count: int


def apply_retention(*, actor: Actor, dry_run: bool = False, now: datetime | None = None):
    """Every rule, in order; the caller commits (files are deleted after that)."""
    now = now or utcnow()
    results = []
    for rule in RULES:
        days = rule.days()
        count = rule.purge(now - timedelta(days=days), now, dry_run)
        if count and not dry_run:
            record_action(
                actor,
                action="retention.delete",
                target_type=rule.name,
                target_id="-",
                after={"deleted": count, "older_than_days": days},
            )
        results.append(RetentionResult(rule, days, count))
    return results
