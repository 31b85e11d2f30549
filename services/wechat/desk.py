"""The official account as the console manages it: edit, save and push the menu, make a QR
poster, send a round of deadline reminders, see the template messages that failed or wait to
be sent again. Each action reuses the module that does the work (``menu``, ``posters``,
``reminders``) and leaves a line in the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.audit import Actor, record_action
from services.errors import ValidationError
from services.wechat import menu, posters, tasks
from services.wechat.followers import Scene


def menu_names(data: dict[str, Any] | None) -> list[str]:
    """``继续教育：公需科目、我的证书`` per top button, to show and to record."""
    lines = []
    for button in (data or {}).get("button", []):
        subs = [sub.get("name", "") for sub in button.get("sub_button", []) or []]
        lines.append(button.get("name", "") + ("：" + "、".join(subs) if subs else ""))
    return lines


def menu_text(buttons: Sequence[dict[str, Any]]) -> str:
    """Buttons in the file's shape as one line of the audit log: each with what it does."""
    shown = menu.shown_menu(menu.wechat_json(buttons, menu.base_url()), menu.base_url())

    def one(button: menu.ShownButton) -> str:
        return f"{button.name}（{button.does}）" if button.does else button.name

    return "；".join(
        one(button) + ("：" + "、".join(one(sub) for sub in button.subs) if button.subs else "")
        for button in shown
    )


def save_menu(
    items: Sequence[menu.ButtonInput], *, revision: int, actor: Actor
) -> tuple[menu.MenuButton, ...]:
    """Check the menu typed in the console and save it as the draft to push; nothing is
    saved when any field is wrong, or when someone saved since the form was opened."""
    buttons = menu.check_menu(items)
    before = menu.draft()
    menu.store_menu(buttons, revision=revision, staff_id=actor.staff_id)
    record_action(
        actor,
        action="wechat.menu_save",
        target_type="wechat_menu",
        target_id="-",
        before={"menu": menu_text(before.buttons)},
        after={"menu": menu_text([button.stored() for button in buttons])},
    )
    return buttons


def restore_default_menu(*, actor: Actor) -> None:
    """Forget the saved menu: the file's menu is the draft again (pushed when staff push)."""
    before = menu.draft()
    menu.forget_saved_menu(staff_id=actor.staff_id)
    record_action(
        actor,
        action="wechat.menu_reset",
        target_type="wechat_menu",
        target_id="-",
        before={"menu": menu_text(before.buttons)},
        after={"menu": menu_text(menu.file_buttons())},
    )


def push_menu(*, actor: Actor) -> dict[str, Any]:
    pushed = menu.push_menu()
    record_action(
        actor,
        action="wechat.menu_push",
        target_type="wechat_menu",
        target_id="-",
        after={"buttons": menu_names(pushed)},
    )
    return pushed


@dataclass(frozen=True)
class Poster:
    filename: str
    png: bytes
    code: posters.QrCode


def make_poster(raw_scene: str, temporary_days: int | None, *, actor: Actor) -> Poster:
    """A unit's or a plan's QR code from WeChat and its printable poster."""
    scene = Scene.parse(raw_scene)
    if scene is None or scene.kind not in ("unit", "plan"):
        raise ValidationError(
            "scene", "请选择单位或培训项目：场景值为 unit:<单位代码> 或 plan:<编号>。"
        )
    text = posters.poster_text(scene)
    posters.fonts(48)  # before WeChat spends a code on a poster that cannot be drawn
    code = posters.create_qrcode(scene, temporary_days)
    png = posters.render_poster(code, text)
    record_action(
        actor,
        action="wechat.poster",
        target_type="wechat_qrcode",
        target_id=code.scene,
        after={"caption": text.caption, "expires": code.expires_at_text or "永久"},
    )
    name = str(scene).replace(":", "-") + ("-temporary" if temporary_days else "") + ".png"
    return Poster(f"poster-{name}", png, code)


def record_reminder_round(
    actor: Actor, plan_id: int, *, today: date, not_finished: int, queued: int
) -> None:
    record_action(
        actor,
        action="reminders.send",
        target_type="plan",
        target_id=plan_id,
        after={"round": today.isoformat(), "not_finished": not_finished, "queued": queued},
    )


MESSAGE_KINDS = {
    "payment_received": "缴费成功",
    "certificate_ready": "证书可打印",
    "review_result": "补学审核结果",
    "invoice_issued": "发票开具",
    "deadline_reminder": "截止提醒",
    "deadline_subscription": "截止订阅通知",
    "study_withdrawn": "学时撤销",
}


@dataclass(frozen=True)
class TroubledMessage:
    """A template message that failed, or whose last send got no answer and waits to go
    again: what staff see of it."""

    id: int
    kind: str
    learner_name: str
    created_at: datetime
    attempts: int
    reason: str
    failed: bool

    @property
    def status_label(self) -> str:
        return "发送失败" if self.failed else "等待重发"


def troubled_messages(limit: int = 50) -> list[TroubledMessage]:
    """The latest failed messages and those waiting for a retry, newest first."""
    retrying = (TemplateMessage.status == TemplateMessageStatus.QUEUED) & (
        TemplateMessage.error != ""
    )
    rows = db.session.execute(
        select(TemplateMessage, Learner.name)
        .outerjoin(Learner, Learner.id == TemplateMessage.learner_id)
        .where((TemplateMessage.status == TemplateMessageStatus.FAILED) | retrying)
        .order_by(TemplateMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        TroubledMessage(
            id=message.id,
            kind=MESSAGE_KINDS.get(message.kind, message.kind),
            learner_name=name or "",
            created_at=message.created_at,
            attempts=tasks.Attempts.of(message).count,
            reason=message.error,
            failed=message.status is TemplateMessageStatus.FAILED,
        )
        for message, name in rows
    ]
