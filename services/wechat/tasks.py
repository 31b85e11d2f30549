"""Background jobs of the official account, each run by ``infra.jobs`` in a transaction of its
own: template messages and the customer-service message that answers “我的学时”.

Every template message carries a ``client_msg_id`` derived from its row, the same on every
attempt: a job retried after WeChat took the message but before our commit (a worker killed,
a lost answer) is answered with the first send's msgid instead of a second message.

WeChat's template quota is daily (reset at midnight, Beijing time). Deadline reminders are
paced under ``WECHAT_REMINDER_DAILY_QUOTA`` by ``send_queued_messages``; a 45009 answer (the
account's quota is spent) leaves the message queued, stops the day's sending, and the next
day's run sends what is left, each message once.

A send that timed out or could not reach WeChat (or met WeChat's 系统繁忙, -1) stays queued
and is sent again by the cron sweep (``queued_message_ids``) after ``RETRY_DELAYS``, with the
same ``client_msg_id``: WeChat may have taken the first one. It remembers that id for ten
minutes, so no attempt is made later than ``RETRY_WINDOW`` after the first; after
``MAX_ATTEMPTS`` (or past the window) the message is failed with the reason in Chinese. What
WeChat refuses for good (43004 not following, 40003 bad openid, 47003 a field too long…) is
failed at once. The attempts are kept in the message's payload (``retry``).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import requests
from flask import current_app
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from infra.extensions import db
from infra.jobs import job
from infra.redis_client import get_redis
from infra.transaction import commit
from infra.wechat_client import CredentialUnavailable, get_wechat_client
from models.accounts import WechatBinding
from models.base import utcnow
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.display import LOCAL_TZ
from services.wechat.conversation import study_progress_text

log = logging.getLogger(__name__)

QUOTA_SPENT = 45009  # reach max api daily quota limit
QUOTA_SPENT_NOTE = "45009：微信今日模板消息额度已用完，次日续发"
PACED_KINDS = ("deadline_reminder", "deadline_subscription")
# 订阅通知 go through bizsend: no client_msg_id there, WeChat lets one through per consent.
SUBSCRIPTION_KINDS = ("deadline_subscription",)
CHUNK = 100

SYSTEM_BUSY = -1  # 系统繁忙，此时请开发者稍候再试
# Waits before the second, third and fourth attempt; the sweep runs every minute, so each
# may come up to a minute later, and the last still falls inside RETRY_WINDOW.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=3))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# WeChat forgets a client_msg_id after ten minutes: later, a repeat would be a second message.
RETRY_WINDOW = timedelta(minutes=9)
# WeChat's refusals as staff read them; each is final (sending again changes nothing).
REFUSALS = {
    40003: "学员的openid无效（可能已解绑或换号）",
    40037: "模板ID无效，请检查 WECHAT_TEMPLATE_ 设置",
    43004: "学员未关注公众号或已取消关注",
    43101: "学员未同意接收该订阅通知",
    47001: "消息格式错误",
    47003: "模板参数不符合要求（如字段过长）",
}


class Outcome(enum.Enum):
    DONE = "done"  # sent, failed or skipped for good
    OVER_QUOTA = "over_quota"  # still queued: WeChat's quota for today is spent
    BUSY = "busy"  # another worker holds it


def client_msg_id(message: TemplateMessage) -> str:
    """The same for every attempt at one message, and never for two messages."""
    return f"gx-tm-{message.id}"


def local_today() -> date:
    return datetime.now(LOCAL_TZ).date()


class DailyQuota:
    """Today's count of paced messages and whether WeChat said the account's quota is spent,
    in Redis for every worker; keys expire after two days."""

    def __init__(self, today: date) -> None:
        appid = current_app.config["WECHAT_APPID"]
        self.redis = get_redis()
        self.sent_key = f"wechat:{appid}:reminders_sent:{today.isoformat()}"
        self.spent_key = f"wechat:{appid}:template_quota_spent:{today.isoformat()}"
        self.limit = int(current_app.config["WECHAT_REMINDER_DAILY_QUOTA"])

    def spent(self) -> bool:
        return bool(self.redis.exists(self.spent_key))

    def mark_spent(self) -> None:
        self.redis.set(self.spent_key, 1, ex=2 * 86400)

    def remaining(self) -> int:
        if self.spent():
            return 0
        return max(self.limit - int(self.redis.get(self.sent_key) or 0), 0)

    def take(self) -> bool:
        """Count one paced message; ``False`` (and nothing counted) when the day's are used."""
        with self.redis.pipeline() as pipe:
            pipe.incr(self.sent_key)
            pipe.expire(self.sent_key, 2 * 86400)
            count = pipe.execute()[0]
        if count > self.limit:
            self.redis.decr(self.sent_key)
            return False
        return True

    def give_back(self) -> None:
        self.redis.decr(self.sent_key)


