"""The official account's API client (wechatpy), pointed at ``WECHAT_API_BASE``.

One client per app; its access token lives in Redis so that every worker and machine
shares one token.
"""

from __future__ import annotations

from flask import current_app
from wechatpy import WeChatClient
from wechatpy.session.redisstorage import RedisStorage

from wxapp.redis_client import get_redis


def get_wechat_client() -> WeChatClient:
    client = current_app.extensions.get("wechat_client")
    if client is None:
        config = current_app.config
        client = WeChatClient(
            config["WECHAT_APPID"],
            config["WECHAT_SECRET"],
            session=RedisStorage(get_redis(), prefix="wechat"),
            timeout=4,
        )
        client.API_BASE_URL = config["WECHAT_API_BASE"].rstrip("/") + "/cgi-bin/"
        current_app.extensions["wechat_client"] = client
    return client
