"""Logging in on a PC by scanning a QR code with WeChat (扫码登录), through the official account
only: the page gets a temporary parametric QR code with the scene ``login:<one-time id>``;
scanning it sends WeChat's SCAN (or, for a new follower, subscribe) event to ``/wechat`` with
the scanner's openid; a follower bound to an account confirms the login, which the page then
finishes (a POST of the browser that asked for the code); an unbound one is answered with the
link that binds their WeChat.

A code lives ``QR_LOGIN_SECONDS`` (five minutes) and logs in once. Its state is in Redis only:
``waiting`` → ``confirmed`` (with the learner) or ``unbound`` (scanned by a WeChat with no
account), then gone.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.extensions import db
from infra.redis_client import get_redis
from models.accounts import Learner
from models.base import utcnow
from services.errors import ExternalServiceError, ValidationError
from services.wechat import followers

log = logging.getLogger(__name__)

QR_LOGIN_SECONDS = 300
SCENE_KIND = "login"


def _key(login_id: str) -> str:
    return f"qrlogin:{login_id}"


@dataclass(frozen=True)
class QrLogin:
    login_id: str
    url: str  # what the QR code holds (WeChat's code url)
    expires_at: datetime


def start() -> QrLogin:
    """A new one-time id and WeChat's temporary QR code for ``login:<id>``."""
    from infra.wechat_client import WECHAT_FAILURES, describe_failure, get_wechat_client

    login_id = secrets.token_urlsafe(12)
    request = {
        "expire_seconds": QR_LOGIN_SECONDS,
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": f"{SCENE_KIND}:{login_id}"}},
    }
    try:
        result = get_wechat_client().qrcode.create(request)
    except WECHAT_FAILURES as exc:
        raise ExternalServiceError(
            f"暂时无法生成登录二维码（{describe_failure(exc)}），请使用密码登录。"
        ) from exc
    seconds = min(int(result.get("expire_seconds") or QR_LOGIN_SECONDS), QR_LOGIN_SECONDS)
    state = {"state": "waiting", "url": result["url"]}
    get_redis().set(_key(login_id), json.dumps(state), ex=seconds)
    return QrLogin(login_id, result["url"], utcnow() + timedelta(seconds=seconds))


def _read(login_id: str) -> dict | None:
    raw = get_redis().get(_key(login_id)) if login_id else None
    return json.loads(raw) if raw else None


def code_url(login_id: str) -> str | None:
    state = _read(login_id)
    return state["url"] if state else None


def status(login_id: str) -> str:
    """``waiting``, ``unbound``, ``confirmed`` or ``expired``."""
    state = _read(login_id)
    return state["state"] if state else "expired"


def scanned(login_id: str, openid: str) -> tuple[str, Learner | None]:
    """WeChat says ``openid`` scanned the code: ``confirmed`` (a bound follower),
    ``unbound`` or ``expired``."""
    redis = get_redis()
    key = _key(login_id)
    state = _read(login_id)
    if state is None or state["state"] == "confirmed":
        return "expired", None
    learner = followers.bound_learner(openid)
    state.update(
        state="confirmed" if learner else "unbound",
        learner_id=learner.id if learner else None,
        openid=openid,
    )
    # Keep what is left of the code's life.
    redis.set(key, json.dumps(state), keepttl=True)
    log.info("login code %s scanned by %s: %s", login_id[:4], openid[:8], state["state"])
    return state["state"], learner


def finish(login_id: str) -> Learner:
    """The browser that asked for the code takes the login it was given, once."""
    raw = get_redis().getdel(_key(login_id)) if login_id else None
    if raw is None:
        raise ValidationError(None, "二维码已过期，请刷新后重新扫码。")
    state = json.loads(raw)
    if state["state"] != "confirmed":
        get_redis().set(_key(login_id), raw, ex=QR_LOGIN_SECONDS)  # not taken: put it back
        raise ValidationError(None, "尚未在微信中确认登录，请用已绑定账号的微信扫码。")
    learner = db.session.get(Learner, state["learner_id"])
    if learner is None:
        raise ValidationError(None, "账号不存在，请使用密码登录。")
    return learner
