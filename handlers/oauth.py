"""The WeChat web-authorisation round trip behind ``/h5/``, and moving an account's WeChat."""

from __future__ import annotations

import hmac
import secrets

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import InputRequired, Length

from handlers.forms import apply_errors, field_text
from handlers.h5 import current_learner, login_learner, safe_next
from infra.extensions import limiter
from infra.transaction import commit
from services.errors import Conflict, ExternalServiceError, ValidationError
from services.wechat import bindings, followers
from services.wechat import oauth as wechat_oauth

bp = Blueprint("oauth", __name__, url_prefix="/oauth")

# Session keys: the round trip's state and destination, and an openid waiting to be bound.
STATE_KEY = "oauth_state"
NEXT_KEY = "oauth_next"
PENDING_OPENID = "wechat_openid"
ENTRY_UNIT = "entry_unit"


def callback_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + url_for("oauth.callback")


def start(target: str):
    """Send the browser to WeChat's authorisation page; the state ties the return to this session."""
    state = secrets.token_urlsafe(16)
    session[STATE_KEY] = state
    session[NEXT_KEY] = target
    return redirect(wechat_oauth.authorize_url(callback_url(), state))


def _expired(message: str = "授权已失效，请从公众号菜单重新进入。", status: int = 400):
    return render_template("oauth/expired.html", message=message), status


# WeChat's web authorisation comes back here by GET (its protocol). The code is single use:
# a replay is refused; signing in only records when the learner last logged in.
@bp.get("/callback")
def callback():
    expected = session.pop(STATE_KEY, None)
    target = safe_next(session.pop(NEXT_KEY, None), url_for("h5.start"))
    given = request.args.get("state", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        return _expired("链接已失效或不是从本页面发起的授权，请从公众号菜单重新进入。")
    code = request.args.get("code")
    if not code:
        return _expired("您没有同意授权。请从公众号菜单重新进入，并允许获取您的公开信息。")
    try:
        identity = wechat_oauth.exchange_code(code, callback_url())
    except wechat_oauth.CodeRefused as error:
        return _expired(error.message)
    except ExternalServiceError as error:
        return _expired(error.message, 502)
    if identity.is_snapshotuser:
        return render_template("oauth/snapshot.html")
    learner = bindings.sign_in(identity.openid)
    if learner is not None:
        session.pop(PENDING_OPENID, None)
        login_learner(learner)
        commit()
        if learner.must_change_password:
            return redirect(url_for("h5.change_password"))
        return redirect(target)
    session[PENDING_OPENID] = identity.openid
    # Someone who came through a unit's poster registers, with the unit filled in.
    if followers.registration_unit(session.get(ENTRY_UNIT), identity.openid) is not None:
        return redirect(url_for("h5.register"))
    return redirect(url_for("h5.login", next=target))


def bind_pending(learner_id: int) -> bindings.BindOutcome | None:
    """After login or registration: bind the WeChat that came through OAuth, if one waits."""
    openid = session.get(PENDING_OPENID)
    if not openid:
        return None
    outcome = bindings.bind_openid(learner_id, openid)
    if outcome is not bindings.BindOutcome.NEEDS_PASSWORD:
        session.pop(PENDING_OPENID, None)
    return outcome


def after_bind(outcome: bindings.BindOutcome | None, target: str, done: str = ""):
    """Where to go once the bind step ran (the caller has committed), with one success
    message: ``done`` (such as 注册成功) and the binding together."""
    if outcome is bindings.BindOutcome.NEEDS_PASSWORD:
        if done:
            flash(f"{done}。", "success")
        return redirect(url_for("oauth.rebind", next=target))
    if outcome is bindings.BindOutcome.BOUND:
        flash(
            (f"{done}，" if done else "") + "已绑定当前微信，下次从公众号进入将自动登录。",
            "success",
        )
    else:
        if done:
            flash(f"{done}。", "success")
        if outcome is bindings.BindOutcome.TAKEN:
            flash(bindings.TAKEN_MESSAGE, "error")
    return redirect(target)


class RebindForm(FlaskForm):
    password = PasswordField(
        "登录密码", validators=[InputRequired("请输入登录密码。"), Length(max=64)]
    )


def _rebind_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


def _rebind_key() -> str:
    return f"rebind:{session.get('learner_id')}"


@bp.route("/rebind", methods=["GET", "POST"])
@limiter.limit(
    _rebind_limit,
    key_func=_rebind_key,
    methods=["POST"],
    deduct_when=lambda r: r.status_code >= 400,
)
def rebind():
    learner = current_learner()
    openid = session.get(PENDING_OPENID)
    target = safe_next(request.args.get("next"), url_for("h5.start"))
    if learner is None or not openid:
        return redirect(target)
    form = RebindForm()
    if form.validate_on_submit():
        try:
            bindings.rebind_openid(learner.id, openid, field_text(form.password))
        except Conflict as error:
            session.pop(PENDING_OPENID, None)
            flash(error.message, "error")
            return redirect(target)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            commit()
            session.pop(PENDING_OPENID, None)
            flash("已改绑到当前微信，原微信将不再自动登录。", "success")
            return redirect(target)
    status = 400 if form.is_submitted() else 200
    return render_template("oauth/rebind.html", form=form, learner=learner, next=target), status


@bp.post("/rebind/skip")
def skip_rebind():
    session.pop(PENDING_OPENID, None)
    return redirect(safe_next(request.args.get("next"), url_for("h5.start")))
