"""The official account's menu: the default in ``menu.toml``, the one staff save in the console
(which wins while it exists), WeChat's rules for both, and the push through the menu API.

A menu is a tuple of ``MenuButton``: up to 3 top-level buttons, each a link to a page of the
platform (``path``), a CLICK key that the account answers (``key``, from ``faq.toml``) or up to
5 sub-buttons. It is stored in the file's shape (``name`` with ``path``, ``key`` or
``sub_button``) and made into WeChat's JSON (links absolute) only to be pushed."""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from infra.extensions import db
from models.base import utcnow
from models.staff import StaffUser
from models.wechat import WechatMenu
from services.errors import Conflict, ExternalServiceError, ServiceError, StopValidation
from services.errors import ValidationError as FieldError
from services.wechat import faq

MENU_FILE = Path(__file__).with_name("menu.toml")

# WeChat's limits (自定义菜单创建接口): 1-3 top-level buttons of 1-5 sub-buttons; a name of at most
# 16 bytes (top) or 60 bytes (sub), which WeChat refuses beyond (40018, 40021); it shows at most
# 4 Chinese characters (top) or 8 (sub) and cuts longer names to "...", so names are held to
# that too, a letter or digit counting half a Chinese character. A link at most 1024 bytes.
MAX_BUTTONS = 3
MAX_SUBS = 5
NAME_BYTES = {True: 16, False: 60}
NAME_WIDTH = {True: 8, False: 16}  # in half-width units: 4 and 8 Chinese characters
MAX_URL_BYTES = 1024
# The link of a button leads to a learner's page (or a static file), nowhere else.
LINK_BLUEPRINTS = ("h5", "verify")

KINDS = {"link": "链接", "click": "回复", "subs": "二级菜单"}


@dataclass(frozen=True)
class MenuButton:
    name: str
    path: str | None = None  # a page of the platform: /h5/study
    key: str | None = None  # a CLICK key answered from faq.toml
    subs: tuple[MenuButton, ...] = ()

    def stored(self) -> dict[str, Any]:
        if self.subs:
            return {"name": self.name, "sub_button": [sub.stored() for sub in self.subs]}
        if self.path is not None:
            return {"name": self.name, "path": self.path}
        return {"name": self.name, "key": self.key}


@dataclass(frozen=True)
class ButtonInput:
    """One button as typed in the console's form (or read from the file): not yet judged."""

    name: str = ""
    kind: str = ""  # link, click or subs (only top-level buttons have subs)
    link: str = ""
    key: str = ""
    subs: tuple[ButtonInput, ...] = ()

    @property
    def blank(self) -> bool:
        typed = self.name.strip() or self.link.strip() or self.key
        return not (typed or any(not sub.blank for sub in self.subs))


@dataclass(frozen=True)
class ClickChoice:
    key: str
    title: str  # the reply's first keyword: 在线客服
    label: str  # with the start of the answer, to choose from


def click_choices() -> list[ClickChoice]:
    """The CLICK keys the account answers (``/wechat`` looks them up in ``faq.toml``)."""
    choices = []
    for entry in faq.load_faq().entries:
        if entry.click:
            title = entry.keywords[0]
            # The answer's text without its heading (在线客服：…): what the follower reads.
            text = " ".join(entry.answer.split())
            text = text.partition("：")[2].strip() if text.find("：") in range(1, 9) else text
            hint = text if len(text) <= 20 else text[:19] + "…"
            choices.append(ClickChoice(entry.click, title, f"{title}（{hint}）"))
    return choices


# --- the rules ----------------------------------------------------------------------
def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _name_problem(name: str, top: bool) -> str | None:
    level = "一级" if top else "二级"
    if not name:
        return "请填写菜单名称。"
    if any(unicodedata.category(char).startswith("C") for char in name):
        return "菜单名称不能含换行或控制字符。"
    if _width(name) > NAME_WIDTH[top]:
        chinese = NAME_WIDTH[top] // 2
        return (
            f"{level}菜单名称最多 {chinese} 个汉字（或 {NAME_WIDTH[top]} 个字母、数字），"
            "再长微信会显示成“...”。"
        )
    if len(name.encode()) > NAME_BYTES[top]:
        return f"{level}菜单名称超过微信的上限 {NAME_BYTES[top]} 字节（一个汉字占 3 字节）。"
    return None