def _lock(message_id: int) -> TemplateMessage | None:
    """The message, locked for this transaction; ``None`` while another worker holds it."""
    return db.session.scalar(
        select(TemplateMessage)
        .where(TemplateMessage.id == message_id)
        .with_for_update(skip_locked=True)
    )


def deliver(message: TemplateMessage, *, today: date) -> Outcome:
    """Send one queued message; its row says what happened."""
    openid = db.session.scalar(
        select(WechatBinding.openid).where(WechatBinding.learner_id == message.learner_id)
    )
    if openid is None:
        message.status = TemplateMessageStatus.SKIPPED
        message.error = "no WeChat bound"
        return Outcome.DONE
    template_id = current_app.config["WECHAT_TEMPLATE_IDS"].get(message.kind)
    if not template_id:
        message.status = TemplateMessageStatus.FAILED
        message.error = f"未配置该消息的模板ID（WECHAT_TEMPLATE_{message.kind.upper()}）"
        return Outcome.DONE
    url = current_app.config["PUBLIC_BASE_URL"] + message.payload["path"]
    message.openid = openid
    if message.kind in SUBSCRIPTION_KINDS:
        endpoint = "message/subscribe/bizsend"
        body = {"touser": openid, "template_id": template_id, "page": url}
    else:
        endpoint = "message/template/send"
        body = {
            "touser": openid,
            "template_id": template_id,
            "url": url,
            "client_msg_id": client_msg_id(message),
        }
    now = utcnow()
    attempts = Attempts.of(message)
    if attempts.first_at is not None and now - attempts.first_at >= RETRY_WINDOW:
        # WeChat would no longer recognise the client_msg_id: a send now could be a second one.
        return _failed(message, f"{attempts.last_error}，{RETRY_WINDOW_NOTE}")
    attempts = attempts.counted(now)
    attempts.store(message)
    try:
        result = get_wechat_client().post(endpoint, data={**body, "data": message.payload["data"]})
    except WeChatClientException as exc:
        if exc.errcode == QUOTA_SPENT:
            log.warning("WeChat's template quota is spent for today; message %s waits", message.id)
            DailyQuota(today).mark_spent()
            message.error = QUOTA_SPENT_NOTE
            return Outcome.OVER_QUOTA
        if exc.errcode is None or exc.errcode == SYSTEM_BUSY:
            return _try_again(message, attempts, transient_reason(exc), now)
        return _failed(message, refusal_reason(exc))
    except (requests.RequestException, CredentialUnavailable) as exc:
        return _try_again(message, attempts, transient_reason(exc), now)
    except Exception as exc:
        log.exception("template message %s (%s) could not be sent", message.id, message.kind)
        return _failed(message, f"发送出错：{type(exc).__name__}")
    message.status = TemplateMessageStatus.SENT
    message.wechat_msgid = str(result.get("msgid", ""))
    message.error = ""
    message.sent_at = utcnow()
    return Outcome.DONE


RETRY_WINDOW_NOTE = "已超过微信去重时限，不再重发"


@dataclass(frozen=True)
class Attempts:
    """The sends a message has had that did not get an answer, kept in its payload."""

    count: int = 0
    first_at: datetime | None = None
    retry_at: datetime | None = None
    last_error: str = ""

    @classmethod
    def of(cls, message: TemplateMessage) -> Attempts:
        raw = message.payload.get("retry") or {}
        return cls(
            count=int(raw.get("count", 0)),
            first_at=_parse(raw.get("first_at")),
            retry_at=_parse(raw.get("retry_at")),
            last_error=str(raw.get("last_error", "")),
        )

    def counted(self, now: datetime) -> Attempts:
        return Attempts(self.count + 1, self.first_at or now, None, self.last_error)

    def due(self, now: datetime) -> bool:
        return self.retry_at is None or self.retry_at <= now

    def store(self, message: TemplateMessage) -> None:
        message.payload = {
            **message.payload,
            "retry": {
                "count": self.count,
                "first_at": self.first_at.isoformat() if self.first_at else None,
                "retry_at": self.retry_at.isoformat() if self.retry_at else None,
                "last_error": self.last_error,
            },
        }


