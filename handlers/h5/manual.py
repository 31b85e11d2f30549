"""操作手册: the platform's user manual, linked from the official account's menu."""

from __future__ import annotations

from flask import render_template

from handlers.h5 import bp


@bp.get("/manual")
def manual():
    return render_template("wechat/manual.html")