def base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def _page_path(link: str) -> str:
    """The path of a page of the platform the link names; raises a message otherwise."""
    base = base_url()
    if link.startswith(base + "/"):
        link = link[len(base) :]
    example = "例如 /h5/study"
    if not link.startswith("/") or link.startswith("//"):
        raise ServiceError(
            f"链接应为本站页面的路径（以 / 开头，{example}），或以 {base}/ 开头的完整地址。"
        )
    if any(char.isspace() or char == "\\" or not char.isprintable() for char in link):
        raise ServiceError("链接不能含空格、反斜杠或控制字符。")
    if len((base + link).encode()) > MAX_URL_BYTES:
        raise ServiceError(f"链接太长：微信允许 {MAX_URL_BYTES} 字节。")
    parts = urlsplit(link)
    adapter = current_app.url_map.bind("localhost", url_scheme="https")
    try:
        try:
            endpoint, _ = adapter.match(parts.path, method="GET")
        except RequestRedirect as moved:  # /h5 → /h5/: keep the page's own address
            path = urlsplit(moved.new_url).path
            link = path + link[len(parts.path) :]
            endpoint, _ = adapter.match(path, method="GET")
    except HTTPException:
        endpoint = ""
    if endpoint != "static" and endpoint.partition(".")[0] not in LINK_BLUEPRINTS:
        raise ServiceError(f"本站没有学员可打开的这个页面：{parts.path}（{example}）。")
    return link


def _judge(item: ButtonInput, field: str, top: bool, keys: set[str]) -> MenuButton:
    """One button, or the messages of what is wrong with it (``StopValidation``)."""
    errors: list[FieldError] = []
    name = item.name.strip()
    problem = _name_problem(name, top)
    if problem:
        errors.append(FieldError(f"{field}-name", problem))
    filled_subs = [(index, sub) for index, sub in enumerate(item.subs) if not sub.blank]
    path = key = None
    subs: list[MenuButton] = []
    if item.kind == "subs" and top:
        if not filled_subs:
            errors.append(FieldError(f"{field}-kind", "请至少填写 1 个二级菜单，或选择其他类型。"))
        if len(filled_subs) > MAX_SUBS:
            errors.append(FieldError(f"{field}-kind", f"二级菜单最多 {MAX_SUBS} 个。"))
        for index, sub in filled_subs:
            try:
                subs.append(_judge(sub, f"{field}-s{index}", False, keys))
            except StopValidation as wrong:
                errors.extend(wrong.errors)
    elif filled_subs:
        errors.append(
            FieldError(
                f"{field}-kind", "已填写二级菜单：类型请选“二级菜单”，或清空下面的二级菜单。"
            )
        )
    elif item.kind == "link":
        link = item.link.strip()
        if not link:
            errors.append(FieldError(f"{field}-link", "请填写链接，例如 /h5/study。"))
        else:
            try:
                path = _page_path(link)
            except ServiceError as wrong:
                errors.append(FieldError(f"{field}-link", wrong.message))
    elif item.kind == "click":
        if not item.key:
            errors.append(FieldError(f"{field}-key", "请选择回复的内容。"))
        elif item.key not in keys:
            errors.append(FieldError(f"{field}-key", "公众号不回复这一项：请从列表中选择。"))
        key = item.key
    else:
        choices = "链接、回复或二级菜单" if top else "链接或回复"
        errors.append(FieldError(f"{field}-kind", f"请选择菜单的类型：{choices}。"))
    if errors:
        raise StopValidation(errors)
    return MenuButton(name, path=path, key=key, subs=tuple(subs))


