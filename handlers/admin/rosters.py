"""Roster import in the console: upload → preview of counts and errors → confirm → result."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import abort, flash, redirect, render_template, send_file, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from handlers.admin import bp, client_ip, current_staff, staff_required
from handlers.forms import apply_errors
from infra.extensions import db
from infra.transaction import commit
from models.staff import StaffRole
from services.accounts import roster
from services.errors import Conflict, ValidationError

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RosterUploadForm(FlaskForm):
    file = FileField("名单文件", validators=[FileRequired("请选择要导入的名单文件（.xlsx）。")])


class RosterConfirmForm(FlaskForm):
    pass


def _actor() -> tuple[str, int]:
    staff = current_staff()
    return f"staff:{staff.username}", staff.id


@bp.route("/rosters", methods=["GET", "POST"])
@staff_required(StaffRole.STAFF)
def rosters():
    form = RosterUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        actor, staff_id = _actor()
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "upload.xlsx"
                upload.save(path)
                record = roster.preview_roster(
                    path,
                    filename=upload.filename or "",
                    actor=actor,
                    staff_id=staff_id,
                    ip=client_ip(),
                )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            commit()
            return redirect(url_for("admin.roster_detail", import_id=record.id))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/rosters/index.html", form=form, imports=roster.recent_imports()
    ), status


@bp.get("/rosters/<int:import_id>")
@staff_required(StaffRole.STAFF)
def roster_detail(import_id: int):
    record = roster.get_import(import_id)
    return render_template(
        "admin/rosters/show.html",
        record=record,
        lines=roster.report_lines(record),
        earlier=roster.earlier_imports(record),
        form=RosterConfirmForm(),
    )


@bp.post("/rosters/<int:import_id>/confirm")
@staff_required(StaffRole.STAFF)
def confirm_roster(import_id: int):
    form = RosterConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    actor, staff_id = _actor()
    try:
        record = roster.confirm_roster(import_id, actor=actor, staff_id=staff_id, ip=client_ip())
    except (Conflict, ValidationError) as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        commit()
        flash(
            f"导入完成：新建{record.created_count}个账号，已存在{record.existing_count}个，"
            f"有误{record.error_count}行。",
            "success",
        )
    return redirect(url_for("admin.roster_detail", import_id=import_id))


@bp.get("/rosters/<int:import_id>/report.xlsx")
@staff_required(StaffRole.STAFF)
def roster_report(import_id: int):
    record = roster.get_import(import_id)
    path = roster.stored_file(record.error_report_path)
    if path is None:
        abort(404)
    return send_file(
        path,
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"名单导入报告-{record.id}.xlsx",
        max_age=0,
    )
