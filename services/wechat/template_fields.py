"""WeChat's limits on the keywords of a template or subscription message, and how our texts
are fitted to them.

A keyword's type is the letters of its key (``thing1`` is a ``thing``). WeChat refuses a
message (47003) when one value breaks its type's rule, so every value goes through ``fit``,
which shortens texts in a way that keeps them readable: known long phrases first give way to
their usual short forms (专业技术人员 → 专技人员), then a text is cut after its last
punctuation that keeps most of it, and only then in the middle of a word, ending with "…".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.display import LOCAL_TZ


@dataclass(frozen=True)
class FieldRule:
    limit: int
    pattern: re.Pattern[str] | None = None  # the whole value must match
    what: str = ""


_DATE = r"\d{4}(?:年\d{1,2}月\d{1,2}日|-\d{2}-\d{2})"
_CLOCK = r"\d{1,2}:\d{2}"
_TIME = rf"(?:{_DATE} ?)?{_CLOCK}|{_DATE}"

RULES: dict[str, FieldRule] = {
    "thing": FieldRule(20, what="20个以内字符"),
    "character_string": FieldRule(32, re.compile(r"[\x21-\x7e]+"), "32位以内数字、字母或符号"),
    "number": FieldRule(32, re.compile(r"\d+(?:\.\d+)?"), "32位以内数字"),
    "letter": FieldRule(32, re.compile(r"[A-Za-z]+"), "32位以内字母"),
    "symbol": FieldRule(5, re.compile(r"[^\w\s]+"), "5位以内符号"),
    "amount": FieldRule(
        14, re.compile(r"[¥$€]?\d{1,10}(?:\.\d{1,2})?元?"), "币种符号加10位以内数字"
    ),
    "time": FieldRule(40, re.compile(rf"(?:{_TIME})(?:~(?:{_TIME}))?"), "24小时制时间"),
    "date": FieldRule(24, re.compile(rf"{_DATE}(?:~{_DATE})?"), "年月日"),
    "phrase": FieldRule(5, re.compile(r"[\u4e00-\u9fff]+"), "5个以内汉字"),
    "phone_number": FieldRule(17, re.compile(r"[\d+\-() ]+"), "17位以内电话号码"),
}

# Long forms and the short forms a learner reads the same way, tried in order.
SHORT_FORMS: tuple[tuple[str, str], ...] = (
    ("专业技术人员", "专技人员"),
    ("继续教育公需科目", "公需科目"),
    ("公需科目培训", "公需科目"),
    ("年度", "年"),
    ("培训项目", "项目"),
)
_PUNCTUATION = "，。；、！？,.;!? "


def field_type(key: str) -> str:
    """``thing1`` → ``thing``; ``character_string3`` → ``character_string``."""
    return key.rstrip("0123456789")


def problem(key: str, value: str) -> str | None:
    """Why WeChat would refuse this value for this keyword (``None``: it is fine)."""
    rule = RULES.get(field_type(key))
    if rule is None:
        return f"{key}: 未知的关键词类型"
    if not value:
        return f"{key}: 不能为空"
    if len(value) > rule.limit:
        return f"{key}: 超过{rule.what}"
    if rule.pattern is not None and not rule.pattern.fullmatch(value):
        return f"{key}: 须为{rule.what}"
    return None


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, still saying what it says."""
    text = " ".join(str(text).split())
    for long, short in SHORT_FORMS:
        if len(text) <= limit:
            return text
        text = text.replace(long, short)
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = max(head.rfind(mark) for mark in _PUNCTUATION)
    if cut >= limit * 2 // 3:  # a whole clause that keeps most of the text
        return head[:cut] + "…"
    return head + "…"


def fit(key: str, value: Any) -> dict[str, str]:
    """The ``{"value": …}`` WeChat takes for this keyword, shortened to its type's rule."""
    kind = field_type(key)
    if kind not in RULES:
        raise ValueError(f"unknown keyword type in {key!r}")
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_TZ).strftime(
            "%Y年%m月%d日" if kind == "date" else "%Y年%m月%d日 %H:%M"
        )
    text = " ".join(str(value).split())
    if kind == "thing":
        text = shorten(text, RULES["thing"].limit)
    elif kind == "phrase":
        text = "".join(re.findall(r"[\u4e00-\u9fff]", text))[: RULES["phrase"].limit]
    elif kind == "character_string":
        text = "".join(re.findall(r"[\x21-\x7e]", text))[: RULES["character_string"].limit]
    reason = problem(key, text)
    if reason:
        # A number, an amount or a time that breaks its rule is a bug in the caller, not
        # something to cut into a different number.
        raise ValueError(f"template keyword {reason} ({text!r})")
    return {"value": text}


def fit_all(values: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {key: fit(key, value) for key, value in values.items()}
