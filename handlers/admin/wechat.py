"""The official account from the console: its menu, QR posters, deadline reminders."""

from __future__ import annotations

from datetime import datetime

from flask import Response, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from handlers.admin import bp, current_actor, staff_required
from handlers.admin.actions import console_action
from handlers.forms import apply_errors
from infra.extensions import db
from infra.transaction import commit
from models.staff import StaffRole
from services import catalog, reports
from services.display import LOCAL_TZ
from services.errors import ServiceError
from services.wechat import desk, menu, reminders


class PosterForm(FlaskForm):
    scene = StringField(
        "场景值",
        validators=[InputRequired("请选择单位或培训项目。"), Length(max=64)],
    )
    days = IntegerField(
        "临时二维码有效天数（不填为永久二维码）",
        validators=[Optional(), NumberRange(1, 30, "临时二维码的有效天数为 1 到 30 天。")],
    )


class ReminderForm(FlaskForm):
    year = IntegerField("年度", validators=[InputRequired("请选择年度。")])


def _page(poster_form: PosterForm | None = None, status: int = 200):
    try:
        current = menu.current_menu()
        current_error = None
    except ServiceError as error:
        current, current_error = None, error.message
    year = reports.default_year()
    return render_template(
        "admin/wechat.html",
        configured=desk.menu_names(menu.build_menu("")),
        current=desk.menu_names(current) if current else None,
        current_error=current_error,
        poster_form=poster_form or PosterForm(scene=request.args.get("scene", "")),
        plans=[plan for plan in catalog.all_plans() if plan.is_published],
        reminder_form=ReminderForm(year=year),
        years=reports.report_years(),
        troubled=desk.troubled_messages(),
    ), status


@bp.get("/wechat")
@staff_required(StaffRole.STAFF)
def wechat_desk():
    return _page()


@bp.post("/wechat/menu")
@staff_required(StaffRole.STAFF)
def wechat_menu_push():
    back = url_for("admin.wechat_desk")
    return console_action(
        lambda actor: desk.push_menu(actor=actor),
        done="菜单已推送到公众号（微信客户端最长约5分钟后刷新）。",
        then=back,
        refused=back,
    )


@bp.post("/wechat/poster")
@staff_required(StaffRole.STAFF)
def wechat_poster():
    form = PosterForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        with db.session.begin_nested():
            poster = desk.make_poster(form.scene.data or "", form.days.data, actor=current_actor())
    except ServiceError as error:
        apply_errors(form, error)
        return _page(form, 400)
    commit()
    return Response(
        poster.png,
        mimetype="image/png",
        headers={"Content-Disposition": f"attachment; filename={poster.filename}"},
    )


@bp.post("/wechat/reminders")
@staff_required(StaffRole.STAFF)
def wechat_reminders_send():
    """One round of deadline reminders, as ``flask reminders send`` does: each batch
    committed before its messages go; a second round on the same day sends nothing twice."""
    back = url_for("admin.wechat_desk")
    form = ReminderForm()
    if not form.validate_on_submit():
        for messages in form.errors.values():
            for message in messages:
                flash(str(message), "error")
        return redirect(back)
    try:
        plan = reminders.current_plan(form.year.data or 0)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(back)
    today = datetime.now(LOCAL_TZ).date()
    queued = seen = 0
    for batch in reminders.reminder_targets(plan):
        queued += reminders.queue_reminders(plan, batch, today=today)
        seen += len(batch)
        commit()  # each batch's messages are durable before their jobs run
    desk.record_reminder_round(
        current_actor(), plan.id, today=today, not_finished=seen, queued=queued
    )
    commit()
    if queued:
        flash(f"{plan.title}：未完成的 {seen} 人中，已向 {queued} 人发送截止提醒。", "success")
    else:
        flash(
            f"{plan.title}：今天已发送过提醒，或没有需要提醒的学员（未完成 {seen} 人）。",
            "success",
        )
    return redirect(back)
