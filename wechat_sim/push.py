"""Messages as WeChat pushes them to the account's server URL, and its replies read back.

WeChat's formats: the XML of each message and event, the ``signature`` over token,
timestamp and nonce, and in compatible and safe modes the AES envelope (``Encrypt``) with its
``msg_signature``. The chat page and the tests build their pushes here.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.crypto import PrpCrypto

MODES = ("plaintext", "compatible", "safe")
_msg_ids = itertools.count(int(time.time() * 1000) % 10**9 * 10**7)


@dataclass(frozen=True)
class Account:
    """The official account as WeChat knows it."""

    token: str
    appid: str
    original_id: str
    aes_key: str = ""

    @property
    def mode(self) -> str:
        return "safe" if self.aes_key else "plaintext"


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def cdata(value: str) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(fields: dict[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        text = str(value) if isinstance(value, int) else cdata(value)
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def new_msg_id() -> int:
    return next(_msg_ids)


def text_message(
    account: Account,
    openid: str,
    content: str,
    *,
    msg_id: int | None = None,
    create_time: int | None = None,
) -> str:
    return render_xml(
        {
            "ToUserName": account.original_id,
            "FromUserName": openid,
            "CreateTime": create_time or int(time.time()),
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id or new_msg_id(),
        }
    )


def event_message(
    account: Account,
    openid: str,
    event: str,
    *,
    key: str | None = None,
    ticket: str | None = None,
    create_time: int | None = None,
    menu_id: str | None = None,
) -> str:
    return render_xml(
        {
            "ToUserName": account.original_id,
            "FromUserName": openid,
            "CreateTime": create_time or int(time.time()),
            "MsgType": "event",
            "Event": event,
            "EventKey": key,
            "Ticket": ticket,
            "MenuId": menu_id,
        }
    )


def _aes_key(account: Account) -> bytes:
    return base64.b64decode(account.aes_key + "=")


def encrypt(account: Account, xml: str) -> str:
    return PrpCrypto(_aes_key(account)).encrypt(xml, account.appid).decode()


def decrypt(account: Account, encrypted: str) -> str:
    return PrpCrypto(_aes_key(account)).decrypt(encrypted, account.appid)


def signed_push(
    account: Account,
    xml: str,
    *,
    mode: str | None = None,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """The query string and body of one push, as WeChat sends it in the given mode."""
    mode = mode or account.mode
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**10))
    openid = xmltodict.parse(xml)["xml"].get("FromUserName", "")
    query = {
        "signature": sha1_signature(account.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }
    if mode == "plaintext":
        return query, xml.encode()
    encrypted = encrypt(account, xml)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = sha1_signature(account.token, timestamp, nonce, encrypted)
    if mode == "compatible":
        body = xml.removesuffix("</xml>") + f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    else:
        body = render_xml({"ToUserName": account.original_id, "Encrypt": encrypted})
    return query, body.encode()


class ReplyError(ValueError):
    """The server's answer is not one WeChat would accept (the user would see
    "该公众号暂时无法提供服务")."""


def read_reply(account: Account, body: bytes, *, encrypted: bool) -> dict[str, Any] | None:
    """The reply as a dict (``None`` for ``success`` or an empty answer)."""
    text = body.decode().strip()
    if text in ("", "success"):
        return None
    try:
        outer = xmltodict.parse(text)["xml"]
    except Exception as exc:
        raise ReplyError(f"not XML: {text[:80]!r}") from exc
    if encrypted:
        if "Encrypt" not in outer:
            raise ReplyError("plaintext reply in an encrypted conversation")
        expected = sha1_signature(
            account.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]
        )
        if outer.get("MsgSignature") != expected:
            raise ReplyError("reply MsgSignature does not match")
        outer = xmltodict.parse(decrypt(account, outer["Encrypt"]))["xml"]
    for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not outer.get(name):
            raise ReplyError(f"reply lacks {name}")
    return dict(outer)


def describe_reply(reply: dict[str, Any] | None) -> dict[str, Any] | None:
    """A reply as the chat page shows it."""
    if reply is None:
        return None
    kind = reply["MsgType"]
    if kind == "text":
        return {"type": "text", "content": reply.get("Content", "")}
    if kind == "news":
        items = reply.get("Articles", {}).get("item", [])
        items = items if isinstance(items, list) else [items]
        return {
            "type": "news",
            "articles": [
                {
                    "title": i.get("Title", ""),
                    "description": i.get("Description", ""),
                    "url": i.get("Url", ""),
                }
                for i in items
            ],
        }
    if kind == "transfer_customer_service":
        return {"type": "transfer", "content": "已转接人工客服，请稍候，客服人员将在这里回复您。"}
    return {"type": kind, "content": escape(str(reply))}


def describe_sent(xml: str) -> dict[str, Any]:
    """What went out, for the page's developer panel."""
    return {"xml": xml, "fields": dict(xmltodict.parse(xml)["xml"])}
