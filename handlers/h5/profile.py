"""个人信息: the learner's own phone (with a code sent to the new number) and unit."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from handlers.forms import apply_errors, field_text
from handlers.h5 import bp, learner_required, signed_in_learner
from handlers.h5.accounts import _failed, _ip_limit
from handlers.h5.forms import PhoneChangeForm, UnitChangeForm
from infra.extensions import limiter
from infra.transaction import commit
from services.accounts import org, profile, sms
from services.display import mask_phone
from services.errors import ServiceError, StopValidation

PENDING_PHONE = "profile_pending_phone"


def _page(phone_form: PhoneChangeForm, unit_form: UnitChangeForm | None = None, status: int = 200):
    learner = signed_in_learner()
    pending = session.get(PENDING_PHONE)
    if unit_form is None:  # not the form posted: it shows the learner's unit
        unit_form = UnitChangeForm(formdata=None)
        unit_form.unit_id.data = learner.unit_id
        unit_form.unit_name.data = learner.unit.name if learner.unit else ""
        unit_form.district_id.data = None if learner.unit_id else learner.district_id
    return render_template(
        "accounts/profile.html",
        learner=learner,
        masked_phone=mask_phone(learner.phone),
        phone_form=phone_form,
        unit_form=unit_form,
        districts=org.list_districts(),
        code_sent_to=mask_phone(pending) if pending else "",
        resend_wait=sms.resend_wait_seconds(pending),
    ), status


@bp.get("/profile")
@learner_required
def profile_page():
    phone_form = PhoneChangeForm()
    if session.get(PENDING_PHONE):
        phone_form.phone.data = session[PENDING_PHONE]
    return _page(phone_form)


@bp.post("/profile/phone")
@learner_required
@limiter.limit(_ip_limit, deduct_when=_failed)
def profile_phone():
    learner = signed_in_learner()
    form = PhoneChangeForm()
    if form.validate_on_submit():
        try:
            if request.form.get("action") == "send":
                phone = profile.send_phone_change_code(
                    learner.id, field_text(form.phone), client_address=request.remote_addr
                )
                session[PENDING_PHONE] = phone
                flash(f"验证码已发送到 {mask_phone(phone)}。", "success")
                return redirect(url_for("h5.profile_page"))
            profile.change_own_phone(learner.id, field_text(form.phone), field_text(form.code))
        except (ServiceError, StopValidation) as error:
            apply_errors(form, error)
        else:
            commit()
            session.pop(PENDING_PHONE, None)
            flash("手机号码已修改，登录时请使用新手机号码。", "success")
            return redirect(url_for("h5.profile_page"))
    return _page(form, None, 400)


@bp.post("/profile/unit")
@learner_required
def profile_unit():
    learner = signed_in_learner()
    form = UnitChangeForm()
    if form.validate_on_submit():
        try:
            profile.change_own_unit(learner.id, form.unit_id.data, form.district_id.data)
        except (ServiceError, StopValidation) as error:
            apply_errors(form, error)
        else:
            commit()
            flash("工作单位已修改。", "success")
            return redirect(url_for("h5.profile_page"))
    return _page(PhoneChangeForm(formdata=None), form, 400)
