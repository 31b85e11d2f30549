"""The official account's menu: data in ``menu.toml``, pushed through the menu API."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from flask import current_app

from services.errors import ExternalServiceError

MENU_FILE = Path(__file__).with_name("menu.toml")


def _button(item: dict[str, Any], base_url: str) -> dict[str, Any]:
    if "sub_button" in item:
        return {
            "name": item["name"],
            "sub_button": [_button(sub, base_url) for sub in item["sub_button"]],
        }
    if "path" in item:
        return {"type": "view", "name": item["name"], "url": base_url + item["path"]}
    return {"type": "click", "name": item["name"], "key": item["key"]}


def build_menu(base_url: str, path: Path = MENU_FILE) -> dict[str, Any]:
    """The menu in WeChat's format, links made absolute."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {"button": [_button(item, base_url.rstrip("/")) for item in data["button"]]}


def push_menu() -> dict[str, Any]:
    from infra.wechat_client import WECHAT_FAILURES, describe_failure, get_wechat_client

    menu = build_menu(current_app.config["PUBLIC_BASE_URL"])
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
