"""Followers of the official account and the QR scenes that brought them.

Scene values of parametric QR codes:
- ``unit:<code>``: a unit's poster; the follower is tied to the unit, whose name is then
  filled in when they register;
- ``plan:<id>``: a plan's poster; the reply opens that plan;
- ``login:<one-time id>``: the temporary code of a PC's login page (``services.accounts.qr_login``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner, WechatBinding
from models.base import utcnow
from models.catalog import Plan
from models.org import Unit
from models.wechat import WechatFollower

SCENE_MAX_LENGTH = 64


@dataclass(frozen=True)
class Scene:
    kind: str  # "unit", "plan", "login" or "other"
    value: str

    @classmethod
    def parse(cls, raw: str | None) -> Scene | None:
        text = (raw or "").strip()[:SCENE_MAX_LENGTH]
        if not text:
            return None
        kind, _, value = text.partition(":")
        if kind in {"unit", "plan", "login"} and value:
            return cls(kind, value)
        return cls("other", text)

    def __str__(self) -> str:
        return self.value if self.kind == "other" else f"{self.kind}:{self.value}"


def get_follower(openid: str) -> WechatFollower | None:
    return db.session.get(WechatFollower, openid)


def _follower(openid: str) -> WechatFollower:
    follower = get_follower(openid)
    if follower is None:
        follower = WechatFollower(openid=openid, subscribed=True, subscribed_at=utcnow())
        db.session.add(follower)
    return follower


def record_subscribe(openid: str, scene: Scene | None) -> WechatFollower:
    follower = _follower(openid)
    if not follower.subscribed or follower.subscribed_at is None:
        follower.subscribed_at = utcnow()
    follower.subscribed = True
    follower.unsubscribed_at = None
    _apply_scene(follower, scene)
    db.session.flush()
    return follower


def record_scan(openid: str, scene: Scene | None) -> WechatFollower:
    follower = _follower(openid)
    follower.subscribed = True
    _apply_scene(follower, scene)
    db.session.flush()
    return follower


def record_unsubscribe(openid: str) -> None:
    follower = _follower(openid)
    follower.subscribed = False
    follower.unsubscribed_at = utcnow()
    db.session.flush()


def _apply_scene(follower: WechatFollower, scene: Scene | None) -> None:
    if scene is None or scene.kind == "login":  # a login code says nothing lasting
        return
    follower.last_scene = str(scene)
    if scene.kind == "unit":
        unit = unit_by_code(scene.value)
        if unit is not None:
            follower.unit_id = unit.id


def unit_by_code(code: str | None) -> Unit | None:
    code = (code or "").strip().upper()
    if not code:
        return None
    return db.session.scalar(select(Unit).where(Unit.code == code))


def plan_by_scene(scene: Scene) -> Plan | None:
    if scene.kind != "plan" or not scene.value.isdigit():
        return None
    plan = db.session.get(Plan, int(scene.value))
    return plan if plan is not None and plan.is_published else None


def registration_unit(unit_code: str | None, openid: str | None) -> Unit | None:
    """The unit to fill in on the registration form: the poster's unit, else the follower's."""
    unit = unit_by_code(unit_code)
    if unit is None and openid:
        follower = get_follower(openid)
        if follower is not None and follower.unit_id is not None:
            unit = db.session.get(Unit, follower.unit_id)
    return unit


def bound_learner(openid: str) -> Learner | None:
    return db.session.scalar(
        select(Learner).join(WechatBinding).where(WechatBinding.openid == openid)
    )
