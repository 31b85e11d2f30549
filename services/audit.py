"""The audit log: every change a staff member (or a staff command) makes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from infra.extensions import db
from models.staff import AuditLog


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
        statement = statement.where(AuditLog.action.startswith(action))
    return db.paginate(statement, page=page, per_page=PAGE_SIZE, error_out=False)
