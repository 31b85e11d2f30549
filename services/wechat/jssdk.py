"""JS-SDK configuration (wx.config) for H5 pages."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from flask import current_app

from services.errors import ExternalServiceError, ValidationError


def signable_url(url: str) -> str:
    """WeChat signs the page's URL without its ``#fragment``; only our own pages are signed."""
    page = url.split("#", 1)[0]
    ours = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    parts = urlsplit(page)
    if parts.scheme != ours.scheme or parts.netloc != ours.netloc:
        raise ValidationError("url", "只能为本平台的页面生成 JS-SDK 签名。")
    return page


def jssdk_config(url: str, *, timestamp: int | None = None, nonce: str | None = None) -> dict:
    from infra.wechat_client import WECHAT_FAILURES, describe_failure, get_wechat_client

    page = signable_url(url)
    client = get_wechat_client()
    timestamp = timestamp or int(time.time())
    nonce = nonce or secrets.token_hex(8)
    try:
        ticket = client.jsapi.get_jsapi_ticket()
    except WECHAT_FAILURES as exc:
        raise ExternalServiceError(
            f"暂时无法获取微信 JS 接口签名（{describe_failure(exc)}）"
        ) from exc
    return {
        "appId": current_app.config["WECHAT_APPID"],
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": client.jsapi.get_jsapi_signature(nonce, ticket, timestamp, page),
    }
