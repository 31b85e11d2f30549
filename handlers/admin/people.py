"""Learners (search and detail) and staff accounts."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # newer than the stubs
from wtforms.validators import InputRequired, Length, Optional

from handlers.admin import bp, signed_in_staff, staff_required
from handlers.admin.actions import console_action
from handlers.forms import field_text, page_arg
from models.staff import StaffRole
from services.accounts import learner_desk
from services.accounts import learners as accounts
from services.accounts import staff as staff_service
from services.accounts.learner_overview import learner_overview


@bp.get("/learners")
@staff_required(StaffRole.STAFF, StaffRole.FINANCE, StaffRole.UNIT_ADMIN)
def learners():
    query = request.args.get("q", "")
    page = accounts.search_learners(
        query,
        unit_id=staff_service.unit_scope(signed_in_staff()),
        page=page_arg(),
    )
    return render_template("admin/learners.html", page=page, query=query)


@bp.get("/learners/<int:learner_id>")
@staff_required(StaffRole.STAFF, StaffRole.FINANCE, StaffRole.UNIT_ADMIN)
def learner_detail(learner_id: int):
    overview = learner_overview(learner_id, unit_id=staff_service.unit_scope(signed_in_staff()))
    return render_template("admin/learner_detail.html", overview=overview)


class StaffForm(FlaskForm):
    username = StringField("用户名", validators=[InputRequired("请填写用户名。"), Length(max=50)])
    name = StringField("姓名", validators=[InputRequired("请填写姓名。"), Length(max=50)])
    role = SelectField("角色", choices=[SelectChoice(role.value, role.label) for role in StaffRole])
    unit_code = StringField(
        "所属单位代码（单位管理员，见单位列表的场景值 unit:后的8位）",
        validators=[Optional(), Length(max=16)],
    )
    password = PasswordField("初始密码", validators=[InputRequired("请设置密码。"), Length(max=64)])


class PasswordResetForm(FlaskForm):
    password = PasswordField("新密码", validators=[InputRequired("请填写新密码。"), Length(max=64)])


@bp.route("/staff", methods=["GET", "POST"])
@staff_required(StaffRole.ADMIN)
def staff_accounts():
    form = StaffForm()
    created = console_action(
        lambda actor: staff_service.create_staff(
            username=field_text(form.username),
            name=field_text(form.name),
            password=field_text(form.password),
            role=StaffRole(form.role.data),
            unit_code=form.unit_code.data or None,
            actor=actor,
        ),
        form=form,
        done=lambda staff: f"已创建工作人员账号 {staff.username}。",
        then=url_for("admin.staff_accounts"),
    )
    if created is not None:
        return created
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/staff.html",
        form=form,
        staff_list=staff_service.list_staff(),
        reset_form=PasswordResetForm(),
    ), status


@bp.post("/staff/<int:staff_id>/active")
@staff_required(StaffRole.ADMIN)
def staff_set_active(staff_id: int):
    return console_action(
        lambda actor: staff_service.set_active(
            staff_id, request.form.get("active") == "1", actor=actor
        ),
        done="已更新账号状态。",
        then=url_for("admin.staff_accounts"),
        refused=url_for("admin.staff_accounts"),
    )


@bp.post("/staff/<int:staff_id>/password")
@staff_required(StaffRole.ADMIN)
def staff_reset_password(staff_id: int):
    form = PasswordResetForm()
    return console_action(
        lambda actor: staff_service.reset_password(
            staff_id, field_text(form.password), actor=actor
        ),
        form=form,
        done="密码已重置。",
        then=url_for("admin.staff_accounts"),
        refused=url_for("admin.staff_accounts"),
    )


# --- the help desk's actions on one learner ---------------------------------------------------


class LearnerPhoneForm(FlaskForm):
    phone = StringField(
        "新手机号码", validators=[InputRequired("请填写新手机号码。"), Length(max=20)]
    )


class DeskActionForm(FlaskForm):
    """A button: only the CSRF token."""


def _desk_action(learner_id: int, form: FlaskForm, perform, done: str):
    page = url_for("admin.learner_detail", learner_id=learner_id)
    unit_id = staff_service.unit_scope(signed_in_staff())
    return console_action(
        lambda actor: perform(learner_id, actor=actor, unit_id=unit_id),
        form=form,
        done=done,
        then=page,
        refused=page,
    )


@bp.post("/learners/<int:learner_id>/password")
@staff_required(StaffRole.STAFF)
def learner_reset_password(learner_id: int):
    return _desk_action(
        learner_id,
        DeskActionForm(),
        learner_desk.reset_to_initial_password,
        "已将密码重置为初始密码（身份证号码后6位），学员下次登录时须设置新密码。",
    )


@bp.post("/learners/<int:learner_id>/phone")
@staff_required(StaffRole.STAFF)
def learner_change_phone(learner_id: int):
    form = LearnerPhoneForm()
    return _desk_action(
        learner_id,
        form,
        lambda learner_id, **kwargs: learner_desk.change_phone(
            learner_id, field_text(form.phone), **kwargs
        ),
        "手机号码已修改。",
    )


@bp.post("/learners/<int:learner_id>/wechat/unbind")
@staff_required(StaffRole.STAFF)
def learner_unbind_wechat(learner_id: int):
    return _desk_action(
        learner_id,
        DeskActionForm(),
        learner_desk.unbind_wechat,
        "已解除微信绑定，学员下次从微信进入时重新登录即可绑定。",
    )
