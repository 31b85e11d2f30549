"""The WeChat HTTP APIs the platform calls, with WeChat's JSON shapes and error codes."""

from __future__ import annotations

import io
import json
import secrets
import time
from typing import Any

import qrcode
from flask import Blueprint, Response, abort, current_app, jsonify, request

from wechat_sim import fields
from wechat_sim.state import ACCESS_TOKEN_SECONDS, QuotaRefusal, SimState

bp = Blueprint("sim_api", __name__)

QR_MAX_EXPIRE_SECONDS = 30 * 24 * 3600


def state() -> SimState:
    return current_app.extensions["wechat_sim"]


@bp.before_request
def slow_down() -> None:
    if state().api_delay:
        time.sleep(state().api_delay)


def error(code: int, message: str) -> Response:
    # WeChat answers errors with HTTP 200 and an errcode.
    return jsonify({"errcode": code, "errmsg": message})


def ok(**extra: Any) -> Response:
    return jsonify({"errcode": 0, "errmsg": "ok", **extra})


def json_body() -> dict[str, Any] | None:
    try:
        data = json.loads(request.get_data() or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def check_app(appid: str | None, secret: str | None) -> Response | None:
    if appid != current_app.config["APPID"]:
        return error(40013, "invalid appid")
    if secret != current_app.config["APP_SECRET"]:
        return error(40125, "invalid appsecret")
    return None


def token_refusal() -> Response | None:
    problem = state().check_token(request.args.get("access_token"))
    return error(*problem) if problem else None


# --- access token --------------------------------------------------------------------
@bp.get("/cgi-bin/token")
def token():
    if request.args.get("grant_type") != "client_credential":
        return error(40002, "invalid grant_type")
    refusal = check_app(request.args.get("appid"), request.args.get("secret"))
    if refusal:
        return refusal
    issued = state().issue_token(current_app.config.get("TOKEN_SECONDS", ACCESS_TOKEN_SECONDS))
    return jsonify(
        {"access_token": issued.value, "expires_in": int(issued.expires_at - time.time() + 0.5)}
    )


@bp.post("/cgi-bin/stable_token")
def stable_token():
    data = json_body()
    if data is None:
        return error(47001, "data format error")
    if data.get("grant_type") != "client_credential":
        return error(40002, "invalid grant_type")
    refusal = check_app(data.get("appid"), data.get("secret"))
    if refusal:
        return refusal
    force = data.get("force_refresh", False)
    if not isinstance(force, bool):
        return error(40097, "invalid args: force_refresh")
    try:
        current = state().stable(
            force_refresh=force,
            seconds=current_app.config.get("TOKEN_SECONDS", ACCESS_TOKEN_SECONDS),
        )
    except QuotaRefusal as refused:
        return error(refused.errcode, refused.errmsg)
    return jsonify(
        {"access_token": current.value, "expires_in": int(current.expires_at - time.time() + 0.5)}
    )


# --- menu --------------------------------------------------------------------------
def _menu_problem(menu: dict[str, Any]) -> tuple[int, str] | None:
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016, "invalid button size"
    for button in buttons:
        name = str(button.get("name", ""))
        if not name or len(name.encode()) > 16:
            return 40018, "invalid button name size"
        subs = button.get("sub_button") or []
        if len(subs) > 5:
            return 40023, "invalid sub button size"
        for item in subs or [button]:
            if item is not button and (not item.get("name") or len(item["name"].encode()) > 60):
                return 40021, "invalid sub button name size"
            kind = item.get("type")
            if kind == "click" and not 0 < len(str(item.get("key", "")).encode()) <= 128:
                return 40019, "invalid button key size"
            if kind == "view" and not str(item.get("url", "")).startswith(("http://", "https://")):
                return 40055, "invalid button url domain"
            if kind not in {"click", "view"}:
                return 40017, "invalid button type"
    return None


@bp.post("/cgi-bin/menu/create")
def menu_create():
    refusal = token_refusal()
    if refusal:
        return refusal
    menu = json_body()
    if menu is None:
        return error(47001, "data format error")
    problem = _menu_problem(menu)
    if problem:
        return error(*problem)
    state().menu = menu
    return ok()


@bp.get("/cgi-bin/menu/get")
def menu_get():
    refusal = token_refusal()
    if refusal:
        return refusal
    menu = state().menu
    if menu is None:
        return error(46003, "menu no exist")
    return jsonify({"menu": menu})


# --- parametric QR codes ------------------------------------------------------------
@bp.post("/cgi-bin/qrcode/create")
def qrcode_create():
    refusal = token_refusal()
    if refusal:
        return refusal
    data = json_body()
    if data is None:
        return error(47001, "data format error")
    action = data.get("action_name")
    scene = (data.get("action_info") or {}).get("scene") or {}
    if action in {"QR_STR_SCENE", "QR_LIMIT_STR_SCENE"}:
        value = str(scene.get("scene_str", ""))
        if not 1 <= len(value) <= 64:
            return error(40097, "invalid args: scene_str length must be 1-64")
    elif action in {"QR_SCENE", "QR_LIMIT_SCENE"}:
        value = str(scene.get("scene_id", ""))
        if not value.isdigit():
            return error(40097, "invalid args: scene_id")
    else:
        return error(40097, "invalid args: action_name")
    temporary = action in {"QR_SCENE", "QR_STR_SCENE"}
    expire = min(int(data.get("expire_seconds") or 30), QR_MAX_EXPIRE_SECONDS)
    ticket = "gQ" + secrets.token_urlsafe(30)
    url = "http://weixin.qq.com/q/" + secrets.token_urlsafe(16)
    record = {
        "ticket": ticket,
        "url": url,
        "scene": value,
        "temporary": temporary,
        "expires_at": time.time() + expire if temporary else None,
        "created_at": time.time(),
    }
    with state().lock:
        state().qrcodes[ticket] = record
    answer: dict[str, Any] = {"ticket": ticket, "url": url}
    if temporary:
        answer["expire_seconds"] = expire
    return jsonify(answer)


@bp.get("/cgi-bin/showqrcode")
def showqrcode():
    record = state().qrcodes.get(request.args.get("ticket", ""))
    if record is None or (record["expires_at"] and record["expires_at"] < time.time()):
        abort(404)
    image = qrcode.make(record["url"], border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Response(buffer.getvalue(), mimetype="image/png")


# --- messages ------------------------------------------------------------------------
@bp.post("/cgi-bin/message/template/send")
def template_send():
    refusal = token_refusal()
    if refusal:
        return refusal
    fault = state().take_template_fault()
    if fault == "unavailable":
        return Response("Service Unavailable", status=503)
    answer = _template_send()
    if fault == "late":
        time.sleep(state().late_seconds)  # the message is taken; the answer comes too late
    return answer


def _template_send():
    data = json_body()
    if data is None or not isinstance(data.get("data"), dict):
        return error(47001, "data format error")
    sim = state()
    touser = data.get("touser")
    if touser not in sim.users:
        return error(40003, "invalid openid")
    if data.get("template_id") not in set(current_app.config.get("TEMPLATE_IDS") or ()):
        return error(40037, "invalid template_id")
    if touser not in sim.subscribed:
        return error(43004, "require subscribe")
    problem = fields.refusal(data["data"])
    if problem:
        return error(*problem)
    client_msg_id = data.get("client_msg_id")
    if client_msg_id is not None and (
        not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= 64
    ):
        return error(40097, "invalid args: client_msg_id")
    try:
        msgid = sim.send_template(
            {
                "touser": touser,
                "template_id": data["template_id"],
                "url": data.get("url"),
                "data": data["data"],
                "client_msg_id": client_msg_id,
            },
            client_msg_id,
        )
    except QuotaRefusal as refused:
        return error(refused.errcode, refused.errmsg)
    return ok(msgid=msgid)


@bp.post("/cgi-bin/message/subscribe/bizsend")
def subscribe_bizsend():
    refusal = token_refusal()
    if refusal:
        return refusal
    data = json_body()
    if data is None or not isinstance(data.get("data"), dict):
        return error(47001, "data format error")
    sim = state()
    touser = data.get("touser")
    if touser not in sim.users:
        return error(40003, "invalid openid")
    if data.get("template_id") not in set(current_app.config.get("TEMPLATE_IDS") or ()):
        return error(40037, "invalid template_id")
    problem = fields.refusal(data["data"])
    if problem:
        return error(*problem)
    try:
        msgid = sim.send_subscribed(
            {
                "touser": touser,
                "template_id": data["template_id"],
                "page": data.get("page"),
                "data": data["data"],
            }
        )
    except QuotaRefusal as refused:
        return error(refused.errcode, refused.errmsg)
    return ok(msgid=msgid)


@bp.post("/cgi-bin/message/custom/send")
def custom_send():
    refusal = token_refusal()
    if refusal:
        return refusal
    data = json_body()
    if data is None or data.get("msgtype") not in {"text", "news", "link"}:
        return error(47001, "data format error")
    sim = state()
    if data.get("touser") not in sim.users:
        return error(40003, "invalid openid")
    if data["touser"] not in sim.subscribed:
        return error(43004, "require subscribe")
    sim.record_custom(
        {"touser": data["touser"], "msgtype": data["msgtype"], "body": data.get(data["msgtype"])}
    )
    return ok()


@bp.get("/cgi-bin/ticket/getticket")
def getticket():
    refusal = token_refusal()
    if refusal:
        return refusal
    if request.args.get("type") != "jsapi":
        return error(40097, "invalid args: type")
    ticket = "sim_jsapi_" + secrets.token_urlsafe(24)
    with state().lock:
        state().jsapi_tickets.append(ticket)
    return ok(ticket=ticket, expires_in=ACCESS_TOKEN_SECONDS)


# --- web authorisation (网页授权) ----------------------------------------------------
@bp.get("/sns/oauth2/access_token")
def oauth_access_token():
    if request.args.get("grant_type") != "authorization_code":
        return error(40002, "invalid grant_type")
    refusal = check_app(request.args.get("appid"), request.args.get("secret"))
    if refusal:
        return refusal
    sim = state()
    with sim.lock:
        grant = sim.oauth_codes.get(request.args.get("code", ""))
        if grant is None or grant.expires_at < time.time():
            return error(40029, "invalid code")
        if grant.used:
            return error(40163, "code been used")
        grant.used = True
        token = "SIMOAUTH_" + secrets.token_urlsafe(24)
        sim.oauth_tokens[token] = grant
    answer: dict[str, Any] = {
        "access_token": token,
        "expires_in": 7200,
        "refresh_token": "SIMREFRESH_" + secrets.token_urlsafe(24),
        "openid": grant.openid,
        "scope": grant.scope,
    }
    if sim.users[grant.openid].is_snapshotuser:
        answer["is_snapshotuser"] = 1
    return jsonify(answer)


@bp.get("/sns/userinfo")
def oauth_userinfo():
    grant = state().oauth_tokens.get(request.args.get("access_token", ""))
    if grant is None:
        return error(40001, "invalid credential, access_token is invalid or not latest")
    if grant.scope != "snsapi_userinfo":
        return error(48001, "api unauthorized")
    if request.args.get("openid") != grant.openid:
        return error(40003, "invalid openid")
    user = state().users[grant.openid]
    return jsonify(
        {
            "openid": user.openid,
            "nickname": user.nickname,
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": "",
            "privilege": [],
        }
    )
