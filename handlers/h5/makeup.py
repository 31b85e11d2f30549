"""补学申请: the make-up years, the voucher form, the commitment letter, the screenshot."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from handlers.forms import apply_errors
from handlers.h5 import bp, learner_required, signed_in_learner
from handlers.private_files import send_private
from infra.transaction import commit
from services.errors import ServiceError
from services.paperwork import makeup, screenshots


class VoucherForm(FlaskForm):
    order_no = StringField("订单编号", validators=[Optional(), Length(max=80)])
    payer = StringField("付款人", validators=[Optional(), Length(max=60)])
    paid_at = StringField("缴费时间", validators=[Optional(), Length(max=30)])
    platform = StringField("缴费平台", validators=[Optional(), Length(max=80)])
    screenshot = FileField("缴费截图")


class CommitmentForm(FlaskForm):
    paid_on = StringField("缴费日期", validators=[Optional(), Length(max=20)])
    reason = TextAreaField("无法提供凭证的原因", validators=[Optional(), Length(max=600)])
    signature = StringField("承诺人（签名）", validators=[Optional(), Length(max=60)])
    agreed = BooleanField("本人已阅读并同意以上承诺")


@bp.get("/makeup", endpoint="makeup_applications")
@learner_required
def makeup_applications():
    learner = signed_in_learner()
    years = makeup.learner_overview(learner.id)
    chosen = request.args.get("year", type=int)
    return render_template(
        "makeup/list.html",
        years=years,
        selected=next((item for item in years if item.plan.year == chosen), None),
        opened_plans={item.plan.id for item in years if item.opened},
        applications=makeup.learner_applications(learner.id),
    )


@bp.route("/makeup/<int:plan_id>/voucher", methods=["GET", "POST"])
@learner_required
def makeup_voucher(plan_id: int):
    learner = signed_in_learner()
    plan = makeup.makeup_plan(plan_id)
    form = VoucherForm(payer=learner.name)
    if form.validate_on_submit():
        upload = form.screenshot.data
        try:
            makeup.submit_voucher(
                learner.id,
                plan.id,
                makeup.Voucher(
                    order_no=form.order_no.data or "",
                    payer=form.payer.data or "",
                    paid_at=form.paid_at.data or "",
                    platform=form.platform.data or "",
                    screenshot=upload.read() if upload else b"",
                ),
            )
        except ServiceError as error:  # a bad field, or an application already open
            apply_errors(form, error)
        else:
            commit()
            flash("已提交缴费凭证，工作人员将在3个工作日内审核。", "success")
            return redirect(url_for("h5.makeup_applications"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "makeup/voucher.html",
        form=form,
        plan=plan,
        learner=learner,
        refusal=makeup.application_refusal(learner.id, plan),
        max_bytes=screenshots.MAX_BYTES,
    ), status


@bp.route("/makeup/<int:plan_id>/commitment", methods=["GET", "POST"])
@learner_required
def makeup_commitment(plan_id: int):
    learner = signed_in_learner()
    plan = makeup.makeup_plan(plan_id)
    form = CommitmentForm()
    if form.validate_on_submit():
        try:
            makeup.submit_commitment(
                learner.id,
                plan.id,
                makeup.Commitment(
                    paid_on=form.paid_on.data or "",
                    reason=form.reason.data or "",
                    signature=form.signature.data or "",
                    agreed=bool(form.agreed.data),
                ),
            )
        except ServiceError as error:  # a bad field, or an application already open
            apply_errors(form, error)
        else:
            commit()
            flash("已提交缴费承诺书，工作人员将在3个工作日内审核。", "success")
            return redirect(url_for("h5.makeup_applications"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "makeup/commitment.html",
        form=form,
        plan=plan,
        learner=learner,
        promises=makeup.COMMITMENT_PROMISES,
        refusal=makeup.application_refusal(learner.id, plan),
    ), status


@bp.get("/makeup/applications/<int:application_id>/screenshot")
@learner_required
def makeup_screenshot(application_id: int):
    application = makeup.owned_application(application_id, signed_in_learner().id)
    return send_private(makeup.screenshot_path(application), "image/jpeg")
