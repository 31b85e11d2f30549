"""WeUI's stylesheet without the rules of components our pages never use.

``static/weui/weui.min.css`` is WeUI as published; ``static/weui/weui.used.css`` is what the
pages load: every rule kept whose selectors name only WeUI classes that occur somewhere in
the templates, scripts or Python of the project (a class written with a Jinja expression,
``weui-toptips_{{ … }}``, keeps every class it could become). Rules that name no WeUI class
(variables, themes, ``body``), ``@font-face`` and ``@keyframes`` are kept whole; ``@media``
and ``@supports`` blocks are trimmed inside. ``flask --app wsgi assets weui-trim`` writes
the file again; a test fails when it is out of date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from wxapp.config import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "static" / "weui" / "weui.min.css"
TRIMMED = PROJECT_ROOT / "static" / "weui" / "weui.used.css"
SCANNED = ("templates_h5", "static/js", "handlers", "services", "wxapp", "wechat_sim")
_CLASS = re.compile(r"weui-[A-Za-z0-9_-]*")
_SELECTOR_CLASS = re.compile(r"\.(weui-[A-Za-z0-9_-]+)")


def used_classes(root: Path = PROJECT_ROOT) -> tuple[set[str], set[str]]:
    """The WeUI classes the project names, and the prefixes it completes at run time."""
    exact: set[str] = set()
    prefixes: set[str] = set()
    for folder in SCANNED:
        for path in (root / folder).rglob("*"):
            if path.suffix not in {".html", ".js", ".py"} or path.name == "weui_trim.py":
                continue
            text = path.read_text(encoding="utf-8")
            for match in _CLASS.finditer(text):
                name = match.group(0)
                after = text[match.end() : match.end() + 2]
                if name.endswith(("_", "-")) or after.startswith(("{{", "{%", "'", '" +', "$")):
                    prefixes.add(name)
                exact.add(name)
    return exact, prefixes


def _blocks(css: str) -> Iterable[tuple[str, str]]:
    """(prelude, body) of each top-level block; a bare statement has body ``None``-like ''."""
    index, length = 0, len(css)
    while index < length:
        brace = css.find("{", index)
        semicolon = css.find(";", index)
        if brace == -1:
            yield css[index:].strip(), ""
            return
        if semicolon != -1 and semicolon < brace:  # @charset, @import
            yield css[index : semicolon + 1].strip(), ""
            index = semicolon + 1
            continue
        depth, end = 0, brace
        while end < length:
            if css[end] == "{":
                depth += 1
            elif css[end] == "}":
                depth -= 1
                if depth == 0:
                    break
            end += 1
        yield css[index:brace].strip(), css[brace + 1 : end]
        index = end + 1


def _split_selectors(prelude: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for position, char in enumerate(prelude):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(prelude[start:position])
            start = position + 1
    parts.append(prelude[start:])
    return [part.strip() for part in parts if part.strip()]


def _keeps(selector: str, exact: set[str], prefixes: set[str]) -> bool:
    for name in _SELECTOR_CLASS.findall(selector):
        if name not in exact and not any(name.startswith(prefix) for prefix in prefixes):
            return False
    return True


def trim(css: str, exact: set[str], prefixes: set[str]) -> str:
    out: list[str] = []
    licence = re.match(r"\s*/\*!.*?\*/", css, re.S)
    if licence:
        out.append(licence.group(0).strip())
        css = css[licence.end() :]
    for prelude, body in _blocks(css):
        if not prelude:
            continue
        if not body and prelude.endswith(";"):
            out.append(prelude)
        elif prelude.startswith(("@media", "@supports")):
            inner = trim(body, exact, prefixes)
            if inner:
                out.append(f"{prelude}{{{inner}}}")
        elif prelude.startswith("@"):
            out.append(f"{prelude}{{{body}}}")
        else:
            kept = [s for s in _split_selectors(prelude) if _keeps(s, exact, prefixes)]
            if kept:
                out.append(f"{','.join(kept)}{{{body}}}")
    return "".join(out)


def trimmed_css(root: Path = PROJECT_ROOT) -> str:
    exact, prefixes = used_classes(root)
    return trim(SOURCE.read_text(encoding="utf-8"), exact, prefixes) + "\n"


def write_trimmed() -> tuple[int, int]:
    css = trimmed_css()
    TRIMMED.write_text(css, encoding="utf-8")
    return SOURCE.stat().st_size, len(css.encode())
