"""Reports by district and unit, with a chart and an Excel export."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from handlers.admin import bp, signed_in_staff, staff_required
from handlers.forms import page_arg
from models.staff import StaffRole
from services import reports, unit_progress
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


# --- a unit's learners who have not finished -------------------------------------------------


def _unit_and_year() -> tuple[int | None, int]:
    """A unit admin's own unit; other staff name the unit (from the list of units)."""
    scope = staff_service.unit_scope(signed_in_staff())
    unit_id = scope if scope is not None else request.args.get("unit", type=int)
    year = request.args.get("year", type=int) or reports.default_year()
    return unit_id, year


def _choose_a_unit() -> WerkzeugResponse:
    flash("请在单位列表中点击单位后面的“未完成学员”。", "error")
    return redirect(url_for("admin.units"))


@bp.get("/unfinished")
@staff_required(StaffRole.UNIT_ADMIN, StaffRole.STAFF)
def unfinished_learners():
    unit_id, year = _unit_and_year()
    if unit_id is None:
        return _choose_a_unit()
    listing = unit_progress.unfinished(unit_id, year, page=page_arg())
    return render_template("admin/unfinished.html", listing=listing, years=reports.report_years())


@bp.get("/unfinished.xlsx")
@staff_required(StaffRole.UNIT_ADMIN, StaffRole.STAFF)
def unfinished_export():
    unit_id, year = _unit_and_year()
    if unit_id is None:
        return _choose_a_unit()
    unit = unit_progress.get_unit(unit_id)
    content = table_bytes(
        title=f"{year}年度未完成学员",
        headers=unit_progress.SPREADSHEET_HEADERS,
        rows=unit_progress.spreadsheet_rows(unit_id, year),
        widths=[12, 22, 16, 10, 10, 10, 10, 18],
    )
    filename = quote(f"{unit.name}-{year}年度未完成学员.xlsx")
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f"attachment; filename=unfinished-{year}.xlsx; "
            f"filename*=UTF-8''{filename}"
        },
    )
