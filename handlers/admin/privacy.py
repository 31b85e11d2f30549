"""Personal data in the console: learners' deletion requests, and showing a learner's whole
ID number or phone (recorded in the audit log)."""

from __future__ import annotations

from flask import render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from handlers.admin import bp, current_actor, signed_in_staff, staff_required
from handlers.admin.actions import console_action
from infra.transaction import commit
from models.staff import StaffRole
from services.accounts import erasure, unmasking
from services.accounts import staff as staff_service
from services.accounts.learner_overview import learner_overview


class DeclineForm(FlaskForm):
    note = StringField("不予删除的原因", validators=[Optional(), Length(max=200)])


class RevealForm(FlaskForm):
    pass


@bp.get("/deletion-requests")
@staff_required(StaffRole.STAFF)
def deletion_requests():
    return render_template(
        "admin/deletion_requests.html",
        views=erasure.list_requests(),
        form=DeclineForm(),
        answer_days=erasure.ANSWER_WITHIN_WORKING_DAYS,
    )


@bp.post("/deletion-requests/<int:request_id>/complete")
@staff_required(StaffRole.STAFF)
def deletion_complete(request_id: int):
    back = url_for("admin.deletion_requests")
    return console_action(
        lambda actor: erasure.complete_deletion(request_id, actor=actor),
        form=DeclineForm(),
        done=lambda done: f"已删除该学员的个人信息。{done.note}",
        then=back,
        refused=back,
    )


@bp.post("/deletion-requests/<int:request_id>/decline")
@staff_required(StaffRole.STAFF)
def deletion_decline(request_id: int):
    form = DeclineForm()
    back = url_for("admin.deletion_requests")
    return console_action(
        lambda actor: erasure.decline_deletion(request_id, form.note.data or "", actor=actor),
        form=form,
        done="已答复：不予删除。",
        then=back,
        refused=back,
    )


@bp.post("/learners/<int:learner_id>/reveal")
@staff_required(StaffRole.STAFF, StaffRole.FINANCE, StaffRole.UNIT_ADMIN)
def learner_reveal(learner_id: int):
    """The learner's page with the whole ID number and phone; the audit log records who saw
    them (a POST, so that no link, prefetch or scanner can)."""
    form = RevealForm()
    unit_id = staff_service.unit_scope(signed_in_staff())
    overview = learner_overview(learner_id, unit_id=unit_id)
    if not form.validate_on_submit():
        return render_template("admin/learner_detail.html", overview=overview), 400
    unmasking.record_reveal(overview.learner, what="learner_detail", actor=current_actor())
    commit()
    return render_template("admin/learner_detail.html", overview=overview, revealed=True)
