"""The official account's server URL: WeChat's GET check and its message pushes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from infra.transaction import commit
from services.wechat import conversation, inbox, jssdk
from services.wechat.envelope import AccountKeys, PushRefused, echo_for, open_push, seal_reply

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__, url_prefix="/wechat")


def account_keys() -> AccountKeys:
    config = current_app.config
    return AccountKeys(
        token=config["WECHAT_TOKEN"],
        appid=config["WECHAT_APPID"],
        aes_key=config["WECHAT_AES_KEY"],
        original_id=config["WECHAT_ORIGINAL_ID"],
    )


def xml_answer(body: str, status: int = 200) -> Response:
    mimetype = "application/xml" if body.startswith("<") else "text/plain"
    return Response(body, status=status, mimetype=mimetype)


@bp.get("")
def verify():
    echo = echo_for(account_keys(), request.args)
    if echo is None:
        log.warning("WeChat server check with a bad signature from %s", request.remote_addr)
        return Response("signature mismatch", status=403, mimetype="text/plain")
    return Response(echo, mimetype="text/plain")


def _read_body(limit: int) -> bytes | None:
    """At most ``limit`` bytes; ``None`` when the push is larger."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


@bp.post("")
def receive():
    keys = account_keys()
    limit = current_app.config["WECHAT_MESSAGE_MAX_BYTES"]
    body = _read_body(limit)
    if body is None:
        log.warning("WeChat push refused: body over %s bytes", limit)
        return xml_answer("success")
    try:
        push = open_push(keys, request.args, body)
    except PushRefused as refused:
        log.warning("WeChat push refused: %s", refused.reason)
        return xml_answer("success" if refused.status == 200 else "forbidden", refused.status)

    def answer() -> str:
        reply = conversation.answer(push.message)
        commit()
        return reply.render(push.message) if reply else ""

    try:
        reply_xml = inbox.answer_once(push.dedupe_key, answer)
    except Exception:
        # Not remembered as answered: WeChat's retry gets another chance.
        log.exception("WeChat push %s could not be answered", push.dedupe_key)
        reply_xml = conversation.busy_reply().render(push.message)
    return xml_answer(seal_reply(keys, reply_xml, encrypted=push.encrypted))


@bp.get("/jssdk-config")
def jssdk_config():
    """wx.config for the page at ``url`` (H5 pages call this with location.href)."""
    return jsonify(jssdk.jssdk_config(request.args.get("url", "")))
