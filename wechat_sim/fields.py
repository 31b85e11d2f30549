"""WeChat's checks on the keywords of template and subscription messages: each keyword's type
is the letters of its key, and a value over its type's limit is refused with 47003."""

from __future__ import annotations

import re
from typing import Any

_DATE = r"\d{4}(?:年\d{1,2}月\d{1,2}日|-\d{1,2}-\d{1,2})"
_ONE_TIME = rf"(?:{_DATE} ?)?\d{{1,2}}:\d{{2}}|{_DATE}"

# type: (most characters, what the whole value must match)
LIMITS: dict[str, tuple[int, str]] = {
    "thing": (20, r".+"),
    "character_string": (32, r"[\x21-\x7e]+"),
    "number": (32, r"\d+(?:\.\d+)?"),
    "letter": (32, r"[A-Za-z]+"),
    "symbol": (5, r"[^\w\s]+"),
    "amount": (14, r"[¥$€]?\d{1,10}(?:\.\d{1,2})?元?"),
    "time": (40, rf"(?:{_ONE_TIME})(?:~(?:{_ONE_TIME}))?"),
    "date": (24, rf"{_DATE}(?:~{_DATE})?"),
    "phrase": (5, r"[\u4e00-\u9fff]+"),
    "phone_number": (17, r"[\d+\-() ]+"),
    "name": (20, r".+"),
}


def refusal(data: Any) -> tuple[int, str] | None:
    """WeChat's (errcode, errmsg) for the message's ``data``, or ``None`` when it is accepted."""
    if not isinstance(data, dict) or not data:
        return 47001, "data format error"
    for key, item in data.items():
        kind = str(key).rstrip("0123456789")
        if kind not in LIMITS or not isinstance(item, dict):
            return 47003, f"argument invalid! data.{key} invalid"
        value = item.get("value")
        limit, pattern = LIMITS[kind]
        if not isinstance(value, str) or not value:
            return 47003, f"argument invalid! data.{key}.value empty"
        if len(value) > limit:
            return 47003, f"argument invalid! data.{key}.value exceeds limit"
        if not re.fullmatch(pattern, value):
            return 47003, f"argument invalid! data.{key}.value invalid"
    return None
