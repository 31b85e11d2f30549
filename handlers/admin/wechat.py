"""The official account from the console: its menu (edited, saved, previewed, pushed), QR
posters, deadline reminders."""

from __future__ import annotations

from datetime import datetime

from flask import Response, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from handlers.admin import bp, current_actor, staff_required
from handlers.admin.actions import console_action
from handlers.forms import apply_errors
from infra.extensions import db
from infra.transaction import commit
from models.staff import StaffRole
from services import catalog, reports
from services.display import LOCAL_TZ
from services.errors import ServiceError, StopValidation
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


class MenuForm(FlaskForm):
    """The menu's own fields (``b0-name``, ``b0-s1-link`` …) are read by ``_typed_menu``;
    this form carries the CSRF token and the draft's revision the page was opened on."""

    revision = HiddenField(validators=[InputRequired("页面已过期，请重新打开编辑页。")])


def _revision(form: MenuForm) -> int:
    """The revision the page was opened on (a tampered one matches no revision)."""
    raw = str(form.revision.data or "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else -1


def _typed_menu() -> list[menu.ButtonInput]:
    """The buttons as the form sent them: 3 top-level slots of 5 sub-button slots each."""
    form = request.form

    def one(prefix: str, subs: tuple[menu.ButtonInput, ...] = ()) -> menu.ButtonInput:
        return menu.ButtonInput(
            name=form.get(f"{prefix}-name", ""),
            kind=form.get(f"{prefix}-kind", ""),
            link=form.get(f"{prefix}-link", ""),
            key=form.get(f"{prefix}-key", ""),
            subs=subs,
        )

    return [
        one(f"b{i}", tuple(one(f"b{i}-s{j}") for j in range(menu.MAX_SUBS)))
        for i in range(menu.MAX_BUTTONS)
    ]


def _slots(items: list[menu.ButtonInput]) -> list[menu.ButtonInput]:
    """Every slot of the form, the empty ones too."""
    empty_sub = menu.ButtonInput(kind="link")
    padded = [*items, *[menu.ButtonInput(kind="subs")] * (menu.MAX_BUTTONS - len(items))]
    return [
        menu.ButtonInput(
            item.name,
            item.kind,
            item.link,
            item.key,
            (*item.subs, *[empty_sub] * (menu.MAX_SUBS - len(item.subs))),
        )
        for item in padded[: menu.MAX_BUTTONS]
    ]


def _editor(
    items: list[menu.ButtonInput],
    *,
    form: MenuForm,
    preview: list[dict] | None,
    errors: StopValidation | ServiceError | None = None,
    previewing: bool = False,
    status: int = 200,
):
    problems = [] if errors is None else getattr(errors, "errors", [errors])
    by_field: dict[str, list[str]] = {}
    for item in problems:  # "" holds the messages of the whole form
        by_field.setdefault(getattr(item, "field", None) or "", []).append(item.message)
    draft = menu.draft()
    base = menu.base_url()
    return render_template(
        "admin/wechat_menu.html",
        form=form,
        slots=_slots(items),
        errors=by_field,
        wrong=len(problems),
        draft=draft,
        preview=menu.shown_menu(menu.wechat_json(preview, base), base) if preview else None,
        previewing=previewing,
        choices=menu.click_choices(),
        kinds=menu.KINDS,
        base=base,
    ), status


def _page(poster_form: PosterForm | None = None, status: int = 200):
    try:
        current = menu.current_menu()
        current_error = None
    except ServiceError as error:
        current, current_error = None, error.message
    draft = menu.draft()
    base = menu.base_url()
    draft_json = menu.wechat_json(draft.buttons, base)
    year = reports.default_year()
    return render_template(
        "admin/wechat.html",
        draft=draft,
        configured=menu.shown_menu(draft_json, base),
        current=menu.shown_menu(current, base) if current else None,
        same=menu.same_menu(draft_json, current),
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


@bp.get("/wechat/menu/edit")
@staff_required(StaffRole.STAFF)
def wechat_menu_edit():
    draft = menu.draft()
    return _editor(
        menu.inputs_of(draft.buttons),
        form=MenuForm(revision=str(draft.revision)),
        preview=draft.buttons,
    )


@bp.post("/wechat/menu/edit")
@staff_required(StaffRole.STAFF)
def wechat_menu_save():
    """预览 shows the typed menu as followers will see it; 保存 keeps it as the draft that
    推送 sends. Either way every wrong field is named on the page and nothing is saved."""
    form = MenuForm()
    items = _typed_menu()
    if not form.validate_on_submit():
        stale = ServiceError("页面已过期，请重新打开编辑页。")
        return _editor(items, form=form, preview=None, errors=stale, status=400)
    if request.form.get("action") == "preview":
        try:
            buttons = menu.check_menu(items)
        except ServiceError as error:
            return _editor(items, form=form, preview=None, errors=error, status=400)
        preview = [button.stored() for button in buttons]
        return _editor(items, form=form, preview=preview, previewing=True)
    try:
        with db.session.begin_nested():
            desk.save_menu(items, revision=_revision(form), actor=current_actor())
    except ServiceError as error:
        return _editor(items, form=form, preview=None, errors=error, status=400)
    commit()
    flash("菜单已保存。点击“推送菜单到公众号”后，关注者才会看到新菜单。", "success")
    return redirect(url_for("admin.wechat_desk") + "#menu")


@bp.post("/wechat/menu/reset")
@staff_required(StaffRole.STAFF)
def wechat_menu_reset():
    back = url_for("admin.wechat_desk") + "#menu"
    return console_action(
        lambda actor: desk.restore_default_menu(actor=actor),
        done="已恢复默认菜单（menu.toml）。点击“推送菜单到公众号”后，关注者才会看到。",
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
