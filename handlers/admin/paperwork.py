"""Console pages for the paperwork: make-up reviews, invoices, certificates, the registry
outbox."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

from flask import Response, render_template, request, stream_with_context, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from handlers.admin import bp, signed_in_staff, staff_required
from handlers.admin.actions import console_action
from handlers.private_files import send_private
from infra.transaction import commit
from models.invoices import InvoiceStatus
from models.registry import RegistryStatus
from models.staff import StaffRole
from services.accounts import org
from services.accounts import staff as staff_service
from services.errors import NotFound
from services.paperwork import certificate_archive, certificates, fapiao, invoices, makeup, registry

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


# --- make-up reviews ------------------------------------------------------------------------


@bp.get("/makeup")
@staff_required(*REVIEWERS)
def makeup_queue():
    return render_template("admin/paperwork/makeup_queue.html", items=makeup.review_queue())


@bp.get("/makeup/<int:application_id>")
@staff_required(*REVIEWERS)
def makeup_detail(application_id: int):
    view = makeup.staff_application(application_id)
    application = view.application
    return render_template(
        "admin/paperwork/makeup_detail.html",
        view=view,
        workplace=certificates.workplace_text(application.learner),
        deadline=makeup.review_deadline_text(application),
        form=ReasonForm(),
        promises=makeup.COMMITMENT_PROMISES,
    )


@bp.post("/makeup/<int:application_id>/approve")
@staff_required(*REVIEWERS)
def makeup_approve(application_id: int):
    return console_action(
        lambda actor: makeup.approve(application_id, actor=actor),
        form=ReasonForm(),
        done="已审核通过，该年度计划已为学员免费开通。",
        then=url_for("admin.makeup_queue"),
        refused=url_for("admin.makeup_detail", application_id=application_id),
    )


@bp.post("/makeup/<int:application_id>/reject")
@staff_required(*REVIEWERS)
def makeup_reject(application_id: int):
    form = ReasonForm()
    return console_action(
        lambda actor: makeup.reject(application_id, actor=actor, reason=form.reason.data or ""),
        form=form,
        done="已驳回，学员将收到原因。",
        then=url_for("admin.makeup_queue"),
        refused=url_for("admin.makeup_detail", application_id=application_id),
    )


@bp.get("/makeup/<int:application_id>/screenshot")
@staff_required(*REVIEWERS)
def makeup_screenshot(application_id: int):
    return send_private(
        makeup.screenshot_path(makeup.get_application(application_id)), "image/jpeg"
    )


# --- invoices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceTab:
    status: InvoiceStatus
    label: str
    hint: str = ""  # what staff do with the list
    current: bool = False


_INVOICE_TABS = [
    InvoiceTab(
        InvoiceStatus.REQUESTED,
        "待开票",
        "已缴费订单的开票申请，先申请的在前。请在税务系统开具后上传发票PDF并填写发票号码。",
    ),
    InvoiceTab(
        InvoiceStatus.REVERSING,
        "待红冲",
        "需要红冲的发票（学员修改发票或订单退款）。请在税务系统开具红字发票后登记红字发票号码。",
    ),
    InvoiceTab(InvoiceStatus.ISSUED, "已开票"),
    InvoiceTab(InvoiceStatus.REVERSED, "已红冲"),
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
        tabs=[replace(tab, current=tab.status is status) for tab in _INVOICE_TABS],
        invoices=invoices.staff_queue(status),
    )


@bp.get("/invoices/<int:invoice_id>")
@staff_required(*INVOICE_DESK)
def invoice_detail(invoice_id: int):
    return render_template(
        "admin/paperwork/invoice_detail.html",
        view=invoices.staff_invoice(invoice_id),
        issue_form=IssueInvoiceForm(),
        reverse_form=ReverseInvoiceForm(),
    )


@bp.post("/invoices/<int:invoice_id>/issue")
@staff_required(*INVOICE_DESK)
def invoice_issue(invoice_id: int):
    form = IssueInvoiceForm()
    return console_action(
        lambda actor: invoices.record_issued(
            invoice_id,
            invoice_number=form.invoice_number.data or "",
            pdf=form.pdf.data.read() if form.pdf.data else b"",
            actor=actor,
        ),
        form=form,
        done="发票已登记，学员已收到通知。",
        then=url_for("admin.invoices_list"),
        refused=url_for("admin.invoice_detail", invoice_id=invoice_id),
    )


@bp.post("/invoices/<int:invoice_id>/reverse")
@staff_required(*INVOICE_DESK)
def invoice_reverse(invoice_id: int):
    form = ReverseInvoiceForm()
    return console_action(
        lambda actor: invoices.record_reversed(
            invoice_id, red_invoice_number=form.red_invoice_number.data or "", actor=actor
        ),
        form=form,
        done="红冲已登记。",
        then=url_for("admin.invoices_list", status=InvoiceStatus.REVERSING.value),
        refused=url_for("admin.invoice_detail", invoice_id=invoice_id),
    )


@bp.post("/invoices/<int:invoice_id>/retry-reversal")
@staff_required(*INVOICE_DESK)
def invoice_retry_reversal(invoice_id: int):
    return console_action(
        lambda actor: fapiao.retry_reversal(invoice_id, actor=actor),
        form=ReverseInvoiceForm(),
        done="已通过微信支付重新发起红冲。",
        then=url_for("admin.invoice_detail", invoice_id=invoice_id),
        refused=url_for("admin.invoice_detail", invoice_id=invoice_id),
    )


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
        view=certificates.staff_certificate(certificate_id),
        revoke_form=ReasonForm(),
        reissue_form=ReissueForm(),
    )


@bp.post("/certificates/<int:certificate_id>/revoke")
@staff_required(*REVIEWERS)
def certificate_revoke(certificate_id: int):
    form = ReasonForm()
    back = url_for("admin.certificate_detail", certificate_id=certificate_id)
    return console_action(
        lambda actor: certificates.revoke_certificate(
            certificate_id, actor=actor, reason=form.reason.data or ""
        ),
        form=form,
        done="证书已作废，原编号验证时将显示“已作废”。",
        then=back,
        refused=back,
    )


@bp.post("/certificates/<int:certificate_id>/reissue")
@staff_required(*REVIEWERS)
def certificate_reissue(certificate_id: int):
    form = ReissueForm()
    return console_action(
        lambda actor: certificates.reissue_certificate(
            certificate_id,
            actor=actor,
            reason=form.reason.data or "",
            corrected_name=form.corrected_name.data or "",
        ),
        form=form,
        done=lambda new: f"已补发新证书 {new.number}，原证书已作废。",
        then=lambda new: url_for("admin.certificate_detail", certificate_id=new.id),
        refused=url_for("admin.certificate_detail", certificate_id=certificate_id),
    )


# --- the provincial registry outbox ---------------------------------------------------------------


class RegistryActionForm(FlaskForm):
    """A button of the registry page (its CSRF token only)."""


@bp.get("/registry")
@staff_required(*REVIEWERS)
def registry_list():
    try:
        status = RegistryStatus(request.args["status"]) if request.args.get("status") else None
    except ValueError:
        status = None
    query = request.args.get("q", "")
    return render_template(
        "admin/paperwork/registry.html",
        status=status,
        query=query,
        statuses=list(RegistryStatus),
        counts=registry.status_counts(),
        records=registry.staff_records(status, query),
        batches=registry.recent_batches(),
        excel_waiting=registry.excel_waiting(),
        adapter=registry.adapter(),
        record_id_text=registry.record_id_text,
        form=RegistryActionForm(),
    )


@bp.post("/registry/batches")
@staff_required(*REVIEWERS)
def registry_make_batch():
    return console_action(
        lambda actor: registry.make_batch(actor=actor),
        form=RegistryActionForm(),
        done=lambda number: f"已生成上报批次 {number}，请下载后上传到省继续教育平台。",
        then=url_for("admin.registry_list"),
        refused=url_for("admin.registry_list"),
    )


@bp.get("/registry/batches/<batch_number>.xlsx")
@staff_required(*REVIEWERS)
def registry_batch_file(batch_number: str):
    data = registry.batch_file(batch_number)
    return Response(
        data,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{batch_number}.xlsx"'},
    )


@bp.post("/registry/batches/<batch_number>/confirm")
@staff_required(*REVIEWERS)
def registry_confirm_batch(batch_number: str):
    return console_action(
        lambda actor: registry.confirm_batch(batch_number, actor=actor),
        form=RegistryActionForm(),
        done=lambda count: f"批次 {batch_number} 的 {count} 条记录已确认上报。",
        then=url_for("admin.registry_list"),
        refused=url_for("admin.registry_list"),
    )


@bp.post("/registry/<int:record_id>/resend")
@staff_required(*REVIEWERS)
def registry_resend(record_id: int):
    return console_action(
        lambda actor: registry.resend(record_id, actor=actor),
        form=RegistryActionForm(),
        done="该记录将重新上报。",
        then=url_for("admin.registry_list"),
        refused=url_for("admin.registry_list"),
    )


# --- a unit's certificates as one archive ------------------------------------------------


def _archive_unit() -> int | None:
    """The unit admin's own unit; other staff name one (``unit_id``)."""
    scope = staff_service.unit_scope(signed_in_staff())
    if scope is not None:
        return scope
    return request.args.get("unit_id", type=int)


@bp.get("/certificates/archive")
@staff_required(StaffRole.STAFF, StaffRole.UNIT_ADMIN)
def certificate_archives():
    unit_id = _archive_unit()
    return render_template(
        "admin/paperwork/certificate_archives.html",
        unit=org.get_unit(unit_id) if unit_id else None,
        years=certificate_archive.archive_years(unit_id) if unit_id else [],
    )


@bp.get("/certificates/archive/<int:year>.zip")
@staff_required(StaffRole.STAFF, StaffRole.UNIT_ADMIN)
def certificate_archive_download(year: int):
    unit_id = _archive_unit()
    if unit_id is None:
        raise NotFound("请先选择单位。")
    ids = certificate_archive.archive_certificate_ids(unit_id, year)
    filename = quote(certificate_archive.archive_name(unit_id, year))
    # Streamed as it is written; a certificate drawn and signed on the way is committed at once.
    body = stream_with_context(certificate_archive.stream_archive(ids, after_each=commit))
    return Response(
        body,
        mimetype="application/zip",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "Cache-Control": "private, no-store",
        },
    )
