"""订阅通知 for the deadline: a learner who has not bought the year's plan asks WeChat's consent
page for one notice (services/wechat/subscriptions.py); WeChat sends them back here."""

from __future__ import annotations

import secrets

from flask import flash, redirect, request, session, url_for

from handlers.h5 import bp, learner_required, signed_in_learner
from infra.transaction import commit
from services.errors import ServiceError
from services.wechat import subscriptions

_PENDING = "reminder_consent"


@bp.post("/plans/<int:plan_id>/deadline-notice")
@learner_required
def ask_deadline_notice(plan_id: int):
    reserved = secrets.token_urlsafe(16)
    try:
        url = subscriptions.consent_url(
            signed_in_learner().id,
            plan_id,
            redirect_url=url_for("h5.deadline_notice_answer", _external=True),
            reserved=reserved,
        )
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("h5.plans"))
    session[_PENDING] = {"plan_id": plan_id, "reserved": reserved}
    return redirect(url)


@bp.get("/deadline-notice/answer")
@learner_required
def deadline_notice_answer():
    pending = session.pop(_PENDING, None)
    args = request.args
    if not pending or args.get("reserved") != pending.get("reserved"):
        flash("订阅已过期或不是从本页面发起的，请重新点击“截止前提醒我”。", "error")
        return redirect(url_for("h5.plans"))
    try:
        consent = subscriptions.record_consent(
            signed_in_learner().id,
            int(pending["plan_id"]),
            openid=args.get("openid", ""),
            template=args.get("template_id", ""),
            action=args.get("action", ""),
        )
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("h5.plans"))
    commit()
    if consent is None:
        flash("您取消了订阅，截止前不会收到提醒。", "info")
    else:
        flash("已订阅：学习截止前，公众号会提醒您一次。", "success")
    return redirect(url_for("h5.plans"))
