"""WeChat template messages: payment received, certificate ready, review result, invoice
issued, deadline reminder.

Each message is built here from the fact it reports, recorded as a ``TemplateMessage``
(whose unique ``dedupe_key`` makes every message at-most-once), and sent by a job (``tasks.send_template_message``) after
the transaction that produced it commits. Learners without a bound WeChat are skipped.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from infra.jobs import enqueue
from infra.transaction import after_commit
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.display import local_time, yuan
from services.wechat import tasks

log = logging.getLogger(__name__)


class MessageKind(enum.StrEnum):
    PAYMENT_RECEIVED = "payment_received"
    CERTIFICATE_READY = "certificate_ready"
    REVIEW_RESULT = "review_result"
    INVOICE_ISSUED = "invoice_issued"
    DEADLINE_REMINDER = "deadline_reminder"
    STUDY_WITHDRAWN = "study_withdrawn"


def _field(value: Any, limit: int = 20) -> dict[str, str]:
    """WeChat truncates template fields; keep them short and plain."""
    text = str(value)
    return {"value": text if len(text) <= limit else text[: limit - 1] + "…"}


def queue_message(
    *, learner_id: int, kind: MessageKind, data: dict[str, Any], path: str, dedupe_key: str
) -> TemplateMessage | None:
    """Record the message and send it after commit; ``None`` if this key was queued before."""
    if db.session.scalar(
        select(TemplateMessage.id).where(TemplateMessage.dedupe_key == dedupe_key)
    ):
        return None
    message = TemplateMessage(
        learner_id=learner_id,
        kind=kind.value,
        dedupe_key=dedupe_key,
        payload={"data": data, "path": path},
    )
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        return None  # queued by a concurrent transaction
    after_commit(enqueue, tasks.send_template_message, message.id)
    return message


def payment_received(
    *, learner_id: int, order_id: int, plan_title: str, amount_fen: int, paid_at, path: str
) -> TemplateMessage | None:
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.PAYMENT_RECEIVED,
        data={
            "thing1": _field(plan_title),
            "amount2": _field(f"¥{yuan(amount_fen)}"),
            "time3": _field(local_time(paid_at)),
            "thing4": _field("缴费成功，现在可以开始学习了"),
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
            "thing1": _field(plan_title),
            "number2": _field(hours),
            "thing3": _field("学时已达要求，可打印合格证书"),
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
            "thing1": _field(what),
            "thing2": _field(f"撤销约{minutes}分钟学习记录，需重新学习"),
            "thing3": _field(reason),
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
            "thing1": _field(f"{year}年度公需科目补学申请"),
            "phrase2": _field("审核通过" if approved else "未通过"),
            "thing3": _field(
                "已免费开通，可以开始补学" if approved else (reason or "请查看原因后重新提交")
            ),
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
            "thing1": _field(title),
            "amount2": _field(f"¥{yuan(amount_fen)}"),
            "thing3": _field("电子发票已开具，可在“我的发票”查看下载"),
        },
        path=path,
        dedupe_key=f"invoice:{invoice_id}",
    )


def deadline_reminder(
    *,
    learner_id: int,
    plan_title: str,
    deadline_text: str,
    progress_text: str,
    path: str,
    round_key: str,
) -> TemplateMessage | None:
    return queue_message(
        learner_id=learner_id,
        kind=MessageKind.DEADLINE_REMINDER,
        data={
            "thing1": _field(plan_title),
            "time2": _field(deadline_text),
            "thing3": _field(progress_text),
        },
        path=path,
        dedupe_key=f"reminder:{round_key}:{learner_id}",
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
