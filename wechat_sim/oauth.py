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


# --- 订阅通知: WeChat's consent page (subscribemsg) ------------------------------------
SUBSCRIBE_FIELDS = ("action", "appid", "scene", "template_id", "redirect_url", "reserved")


def _subscribe_problem(args) -> str | None:
    if args.get("appid") != current_app.config["APPID"]:
        return "appid 参数错误（40013）"
    if args.get("template_id") not in set(current_app.config.get("TEMPLATE_IDS") or ()):
        return "template_id 不正确（40037）"
    scene = args.get("scene", "")
    if not scene.isdigit() or not 0 <= int(scene) <= 10000:
        return "scene 须为 0–10000 的整数"
    if len(args.get("reserved", "")) > 1024:
        return "reserved 超过 1024 字节"
    target = urlsplit(args.get("redirect_url", ""))
    allowed = urlsplit(current_app.config["PLATFORM_BASE_URL"])
    if target.scheme not in {"http", "https"} or target.netloc != allowed.netloc:
        return "redirect_url 域名与后台配置不一致（10003）"
    return None


@bp.get("/mp/subscribemsg")
def subscribemsg():
    if request.args.get("action") != "get_confirm":
        return render_template("sim/authorize_error.html", problem="action 参数错误"), 400
    problem = _subscribe_problem(request.args)
    if problem:
        return render_template("sim/authorize_error.html", problem=problem), 400
    current = request.cookies.get(USER_COOKIE)
    users = [state().users[current]] if current in state().users else list(state().users.values())
    return render_template("sim/subscribe.html", users=users, args=request.args)


@bp.post("/mp/subscribemsg")
def subscribemsg_answer():
    form = request.form
    problem = _subscribe_problem(form)
    openid = form.get("openid", "")
    if problem or openid not in state().users:
        return render_template("sim/authorize_error.html", problem=problem or "请选择微信用户"), 400
    action = "confirm" if form.get("answer") == "confirm" else "cancel"
    if action == "confirm":
        state().consent(openid, form["template_id"])
    query = {
        "openid": openid,
        "template_id": form["template_id"],
        "action": action,
        "scene": form["scene"],
        "reserved": form.get("reserved", ""),
    }
    separator = "&" if "?" in form["redirect_url"] else "?"
    return redirect(form["redirect_url"] + separator + urlencode(query))
