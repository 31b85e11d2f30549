"""WeChat's web authorisation page (网页授权): pick who you are, get sent back with a code.

Inside the chat page the user is already known (a ``sim_user`` cookie), so snsapi_base passes
silently as it does in WeChat; elsewhere the page lets you pick one of the demo WeChat users.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, current_app, redirect, render_template, request

from wechat_sim.api import state

bp = Blueprint("sim_oauth", __name__)

USER_COOKIE = "sim_user"


def _problem(args) -> str | None:
    if args.get("appid") != current_app.config["APPID"]:
        return "appid 参数错误（40013）"
    if args.get("response_type") != "code":
        return "response_type 参数错误"
    if args.get("scope") not in {"snsapi_base", "snsapi_userinfo"}:
        return "scope 参数错误或没有 scope 权限（10005）"
    target = urlsplit(args.get("redirect_uri", ""))
    allowed = urlsplit(current_app.config["PLATFORM_BASE_URL"])
    if target.scheme not in {"http", "https"} or target.netloc != allowed.netloc:
        return "redirect_uri 域名与后台配置不一致（10003）"
    return None


def _back(args, openid: str):
    code = state().issue_code(openid, args["scope"])
    separator = "&" if "?" in args["redirect_uri"] else "?"
    query = {"code": code}
    if args.get("state"):
        query["state"] = args["state"]
    return redirect(args["redirect_uri"] + separator + urlencode(query))


@bp.get("/connect/oauth2/authorize")
def authorize():
    problem = _problem(request.args)
    if problem:
        return render_template("sim/authorize_error.html", problem=problem), 400
    current = request.cookies.get(USER_COOKIE)
    if (
        current in state().users
        and request.args.get("scope") == "snsapi_base"
        and not request.args.get("pick")
    ):
        return _back(request.args, current)
    return render_template(
        "sim/authorize.html", users=list(state().users.values()), args=request.args
    )


@bp.post("/connect/oauth2/authorize")
def authorize_choose():
    problem = _problem(request.form)
    openid = request.form.get("openid")
    if problem or openid not in state().users:
        return render_template("sim/authorize_error.html", problem=problem or "请选择微信用户"), 400
    return _back(request.form, openid)
