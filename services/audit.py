"""The audit log: every change a staff member, a command or an automatic rule makes, and
who made it (``Actor``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from infra.extensions import db
from models.staff import AuditLog


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member in the console, a learner whose action is audited, or the
    system (a command, a job, a rule that runs by itself). The audit log keeps all three
    parts."""

    staff_id: int | None  # None: the system
    label: str  # ``staff:<username>``, ``cli:roster import``, ``system:payments`` …
    ip: str | None = None  # the client's address, for a staff member in the console

    @classmethod
    def staff(cls, staff_id: int, username: str, ip: str | None) -> Actor:
        return cls(staff_id=staff_id, label=f"staff:{username}", ip=ip)

    @classmethod
    def learner(cls, learner_id: int, ip: str | None) -> Actor:
        """A learner whose own action is audited (a large 团体购买 check, a data request)."""
        return cls(staff_id=None, label=f"learner:{learner_id}", ip=ip)

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(staff_id=None, label=label)


def record_action(
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        staff_id=actor.staff_id,
        actor=actor.label,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        ip=actor.ip,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


PAGE_SIZE = 50


def list_actions(
    *,
    page: int = 1,
    staff_id: int | None = None,
    target_type: str | None = None,
    action: str | None = None,
):
    """Newest first, paginated (Flask-SQLAlchemy's Pagination)."""
    statement = select(AuditLog).order_by(AuditLog.id.desc())
    if staff_id:
        statement = statement.where(AuditLog.staff_id == staff_id)
    if target_type:
        statement = statement.where(AuditLog.target_type == target_type)
    if action:
        statement = statement.where(AuditLog.action.startswith(action, autoescape=True))
    return db.paginate(statement, page=page, per_page=PAGE_SIZE, error_out=False)
