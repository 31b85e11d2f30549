"""Background jobs of the official account, each run by ``infra.jobs`` in a transaction of its
own: template messages and the customer-service message that answers “我的学时”."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from infra.extensions import db
from infra.jobs import job
from infra.wechat_client import get_wechat_client
from models.accounts import WechatBinding
from models.base import utcnow
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat.conversation import study_progress_text

log = logging.getLogger(__name__)


@job
def send_template_message(message_id: int) -> None:
    """Send one recorded message through the official account."""
    message = db.session.get(TemplateMessage, message_id)
    if message is None or message.status is not TemplateMessageStatus.QUEUED:
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


@job
def send_study_progress(openid: str) -> None:
    """The learner's progress, sent as a customer-service message (the reply to “我的学时”)."""
    get_wechat_client().message.send_text(openid, study_progress_text(openid))
