"""Console: WeChat Pay consumer complaints (消费者投诉 2.0): list, read, reply, complete, and
start the refund of the complained order (finance and admins)."""

from __future__ import annotations

from flask import render_template, request, url_for

from handlers.admin import bp, staff_required
from handlers.admin.actions import console_action
from handlers.forms import page_arg
from models.orders import ComplaintState
from models.staff import StaffRole
from services.payments import complaints

finance_staff = staff_required(StaffRole.FINANCE)


@bp.get("/complaints")
@finance_staff
def complaints_list():
    state = request.args.get("state", "")
    page = complaints.list_complaints(state, page_arg())
    return render_template(
        "admin/complaints/list.html",
        page=page,
        rows=[complaints.ComplaintRow(item) for item in page.items],
        state=state,
        states=list(ComplaintState),
    )


@bp.post("/complaints/sync")
@finance_staff
def complaints_sync():
    back = url_for("admin.complaints_list")
    return console_action(
        lambda actor: complaints.sync_recent(),
        done=lambda seen: f"已从微信支付同步最近30天的投诉（{seen} 条）。",
        then=back,
        refused=back,
    )


@bp.get("/complaints/<int:complaint_id>")
@finance_staff
def complaint_view(complaint_id: int):
    return render_template(
        "admin/complaints/detail.html", view=complaints.complaint_page(complaint_id)
    )


def _back(complaint_id: int) -> str:
    return url_for("admin.complaint_view", complaint_id=complaint_id)


@bp.post("/complaints/<int:complaint_id>/reply")
@finance_staff
def complaint_reply(complaint_id: int):
    return console_action(
        lambda actor: complaints.reply(complaint_id, request.form.get("content", ""), actor),
        done="回复已提交给微信支付，用户将在微信中看到。",
        then=_back(complaint_id),
        refused=_back(complaint_id),
    )


@bp.post("/complaints/<int:complaint_id>/complete")
@finance_staff
def complaint_complete(complaint_id: int):
    return console_action(
        lambda actor: complaints.complete(complaint_id, actor),
        done="已向微信支付反馈处理完成。",
        then=_back(complaint_id),
        refused=_back(complaint_id),
    )


@bp.post("/complaints/<int:complaint_id>/refund")
@finance_staff
def complaint_refund(complaint_id: int):
    return console_action(
        lambda actor: complaints.start_refund(complaint_id, request.form.get("reason", ""), actor),
        done=lambda refund: (
            f"退款申请已提交（退款单号 {refund.out_refund_no}），已告知微信支付同意退款。"
        ),
        then=_back(complaint_id),
        refused=_back(complaint_id),
    )
