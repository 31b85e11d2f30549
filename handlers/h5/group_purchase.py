"""团体购买: paste ID numbers, see each line's result, download the failures, order the
valid seats and pay once; 团体购买订单 lists the designee's orders and every seat's status."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, redirect, render_template, request, url_for

from handlers.forms import apply_errors
from handlers.h5 import bp, learner_required, signed_in_learner
from handlers.h5.purchase_forms import GroupCheckForm, GroupOrderForm
from infra.transaction import commit
from services import catalog
from services.errors import ServiceError
from services.payments import group_purchase as groups
from services.payments import orders
from services.payments.group_lookups import Asker


def _asker() -> Asker:
    return Asker(signed_in_learner().id, request.remote_addr)


@bp.route("/plans/<int:plan_id>/group", methods=["GET", "POST"])
@learner_required
def group_purchase(plan_id: int):
    page = catalog.plan_page(plan_id, signed_in_learner().id)
    form = GroupCheckForm()
    check = None
    status = 400 if form.is_submitted() else 200
    if form.validate_on_submit():
        try:
            check = groups.check_lines(plan_id, form.id_numbers.data, asker=_asker())
        except ServiceError as error:
            apply_errors(form, error)
            status = error.status_code  # 429 when the lookups are used up
        else:
            commit()  # a large check is in the audit log
            status = 200
    order_form = GroupOrderForm(id_numbers=form.id_numbers.data or "")
    return render_template(
        "group/purchase.html", page=page, form=form, check=check, order_form=order_form
    ), status


@bp.post("/plans/<int:plan_id>/group/errors.xlsx")
@learner_required
def group_purchase_errors(plan_id: int):
    form = GroupOrderForm()
    if not form.validate_on_submit():
        return redirect(url_for("h5.group_purchase", plan_id=plan_id))
    check = groups.check_lines(plan_id, form.id_numbers.data, asker=_asker())
    commit()
    filename = quote("团体购买未通过名单.xlsx")
    return Response(
        groups.failures_workbook(check),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


@bp.post("/plans/<int:plan_id>/group/order")
@learner_required
def group_order_create(plan_id: int):
    learner = signed_in_learner()
    form = GroupOrderForm()
    if form.validate_on_submit():
        try:
            order = groups.place_group_order(
                buyer_id=learner.id,
                plan_id=plan_id,
                text=form.id_numbers.data,
                invoice=form.invoice_request(),
                asker=_asker(),
            )
        except ServiceError as error:
            apply_errors(form, error)
        else:
            commit()
            return redirect(url_for("h5.order_pay", order_id=order.id))
    page = catalog.plan_page(plan_id, learner.id)
    check_form = GroupCheckForm(id_numbers=form.id_numbers.data or "")
    check = None
    try:
        check = groups.check_lines(plan_id, form.id_numbers.data, asker=_asker())
    except ServiceError as error:
        apply_errors(check_form, error)
    else:
        commit()
    return render_template(
        "group/purchase.html", page=page, form=check_form, check=check, order_form=form
    ), 400


@bp.get("/group-orders")
@learner_required
def group_orders():
    return render_template(
        "group/orders.html", cards=orders.list_group_orders(signed_in_learner().id)
    )
