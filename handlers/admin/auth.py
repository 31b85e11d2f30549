"""Staff login and the console's front page."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from handlers.admin import (
    bp,
    login_staff,
    logout_staff,
    may_open,
    signed_in_staff,
    staff_required,
)
from handlers.forms import apply_errors, field_text
from handlers.h5 import safe_next
from infra.extensions import limiter
from infra.transaction import commit
from models.staff import StaffRole
from services import reports, todo
from services.accounts import staff as staff_service
from services.errors import ValidationError


class StaffLoginForm(FlaskForm):
    username = StringField("用户名", validators=[InputRequired("请填写用户名。"), Length(max=50)])
    password = PasswordField("密码", validators=[InputRequired("请填写密码。"), Length(max=64)])
    next = HiddenField()


def _failed(response) -> bool:
    return response.status_code >= 400


def _username_key() -> str:
    return "staff:" + (request.form.get("username") or "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_failed
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_username_key,
    methods=["POST"],
    deduct_when=_failed,
)
def login():
    form = StaffLoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            staff = staff_service.authenticate_staff(
                field_text(form.username), field_text(form.password)
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            commit()
            login_staff(staff)
            return redirect(safe_next(form.next.data, url_for("admin.dashboard")))
    status = 401 if form.is_submitted() else 200
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
def logout():
    logout_staff()
    return redirect(url_for("admin.login"))


# Each queue of the to-do list and the page that works it (only those this staff member may open).
_TODO_PAGES: dict[str, tuple[str, dict[str, Any]]] = {
    "vouchers": ("admin.makeup_queue", {}),
    "commitments": ("admin.makeup_queue", {}),
    "invoices": ("admin.invoices_list", {"status": "requested"}),
    "reversals": ("admin.invoices_list", {"status": "reversing"}),
    "refunds_to_sync": ("admin.refunds", {}),
    "failed_refunds": ("admin.refunds", {"status": "failed"}),
    "complaints": ("admin.complaints_list", {}),
    "deletions": ("admin.deletion_requests", {}),
}


@bp.get("/")
@staff_required()
def dashboard():
    staff = signed_in_staff()
    waiting = todo.waiting_work(
        key for key, (endpoint, _) in _TODO_PAGES.items() if may_open(staff, endpoint)
    )
    todo_links = [
        (item, url_for(_TODO_PAGES[item.queue.key][0], **_TODO_PAGES[item.queue.key][1]))
        for item in waiting
    ]
    year = reports.default_year()
    if staff.role is StaffRole.UNIT_ADMIN and staff.unit_id is not None:
        todo_links.append(
            (
                todo.unit_waiting_work(staff.unit_id, year),
                url_for("admin.unfinished_learners", year=year),
            )
        )
    totals = reports.build_report(year, unit_id=staff_service.unit_scope(staff)).total
    return render_template(
        "admin/dashboard.html",
        staff=staff,
        year=year,
        deadline=reports.study_deadline(year),
        totals=totals,
        show_revenue=reports.shows_revenue(staff.role),
        todo_links=todo_links,
    )
