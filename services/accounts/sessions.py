"""Logins held on the server: a login lasts while its id is in Redis.

The session cookie is signed but it is only a copy: it names the learner or staff member and
the id of the login it belongs to (``open_login``). Every request that acts as somebody looks
that id up in Redis and, when it is there and names the same person, keeps it for another
idle period (``resume_login``). So a login ends everywhere at once, whichever copies of the
cookie exist: logging out closes its id; a password change or a staff member's removal
closes every id of that account (``close_all_logins``); an idle login's id expires on its
own — staff after ``STAFF_SESSION_IDLE_SECONDS`` (30 minutes), learners after
``LEARNER_SESSION_IDLE_SECONDS`` (2 hours: a chapter plays without a page request).

Without Redis nobody can be recognised: ``SessionsUnavailable`` (503, in Chinese) for every
page that needs a login; pages that need none answer as usual. docs/accounts.md says so.
"""

from __future__ import annotations

import logging
import secrets
from typing import Literal

import redis
from flask import current_app

from infra.redis_client import as_text, get_redis
from services.errors import ServiceError

log = logging.getLogger(__name__)

Kind = Literal["learner", "staff"]
LEARNER: Kind = "learner"
STAFF: Kind = "staff"

UNAVAILABLE = "登录服务暂时不可用，请稍后再试。已记录的学时、订单和证书不受影响。"


class SessionsUnavailable(ServiceError):
    status_code = 503
    code = "sessions_unavailable"

    def __init__(self) -> None:
        super().__init__(UNAVAILABLE)


def _login_key(login_id: str) -> str:
    return f"login:{login_id}"


def _account_key(kind: Kind, account_id: int) -> str:
    return f"logins:{kind}:{account_id}"


def _owner(kind: Kind, account_id: int) -> str:
    return f"{kind}:{account_id}"


def idle_seconds(kind: Kind) -> int:
    name = "STAFF_SESSION_IDLE_SECONDS" if kind == STAFF else "LEARNER_SESSION_IDLE_SECONDS"
    return int(current_app.config[name])


def _lifetime_seconds() -> int:
    return int(current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds())


def open_login(kind: Kind, account_id: int) -> str:
    """A new login of this account; its id goes into the session cookie."""
    login_id = secrets.token_urlsafe(24)
    account_key = _account_key(kind, account_id)
    try:
        pipe = get_redis().pipeline()
        pipe.set(_login_key(login_id), _owner(kind, account_id), ex=idle_seconds(kind))
        pipe.sadd(account_key, login_id)
        pipe.expire(account_key, max(_lifetime_seconds(), idle_seconds(kind)))
        pipe.execute()
    except redis.exceptions.RedisError as error:
        log.error("logins unavailable, %s %s cannot log in: %s", kind, account_id, error)
        raise SessionsUnavailable() from None
    return login_id


def resume_login(login_id: str | None, kind: Kind, account_id: int) -> bool:
    """Whether the login is still open for this account; if so it stays open for another
    idle period."""
    if not login_id:
        return False
    try:
        owner = get_redis().getex(_login_key(login_id), ex=idle_seconds(kind))
    except redis.exceptions.RedisError as error:
        log.error("logins unavailable, %s %s is not recognised: %s", kind, account_id, error)
        raise SessionsUnavailable() from None
    return owner is not None and as_text(owner) == _owner(kind, account_id)


def close_login(login_id: str | None, kind: Kind, account_id: int) -> None:
    """Logging out: this login ends, in every browser holding a copy of its cookie."""
    if not login_id:
        return
    pipe = get_redis().pipeline()
    pipe.delete(_login_key(login_id))
    pipe.srem(_account_key(kind, account_id), login_id)
    pipe.execute()


def close_all_logins(kind: Kind, account_id: int) -> None:
    """Every login of the account ends (password changed, staff member removed)."""
    client = get_redis()
    account_key = _account_key(kind, account_id)
    login_ids = [as_text(value) for value in client.smembers(account_key)]
    client.delete(account_key, *(_login_key(login_id) for login_id in login_ids))
