"""操作手册 and 在线客服: the platform's user manual and how to reach customer service, linked
from the official account's menu and the learner pages."""

from __future__ import annotations

from flask import render_template

from handlers.h5 import bp


@bp.get("/manual")
def manual():
    return render_template("wechat/manual.html")


@bp.get("/service")
def service():
    """在线客服: the telephone lines and the official account's message entry."""
    return render_template("wechat/service.html")
