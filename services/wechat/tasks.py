"""Background jobs of the official account, each run by ``infra.jobs`` in a transaction of its
own: template messages and the customer-service message that answers “我的学时”.

Every template message carries a ``client_msg_id`` derived from its row, the same on every
attempt: a job retried after WeChat took the message but before our commit (a worker killed,
a lost answer) is answered with the first send's msgid instead of a second message.

WeChat's template quota is daily (reset at midnight, Beijing time). Deadline reminders are
paced under ``WECHAT_REMINDER_DAILY_QUOTA`` by ``send_queued_messages``; a 45009 answer (the
account's quota is spent) leaves the message queued, stops the day's sending, and the next
day's run sends what is left, each message once.
"""

from __future__ import annotations

import enum
import logging
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from infra.extensions import db
from infra.jobs import job
from infra.redis_client import get_redis
from infra.transaction import commit
from infra.wechat_client import get_wechat_client
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
        message.error = f"no template id configured for {message.kind}"
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
    try:
        result = get_wechat_client().post(endpoint, data={**body, "data": message.payload["data"]})
    except WeChatClientException as exc:
        if exc.errcode == QUOTA_SPENT:
            log.warning("WeChat's template quota is spent for today; message %s waits", message.id)
            DailyQuota(today).mark_spent()
            message.error = QUOTA_SPENT_NOTE
            return Outcome.OVER_QUOTA
        return _failed(message, exc)
    except Exception as exc:
        return _failed(message, exc)
    message.status = TemplateMessageStatus.SENT
    message.wechat_msgid = str(result.get("msgid", ""))
    message.error = ""
    message.sent_at = utcnow()
    return Outcome.DONE


def _failed(message: TemplateMessage, exc: Exception) -> Outcome:
    log.warning("template message %s (%s) failed: %s", message.id, message.kind, exc)
    message.status = TemplateMessageStatus.FAILED
    message.error = str(exc)[:255]
    return Outcome.DONE


@job
def send_template_message(message_id: int) -> None:
    """Send one recorded message through the official account."""
    message = _lock(message_id)
    if message is None or message.status is not TemplateMessageStatus.QUEUED:
        return
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
    which WeChat does not deliver twice). Paced kinds are left to ``send_queued_messages``."""
    return list(
        db.session.scalars(
            select(TemplateMessage.id)
            .where(
                TemplateMessage.status == TemplateMessageStatus.QUEUED,
                TemplateMessage.sent_at.is_(None),
                TemplateMessage.created_at < utcnow() - older_than,
                TemplateMessage.kind.not_in(PACED_KINDS),
                TemplateMessage.error != QUOTA_SPENT_NOTE,
            )
            .order_by(TemplateMessage.id)
        )
    )


@job
def send_study_progress(openid: str) -> None:
    """The learner's progress, sent as a customer-service message (the reply to “我的学时”)."""
    get_wechat_client().message.send_text(openid, study_progress_text(openid))
