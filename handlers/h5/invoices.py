"""我的发票: paid orders with 申请开票, 查看发票 and one change (红冲 and reissue)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than the stubs

from handlers.forms import apply_errors
from handlers.h5 import bp, learner_required, signed_in_learner
from handlers.h5.purchase_forms import InvoiceTitleForm
from handlers.private_files import send_private
from infra.transaction import commit
from models.invoices import InvoiceTitleType
from services.errors import ServiceError
from services.paperwork import invoices


class InvoiceForm(InvoiceTitleForm):
    """我的发票's own application or change: the title type chosen on the page."""

    title_type = RadioField(
        "抬头类型",
        choices=[SelectChoice(kind.value, kind.label) for kind in InvoiceTitleType],
        default=InvoiceTitleType.PERSONAL.value,
    )

    def offer(self, kinds: list[InvoiceTitleType], holder_name: str) -> None:
        """The title types this order's invoice may carry; a personal title is the holder's
        own name, shown with the choice."""
        self.title_type.choices = [
            SelectChoice(
                kind.value,
                f"{kind.label}（{holder_name}）"
                if kind is InvoiceTitleType.PERSONAL
                else kind.label,
            )
            for kind in kinds
        ]


@bp.get("/invoices", endpoint="invoices")
@learner_required
def my_invoices():
    rows = invoices.learner_invoices(signed_in_learner().id)
    return render_template("invoices/list.html", rows=rows)


@bp.route("/invoices/order/<int:order_id>/apply", methods=["GET", "POST"])
@learner_required
def invoice_apply(order_id: int):
    learner = signed_in_learner()
    order = invoices.owned_paid_order(order_id, learner.id)
    allowed = invoices.title_types_for(order)
    form = InvoiceForm(title_type=allowed[0].value)
    form.offer(allowed, learner.name)
    if form.validate_on_submit():
        try:
            invoices.request_invoice(
                order_id=order.id, learner_id=learner.id, request=form.title_request()
            )
        except ServiceError as error:  # a bad field, or a rule of the invoice's dates
            apply_errors(form, error)
        else:
            commit()
            flash("已提交开票申请，开具后将通过微信通知您。", "success")
            return redirect(url_for("h5.invoices"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "invoices/form.html", form=form, order=order, learner=learner, replacing=None
    ), status


@bp.get("/invoices/<int:invoice_id>")
@learner_required
def invoice_view(invoice_id: int):
    page = invoices.invoice_page(invoice_id, signed_in_learner().id)
    return render_template("invoices/view.html", page=page)


@bp.route("/invoices/<int:invoice_id>/change", methods=["GET", "POST"])
@learner_required
def invoice_change(invoice_id: int):
    learner = signed_in_learner()
    invoice = invoices.owned_invoice(invoice_id, learner.id)
    form = InvoiceForm(
        title_type=invoice.title_type.value,
        title=invoice.title if invoice.title_type is InvoiceTitleType.UNIT else "",
        tax_code=invoice.tax_code or "",
        email=invoice.email,
    )
    form.offer(list(InvoiceTitleType), learner.name)
    if form.validate_on_submit():
        try:
            invoices.change_invoice(invoice.id, learner.id, form.title_request())
        except ServiceError as error:  # a bad field, or a rule of the invoice's dates
            apply_errors(form, error)
        else:
            commit()
            flash("已提交修改：原发票将红冲作废，新发票开具后将通过微信通知您。", "success")
            return redirect(url_for("h5.invoices"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "invoices/form.html",
        form=form,
        order=invoice.order,
        learner=learner,
        replacing=invoice,
        refusal=invoices.change_refusal(invoice),
    ), status


@bp.get("/invoices/<int:invoice_id>/invoice.pdf")
@learner_required
def invoice_pdf(invoice_id: int):
    invoice = invoices.owned_invoice(invoice_id, signed_in_learner().id)
    return send_private(
        invoices.invoice_pdf_path(invoice),
        "application/pdf",
        download_name=f"电子发票-{invoice.invoice_number}.pdf",
        as_attachment=True,
    )
