"""订阅通知 for learners who have not bought the year's plan: WeChat forbids deadline
reminders to them as template messages (that would be marketing), but a learner may ask for one
notice. The H5 page sends them to WeChat's consent page (``/mp/subscribemsg``); WeChat sends them
back with their openid and ``action=confirm`` or ``cancel``. One consent lets one notice through
(``/cgi-bin/message/subscribe/bizsend``), queued by the next reminder run; after it the learner
may consent again.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from models.accounts import WechatBinding
from models.base import utcnow
from models.catalog import Plan, PlanKind
from models.wechat import ReminderSubscription
from services.catalog import held_plan_ids
from services.errors import Conflict, NotFound, ValidationError

KIND = "deadline_subscription"
# WeChat's scene for the consent (0–10000); ours names the deadline notice.
SCENE = 1001


def template_id() -> str:
    value = current_app.config["WECHAT_TEMPLATE_IDS"].get(KIND, "")
    if not value:
        raise ValidationError(None, "截止提醒订阅暂未开通，请稍后再试。")
    return value


def _plan_to_watch(learner_id: int, plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None or not plan.is_published or plan.kind is not PlanKind.CURRENT:
        raise NotFound("没有这个本年度学习计划。")
    if plan.study_ends_at <= utcnow():
        raise Conflict("该计划的学习已截止，无需订阅提醒。")
    if plan.id in held_plan_ids(learner_id):
        raise Conflict("您已购买该计划，截止前会通过公众号提醒您。")
    return plan


def _openid(learner_id: int) -> str:
    openid = db.session.scalar(
        select(WechatBinding.openid).where(WechatBinding.learner_id == learner_id)
    )
    if openid is None:
        raise ValidationError(None, "请先在微信中打开本平台并绑定微信，再订阅截止提醒。")
    return openid


def consent_url(learner_id: int, plan_id: int, *, redirect_url: str, reserved: str) -> str:
    """WeChat's consent page for the deadline notice of ``plan_id``."""
    _plan_to_watch(learner_id, plan_id)
    _openid(learner_id)
    query = urlencode(
        {
            "action": "get_confirm",
            "appid": current_app.config["WECHAT_APPID"],
            "scene": SCENE,
            "template_id": template_id(),
            "redirect_url": redirect_url,
            "reserved": reserved,
        }
    )
    return f"{current_app.config['WECHAT_MP_BASE']}/mp/subscribemsg?{query}#wechat_redirect"


def record_consent(
    learner_id: int, plan_id: int, *, openid: str, template: str, action: str
) -> ReminderSubscription | None:
    """What WeChat's consent page answered; ``None`` when the learner declined."""
    plan = _plan_to_watch(learner_id, plan_id)
    if openid != _openid(learner_id):
        raise ValidationError(None, "订阅来自另一个微信号，请在绑定的微信中重新订阅。")
    if template != template_id():
        raise ValidationError(None, "订阅的通知模板不符，请重新订阅。")
    if action != "confirm":
        return None
    existing = open_subscription(learner_id, plan.id)
    if existing is not None:
        return existing
    subscription = ReminderSubscription(
        learner_id=learner_id, plan_id=plan.id, openid=openid, template_id=template
    )
    try:
        with db.session.begin_nested():
            db.session.add(subscription)
            db.session.flush()
    except IntegrityError:  # the same consent, answered twice at once
        return open_subscription(learner_id, plan.id)
    return subscription


def open_subscription(learner_id: int, plan_id: int) -> ReminderSubscription | None:
    return db.session.scalar(
        select(ReminderSubscription).where(
            ReminderSubscription.learner_id == learner_id,
            ReminderSubscription.plan_id == plan_id,
            ReminderSubscription.used_at.is_(None),
        )
    )


def subscribed_plan_ids(learner_id: int) -> set[int]:
    """Plans whose deadline notice the learner has asked for and not yet received."""
    return set(
        db.session.scalars(
            select(ReminderSubscription.plan_id).where(
                ReminderSubscription.learner_id == learner_id,
                ReminderSubscription.used_at.is_(None),
            )
        )
    )
