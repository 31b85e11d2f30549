"""The privacy notice (个人信息保护说明) and the learner's separate consent to it (PIPL).

The notice says what is collected, why, how long it is kept and who sees it; its periods
are the retention settings themselves (``notice()``), so the page never says one thing
while the retention command does another. ``NOTICE_VERSION`` names the text: a changed
notice gets a new version, and a consent records the version agreed to, when and from
which address. Consent is asked at registration and at a roster account's first login,
separately from everything else on the page (its own box, never ticked in advance), since
the ID number is sensitive personal information.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from infra.extensions import db
from models.privacy import PrivacyConsent
from services.errors import ValidationError

NOTICE_VERSION = "2026-12"

CONSENT_REQUIRED = "请阅读《个人信息保护说明》，勾选同意后再继续。"

REGISTER = "register"
FIRST_LOGIN = "first_login"


@dataclass(frozen=True)
class Notice:
    """The figures the notice quotes, as configured."""

    version: str
    roster_preview_days: int
    roster_file_days: int
    voucher_screenshot_days: int
    deletion_days: int


def notice() -> Notice:
    config = current_app.config
    return Notice(
        version=NOTICE_VERSION,
        roster_preview_days=int(config["RETENTION_ROSTER_PREVIEW_DAYS"]),
        roster_file_days=int(config["RETENTION_ROSTER_FILE_DAYS"]),
        voucher_screenshot_days=int(config["RETENTION_VOUCHER_SCREENSHOT_DAYS"]),
        deletion_days=15,
    )


def has_current_consent(learner_id: int) -> bool:
    return (
        db.session.scalar(
            select(PrivacyConsent.id).where(
                PrivacyConsent.learner_id == learner_id,
                PrivacyConsent.notice_version == NOTICE_VERSION,
            )
        )
        is not None
    )


def record_consent(learner_id: int, occasion: str, *, given: bool, ip: str | None) -> None:
    """Records the learner's consent to the current notice, or refuses when it was not
    given (the box left unticked)."""
    if not given:
        raise ValidationError("privacy_consent", CONSENT_REQUIRED)
    db.session.add(
        PrivacyConsent(
            learner_id=learner_id, notice_version=NOTICE_VERSION, occasion=occasion, ip=ip
        )
    )
    db.session.flush()


def consents_of(learner_id: int) -> list[PrivacyConsent]:
    return list(
        db.session.scalars(
            select(PrivacyConsent)
            .where(PrivacyConsent.learner_id == learner_id)
            .order_by(PrivacyConsent.consented_at)
        )
    )
