"""The phone-frame chat with the official account, for people trying the platform.

Every tap becomes the XML WeChat would push (signed, and encrypted in safe mode), posted to
the platform's ``/wechat`` with WeChat's retry rule (no answer within 5 s: try again, three
times); replies come back as bubbles. Template and customer-service messages the platform
sends to the user show up in the same conversation.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import requests
from flask import Blueprint, current_app, jsonify, make_response, render_template, request

from wechat_sim import push
from wechat_sim.api import state
from wechat_sim.oauth import USER_COOKIE

log = logging.getLogger(__name__)

bp = Blueprint("sim_chat", __name__)

PUSH_TIMEOUT_SECONDS = 5
PUSH_RETRIES = 3
_LINK = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.S)


def account() -> push.Account:
    config = current_app.config
    return push.Account(
        token=config["TOKEN"],
        appid=config["APPID"],
        original_id=config["ORIGINAL_ID"],
        aes_key=config.get("AES_KEY") or "",
    )


def deliver(xml: str) -> dict[str, Any]:
    """Push one message to the platform as WeChat does; the reply read back, or the failure."""
    acct = account()
    url = current_app.config["PLATFORM_BASE_URL"] + "/wechat"
    started = time.monotonic()
    for attempt in range(1 + PUSH_RETRIES):
        query, body = push.signed_push(acct, xml)
        try:
            response = requests.post(
                url,
                params=query,
                data=body,
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=PUSH_TIMEOUT_SECONDS,
            )
        except requests.Timeout:
            log.info("push timed out (attempt %s); WeChat retries", attempt + 1)
            continue
        except requests.RequestException as exc:
            return {"error": f"无法连接公众号服务器：{exc}"}
        if response.status_code != 200:
            return {
                "error": f"公众号服务器返回 HTTP {response.status_code}",
                "status": response.status_code,
            }
        try:
            reply = push.read_reply(acct, response.content, encrypted=bool(acct.aes_key))
        except push.ReplyError as exc:
            return {"error": f"该公众号暂时无法提供服务（{exc}）"}
        return {
            "reply": segments(push.describe_reply(reply)),
            "attempts": attempt + 1,
            "ms": round((time.monotonic() - started) * 1000),
        }
    return {"error": "该公众号暂时无法提供服务（5 秒内无应答，已重试 3 次）"}


def segments(reply: dict[str, Any] | None) -> dict[str, Any] | None:
    """Text with <a href> links split into pieces the page renders without HTML."""
    if reply is None or "content" not in reply:
        return reply
    content, parts, last = reply["content"], [], 0
    for match in _LINK.finditer(content):
        if match.start() > last:
            parts.append({"text": content[last : match.start()]})
        parts.append({"text": match.group(2), "href": match.group(1)})
        last = match.end()
    if last < len(content):
        parts.append({"text": content[last:]})
    return {**reply, "parts": parts}


def _user(openid: str | None):
    return state().users.get(openid or "")


@bp.get("/")
@bp.get("/chat")
def chat():
    users = list(state().users.values())
    current = _user(request.args.get("user")) or _user(request.cookies.get(USER_COOKIE)) or users[0]
    response = make_response(
        render_template("sim/chat.html", users=users, current=current, mode=account().mode)
    )
    response.set_cookie(USER_COOKIE, current.openid, samesite="Lax", httponly=True)
    return response


@bp.get("/chat/api/state")
def chat_state():
    sim = state()
    openid = request.args.get("user", "")
    if _user(openid) is None:
        return jsonify({"error": "未知的微信用户"}), 404
    with sim.lock:
        qrcodes = [
            {"ticket": q["ticket"], "scene": q["scene"], "temporary": q["temporary"]}
            for q in sim.qrcodes.values()
            if not q["expires_at"] or q["expires_at"] > time.time()
        ]
    return jsonify(
        {
            "menu": (sim.menu or {}).get("button", []),
            "subscribed": openid in sim.subscribed,
            "qrcodes": qrcodes,
            "feed": [_readable(item) for item in sim.feed_for(openid)],
            "mode": account().mode,
        }
    )


def _readable(item: dict[str, Any]) -> dict[str, Any]:
    """Customer-service texts with their links split out, like replies."""
    if item["kind"] == "custom" and item.get("msgtype") == "text":
        return {**item, "reply": segments({"type": "text", "content": item["body"]["content"]})}
    return item


@bp.post("/chat/api/send")
def chat_send():
    data = request.get_json(silent=True) or {}
    openid = data.get("user")
    if _user(openid) is None:
        return jsonify({"error": "未知的微信用户"}), 404
    acct, sim, action = account(), state(), data.get("action")
    if action == "text":
        content = str(data.get("content", "")).strip()[:600]
        if not content:
            return jsonify({"error": "请输入内容"}), 400
        xml = push.text_message(acct, openid, content)
    elif action == "click":
        xml = push.event_message(acct, openid, "CLICK", key=str(data.get("key", "")))
    elif action == "view":
        xml = push.event_message(acct, openid, "VIEW", key=str(data.get("url", "")))
    elif action == "subscribe":
        with sim.lock:
            sim.subscribed.add(openid)
        xml = push.event_message(acct, openid, "subscribe")
    elif action == "unsubscribe":
        with sim.lock:
            sim.subscribed.discard(openid)
        xml = push.event_message(acct, openid, "unsubscribe")
    elif action == "scan":
        code = sim.qrcodes.get(str(data.get("ticket", "")))
        if code is None:
            return jsonify({"error": "二维码已过期或不存在"}), 404
        with sim.lock:
            first = openid not in sim.subscribed
            sim.subscribed.add(openid)
        if first:
            xml = push.event_message(
                acct, openid, "subscribe", key="qrscene_" + code["scene"], ticket=code["ticket"]
            )
        else:
            xml = push.event_message(acct, openid, "SCAN", key=code["scene"], ticket=code["ticket"])
    else:
        return jsonify({"error": "不支持的操作"}), 400
    return jsonify({"sent": push.describe_sent(xml), **deliver(xml)})
