"""Login (password, or on a PC by scanning the official account's QR code), registration,
首次登录 password reset, password change."""

from __future__ import annotations

import io
import logging

import qrcode
import redis
from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from handlers import oauth
from handlers.forms import apply_errors, field_text
from handlers.h5 import (
    bp,
    current_learner,
    learner_required,
    login_learner,
    logout_learner,
    safe_next,
    signed_in_learner,
)
from handlers.h5.forms import (
    ChangePasswordForm,
    LoginForm,
    RegisterForm,
    ResetIdentityForm,
    ResetPasswordForm,
    SendCodeForm,
)
from infra.extensions import db, limiter
from infra.transaction import commit
from models.accounts import Learner
from models.base import utcnow
from services import catalog
from services.accounts import learners as accounts
from services.accounts import org, privacy, qr_login, sessions, sms
from services.display import mask_phone
from services.errors import ServiceError, StopValidation, ValidationError
from services.study import rules as study
from services.wechat import followers

log = logging.getLogger(__name__)


def _failed(response) -> bool:
    return response.status_code >= 400


def _login_account_key() -> str:
    return "account:" + accounts.limit_key(request.form.get("account"))


def _reset_account_key() -> str:
    return "reset:" + accounts.limit_key(request.form.get("id_number"))


def _ip_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_IP"]


def _account_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


@bp.get("/")
def entry():
    """The menu's entry: a logged-in learner goes on; inside WeChat, OAuth finds who it is."""
    target = safe_next(request.args.get("next"), url_for("h5.start"))
    if request.args.get("unit"):
        session[oauth.ENTRY_UNIT] = request.args["unit"][:16]
    if current_learner() is not None:
        return redirect(target)
    if _takes_oauth():
        return oauth.start(target)
    return redirect(url_for("h5.login", next=target))


def _takes_oauth() -> bool:
    if not current_app.config["WECHAT_OAUTH_WECHAT_BROWSER_ONLY"]:
        return True
    return "MicroMessenger" in request.headers.get("User-Agent", "")


@bp.get("/start")
@learner_required
def start():
    """Where a learner lands when no page was asked for (the menu's entry, registration, a
    first login or reset password): 课程培训 when a plan is held, else the plan to buy."""
    landing = catalog.landing_for(signed_in_learner().id)
    if landing.studying:
        return redirect(url_for("h5.my_study"))
    if landing.plan_id is not None:
        return redirect(url_for("h5.plan_detail", plan_id=landing.plan_id))
    return redirect(url_for("h5.plans"))


@bp.get("/home")
@learner_required
def home():
    return render_template("accounts/home.html", learner=current_learner())


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_account_limit, key_func=_login_account_key, methods=["POST"], deduct_when=_failed)
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            learner = accounts.authenticate(field_text(form.account), field_text(form.password))
        except ValidationError as error:
            apply_errors(form, error)
        else:
            bound = oauth.bind_pending(learner.id)
            login_learner(learner)  # before the commit: without a login, nothing changes
            commit()
            if learner.must_change_password:
                flash("为了账号安全，请先设置新密码。", "error")
                return redirect(url_for("h5.change_password"))
            return oauth.after_bind(bound, safe_next(form.next.data, url_for("h5.start")))
    status = 401 if form.is_submitted() else 200
    return render_template("accounts/login.html", form=form, qr=_qr_login_offer()), status


# --- 扫码登录 on a PC --------------------------------------------------------------------------

_QR_SESSION = "qr_login_id"


def _qr_login_offer() -> bool:
    """A PC's browser (not WeChat's, not a phone's) is offered the QR code."""
    agent = request.user_agent.string
    phone = any(word in agent for word in ("Mobile", "Android", "iPhone", "iPad"))
    return "MicroMessenger" not in agent and not phone


