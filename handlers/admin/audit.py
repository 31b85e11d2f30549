"""The audit log of staff actions."""

from __future__ import annotations

from flask import render_template, request

from handlers.admin import bp, staff_required
from handlers.forms import page_arg
from models.staff import StaffRole
from services.audit import list_actions


@bp.get("/audit")
@staff_required(StaffRole.ADMIN)
def audit_log():
    page = list_actions(
        page=page_arg(),
        target_type=request.args.get("target") or None,
        action=request.args.get("action") or None,
    )
    return render_template("admin/audit.html", page=page)
