"""The staff console (desktop web)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

import redis
from flask import Blueprint, abort, current_app, g, redirect, request, session, url_for

from infra.extensions import db
from models.staff import StaffRole, StaffUser
from services.accounts import sessions
from services.audit import Actor

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _staff_tag(staff: StaffUser) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, staff.password_hash.encode(), hashlib.sha256).hexdigest()[:16]


_STAFF_KEYS = ("staff_id", "staff_tag", "staff_login")


def login_staff(staff: StaffUser) -> None:
    """A new login (services/accounts/sessions.py), ended after 30 idle minutes."""
    logout_staff()
    login_id = sessions.open_login(sessions.STAFF, staff.id)
    session["staff_id"] = staff.id
    session["staff_tag"] = _staff_tag(staff)
    session["staff_login"] = login_id


def logout_staff() -> None:
    """The login ends on the server too: a copy of the cookie opens nothing after this."""
    staff_id = session.get("staff_id")
    if staff_id is not None:
        try:
            sessions.close_login(session.get("staff_login"), sessions.STAFF, staff_id)
        except redis.exceptions.RedisError as error:
            log.warning("could not close login of staff %s: %s", staff_id, error)
    for key in _STAFF_KEYS:
        session.pop(key, None)


def current_staff() -> StaffUser | None:
    """The staff member whose login this request carries, if that login is still open."""
    if "staff" not in g:
        staff = None
        staff_id = session.get("staff_id")
        if staff_id is not None:
            if sessions.resume_login(session.get("staff_login"), sessions.STAFF, staff_id):
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


def signed_in_staff() -> StaffUser:
    """The staff member of a page behind ``staff_required``."""
    staff = current_staff()
    if staff is None:  # staff_required has sent anyone else to the login page already
        abort(401)
    return staff


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

        wrapped.staff_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


def may_open(staff: StaffUser, endpoint: str) -> bool:
    """Whether the console page at ``endpoint`` lets this staff member in (its decorator says)."""
    view = current_app.view_functions.get(endpoint)
    roles = getattr(view, "staff_roles", None)
    if roles is None:
        return False
    return not roles or staff.role in roles or staff.role is StaffRole.ADMIN


# The console's navigation: group, then (label, endpoint, endpoints that count as this page).
NAV: list[tuple[str, list[tuple[str, str, tuple[str, ...]]]]] = [
    ("", [("首页", "admin.dashboard", ("admin.dashboard",))]),
    (
        "学员与单位",
        [
            ("学员查询", "admin.learners", ("admin.learner",)),
            ("未完成学员", "admin.unfinished_learners", ("admin.unfinished",)),
            ("名单导入", "admin.rosters", ("admin.roster", "admin.confirm_roster")),
            ("单位与区县", "admin.units", ("admin.unit",)),
            ("删除申请", "admin.deletion_requests", ("admin.deletion",)),
            ("学习异常", "admin.study_anomalies", ("admin.study_",)),
        ],
    ),
    (
        "审核与证书",
        [
            ("补学审核", "admin.makeup_queue", ("admin.makeup",)),
            (
                "证书",
                "admin.certificates_list",
                ("admin.certificates_list", "admin.certificate_detail"),
            ),
            ("学时上报", "admin.registry_list", ("admin.registry",)),
            ("单位证书打包下载", "admin.certificate_archives", ("admin.certificate_archive",)),
        ],
    ),
    (
        "订单与财务",
        [
            ("订单", "admin.orders", ("admin.order",)),
            ("退款", "admin.refunds", ("admin.refund",)),
            ("消费者投诉", "admin.complaints_list", ("admin.complaint",)),
            ("发票", "admin.invoices_list", ("admin.invoice",)),
        ],
    ),
    (
        "课程内容",
        [
            (
                "学习计划与课程",
                "admin.plans",
                ("admin.plan", "admin.course", "admin.chapter", "admin.question_edit"),
            ),
            ("通用题库", "admin.question_bank", ("admin.question_bank",)),
        ],
    ),
    ("统计", [("统计报表", "admin.report", ("admin.report",))]),
    ("公众号", [("菜单、海报与提醒", "admin.wechat_desk", ("admin.wechat",))]),
    (
        "系统",
        [
            ("工作人员账号", "admin.staff_accounts", ("admin.staff",)),
            ("操作日志", "admin.audit_log", ("admin.audit",)),
        ],
    ),
]


@bp.app_template_global()
def may_use(endpoint: str) -> bool:
    """Whether the logged-in staff member may use the console page or action at ``endpoint``."""
    staff = current_staff()
    return staff is not None and may_open(staff, endpoint)


# Pages in the navigation of some roles only: the desk opens a unit's 未完成学员 from the
# list of units; a unit admin's is their own unit's.
NAV_ROLES: dict[str, tuple[StaffRole, ...]] = {"admin.unfinished_learners": (StaffRole.UNIT_ADMIN,)}


@bp.app_template_global()
def admin_nav() -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """The navigation this staff member may use, with the current page marked."""
    staff = current_staff()
    if staff is None:
        return []
    here = request.endpoint or ""
    groups = []
    for title, items in NAV:
        visible = [
            (label, endpoint, here.startswith(current))
            for label, endpoint, current in items
            if may_open(staff, endpoint)
            and (endpoint not in NAV_ROLES or staff.role in NAV_ROLES[endpoint])
        ]
        if visible:
            groups.append((title, visible))
    return groups


def current_actor() -> Actor:
    """The logged-in staff member as the services and the audit log see them (the only place
    a console ``Actor`` is made). Pages that act are behind ``staff_required``."""
    staff = current_staff()
    if staff is None:
        abort(401)
    # ProxyFix (when TRUSTED_PROXIES is set) has put the client's own address here.
    return Actor.staff(staff.id, staff.username, request.remote_addr)


@bp.app_context_processor
def inject_staff() -> dict[str, Any]:
    return {"current_staff": current_staff, "StaffRole": StaffRole}


from handlers.admin import (  # noqa: E402,F401  (routes attach to bp)
    audit,
    auth,
    catalog,
    complaints,
    orders,
    org,
    paperwork,
    people,
    privacy,
    reports,
    rosters,
    study,
    wechat,
)
