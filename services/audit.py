"""The audit log: every change a staff member (or a staff command) makes."""

from __future__ import annotations

from typing import Any

from models.staff import AuditLog
from wxapp.extensions import db


def record_action(
    *,
    staff_id: int | None,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    entry = AuditLog(
        staff_id=staff_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        ip=ip,
    )
    db.session.add(entry)
    db.session.flush()
    return entry