def check_menu(items: Sequence[ButtonInput]) -> tuple[MenuButton, ...]:
    """The menu, when every button keeps WeChat's rules and ours; otherwise every message at
    once, each named after its field (``b0-name``, ``b1-s2-link`` …)."""
    keys = {choice.key for choice in click_choices()}
    errors: list[FieldError] = []
    buttons = []
    filled = [(index, item) for index, item in enumerate(items) if not item.blank]
    if not filled:
        errors.append(FieldError(None, "菜单至少要有 1 个一级菜单。"))
    if len(filled) > MAX_BUTTONS:
        errors.append(FieldError(None, f"一级菜单最多 {MAX_BUTTONS} 个。"))
    for index, item in filled:
        try:
            buttons.append(_judge(item, f"b{index}", True, keys))
        except StopValidation as wrong:
            errors.extend(wrong.errors)
    if errors:
        raise StopValidation(errors)
    return tuple(buttons)


def inputs_of(stored: Sequence[dict[str, Any]]) -> list[ButtonInput]:
    """Buttons in the file's shape as the form's input, to fill the form or judge them again."""

    def one(item: dict[str, Any]) -> ButtonInput:
        if "sub_button" in item:
            subs = tuple(one(sub) for sub in item["sub_button"] or [])
            return ButtonInput(str(item.get("name", "")), "subs", subs=subs)
        if "path" in item:
            return ButtonInput(str(item.get("name", "")), "link", link=str(item["path"]))
        return ButtonInput(str(item.get("name", "")), "click", key=str(item.get("key", "")))

    return [one(item) for item in stored]


# --- default, saved, draft ------------------------------------------------------------
def file_buttons(path: Path = MENU_FILE) -> list[dict[str, Any]]:
    """The default menu, as ``menu.toml`` has it."""
    return list(tomllib.loads(path.read_text(encoding="utf-8"))["button"])


@dataclass(frozen=True)
class Draft:
    """The menu the platform pushes: the saved one, or the file's when none is saved."""

    buttons: list[dict[str, Any]]
    is_default: bool
    revision: int
    saved_at: datetime | None = None
    saved_by: str | None = None


def draft() -> Draft:
    row = db.session.get(WechatMenu, 1)
    revision = row.revision if row else 0
    if row is None or row.buttons is None:
        return Draft(file_buttons(), True, revision, row.saved_at if row else None)
    saved_by = db.session.scalar(select(StaffUser.name).where(StaffUser.id == row.saved_by_id))
    return Draft(list(row.buttons), False, revision, row.saved_at, saved_by)


STALE = "菜单刚被其他工作人员保存过：请重新打开编辑页，在最新的菜单上修改。"


def _locked_row(revision: int) -> WechatMenu | None:
    row = db.session.get(WechatMenu, 1, with_for_update=True)
    if (row.revision if row else 0) != revision:
        raise Conflict(STALE)
    return row


def _write(row: WechatMenu | None, buttons: list[dict[str, Any]] | None, staff_id: int | None):
    try:
        with db.session.begin_nested():
            if row is None:
                row = WechatMenu(id=1, revision=0)
                db.session.add(row)
            row.buttons = buttons
            row.revision += 1
            row.saved_at = utcnow()
            row.saved_by_id = staff_id
            db.session.flush()
    except IntegrityError as clash:  # two first saves at once: one row only
        raise Conflict(STALE) from clash


def store_menu(buttons: Sequence[MenuButton], *, revision: int, staff_id: int | None) -> None:
    """Save a checked menu in place of the draft the form was opened on (``revision``)."""
    _write(_locked_row(revision), [button.stored() for button in buttons], staff_id)


def forget_saved_menu(*, staff_id: int | None) -> None:
    """Back to the file's menu."""
    row = db.session.get(WechatMenu, 1, with_for_update=True)
    if row is None or row.buttons is None:
        raise Conflict("现在用的已是默认菜单（menu.toml），无需恢复。")
    _write(row, None, staff_id)


# --- WeChat's JSON ------------------------------------------------------------------
def _button(item: dict[str, Any], base: str) -> dict[str, Any]:
    if "sub_button" in item:
        return {
            "name": item["name"],
            "sub_button": [_button(sub, base) for sub in item["sub_button"]],
        }
    if "path" in item:
        return {"type": "view", "name": item["name"], "url": base + item["path"]}
    return {"type": "click", "name": item["name"], "key": item["key"]}


