"""The audit log of staff actions."""

from __future__ import annotations

from flask import render_template, request

from handlers.admin import bp, staff_required
from handlers.forms import page_arg
from models.staff import StaffRole
from services import audit_text
from services.audit import list_actions


@bp.get("/audit")
@staff_required(StaffRole.ADMIN)
def audit_log():
    page = list_actions(
        page=page_arg(),
        target_type=request.args.get("target") or None,
        action=request.args.get("action") or None,
    )
    return render_template(
        "admin/audit.html",
        page=page,
        lines=[audit_text.describe(entry) for entry in page.items],
        action_choices=sorted(audit_text.ACTIONS.items()),
        target_choices=list(audit_text.TARGETS.items()),
        actor_text=audit_text.actor_text,
    )
