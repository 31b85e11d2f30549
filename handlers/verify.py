"""The public certificate check: /verify/<number> (the certificate's QR code opens it), a
number typed by hand, or the certificate's PDF uploaded to check its digital signature."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField

from handlers.forms import apply_errors
from infra.extensions import limiter
from services.errors import ValidationError
from services.paperwork import certificates

bp = Blueprint("verify", __name__, url_prefix="/verify")

# Room for the multipart framing and the CSRF token around the file itself.
_FORM_OVERHEAD = 64 * 1024


def _limit() -> str:
    return current_app.config["VERIFY_LIMIT_PER_IP"]


class PdfForm(FlaskForm):
    pdf = FileField("证书PDF文件")


@bp.get("/", endpoint="search")
@limiter.limit(_limit)
def search():
    number = request.args.get("number", "")
    if number.strip():
        return redirect(url_for("verify.certificate", number=certificates.normalise_number(number)))
    return render_template("verify/search.html", form=PdfForm())


@bp.post("/pdf", endpoint="pdf")
@limiter.limit(_limit)
def pdf():
    """An uploaded PDF: is its signature ours and intact, and what of the number inside."""
    max_bytes = int(current_app.config["VERIFY_PDF_MAX_BYTES"])
    too_large = ValidationError(
        "pdf", f"文件过大：证书PDF不超过{max(max_bytes // (1024 * 1024), 1)}MB。"
    )
    if (request.content_length or 0) > max_bytes + _FORM_OVERHEAD:
        # Refused before the body is read; the form is shown again with the reason.
        form = PdfForm(formdata=None)
        apply_errors(form, too_large)
        return render_template("verify/search.html", form=form), 413
    request.max_content_length = max_bytes + _FORM_OVERHEAD
    form = PdfForm()
    if form.validate_on_submit():
        upload = form.pdf.data
        data = b""
        if upload:
            try:
                data = upload.stream.read(max_bytes + 1)
            finally:
                upload.close()  # werkzeug spools a large upload to a temporary file
        try:
            result = certificates.verify_pdf(data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return render_template("verify/pdf_result.html", result=result)
    return render_template("verify/search.html", form=form), 400


@bp.get("/<path:number>", endpoint="certificate")
@limiter.limit(_limit)
def certificate(number: str):
    result = certificates.verify(number)
    if result is None:
        return render_template("verify/not_found.html", number=number[:40]), 404
    return render_template("verify/result.html", result=result)
