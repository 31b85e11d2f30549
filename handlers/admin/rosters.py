"""Roster import in the console: upload → preview of counts and errors → confirm → result."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import abort, render_template, send_file, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from handlers.admin import bp, current_actor, signed_in_staff, staff_required
from handlers.admin.actions import console_action
from handlers.h5.downloads import download
from infra.transaction import commit
from models.roster import RosterImport
from models.staff import StaffRole
from services.accounts import roster, roster_template, unmasking
from services.audit import Actor

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RosterUploadForm(FlaskForm):
    file = FileField("名单文件", validators=[FileRequired("请选择要导入的名单文件（.xlsx）。")])


class RosterConfirmForm(FlaskForm):
    pass


@bp.route("/rosters", methods=["GET", "POST"])
@staff_required(StaffRole.STAFF)
def rosters():
    form = RosterUploadForm()

    def preview(actor: Actor) -> RosterImport:
        upload = form.file.data
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload.xlsx"
            upload.save(path)
            return roster.preview_roster(path, filename=upload.filename or "", actor=actor)

    previewed = console_action(
        preview,
        form=form,
        done=None,
        then=lambda record: url_for("admin.roster_detail", import_id=record.id),
    )
    if previewed is not None:
        return previewed
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/rosters/index.html", form=form, imports=roster.recent_imports()
    ), status


@bp.get("/rosters/<int:import_id>")
@staff_required(StaffRole.STAFF)
def roster_detail(import_id: int):
    return render_template(
        "admin/rosters/show.html", page=roster.import_page(import_id), form=RosterConfirmForm()
    )


@bp.post("/rosters/<int:import_id>/confirm")
@staff_required(StaffRole.STAFF)
def confirm_roster(import_id: int):
    back = url_for("admin.roster_detail", import_id=import_id)
    return console_action(
        lambda actor: roster.confirm_roster(import_id, actor=actor),
        form=RosterConfirmForm(),
        done=lambda record: (
            f"导入完成：新建{record.created_count}个账号，已存在{record.existing_count}个，"
            f"有误{record.error_count}行。"
        ),
        then=back,
        refused=back,
    )


@bp.post("/rosters/<int:import_id>/report.xlsx")
@staff_required(StaffRole.STAFF)
def roster_report(import_id: int):
    """The error report lists rows whole (ID numbers, phones): a POST, in the audit log."""
    record = roster.get_import(import_id)
    path = roster.stored_file(record.error_report_path)
    if path is None:
        abort(404)
    if not RosterConfirmForm().validate_on_submit():
        abort(400)
    unmasking.record_roster_report(record, actor=current_actor())
    commit()
    return send_file(
        path,
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"名单导入报告-{record.id}.xlsx",
        max_age=0,
    )


@bp.get("/forms/roster.xlsx")
@staff_required(StaffRole.STAFF, StaffRole.UNIT_ADMIN)
def roster_template_download():
    """附件2 for a unit admin (their district and unit filled in) or the desk (blank)."""
    unit = signed_in_staff().unit
    return download(
        roster_template.template_bytes(
            district=unit.district.name if unit else "", unit_name=unit.name if unit else ""
        ),
        XLSX_MIMETYPE,
        roster_template.FILENAME,
        "roster-template.xlsx",
    )