@bp.post("/login/qr")
@limiter.limit(_ip_limit)
def qr_login_start():
    """A new login code for this browser (a POST: it asks WeChat for a QR code)."""
    try:
        code = qr_login.start()
    except ServiceError as error:
        return jsonify({"error": error.message}), 502
    session[_QR_SESSION] = code.login_id
    return jsonify(
        {
            "image_url": url_for("h5.qr_login_image", v=code.login_id[:6]),
            "status_url": url_for("h5.qr_login_status"),
            "expires_in": max(int((code.expires_at - utcnow()).total_seconds()), 0),
        }
    )


@bp.get("/login/qr.png")
def qr_login_image():
    url = qr_login.code_url(session.get(_QR_SESSION, ""))
    if url is None:
        abort(404)
    buffer = io.BytesIO()
    qrcode.make(url, border=2, box_size=8).save(buffer)
    return Response(buffer.getvalue(), mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.get("/login/qr/status")
def qr_login_status():
    return jsonify({"state": qr_login.status(session.get(_QR_SESSION, ""))})


@bp.post("/login/qr/finish")
def qr_login_finish():
    try:
        learner = qr_login.finish(session.get(_QR_SESSION, ""))
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("h5.login", next=request.form.get("next", "")))
    session.pop(_QR_SESSION, None)
    login_learner(learner)
    commit()
    if learner.must_change_password:
        flash("为了账号安全，请先设置新密码。", "error")
        return redirect(url_for("h5.change_password"))
    return redirect(safe_next(request.form.get("next"), url_for("h5.start")))


