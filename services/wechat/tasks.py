"""Background jobs of the official account, each run by ``infra.jobs`` in a transaction of its
own: template messages and the customer-service message that answers “我的学时”."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from infra.extensions import db
from infra.jobs import job
from infra.transaction import commit
from infra.wechat_client import get_wechat_client
from models.accounts import WechatBinding
from models.base import utcnow
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat.conversation import study_progress_text

log = logging.getLogger(__name__)


def _claim(message_id: int) -> bool:
    """Take a queued message for sending, once: whoever sends it first (the job queued after
    the commit, or the sweep of ``send_queued`` after an RQ outage) marks it with the time the
    send began and commits that mark before calling WeChat. The update takes the row's lock;
    a second sender waits for it, then finds the mark and sends nothing."""
    claimed = db.session.execute(
        update(TemplateMessage)
        .where(
            TemplateMessage.id == message_id,
            TemplateMessage.status == TemplateMessageStatus.QUEUED,
            TemplateMessage.sent_at.is_(None),
        )
        .values(sent_at=utcnow())
        .returning(TemplateMessage.id)
    ).first()
    commit()
    return claimed is not None


@job
def send_template_message(message_id: int) -> None:
    """Send one recorded message through the official account (at most once)."""
    if not _claim(message_id):
        return
    message = db.session.get(TemplateMessage, message_id, populate_existing=True)
    if message is None:
        return
    openid = db.session.scalar(
        select(WechatBinding.openid).where(WechatBinding.learner_id == message.learner_id)
    )
    if openid is None:
        message.status = TemplateMessageStatus.SKIPPED
        message.error = "no WeChat bound"
        return
    template_id = current_app.config["WECHAT_TEMPLATE_IDS"].get(message.kind)
    if not template_id:
        message.status = TemplateMessageStatus.FAILED
        message.error = f"no template id configured for {message.kind}"
        return
    url = current_app.config["PUBLIC_BASE_URL"] + message.payload["path"]
    message.openid = openid
    try:
        result = get_wechat_client().message.send_template(
            openid, template_id, message.payload["data"], url=url
        )
    except Exception as exc:
        log.warning("template message %s (%s) failed: %s", message.id, message.kind, exc)
        message.status = TemplateMessageStatus.FAILED
        message.error = str(exc)[:255]
    else:
        message.status = TemplateMessageStatus.SENT
        message.wechat_msgid = str(result.get("msgid", ""))
        message.sent_at = utcnow()


def queued_message_ids(older_than: timedelta) -> list[int]:
    """Messages still waiting for their first send this long after they were recorded: their
    job was never queued (Redis was away at the commit) or was lost with a Redis failover."""
    return list(
        db.session.scalars(
            select(TemplateMessage.id)
            .where(
                TemplateMessage.status == TemplateMessageStatus.QUEUED,
                TemplateMessage.sent_at.is_(None),
                TemplateMessage.created_at < utcnow() - older_than,
            )
            .order_by(TemplateMessage.id)
        )
    )


def give_up_unfinished_sends(older_than: timedelta) -> int:
    """Sends that began this long ago and never recorded WeChat's answer (the worker died in
    between): WeChat may have delivered them, so they are never sent again, but marked
    failed with that reason for staff to see."""
    result = db.session.execute(
        update(TemplateMessage)
        .where(
            TemplateMessage.status == TemplateMessageStatus.QUEUED,
            TemplateMessage.sent_at < utcnow() - older_than,
        )
        .values(
            status=TemplateMessageStatus.FAILED,
            error="发送结果未知（发送中断），为免重复不再发送",
        )
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


@job
def send_study_progress(openid: str) -> None:
    """The learner's progress, sent as a customer-service message (the reply to “我的学时”)."""
    get_wechat_client().message.send_text(openid, study_progress_text(openid))
