"""WeChat's pushes to ``/wechat`` opened safely, and replies sealed for the way they came.

Plaintext mode (no ``WECHAT_AES_KEY``): the body is the message, the ``signature`` covers
token, timestamp and nonce. Compatible and safe modes (a key is configured): the message is
read only from the AES ``Encrypt`` part, whose ``msg_signature`` covers the ciphertext too,
and the reply is encrypted back. With a key configured, a plaintext push is refused: its
signature does not cover the body, so accepting it would let a captured signature carry any
message.

Anything that is not a well-formed message addressed to this account raises ``PushRefused``
with the reason to log; the handler answers it without a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto
from wechatpy.messages import BaseMessage

# openids are 28 characters today; the column holds 64.
OPENID_MAX_LENGTH = 64


class PushRefused(Exception):
    """The push cannot be answered; ``reason`` is for the log, ``status`` for the answer."""

    def __init__(self, reason: str, status: int = 200) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class AccountKeys:
    token: str
    appid: str
    aes_key: str
    original_id: str


@dataclass(frozen=True)
class Push:
    message: BaseMessage
    fields: dict[str, str]
    encrypted: bool

    @property
    def openid(self) -> str:
        return self.fields.get("FromUserName", "")

    @property
    def dedupe_key(self) -> str:
        """Messages by MsgId; events by sender and CreateTime, WeChat's rule for retries. The
        event name, and the MsgID that delivery receipts (TEMPLATESENDJOBFINISH) carry, are
        added so that two different events in one second stay apart."""
        msg_id = self.fields.get("MsgId") or self.fields.get("MsgID") or ""
        if msg_id and self.fields.get("MsgType") != "event":
            return "msg:" + msg_id
        created, event = self.fields.get("CreateTime", ""), self.fields.get("Event", "")
        return f"event:{self.openid}:{created}:{event}:{msg_id}"


def signature_of(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def same_signature(expected: str, given: str) -> bool:
    """Constant-time; compared as bytes, as a query string may carry any character."""
    return hmac.compare_digest(expected.encode(), given.encode())


def signature_ok(keys: AccountKeys, args: Any) -> bool:
    """The plain ``signature`` over token, timestamp and nonce (GET checks and every POST)."""
    given = args.get("signature", "")
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not (given and timestamp and nonce and keys.token):
        return False
    return same_signature(signature_of(keys.token, timestamp, nonce), given)


def _xml_fields(text: str) -> dict[str, str]:
    """The top-level fields of a WeChat XML document; no DTD, no entities, no surprises."""
    try:
        root: Element = fromstring(
            text, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise PushRefused(f"XML with a DTD or entities refused ({type(exc).__name__})") from exc
    except (ParseError, ValueError) as exc:
        raise PushRefused(f"malformed XML ({exc})") from exc
    if root.tag != "xml":
        raise PushRefused(f"unexpected XML root <{root.tag}>")
    return {child.tag: (child.text or "").strip() for child in root}


def _aes(keys: AccountKeys) -> PrpCrypto:
    return PrpCrypto(base64.b64decode(keys.aes_key + "="))


def open_push(keys: AccountKeys, args: Any, body: bytes) -> Push:
    if not signature_ok(keys, args):
        raise PushRefused("bad signature", status=403)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushRefused("body is not UTF-8") from exc
    outer = _xml_fields(text)
    encrypted = args.get("encrypt_type") == "aes"
    if keys.aes_key and not encrypted:
        raise PushRefused("plaintext push refused: the account is in compatible or safe mode")
    if encrypted and not keys.aes_key:
        raise PushRefused("encrypted push but WECHAT_AES_KEY is not configured")
    if encrypted:
        ciphertext = outer.get("Encrypt", "")
        expected = signature_of(
            keys.token, args.get("timestamp", ""), args.get("nonce", ""), ciphertext
        )
        if not ciphertext or not same_signature(expected, args.get("msg_signature", "")):
            raise PushRefused("bad msg_signature")
        try:
            text = _aes(keys).decrypt(ciphertext, keys.appid)
        except Exception as exc:  # wrong key, wrong appid, corrupt padding: all the same to us
            raise PushRefused(f"decrypt failed ({type(exc).__name__})") from exc
        fields = _xml_fields(text)
    else:
        fields = outer
    if not fields.get("MsgType") or not fields.get("FromUserName"):
        raise PushRefused("not a WeChat message (no MsgType or FromUserName)")
    if len(fields["FromUserName"]) > OPENID_MAX_LENGTH:
        raise PushRefused("FromUserName is not an openid (too long)")
    if keys.original_id and fields.get("ToUserName") != keys.original_id:
        raise PushRefused(f"addressed to {fields.get('ToUserName')!r}, not this account")
    try:
        message = parse_message(text)
    except Exception as exc:
        raise PushRefused(f"unreadable message ({type(exc).__name__})") from exc
    return Push(message=message, fields=fields, encrypted=encrypted)


def seal_reply(keys: AccountKeys, xml: str, *, encrypted: bool) -> str:
    """The reply as WeChat expects it back: as it is, or in the AES envelope."""
    if not xml or not encrypted:
        return xml or "success"
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    ciphertext = _aes(keys).encrypt(xml, keys.appid).decode()
    return (
        "<xml>"
        f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{signature_of(keys.token, timestamp, nonce, ciphertext)}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<Nonce><![CDATA[{nonce}]]></Nonce>"
        "</xml>"
    )


def echo_for(keys: AccountKeys, args: Any) -> str | None:
    """The GET check (server URL verification): ``echostr`` back when the signature holds."""
    if not signature_ok(keys, args):
        return None
    return args.get("echostr", "")
