"""The trimmed WeUI stylesheet the pages load is up to date and keeps what they use."""

from __future__ import annotations

import re

from wxapp import weui_trim


def test_the_trimmed_stylesheet_is_up_to_date():
    assert weui_trim.TRIMMED.read_text(encoding="utf-8") == weui_trim.trimmed_css(), (
        "run: flask --app wsgi assets weui-trim"
    )


def test_every_weui_class_the_pages_name_keeps_its_rules():
    full = weui_trim.SOURCE.read_text(encoding="utf-8")
    trimmed = weui_trim.TRIMMED.read_text(encoding="utf-8")
    exact, _ = weui_trim.used_classes()
    for name in exact:
        pattern = re.compile(rf"\.{re.escape(name)}(?![A-Za-z0-9_-])")
        assert bool(pattern.search(full)) == bool(pattern.search(trimmed)), name
    assert len(trimmed) < len(full) / 2
    assert trimmed.count("{") == trimmed.count("}")


def test_trimming_drops_unused_selectors_and_keeps_the_rest():
    css = (
        "/*! licence */:root{--a:1}.weui-btn,.weui-unused{color:red}.weui-gone{x:1}"
        "@media (min-width:1px){.weui-gone{x:2}.weui-btn{x:3}}@keyframes k{0%{a:1}}"
        ".weui-toptips_warn{x:4}"
    )
    out = weui_trim.trim(css, {"weui-btn"}, {"weui-toptips_"})
    assert out == (
        "/*! licence */:root{--a:1}.weui-btn{color:red}"
        "@media (min-width:1px){.weui-btn{x:3}}@keyframes k{0%{a:1}}.weui-toptips_warn{x:4}"
    )


def test_the_command_writes_the_file(runner):
    result = runner.invoke(args=["assets", "weui-trim"])
    assert result.exit_code == 0 and "weui.used.css" in result.output
