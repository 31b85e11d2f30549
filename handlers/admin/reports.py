"""Reports by district and unit, with a chart and an Excel export."""

from __future__ import annotations

from flask import Response, render_template, request

from handlers.admin import bp, signed_in_staff, staff_required
from models.staff import StaffRole
from services import reports
from services.accounts import staff as staff_service
from services.spreadsheets import table_bytes


def _scope() -> tuple[int, str, int | None]:
    staff = signed_in_staff()
    year = request.args.get("year", type=int) or reports.default_year()
    by = request.args.get("by", "district")
    by = by if by in ("district", "unit") else "district"
    return year, by, staff_service.unit_scope(staff)


@bp.get("/reports")
@staff_required(StaffRole.STAFF, StaffRole.FINANCE, StaffRole.UNIT_ADMIN)
def report():
    year, by, unit_id = _scope()
    result = reports.build_report(year, by=by, unit_id=unit_id)
    return render_template(
        "admin/reports.html",
        report=result,
        years=reports.report_years(),
        show_revenue=reports.shows_revenue(signed_in_staff().role),
    )


@bp.get("/reports.xlsx")
@staff_required(StaffRole.STAFF, StaffRole.FINANCE, StaffRole.UNIT_ADMIN)
def report_export():
    year, by, unit_id = _scope()
    result = reports.build_report(year, by=by, unit_id=unit_id)
    headers, rows = reports.spreadsheet_rows(
        result, with_revenue=reports.shows_revenue(signed_in_staff().role)
    )
    content = table_bytes(
        title=f"{year}年度统计", headers=headers, rows=rows, widths=[36, 16, 12, 12, 12, 12, 14]
    )
    filename = f"report-{year}-{by}.xlsx"
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
