"""WeChat template messages: payment received, certificate ready, review result, invoice
issued, deadline reminder.

Each message is built here from the fact it reports, recorded as a ``TemplateMessage``
(whose unique ``dedupe_key`` makes every message at-most-once), and sent by a job
(``tasks.send_template_message``) after the transaction that produced it commits; deadline
reminders are paced by ``tasks.send_queued_messages`` instead. Every keyword is fitted to
WeChat's limits (``template_fields``). Learners without a bound WeChat are skipped.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from infra.jobs import enqueue
from infra.transaction import after_commit
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.display import yuan
from services.wechat import tasks, template_fields

log = logging.getLogger(__name__)


class MessageKind(enum.StrEnum):
    PAYMENT_RECEIVED = "payment_received"
    CERTIFICATE_READY = "certificate_ready"
    REVIEW_RESULT = "review_result"
    INVOICE_ISSUED = "invoice_issued"
    DEADLINE_REMINDER = "deadline_reminder"
    # A 订阅通知 (subscription message) to a learner who has not bought but asked for it.
    DEADLINE_SUBSCRIPTION = "deadline_subscription"
    STUDY_WITHDRAWN = "study_withdrawn"


def queue_message(
    *,
    learner_id: int,
    kind: MessageKind,
    data: dict[str, Any],
    path: str,
    dedupe_key: str,
    paced: bool = False,
) -> TemplateMessage | None:
    """Record the message and send it after commit; ``None`` if this key was queued before.

    A ``paced`` message (a deadline reminder) is not sent on its own: the reminders' run sends
    the queued ones within the day's quota (``tasks.send_queued_messages``)."""
    if db.session.scalar(
        select(TemplateMessage.id).where(TemplateMessage.dedupe_key == dedupe_key)
    ):
        return None
    message = TemplateMessage(
        learner_id=learner_id,
        kind=kind.value,
        dedupe_key=dedupe_key,
        payload={"data": template_fields.fit_all(data), "path": path},
    )
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        return None  # queued by a concurrent transaction
    if not paced:
        after_commit(enqueue, tasks.send_template_message, message.id)
    return message


def payment_received(
    *, learner_id: int, order_id: int, plan_title: str, amount_fen: int, paid_at, path: str
) -> TemplateMessage | None:
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.PAYMENT_RECEIVED,
        data={
            "thing1": plan_title,
            "amount2": f"¥{yuan(amount_fen)}",
            "time3": paid_at,
            "thing4": "缴费成功，现在可以开始学习了",
        },
        path=path,
        dedupe_key=f"payment:{order_id}:{learner_id}",
    )


def certificate_ready(
    *, learner_id: int, certificate_key: str, plan_title: str, hours: int, path: str
) -> TemplateMessage | None:
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.CERTIFICATE_READY,
        data={
            "thing1": plan_title,
            "number2": hours,
            "thing3": "学时已达要求，可打印合格证书",
        },
        path=path,
        dedupe_key=f"certificate:{certificate_key}",
    )


def study_withdrawn(
    *, learner_id: int, withdrawal_key: str, what: str, seconds: int, reason: str, path: str
) -> TemplateMessage | None:
    minutes = max(1, round(seconds / 60))
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.STUDY_WITHDRAWN,
        data={
            "thing1": what,
            "thing2": f"撤销约{minutes}分钟学习记录，需重新学习",
            "thing3": reason,
        },
        path=path,
        dedupe_key=f"withdrawal:{withdrawal_key}",
    )


def review_result(
    *, learner_id: int, application_id: int, year: int, approved: bool, reason: str, path: str
) -> TemplateMessage | None:
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.REVIEW_RESULT,
        data={
            "thing1": f"{year}年度公需科目补学申请",
            "phrase2": "审核通过" if approved else "未通过",
            "thing3": "已免费开通，可以开始补学"
            if approved
            else (reason or "请查看原因后重新提交"),
        },
        path=path,
        dedupe_key=f"review:{application_id}",
    )


def invoice_issued(
    *, learner_id: int, invoice_id: int, title: str, amount_fen: int, path: str
) -> TemplateMessage | None:
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.INVOICE_ISSUED,
        data={
            "thing1": title,
            "amount2": f"¥{yuan(amount_fen)}",
            "thing3": "电子发票已开具，可在“我的发票”查看下载",
        },
        path=path,
        dedupe_key=f"invoice:{invoice_id}",
    )


def deadline_reminder(
    *,
    learner_id: int,
    plan_title: str,
    deadline_text: str | datetime,
    progress_text: str,
    path: str,
    round_key: str,
) -> TemplateMessage | None:
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.DEADLINE_REMINDER,
        data={
            "thing1": plan_title,
            "time2": deadline_text,
            "thing3": progress_text,
        },
        path=path,
        dedupe_key=f"reminder:{round_key}:{learner_id}",
        paced=True,
    )


def deadline_subscription(
    *,
    learner_id: int,
    subscription_id: int,
    plan_title: str,
    deadline: datetime,
    path: str,
) -> TemplateMessage | None:
    """The one notice a learner's consent allows (``subscriptions``)."""
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.DEADLINE_SUBSCRIPTION,
        data={
            "thing1": plan_title,
            "time2": deadline,
            "thing3": "学习即将截止，报名后请尽快完成学习",
        },
        path=path,
        dedupe_key=f"subscription:{subscription_id}",
        paced=True,
    )


def record_delivery(wechat_msgid: str, status: str) -> TemplateMessage | None:
    """WeChat's delivery receipt (TEMPLATESENDJOBFINISH): ``success``, ``failed:user block``
    (the follower refuses the account's messages) or ``failed: system failed``."""
    message = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.wechat_msgid == wechat_msgid)
    )
    if message is None:
        log.info("delivery receipt for unknown template message %s: %s", wechat_msgid, status)
        return None
    if status == "success":
        message.status = TemplateMessageStatus.DELIVERED
        message.error = ""
    else:
        message.status = TemplateMessageStatus.FAILED
        message.error = status[:255]
    db.session.flush()
    return message