def wechat_json(buttons: Sequence[dict[str, Any]], base: str) -> dict[str, Any]:
    """Buttons in the file's shape as WeChat's menu, links made absolute."""
    return {"button": [_button(item, base.rstrip("/")) for item in buttons]}


def build_menu(base: str, path: Path = MENU_FILE) -> dict[str, Any]:
    """The file's menu in WeChat's format (the default, and the simulator's first menu)."""
    return wechat_json(file_buttons(path), base)


def menu_to_push() -> dict[str, Any]:
    """The draft in WeChat's format, judged again: a page or reply may have gone since."""
    current = draft()
    try:
        buttons = check_menu(inputs_of(current.buttons))
    except StopValidation as wrong:
        where = "默认菜单（menu.toml）" if current.is_default else "已保存的菜单"
        raise ServiceError(
            f"{where}有误，未推送：{wrong.message} 请在“公众号 → 编辑菜单”修改后保存。"
        ) from wrong
    return wechat_json([button.stored() for button in buttons], base_url())


def push_menu() -> dict[str, Any]:
    from infra.wechat_client import WECHAT_FAILURES, describe_failure, get_wechat_client

    menu = menu_to_push()
    try:
        get_wechat_client().menu.create(menu)
    except WECHAT_FAILURES as exc:
        raise ExternalServiceError(f"菜单未能创建（{describe_failure(exc)}）") from exc
    return menu


def current_menu() -> dict[str, Any] | None:
    """The menu WeChat has now (``None`` when none was created)."""
    from infra.wechat_client import WECHAT_FAILURES, describe_failure, get_wechat_client

    try:
        result = get_wechat_client().menu.get()
    except WECHAT_FAILURES as exc:
        raise ExternalServiceError(f"未能读取菜单（{describe_failure(exc)}）") from exc
    return (result or {}).get("menu")


# --- to show ------------------------------------------------------------------------
@dataclass(frozen=True)
class ShownButton:
    name: str
    does: str  # 打开 /h5/study, 回复“在线客服” …; empty for a button with sub-buttons
    subs: tuple[ShownButton, ...] = ()


def _subs_of(button: dict[str, Any]) -> list[dict[str, Any]]:
    subs = button.get("sub_button") or []
    if isinstance(subs, dict):  # some of WeChat's answers wrap them: {"list": [...]}
        subs = subs.get("list") or []
    return list(subs)


def shown_menu(data: dict[str, Any] | None, base: str) -> list[ShownButton]:
    """A menu in WeChat's format as staff read it: links as our paths, keys by their reply."""
    replies = {choice.key: choice.title for choice in click_choices()}
    base = base.rstrip("/")

    def one(button: dict[str, Any]) -> ShownButton:
        subs = _subs_of(button)
        name = str(button.get("name", ""))
        if subs:
            return ShownButton(name, "", tuple(one(sub) for sub in subs))
        kind = button.get("type")
        if kind == "view":
            url = str(button.get("url", ""))
            return ShownButton(
                name, "打开 " + (url[len(base) :] if url.startswith(base + "/") else url)
            )
        if kind == "click":
            key = str(button.get("key", ""))
            return ShownButton(name, f"回复“{replies[key]}”" if key in replies else f"回复 {key}")
        return ShownButton(name, str(kind or ""))

    return [one(button) for button in (data or {}).get("button", [])]


def same_menu(first: dict[str, Any] | None, second: dict[str, Any] | None) -> bool:
    """Whether two menus in WeChat's format have the same buttons (WeChat's answer adds empty
    ``sub_button`` lists and may order keys differently)."""

    def normal(button: dict[str, Any]) -> tuple[Any, ...]:
        subs = _subs_of(button)
        if subs:
            return (button.get("name"), tuple(normal(sub) for sub in subs))
        return (button.get("name"), button.get("type"), button.get("url") or button.get("key"))

    def buttons(data: dict[str, Any] | None) -> tuple[Any, ...]:
        return tuple(normal(button) for button in (data or {}).get("button", []))

    return first is not None and second is not None and buttons(first) == buttons(second)
