"""Staff login and the console's front page."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from handlers.admin import bp, login_staff, logout_staff, signed_in_staff, staff_required
from handlers.forms import apply_errors, field_text
from handlers.h5 import safe_next
from infra.extensions import limiter
from infra.transaction import commit
from services import reports
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


@bp.get("/")
@staff_required()
def dashboard():
    staff = signed_in_staff()
    year = reports.default_year()
    totals = reports.build_report(year, unit_id=staff_service.unit_scope(staff)).total
    return render_template(
        "admin/dashboard.html",
        staff=staff,
        year=year,
        deadline=reports.study_deadline(year),
        totals=totals,
        show_revenue=reports.shows_revenue(staff.role),
    )
