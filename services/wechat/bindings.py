"""One WeChat (openid) per account and one account per WeChat.

An openid learned through OAuth is bound when its owner logs in or registers. Moving an
account to a different WeChat asks for the account's password again: the old WeChat loses
its silent login and its template messages.
"""

from __future__ import annotations

import enum
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from models.accounts import Learner, WechatBinding
from services.accounts import passwords
from services.accounts.learners import initial_password
from services.errors import Conflict, ValidationError

log = logging.getLogger(__name__)

TAKEN_MESSAGE = "当前微信已绑定另一个账号，本账号未与当前微信绑定。"


class BindOutcome(enum.StrEnum):
    BOUND = "bound"  # newly bound
    ALREADY = "already"  # this openid was bound to this account before
    NEEDS_PASSWORD = "needs_password"  # the account is bound to another WeChat
    TAKEN = "taken"  # this WeChat is bound to another account


def _binding_of_openid(openid: str) -> WechatBinding | None:
    return db.session.scalar(select(WechatBinding).where(WechatBinding.openid == openid))


def _binding_of_learner(learner_id: int) -> WechatBinding | None:
    return db.session.scalar(select(WechatBinding).where(WechatBinding.learner_id == learner_id))


def sign_in(openid: str) -> Learner | None:
    """The account bound to this WeChat (OAuth's silent login)."""
    return db.session.scalar(
        select(Learner).join(WechatBinding).where(WechatBinding.openid == openid)
    )


def bind_openid(learner_id: int, openid: str) -> BindOutcome:
    """Bind after login or registration; never moves an existing binding."""
    taken = _binding_of_openid(openid)
    if taken is not None:
        return BindOutcome.ALREADY if taken.learner_id == learner_id else BindOutcome.TAKEN
    if _binding_of_learner(learner_id) is not None:
        return BindOutcome.NEEDS_PASSWORD
    try:
        with db.session.begin_nested():
            db.session.add(WechatBinding(openid=openid, learner_id=learner_id))
            db.session.flush()
    except IntegrityError:
        return BindOutcome.TAKEN  # bound a moment ago by a concurrent request
    log.info("WeChat bound to learner %s", learner_id)
    return BindOutcome.BOUND


def rebind_openid(learner_id: int, openid: str, password: str) -> None:
    """Move the account to this WeChat; the password proves it is the owner who asks."""
    learner = db.session.get(Learner, learner_id)
    if learner is None:
        raise ValidationError(None, "账号不存在。")
    if not passwords.verify_password(
        learner.password_hash, password or "", initial=initial_password(learner)
    ):
        raise ValidationError("password", "密码不正确。")
    taken = _binding_of_openid(openid)
    if taken is not None and taken.learner_id != learner_id:
        raise Conflict(TAKEN_MESSAGE)
    if taken is not None:
        return
    old = _binding_of_learner(learner_id)
    if old is not None:
        db.session.delete(old)
        db.session.flush()
    db.session.add(WechatBinding(openid=openid, learner_id=learner_id))
    db.session.flush()
    log.info("WeChat of learner %s moved to another openid", learner_id)
