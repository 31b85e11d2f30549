"""Console: orders, their payments and notifications, and refunds (finance and admins)."""

from __future__ import annotations

from collections import Counter

from flask import flash, redirect, render_template, request, url_for

from handlers.admin import bp, staff_required
from handlers.admin.actions import console_action
from handlers.forms import page_arg
from handlers.h5 import safe_next
from infra.extensions import db
from infra.transaction import commit
from models.orders import OrderKind, OrderStatus, RefundStatus
from models.staff import StaffRole
from services import catalog
from services.errors import ExternalServiceError, ServiceError
from services.payments import orders, refunds

finance_staff = staff_required(StaffRole.FINANCE)


@bp.get("/orders", endpoint="orders")
@finance_staff
def orders_list():
    filters = orders.OrderFilter(
        status=request.args.get("status", ""),
        kind=request.args.get("kind", ""),
        query=request.args.get("q", ""),
        plan_id=request.args.get("plan_id", type=int),
    )
    page = orders.search_orders(filters, page_arg())
    plans = catalog.all_plans()
    return render_template(
        "admin/orders/list.html",
        page=page,
        filters=filters,
        plans=plans,
        statuses=list(OrderStatus),
        kinds=list(OrderKind),
    )


@bp.get("/orders/<int:order_id>")
@finance_staff
def order_view(order_id: int):
    return render_template("admin/orders/detail.html", record=orders.order_record(order_id))


@bp.post("/orders/<int:order_id>/refund")
@finance_staff
def order_refund(order_id: int):
    back = url_for("admin.order_view", order_id=order_id)
    return console_action(
        lambda actor: refunds.request_refund(
            order_id=order_id,
            seat_id=request.form.get("seat_id", type=int),
            reason=request.form.get("reason", ""),
            actor=actor,
        ),
        done=lambda refund: (
            f"退款申请已提交（退款单号 {refund.out_refund_no}），结果以微信支付通知为准。"
        ),
        then=back,
        refused=back,
    )


@bp.get("/refunds", endpoint="refunds")
@finance_staff
def refunds_list():
    status = request.args.get("status", "")
    listing = refunds.search_refunds(status, page_arg())
    return render_template(
        "admin/orders/refunds.html",
        listing=listing,
        status=status,
        statuses=list(RefundStatus),
        waiting=len(refunds.refunds_to_sync()),
    )


@bp.post("/refunds/<int:refund_id>/sync")
@finance_staff
def refund_sync(refund_id: int):
    back = safe_next(request.form.get("next"), url_for("admin.refunds"))
    return console_action(
        lambda actor: refunds.sync_refund(refund_id),
        done=lambda outcome: f"已向微信支付核对：{_OUTCOMES.get(outcome, outcome)}。",
        then=back,
        refused=back,
    )


@bp.post("/refunds/sync")
@finance_staff
def refunds_sync_all():
    """What the scheduled follow-up does, now: send the refunds that did not get through and
    ask the provider about those whose result has not come, each committed on its own."""
    counts: Counter[str] = Counter()
    for refund_id in refunds.refunds_to_sync():
        try:
            outcome = refunds.sync_refund(refund_id)
        except ExternalServiceError:
            commit()  # keeps the error noted on the refund
            outcome = "unreachable"
        except ServiceError:
            db.session.rollback()
            outcome = "failed"
        else:
            commit()
        counts[_OUTCOMES.get(outcome, outcome)] += 1
    if counts:
        summary = "，".join(f"{label} {count} 笔" for label, count in counts.most_common())
        flash(f"已核对 {counts.total()} 笔退款：{summary}。", "success")
    else:
        flash("没有需要核对的退款。", "success")
    return redirect(url_for("admin.refunds"))


_OUTCOMES = {
    "refunded": "退款成功",
    "duplicate": "退款成功",
    "processing": "退款处理中",
    "retry": "微信支付暂时无法受理，稍后会再次提交",
    "failed": "退款失败",
    "skipped": "无需处理",
    "success": "退款成功",
    "unreachable": "暂时联系不上支付平台，稍后再试",
}