def _parse(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def transient_reason(exc: Exception) -> str:
    """Why a send got no answer, in Chinese: the network, WeChat busy, or no token in time."""
    if isinstance(exc, WeChatClientException) and exc.errcode == SYSTEM_BUSY:
        return "-1：微信系统繁忙"
    if isinstance(exc, CredentialUnavailable):
        return "未能及时取得access_token"
    cause = exc if isinstance(exc, requests.RequestException) else exc.__context__
    if isinstance(cause, requests.Timeout):
        return "请求微信接口超时"
    if isinstance(cause, requests.HTTPError) and cause.response is not None:
        return f"微信接口返回HTTP {cause.response.status_code}"
    return "无法连接微信接口"


def refusal_reason(exc: WeChatClientException) -> str:
    known = REFUSALS.get(exc.errcode) if isinstance(exc.errcode, int) else None
    return f"{exc.errcode}：{known or exc.errmsg}（不重试）"


def _try_again(message: TemplateMessage, attempts: Attempts, reason: str, now: datetime) -> Outcome:
    if attempts.count >= MAX_ATTEMPTS:
        return _failed(message, f"{reason}，已尝试{attempts.count}次，不再重发")
    retry_at = now + RETRY_DELAYS[attempts.count - 1]
    Attempts(attempts.count, attempts.first_at, retry_at, reason).store(message)
    when = retry_at.astimezone(LOCAL_TZ).strftime("%H:%M")
    message.error = f"{reason}，第{attempts.count}次发送未成功，{when}后重发"
    log.warning(
        "template message %s (%s): %s, attempt %d; again after %s",
        message.id,
        message.kind,
        reason,
        attempts.count,
        retry_at.isoformat(),
    )
    return Outcome.DONE


def _failed(message: TemplateMessage, reason: str) -> Outcome:
    log.warning("template message %s (%s) failed: %s", message.id, message.kind, reason)
    message.status = TemplateMessageStatus.FAILED
    message.error = reason[:255]
    return Outcome.DONE


@job
def send_template_message(message_id: int) -> None:
    """Send one recorded message through the official account."""
    message = _lock(message_id)
    if message is None or message.status is not TemplateMessageStatus.QUEUED:
        return
    if not Attempts.of(message).due(utcnow()):
        return  # a retry whose wait is not over: the sweep sends it when it is
    deliver(message, today=local_today())


@job
def send_queued_messages(today_iso: str | None = None) -> int:
    """Send the queued deadline reminders (and messages WeChat's quota held back), oldest
    first, within today's allowance; returns how many went out. Committed per chunk, so
    what was sent stays sent if the run stops."""
    today = date.fromisoformat(today_iso) if today_iso else local_today()
    quota = DailyQuota(today)
    sent = 0
    last_id = 0
    while not quota.spent():
        held_back = TemplateMessage.kind.in_(PACED_KINDS) | (
            TemplateMessage.error == QUOTA_SPENT_NOTE
        )
        ids = db.session.scalars(
            select(TemplateMessage.id)
            .where(
                TemplateMessage.status == TemplateMessageStatus.QUEUED,
                TemplateMessage.id > last_id,
                held_back,
            )
            .order_by(TemplateMessage.id)
            .limit(CHUNK)
        ).all()
        if not ids:
            break
        for message_id in ids:
            last_id = message_id
            message = _lock(message_id)
            if message is None or message.status is not TemplateMessageStatus.QUEUED:
                continue
            if not Attempts.of(message).due(utcnow()):
                continue
            paced = message.kind in PACED_KINDS
            if paced and not quota.take():
                commit()
                log.info("reminders: today's allowance is used; %d sent this run", sent)
                return sent
            outcome = deliver(message, today=today)
            if outcome is Outcome.OVER_QUOTA:
                if paced:
                    quota.give_back()
                commit()
                return sent
            sent += message.status is TemplateMessageStatus.SENT
        commit()
    return sent


def queued_message_ids(older_than: timedelta) -> list[int]:
    """Messages still waiting for their first send this long after they were recorded: their
    job was never queued (Redis was away at the commit), was lost with a Redis failover, or
    died before it recorded WeChat's answer (sent again with the same ``client_msg_id``,
    which WeChat does not deliver twice); and those whose last send got no answer and whose
    retry is due. Paced kinds are left to ``send_queued_messages``."""
    now = utcnow()
    rows = db.session.execute(
        select(TemplateMessage.id, TemplateMessage.payload)
        .where(
            TemplateMessage.status == TemplateMessageStatus.QUEUED,
            TemplateMessage.sent_at.is_(None),
            TemplateMessage.created_at < now - older_than,
            TemplateMessage.kind.not_in(PACED_KINDS),
            TemplateMessage.error != QUOTA_SPENT_NOTE,
        )
        .order_by(TemplateMessage.id)
    )
    return [
        message_id
        for message_id, payload in rows
        if _retry_due((payload or {}).get("retry") or {}, now)
    ]


def _retry_due(raw: dict, now: datetime) -> bool:
    retry_at = _parse(raw.get("retry_at"))
    return retry_at is None or retry_at <= now


@job
def send_study_progress(openid: str) -> None:
    """The learner's progress, sent as a customer-service message (the reply to “我的学时”)."""
    get_wechat_client().message.send_text(openid, study_progress_text(openid))
