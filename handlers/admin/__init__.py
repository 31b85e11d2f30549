"""The staff console (desktop web)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, request, session, url_for

from models.staff import StaffRole, StaffUser
from wxapp.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _staff_tag(staff: StaffUser) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, staff.password_hash.encode(), hashlib.sha256).hexdigest()[:16]


def login_staff(staff: StaffUser) -> None:
    session["staff_id"] = staff.id
    session["staff_tag"] = _staff_tag(staff)


def logout_staff() -> None:
    session.pop("staff_id", None)
    session.pop("staff_tag", None)


def current_staff() -> StaffUser | None:
    if "staff" not in g:
        staff = None
        staff_id = session.get("staff_id")
        if staff_id is not None:
            staff = db.session.get(StaffUser, staff_id)
            if (
                staff is None
                or not staff.is_active
                or session.get("staff_tag") != _staff_tag(staff)
            ):
                staff = None
                logout_staff()
        g.staff = staff
    return g.staff


def staff_required(*roles: StaffRole) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Logged-in staff; with ``roles``, only those (admins may do everything)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            staff = current_staff()
            if staff is None:
                return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
            if roles and staff.role not in roles and staff.role is not StaffRole.ADMIN:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def client_ip() -> str | None:
    return request.remote_addr


@bp.app_context_processor
def inject_staff() -> dict[str, Any]:
    return {"current_staff": current_staff, "StaffRole": StaffRole}


from handlers.admin import (  # noqa: E402,F401  (routes attach to bp)
    audit,
    auth,
    catalog,
    orders,
    org,
    paperwork,
    people,
    reports,
    rosters,
)
