"""Learner pages (H5, inside WeChat)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

import redis
from flask import Blueprint, current_app, g, redirect, request, session, url_for
from sqlalchemy.exc import SQLAlchemyError

from infra.extensions import db
from models.accounts import Learner
from services.accounts import sessions
from services.accounts.learner_desk import record_login
from services.accounts.learners import session_tag
from services.errors import PermissionDenied

log = logging.getLogger(__name__)

bp = Blueprint("h5", __name__, url_prefix="/h5")


_LEARNER_KEYS = ("learner_id", "learner_tag", "learner_login", "reset_learner_id")


def login_learner(learner: Learner) -> None:
    """A new login (services/accounts/sessions.py): the cookie names it, Redis holds it.
    It records 最近登录; the caller commits after it."""
    logout_learner()
    record_login(learner)
    login_id = sessions.open_login(sessions.LEARNER, learner.id)
    session.permanent = True
    session["learner_id"] = learner.id
    session["learner_tag"] = session_tag(learner)
    session["learner_login"] = login_id


def logout_learner() -> None:
    """The login ends on the server too: a copy of the cookie opens nothing after this."""
    learner_id = session.get("learner_id")
    if learner_id is not None:
        try:
            sessions.close_login(session.get("learner_login"), sessions.LEARNER, learner_id)
        except redis.exceptions.RedisError as error:
            # The cookie is cleared anyway; the login's id expires when it has been idle.
            log.warning("could not close login of learner %s: %s", learner_id, error)
    for key in _LEARNER_KEYS:
        session.pop(key, None)


def current_learner() -> Learner | None:
    """The learner whose login this request carries, if that login is still open."""
    if "learner" not in g:
        learner = None
        learner_id = session.get("learner_id")
        if learner_id is not None:
            if sessions.resume_login(session.get("learner_login"), sessions.LEARNER, learner_id):
                learner = db.session.get(Learner, learner_id)
            if learner is None or session.get("learner_tag") != session_tag(learner):
                learner = None
                logout_learner()
        g.learner = learner
    return g.learner


def signed_in_learner() -> Learner:
    """The learner of a page behind ``learner_required``."""
    learner = current_learner()
    if learner is None:  # learner_required has sent anyone else to the entry already
        raise PermissionDenied("请先登录。")
    return learner


def safe_next(target: str | None, default: str) -> str:
    """Only local paths are followed after login: not another host (``//host``, ``/\\host``,
    which browsers read as ``//host``), and nothing with a control character (a newline
    cannot go into a Location header)."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(char) < 32 or 127 <= ord(char) < 160 for char in target)
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return default


def learner_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The page needs a logged-in learner who has left the initial password behind."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        learner = current_learner()
        if learner is None:
            # Through the entry: inside WeChat, OAuth may log a bound learner in silently.
            return redirect(url_for("h5.entry", next=request.full_path.rstrip("?")))
        if learner.must_change_password:
            return redirect(url_for("h5.change_password"))
        return view(*args, **kwargs)

    return wrapped


# The bottom tab bar and the links of 我的, by endpoint; a surface shows once its page exists.
TABS = [
    ("plans", "首页", "h5.plans"),
    ("study", "课程培训", "h5.my_study"),
    ("certificates", "我的证书", "h5.certificates"),
    ("me", "我的", "h5.home"),
]
HOME_LINKS = [
    ("我的订单", "h5.orders"),
    ("团体购买订单", "h5.group_orders"),
    ("我的发票", "h5.invoices"),
    ("补学申请", "h5.makeup_applications"),
]


def _present(links: list[tuple]) -> list[tuple]:
    return [link for link in links if link[-1] in current_app.view_functions]


@bp.app_template_global()
def h5_tabs() -> list[tuple]:
    return _present(TABS)


@bp.app_template_global()
def h5_home_links() -> list[tuple]:
    return _present(HOME_LINKS)


@bp.app_context_processor
def inject_learner() -> dict[str, Any]:
    return {"current_learner": current_learner}


@bp.app_template_global()
def nav_learner() -> Learner | None:
    """The learner the page's navigation names; none when the database or the login registry
    cannot say (the page is the error page of a failed request, or a page anyone may open)."""
    try:
        return current_learner()
    except (SQLAlchemyError, sessions.SessionsUnavailable):
        return None


from handlers.h5 import (  # noqa: E402,F401  (routes attach to bp)
    accounts,
    catalog,
    certificates,
    downloads,
    group_purchase,
    invoices,
    makeup,
    manual,
    my_data,
    orders,
    profile,
    reminders,
    study,
)
