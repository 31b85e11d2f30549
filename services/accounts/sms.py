"""Text messages (verification codes) through a provider interface.

Providers: ``log`` writes the message to the log (development), ``memory`` keeps it in
``MemorySmsSender.outbox`` (tests). A production provider implements ``SmsSender`` and is
registered in ``PROVIDERS`` under the name given by ``SMS_PROVIDER``; until then 首次登录
says that codes cannot be sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime
from typing import ClassVar, Protocol

from flask import current_app

from infra.redis_client import as_text, get_redis
from services.display import LOCAL_TZ, mask_phone
from services.errors import ServiceError, ValidationError

log = logging.getLogger(__name__)

CODE_TTL_SECONDS = 300
RESEND_AFTER_SECONDS = 60
MAX_ATTEMPTS = 5


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LogSmsSender:
    def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s (development: not sent): %s", mask_phone(phone), text)


class MemorySmsSender:
    outbox: ClassVar[list[tuple[str, str]]] = []

    def send(self, phone: str, text: str) -> None:
        self.outbox.append((phone, text))


PROVIDERS: dict[str, type[SmsSender]] = {"log": LogSmsSender, "memory": MemorySmsSender}


def get_sender() -> SmsSender:
    name = current_app.config["SMS_PROVIDER"]
    if name not in PROVIDERS:
        if name:
            log.error("SMS_PROVIDER=%s is not one of %s", name, ", ".join(PROVIDERS))
        raise ServiceError("短信验证码服务尚未开通，暂不能在线重置密码，请联系在线客服。")
    return PROVIDERS[name]()


def _digest(code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def provider_configured() -> bool:
    return current_app.config["SMS_PROVIDER"] in PROVIDERS


def _pseudonym(text: str) -> str:
    """Phones and addresses are named in Redis keys by a digest, never as they are."""
    return _digest("sms-key:" + text)[:20]


def _spend_daily_quota(kind: str, who: str, limit: int) -> bool:
    """Counts one send against today's (Beijing time) quota; False, counting nothing, when
    it is used up."""
    redis = get_redis()
    day = datetime.now(LOCAL_TZ).strftime("%Y%m%d")
    key = f"sms:day:{kind}:{_pseudonym(who)}:{day}"
    sent = redis.incr(key)
    redis.expire(key, 2 * 86400)
    if sent > limit:
        redis.decr(key)
        return False
    return True


def _give_back_daily_quota(kind: str, who: str) -> None:
    day = datetime.now(LOCAL_TZ).strftime("%Y%m%d")
    get_redis().decr(f"sms:day:{kind}:{_pseudonym(who)}:{day}")


def send_verification_code(
    phone: str, purpose: str, subject: str, *, client_address: str | None = None
) -> None:
    """Send a 6-digit code valid for 5 minutes: one per minute per phone, and each day at
    most ``SMS_DAILY_LIMIT_PER_PHONE`` to a phone and ``SMS_DAILY_LIMIT_PER_ADDRESS`` asked
    from one client address (texts cost money and bother their receiver)."""
    sender = get_sender()
    redis = get_redis()
    config = current_app.config
    if not redis.set(f"sms:cooldown:{_pseudonym(phone)}", 1, nx=True, ex=RESEND_AFTER_SECONDS):
        raise ValidationError("code", "验证码已发送，请1分钟后再试。")
    if not _spend_daily_quota("phone", phone, int(config["SMS_DAILY_LIMIT_PER_PHONE"])):
        raise ValidationError(
            None, "今天向该手机号码发送的验证码已达上限，请明天再试；如需帮助请联系在线客服。"
        )
    if client_address and not _spend_daily_quota(
        "address", client_address, int(config["SMS_DAILY_LIMIT_PER_ADDRESS"])
    ):
        _give_back_daily_quota("phone", phone)
        raise ValidationError(
            None, "今天从您所在网络发送的验证码已达上限，请明天再试；如需帮助请联系在线客服。"
        )
    code = f"{secrets.randbelow(10**6):06d}"
    key = f"sms:code:{purpose}:{subject}"
    redis.delete(key)
    redis.hset(key, mapping={"digest": _digest(code), "attempts": 0})
    redis.expire(key, CODE_TTL_SECONDS)
    sender.send(phone, f"【公需科目】您的验证码是{code}，5分钟内有效。如非本人操作，请忽略。")


def resend_wait_seconds(phone: str | None) -> int:
    """Seconds before another code may go to ``phone`` (the send button counts them down)."""
    if not phone:
        return 0
    ttl = int(get_redis().ttl(f"sms:cooldown:{_pseudonym(phone)}"))
    return max(0, min(ttl, RESEND_AFTER_SECONDS))


def check_verification_code(purpose: str, subject: str, code: str) -> None:
    """Raises unless ``code`` is the one sent; a code works once and survives 5 wrong tries."""
    redis = get_redis()
    key = f"sms:code:{purpose}:{subject}"
    stored = redis.hget(key, "digest")
    if stored is None:
        raise ValidationError("code", "验证码已过期，请重新获取。")
    attempts = redis.hincrby(key, "attempts", 1)
    if attempts > MAX_ATTEMPTS:
        redis.delete(key)
        raise ValidationError("code", "验证码错误次数过多，请重新获取。")
    if not hmac.compare_digest(as_text(stored), _digest(code.strip())):
        raise ValidationError("code", "验证码不正确。")
    redis.delete(key)
