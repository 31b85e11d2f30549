"""我的数据: what the platform holds about the learner, its download, and the request to
delete the account (services/accounts/my_data.py and erasure.py)."""

from __future__ import annotations

import json
from urllib.parse import quote

from flask import Response, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length, Optional

from handlers.forms import apply_errors, field_text
from handlers.h5 import bp, learner_required, signed_in_learner
from infra.transaction import commit
from models.base import utcnow
from services.accounts import erasure, my_data
from services.audit import Actor
from services.display import local_time
from services.errors import ServiceError


class DeletionForm(FlaskForm):
    reason = TextAreaField("原因（可不填）", validators=[Optional(), Length(max=500)])
    confirm = BooleanField("我已了解删除的后果")


def _page(form: DeletionForm, status: int = 200):
    learner = signed_in_learner()
    return render_template(
        "accounts/my_data.html",
        groups=my_data.summary(learner.id),
        kept=erasure.kept_records(learner.id),
        open_request=erasure.open_request(learner.id),
        answer_days=erasure.ANSWER_WITHIN_WORKING_DAYS,
        form=form,
    ), status


@bp.get("/my-data")
@learner_required
def my_data_page():
    return _page(DeletionForm())


@bp.get("/my-data.json")
@learner_required
def my_data_download():
    learner = signed_in_learner()
    body = json.dumps(my_data.export(learner.id), ensure_ascii=False, indent=2)
    filename = quote(f"我的数据-{local_time(utcnow(), '%Y%m%d')}.json")
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "Cache-Control": "private, no-store",
        },
    )


@bp.post("/my-data/deletion")
@learner_required
def request_deletion():
    learner = signed_in_learner()
    form = DeletionForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        erasure.request_deletion(
            learner.id,
            reason=field_text(form.reason),
            confirmed=bool(form.confirm.data),
            actor=Actor.learner(learner.id, request.remote_addr),
        )
    except ServiceError as error:
        apply_errors(form, error)
        return _page(form, error.status_code)
    commit()
    flash("删除申请已提交，工作人员一般在15个工作日内处理。", "success")
    return redirect(url_for("h5.my_data_page"))
