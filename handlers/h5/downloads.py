"""The blank forms the notice attaches: 附件2 (the roster a unit's designee fills in) and
附件3 (the 补学 缴费凭证表 and 缴费承诺书), linked from the pages where they are needed."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response

from handlers.h5 import bp, current_learner
from services.accounts import roster_template
from services.paperwork import makeup_forms

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def download(content: bytes, mimetype: str, filename: str, ascii_name: str) -> Response:
    """An attachment with its Chinese name (RFC 6266) and a plain one for old browsers."""
    return Response(
        content,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f"attachment; filename={ascii_name}; "
            f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, max-age=3600",
        },
    )


@bp.get("/forms/roster.xlsx")
def roster_template_download():
    """附件2, with the designee's district and unit filled in when they are logged in."""
    learner = current_learner()
    district = unit_name = ""
    if learner is not None and learner.unit is not None:
        district, unit_name = learner.unit.district.name, learner.unit.name
    return download(
        roster_template.template_bytes(district=district, unit_name=unit_name),
        XLSX,
        roster_template.FILENAME,
        "roster-template.xlsx",
    )


@bp.get("/forms/makeup-voucher.docx")
def makeup_voucher_form():
    return download(
        makeup_forms.voucher_form(), DOCX, makeup_forms.VOUCHER_FILENAME, "makeup-voucher.docx"
    )


@bp.get("/forms/makeup-commitment.docx")
def makeup_commitment_form():
    return download(
        makeup_forms.commitment_form(),
        DOCX,
        makeup_forms.COMMITMENT_FILENAME,
        "makeup-commitment.docx",
    )
