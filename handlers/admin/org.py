"""Units and districts."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Length, Optional

from handlers.admin import bp, staff_required
from handlers.admin.actions import console_action
from handlers.forms import field_text, page_arg
from infra.extensions import db
from models.org import Unit
from models.staff import StaffRole
from services.accounts import org
from services.errors import NotFound


class UnitForm(FlaskForm):
    name = StringField("单位全称", validators=[InputRequired("请填写单位全称。"), Length(max=100)])
    district_id = IntegerField("所在区县", validators=[InputRequired("请选择区县。")])
    credit_code = StringField("统一社会信用代码", validators=[Optional(), Length(max=30)])


@bp.get("/units")
@staff_required(StaffRole.STAFF)
def units():
    page = org.list_units(
        request.args.get("q", ""),
        district_id=request.args.get("district", type=int),
        page=page_arg(),
    )
    return render_template(
        "admin/units.html",
        page=page,
        query=request.args.get("q", ""),
        district_id=request.args.get("district", type=int),
        districts=org.list_districts(),
        form=UnitForm(),
    )


@bp.route("/units/new", methods=["POST"])
@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@staff_required(StaffRole.STAFF)
def unit_edit(unit_id: int | None = None):
    unit = db.session.get(Unit, unit_id) if unit_id else None
    if unit_id and unit is None:
        raise NotFound("单位不存在。")
    form = UnitForm(obj=unit)
    saved = console_action(
        lambda actor: org.save_unit(
            unit_id=unit_id,
            name=field_text(form.name),
            district_id=form.district_id.data,
            credit_code=form.credit_code.data or "",
            actor=actor,
        ),
        form=form,
        done=lambda unit: f"已保存单位“{unit.name}”。",
        then=lambda unit: url_for("admin.unit_edit", unit_id=unit.id),
    )
    if saved is not None:
        return saved
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/unit_edit.html", form=form, unit=unit, districts=org.list_districts()
    ), status