@bp.post("/logout")
def logout():
    try:
        learner = current_learner()
    except sessions.SessionsUnavailable:
        learner = None  # the cookie is cleared all the same
    if learner is not None:
        # A page left playing stops counting now: no token of this login counts again.
        try:
            study.end_learner_playback(learner.id)
        except redis.exceptions.RedisError as error:
            log.warning("study ledger unavailable at logout of learner %s: %s", learner.id, error)
    logout_learner()
    return redirect(url_for("h5.login"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"], deduct_when=_failed)
def register():
    form = RegisterForm()
    if not form.is_submitted():
        _prefill_unit(form)
    if form.validate_on_submit():
        try:
            learner = accounts.register_learner(
                accounts.Registration(
                    name=field_text(form.name),
                    id_number=field_text(form.id_number),
                    phone=field_text(form.phone),
                    password=field_text(form.password),
                    confirm_password=field_text(form.confirm_password),
                    unit_id=form.unit_id.data,
                    district_id=form.district_id.data,
                    privacy_consent=bool(form.privacy_consent.data),
                    client_address=request.remote_addr,
                )
            )
        except (ValidationError, StopValidation) as error:
            apply_errors(form, error)
        else:
            bound = oauth.bind_pending(learner.id)
            # Before the commit: without a login (Redis down) the account is not created.
            login_learner(learner)
            commit()
            session.pop(oauth.ENTRY_UNIT, None)
            return oauth.after_bind(bound, url_for("h5.start"), done="注册成功")
    status = 400 if form.is_submitted() else 200
    return (
        render_template("accounts/register.html", form=form, districts=org.list_districts()),
        status,
    )


def _prefill_unit(form: RegisterForm) -> None:
    """A unit's QR poster (``unit:<code>``) fills in the unit."""
    unit = followers.registration_unit(
        request.args.get("unit") or session.get(oauth.ENTRY_UNIT), session.get(oauth.PENDING_OPENID)
    )
    if unit is not None:
        form.unit_id.data = unit.id
        form.unit_name.data = unit.name


@bp.get("/units/search")
def search_units():
    units = org.search_units(
        request.args.get("q", ""), district_id=request.args.get("district", type=int)
    )
    return jsonify(
        [{"id": unit.id, "name": unit.name, "district": unit.district.name} for unit in units]
    )


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    learner = current_learner()
    if learner is None:
        return redirect(url_for("h5.login", next=url_for("h5.change_password")))
    form = ChangePasswordForm()
    first_login = learner.must_change_password
    if form.validate_on_submit():
        try:
            accounts.change_password(
                learner.id,
                field_text(form.current_password),
                field_text(form.new_password),
                field_text(form.confirm_password),
                privacy_consent=bool(form.privacy_consent.data),
                code=field_text(form.code),
                client_address=request.remote_addr,
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            commit()
            login_learner(learner)
            commit()
            flash("密码已修改。", "success")
            # The first login's new password leads on to the study; a later change stays in 我的.
            return redirect(url_for("h5.start" if first_login else "h5.home"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "accounts/change_password.html",
        form=form,
        forced=learner.must_change_password,
        steps=accounts.first_login_steps(learner),
        code_form=SendCodeForm(),
        resend_wait=sms.resend_wait_seconds(learner.phone),
    ), status


@bp.post("/password/code")
@limiter.limit(_ip_limit, deduct_when=_failed)
def send_first_login_code():
    """First login of a roster account: the code goes to the phone on the roster."""
    learner = current_learner()
    if learner is None:
        return redirect(url_for("h5.login", next=url_for("h5.change_password")))
    form = SendCodeForm()
    if form.validate_on_submit():
        try:
            accounts.send_first_login_code(learner.id, client_address=request.remote_addr)
        except ValidationError as error:
            flash(error.message, "error")
        else:
            flash(f"验证码已发送到 {accounts.first_login_steps(learner).masked_phone}。", "success")
    return redirect(url_for("h5.change_password"))


@bp.get("/privacy")
def privacy_notice():
    return render_template("accounts/privacy.html", notice=privacy.notice())


@bp.route("/first-login", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_account_limit, key_func=_reset_account_key, methods=["POST"], deduct_when=_failed)
def first_login():
    """首次登录: prove who you are, then a code goes to your phone."""
    form = ResetIdentityForm()
    if form.validate_on_submit():
        try:
            learner = accounts.start_password_reset(
                field_text(form.name),
                field_text(form.id_number),
                field_text(form.phone),
                client_address=request.remote_addr,
            )
        except ServiceError as error:  # the identity does not match, or no code can be sent
            apply_errors(form, error)
        else:
            session["reset_learner_id"] = learner.id
            flash(f"验证码已发送到 {mask_phone(learner.phone)}。", "success")
            return redirect(url_for("h5.reset_password"))
    status = 400 if form.is_submitted() else 200
    return render_template("accounts/first_login.html", form=form), status


@bp.route("/first-login/password", methods=["GET", "POST"])
@limiter.limit(_ip_limit, methods=["POST"], deduct_when=_failed)
def reset_password():
    learner_id = session.get("reset_learner_id")
    if learner_id is None:
        return redirect(url_for("h5.first_login"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            learner = accounts.finish_password_reset(
                learner_id,
                field_text(form.code),
                field_text(form.new_password),
                field_text(form.confirm_password),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            commit()
            login_learner(learner)
            commit()
            flash("密码已重置。", "success")
            return redirect(url_for("h5.start"))
    status = 400 if form.is_submitted() else 200
    pending = db.session.get(Learner, learner_id)
    phone = pending.phone if pending is not None else None
    return render_template(
        "accounts/reset_password.html",
        form=form,
        code_form=SendCodeForm(),
        masked_phone=mask_phone(phone),
        resend_wait=sms.resend_wait_seconds(phone),
    ), status


@bp.post("/first-login/code")
@limiter.limit(_ip_limit, deduct_when=_failed)
def resend_reset_code():
    """首次登录: another code to the phone proven a moment ago (once a minute)."""
    learner_id = session.get("reset_learner_id")
    if learner_id is None:
        return redirect(url_for("h5.first_login"))
    form = SendCodeForm()
    if form.validate_on_submit():
        try:
            learner = accounts.resend_password_reset_code(
                learner_id, client_address=request.remote_addr
            )
        except ValidationError as error:
            flash(error.message, "error")
        else:
            flash(f"验证码已发送到 {mask_phone(learner.phone)}。", "success")
    return redirect(url_for("h5.reset_password"))
