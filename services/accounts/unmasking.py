"""Staff see ID numbers and phones masked; seeing one whole (a learner's page, a roster's
error report) is recorded in the audit log: who, when, from where, whose."""

from __future__ import annotations

from models.accounts import Learner
from models.roster import RosterImport
from services.audit import Actor, record_action


def record_reveal(learner: Learner, *, what: str, actor: Actor) -> None:
    record_action(
        actor,
        action="learner.reveal",
        target_type="learner",
        target_id=learner.id,
        after={"shown": what},
    )


def record_roster_report(record: RosterImport, *, actor: Actor) -> None:
    """The error report lists each rejected and existing row whole."""
    record_action(
        actor,
        action="roster.report_download",
        target_type="roster_import",
        target_id=record.id,
        after={"rows": record.error_count + record.existing_count},
    )
