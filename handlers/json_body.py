"""The player's JSON bodies: read within a size limit, parsed without surprises.

The three study endpoints (``POST /api/study/sessions``, ``/heartbeats``, ``/answers``)
take small flat JSON objects. Anything else is refused with a 4xx and a message in Chinese
before a rule sees it: another content type, more than ``MAX_BODY_BYTES``, bytes that are
not UTF-8, malformed JSON, JSON nested deeper than the parser's recursion limit (a body of
``[`` characters), ``NaN`` and ``Infinity`` (which Python's ``json`` accepts by default),
and a value that is not an object.
"""

from __future__ import annotations

import json
import math
from typing import Any

from services.errors import ServiceError, ValidationError

MAX_BODY_BYTES = 4096

NOT_AN_OBJECT = "请求格式不正确：请以 JSON 对象提交。"


class BodyTooLarge(ServiceError):
    status_code = 413
    code = "too_large"


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


# One decoder for every body: ``json.loads`` with keyword arguments builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def read_body(environ: dict[str, Any]) -> bytes:
    """The request's body, at most ``MAX_BODY_BYTES`` (a longer one is refused unread)."""
    length_header = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length_header:
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            raise ValidationError(None, "请求格式不正确：请求长度（Content-Length）无法识别。")
        if length > MAX_BODY_BYTES:
            raise BodyTooLarge(_too_large())
        return stream.read(length) if length else b""
    # Without a length, only a server that ends the stream itself (chunked bodies) is read.
    if environ.get("wsgi.input_terminated"):
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise BodyTooLarge(_too_large())
        return raw
    return b""


def _too_large() -> str:
    return f"请求过大：学习记录的请求不能超过 {MAX_BODY_BYTES // 1024} KB。"


def is_json_type(content_type: str) -> bool:
    mimetype = content_type.partition(";")[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def parse_object(raw: bytes, content_type: str) -> dict[str, Any]:
    """The body as a JSON object, or a ``ValidationError`` saying what is wrong with it."""
    if not is_json_type(content_type):
        raise ValidationError(
            None, "请求格式不正确：请以 JSON 对象提交（Content-Type: application/json）。"
        )
    try:
        body = _DECODER.decode(raw.decode())
    except UnicodeDecodeError:
        raise ValidationError(None, "请求格式不正确：请求内容不是 UTF-8 编码的文字。") from None
    except _NotFinite:
        raise ValidationError(
            None, "请求格式不正确：数值必须是有限的数字，不能是 NaN 或 Infinity。"
        ) from None
    except RecursionError:
        raise ValidationError(None, "请求格式不正确：JSON 嵌套层数过多。") from None
    except ValueError:
        raise ValidationError(None, "请求格式不正确：不是有效的 JSON。") from None
    if not isinstance(body, dict):
        raise ValidationError(None, NOT_AN_OBJECT)
    return body


def number(body: dict[str, Any], field: str, kind: type = float) -> Any:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"缺少或无法识别的字段：{field}。")
    if isinstance(value, float) and not math.isfinite(value):  # 1e400 parses as infinity
        raise ValidationError(field, f"字段 {field} 应为有限的数字。")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError(field, f"字段 {field} 应为整数。")
        return int(value)
    return float(value)


def text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationError(field, f"缺少或无法识别的字段：{field}。")
    return value
