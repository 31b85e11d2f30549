"""The plan list (首页) and a plan's page (price, 学分要求, courses, deadline, 立即购买)."""

from __future__ import annotations

from flask import render_template

from handlers.h5 import bp, current_learner, learner_required, signed_in_learner
from services import catalog
from services.wechat import subscriptions


@bp.get("/plans")
def plans():
    """首页: open before logging in, so a visitor sees what is offered and what it costs."""
    learner = current_learner()
    current, makeup = catalog.list_plans(learner.id if learner else None)
    return render_template(
        "catalog/plans.html",
        current=current,
        makeup=makeup,
        signed_in=learner is not None,
        deadline_notices=subscriptions.subscribed_plan_ids(learner.id) if learner else set(),
    )


@bp.get("/plans/<int:plan_id>")
@learner_required
def plan_detail(plan_id: int):
    page = catalog.plan_page(plan_id, signed_in_learner().id)
    return render_template("catalog/plan_detail.html", page=page)
