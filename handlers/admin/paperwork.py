"""Console pages for the paperwork: make-up reviews, invoices, certificates."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from handlers.admin import bp, client_ip, current_staff, staff_required
from handlers.private_files import send_private
from infra.transaction import commit
from models.invoices import InvoiceStatus
from models.staff import StaffRole
from services.errors import ServiceError, StopValidation
from services.paperwork import certificates, invoices, makeup

REVIEWERS = (StaffRole.STAFF,)
INVOICE_DESK = (StaffRole.STAFF, StaffRole.FINANCE)


class ReasonForm(FlaskForm):
    reason = TextAreaField("原因", validators=[Optional(), Length(max=300)])


class ReissueForm(FlaskForm):
    reason = TextAreaField("补发原因", validators=[Optional(), Length(max=300)])
    corrected_name = StringField("更正后的姓名", validators=[Optional(), Length(max=40)])


class IssueInvoiceForm(FlaskForm):
    invoice_number = StringField("发票号码", validators=[Optional(), Length(max=60)])
    pdf = FileField("发票PDF")


class ReverseInvoiceForm(FlaskForm):
    red_invoice_number = StringField("红字发票号码", validators=[Optional(), Length(max=60)])


def _actor() -> tuple[int, str]:
    staff = current_staff()
    return staff.id, f"staff:{staff.username}"


def _refused(error: ServiceError) -> None:
    messages = error.errors if isinstance(error, StopValidation) else [error]
    for item in messages:
        flash(item.message, "error")


# --- make-up reviews ------------------------------------------------------------------------


@bp.get("/makeup")
@staff_required(*REVIEWERS)
def makeup_queue():
    return render_template("admin/paperwork/makeup_queue.html", items=makeup.review_queue())


@bp.get("/makeup/<int:application_id>")
@staff_required(*REVIEWERS)
def makeup_detail(application_id: int):
    application = makeup.get_application(application_id)
    return render_template(
        "admin/paperwork/makeup_detail.html",
        application=application,
        workplace=certificates.workplace_text(application.learner),
        deadline=makeup.review_deadline_text(application),
        form=ReasonForm(),
        promises=makeup.COMMITMENT_PROMISES,
    )


@bp.post("/makeup/<int:application_id>/approve")
@staff_required(*REVIEWERS)
def makeup_approve(application_id: int):
    form = ReasonForm()
    if form.validate_on_submit():
        staff_id, actor = _actor()
        try:
            makeup.approve(application_id, staff_id=staff_id, actor=actor, ip=client_ip())
        except ServiceError as error:
            _refused(error)
        else:
            commit()
            flash("已审核通过，该年度计划已为学员免费开通。", "success")
            return redirect(url_for("admin.makeup_queue"))
    return redirect(url_for("admin.makeup_detail", application_id=application_id))


@bp.post("/makeup/<int:application_id>/reject")
@staff_required(*REVIEWERS)
def makeup_reject(application_id: int):
    form = ReasonForm()
    if form.validate_on_submit():
        staff_id, actor = _actor()
        try:
            makeup.reject(
                application_id,
                staff_id=staff_id,
                actor=actor,
                reason=form.reason.data or "",
                ip=client_ip(),
            )
        except ServiceError as error:
            _refused(error)
        else:
            commit()
            flash("已驳回，学员将收到原因。", "success")
            return redirect(url_for("admin.makeup_queue"))
    return redirect(url_for("admin.makeup_detail", application_id=application_id))


@bp.get("/makeup/<int:application_id>/screenshot")
@staff_required(*REVIEWERS)
def makeup_screenshot(application_id: int):
    return send_private(
        makeup.screenshot_path(makeup.get_application(application_id)), "image/jpeg"
    )


# --- invoices ---------------------------------------------------------------------------------

_INVOICE_TABS = [
    (InvoiceStatus.REQUESTED, "待开票"),
    (InvoiceStatus.REVERSING, "待红冲"),
    (InvoiceStatus.ISSUED, "已开票"),
    (InvoiceStatus.REVERSED, "已红冲"),
]


@bp.get("/invoices")
@staff_required(*INVOICE_DESK)
def invoices_list():
    try:
        status = InvoiceStatus(request.args.get("status", InvoiceStatus.REQUESTED.value))
    except ValueError:
        status = InvoiceStatus.REQUESTED
    return render_template(
        "admin/paperwork/invoices.html",
        status=status,
        tabs=_INVOICE_TABS,
        invoices=invoices.staff_queue(status),
    )


@bp.get("/invoices/<int:invoice_id>")
@staff_required(*INVOICE_DESK)
def invoice_detail(invoice_id: int):
    return render_template(
        "admin/paperwork/invoice_detail.html",
        invoice=invoices.get_invoice(invoice_id),
        issue_form=IssueInvoiceForm(),
        reverse_form=ReverseInvoiceForm(),
    )


@bp.post("/invoices/<int:invoice_id>/issue")
@staff_required(*INVOICE_DESK)
def invoice_issue(invoice_id: int):
    form = IssueInvoiceForm()
    if form.validate_on_submit():
        staff_id, actor = _actor()
        upload = form.pdf.data
        try:
            invoices.record_issued(
                invoice_id,
                invoice_number=form.invoice_number.data or "",
                pdf=upload.read() if upload else b"",
                staff_id=staff_id,
                actor=actor,
                ip=client_ip(),
            )
        except ServiceError as error:
            _refused(error)
        else:
            commit()
            flash("发票已登记，学员已收到通知。", "success")
            return redirect(url_for("admin.invoices_list"))
    return redirect(url_for("admin.invoice_detail", invoice_id=invoice_id))


@bp.post("/invoices/<int:invoice_id>/reverse")
@staff_required(*INVOICE_DESK)
def invoice_reverse(invoice_id: int):
    form = ReverseInvoiceForm()
    if form.validate_on_submit():
        staff_id, actor = _actor()
        try:
            invoices.record_reversed(
                invoice_id,
                red_invoice_number=form.red_invoice_number.data or "",
                staff_id=staff_id,
                actor=actor,
                ip=client_ip(),
            )
        except ServiceError as error:
            _refused(error)
        else:
            commit()
            flash("红冲已登记。", "success")
            return redirect(url_for("admin.invoices_list", status="reversing"))
    return redirect(url_for("admin.invoice_detail", invoice_id=invoice_id))


@bp.get("/invoices/<int:invoice_id>/invoice.pdf")
@staff_required(*INVOICE_DESK)
def invoice_pdf(invoice_id: int):
    invoice = invoices.get_invoice(invoice_id)
    return send_private(
        invoices.invoice_pdf_path(invoice),
        "application/pdf",
        download_name=f"{invoice.invoice_number}.pdf",
    )


# --- certificates -----------------------------------------------------------------------------


@bp.get("/certificates")
@staff_required(*REVIEWERS)
def certificates_list():
    query = request.args.get("q", "")
    return render_template(
        "admin/paperwork/certificates.html",
        query=query,
        certificates=certificates.search_certificates(query),
    )


@bp.get("/certificates/<int:certificate_id>")
@staff_required(*REVIEWERS)
def certificate_detail(certificate_id: int):
    return render_template(
        "admin/paperwork/certificate_detail.html",
        certificate=certificates.get_certificate(certificate_id),
        revoke_form=ReasonForm(),
        reissue_form=ReissueForm(),
    )


@bp.post("/certificates/<int:certificate_id>/revoke")
@staff_required(*REVIEWERS)
def certificate_revoke(certificate_id: int):
    form = ReasonForm()
    if form.validate_on_submit():
        staff_id, actor = _actor()
        try:
            certificates.revoke_certificate(
                certificate_id,
                staff_id=staff_id,
                actor=actor,
                reason=form.reason.data or "",
                ip=client_ip(),
            )
        except ServiceError as error:
            _refused(error)
        else:
            commit()
            flash("证书已作废，原编号验证时将显示“已作废”。", "success")
    return redirect(url_for("admin.certificate_detail", certificate_id=certificate_id))


@bp.post("/certificates/<int:certificate_id>/reissue")
@staff_required(*REVIEWERS)
def certificate_reissue(certificate_id: int):
    form = ReissueForm()
    if form.validate_on_submit():
        staff_id, actor = _actor()
        try:
            new = certificates.reissue_certificate(
                certificate_id,
                staff_id=staff_id,
                actor=actor,
                reason=form.reason.data or "",
                corrected_name=form.corrected_name.data or "",
                ip=client_ip(),
            )
        except ServiceError as error:
            _refused(error)
        else:
            commit()
            flash(f"已补发新证书 {new.number}，原证书已作废。", "success")
            return redirect(url_for("admin.certificate_detail", certificate_id=new.id))
    return redirect(url_for("admin.certificate_detail", certificate_id=certificate_id))
