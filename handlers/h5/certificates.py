"""我的证书: completed plans, the profile the certificate prints, the certificate's files."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import Length, Optional

from handlers.forms import apply_errors
from handlers.h5 import bp, learner_required, signed_in_learner
from handlers.private_files import send_private
from infra.transaction import commit
from services.accounts import org
from services.errors import StopValidation, ValidationError
from services.paperwork import certificates, study_record


class ProfileForm(FlaskForm):
    unit_id = IntegerField("工作单位", validators=[Optional()])
    unit_name = StringField("工作单位", validators=[Optional(), Length(max=100)])
    district_id = IntegerField("档案所在区县", validators=[Optional()])


@bp.get("/certificates", endpoint="certificates")  # the tab bar links to h5.certificates
@learner_required
def my_certificates():
    rows = certificates.completed_plans(signed_in_learner().id)
    return render_template("certificates/list.html", rows=rows)


@bp.route("/certificates/plan/<int:plan_id>/print", methods=["GET", "POST"])
@learner_required
def certificate_print(plan_id: int):
    """打印证书: confirm the unit (or district) first, then the certificate is issued."""
    learner = signed_in_learner()
    existing = certificates.valid_certificate(learner.id, plan_id)
    if existing is not None:
        return redirect(url_for("h5.certificate_view", certificate_id=existing.id))
    enrollment = certificates.check_eligible(learner.id, plan_id)
    form = ProfileForm(
        unit_id=learner.unit_id,
        unit_name=learner.unit.name if learner.unit else "",
        district_id=None if learner.unit_id else learner.district_id,
    )
    if form.validate_on_submit():
        try:
            certificates.confirm_profile(
                learner.id, unit_id=form.unit_id.data, district_id=form.district_id.data
            )
            certificate = certificates.issue_certificate(learner.id, plan_id)
        except (ValidationError, StopValidation) as error:
            apply_errors(form, error)
        else:
            commit()
            return redirect(url_for("h5.certificate_view", certificate_id=certificate.id))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "certificates/profile.html",
        form=form,
        learner=learner,
        plan=enrollment.plan,
        enrollment=enrollment,
        districts=org.list_districts(),
    ), status


@bp.get("/certificates/<int:certificate_id>")
@learner_required
def certificate_view(certificate_id: int):
    view = certificates.certificate_page(certificate_id, signed_in_learner().id)
    return render_template("certificates/view.html", view=view)


# GETs that may write, on purpose: the files are drawn on the first request and their paths
# kept; every later request (or a prefetch) serves the same bytes and writes nothing.
def _send(certificate_id: int, kind: str, mimetype: str, *, download: bool):
    certificate = certificates.owned_certificate(certificate_id, signed_in_learner().id)
    path = certificates.certificate_file(certificate.id, certificate.learner_id, kind)
    commit()
    return send_private(
        path,
        mimetype,
        download_name=f"合格证书-{certificate.year}-{certificate.number}.{kind}",
        as_attachment=download,
    )


@bp.get("/certificates/<int:certificate_id>/certificate.png")
@learner_required
def certificate_png(certificate_id: int):
    return _send(certificate_id, "png", "image/png", download=False)


@bp.get("/certificates/<int:certificate_id>/preview.jpg")
@learner_required
def certificate_preview(certificate_id: int):
    """The picture on the certificate's page: a phone-sized JPEG of the PNG."""
    path = certificates.certificate_preview(certificate_id, signed_in_learner().id)
    commit()
    response = send_private(path, "image/jpeg")
    # The owner's browser may keep it a day (a repeat visit sends nothing); shared caches not.
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/certificates/<int:certificate_id>/certificate.pdf")
@learner_required
def certificate_pdf(certificate_id: int):
    return _send(certificate_id, "pdf", "application/pdf", download=True)


@bp.get("/certificates/record.pdf")
@learner_required
def study_record_pdf():
    """学习档案: drawn and signed on request, nothing stored."""
    learner = signed_in_learner()
    pdf = study_record.record_pdf(study_record.study_record(learner.id))
    filename = quote(f"学习档案-{learner.name}.pdf")
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "Cache-Control": "private, no-store",
        },
    )
