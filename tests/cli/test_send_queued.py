"""Template messages whose job never ran (RQ or Redis away at the commit) are sent by the
cron sweep ``flask wechat send-queued``: each once, none twice, whoever gets there first."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.accounts import WechatBinding
from models.base import utcnow
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat import notify, tasks
from tests import factories
from wechat_sim.state import SimUser


def bound_learner(sim, openid: str):
    sim.state.users[openid] = SimUser(openid, "学员", "关注公众号的学员")
    sim.state.subscribed.add(openid)
    learner = factories.learner()
    db.session.add(WechatBinding(openid=openid, learner_id=learner.id))
    db.session.flush()
    return learner


@pytest.fixture
def rq_outage(app, monkeypatch):
    """Queueing a job fails as it does with Redis away: the message stays recorded."""

    def refuse(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr("infra.jobs.get_queue", lambda: type("Q", (), {"enqueue": refuse})())


def queue_payments(sim, count: int) -> list[int]:
    ids = []
    for n in range(count):
        learner = bound_learner(sim, f"oRUSH_{n:04d}")
        message = notify.payment_received(
            learner_id=learner.id,
            order_id=1000 + n,
            plan_title="重庆市2022年专技人员继续教育公需科目培训",
            amount_fen=3000,
            paid_at=utcnow(),
            path="/h5/orders",
        )
        assert message is not None
        ids.append(message.id)
    commit()  # the after-commit enqueue fails, logged; the rows are kept
    return ids


def statuses(ids: list[int]) -> list[TemplateMessageStatus]:
    db.session.expire_all()
    return [db.session.get(TemplateMessage, i).status for i in ids]


def age(ids: list[int], seconds: int) -> None:
    for message in db.session.scalars(select(TemplateMessage).where(TemplateMessage.id.in_(ids))):
        message.created_at = utcnow() - timedelta(seconds=seconds)
    commit()


def test_messages_queued_during_an_rq_outage_are_sent_once_afterwards(
    runner, wechat_sim, rq_outage
):
    ids = queue_payments(wechat_sim, 3)
    assert statuses(ids) == [TemplateMessageStatus.QUEUED] * 3
    assert wechat_sim.state.template_messages == []

    # Younger than --older-than: their own job may still come; the sweep leaves them.
    result = runner.invoke(args=["wechat", "send-queued"])
    assert result.exit_code == 0, result.output
    assert "0 queued template messages sent" in result.output
    assert wechat_sim.state.template_messages == []

    age(ids, 120)
    result = runner.invoke(args=["wechat", "send-queued"])
    assert result.exit_code == 0, result.output
    assert "3 queued template messages sent (sent 3)" in result.output
    assert statuses(ids) == [TemplateMessageStatus.SENT] * 3
    assert sorted(m["touser"] for m in wechat_sim.state.template_messages) == [
        "oRUSH_0000",
        "oRUSH_0001",
        "oRUSH_0002",
    ]

    # The cron runs again, and the job queued before the outage arrives late: nothing twice.
    again = runner.invoke(args=["wechat", "send-queued", "--older-than", "0"])
    assert "0 queued template messages sent" in again.output
    for message_id in ids:
        tasks.send_template_message(message_id)
    assert len(wechat_sim.state.template_messages) == 3


def test_a_job_and_the_sweep_on_the_same_message_send_it_once(wechat_sim, rq_outage):
    [message_id] = queue_payments(wechat_sim, 1)
    tasks.send_template_message(message_id)  # the sweep
    tasks.send_template_message(message_id)  # the job, late
    assert statuses([message_id]) == [TemplateMessageStatus.SENT]
    assert len(wechat_sim.state.template_messages) == 1


def test_a_send_whose_worker_died_after_wechat_took_it_is_delivered_once(
    runner, wechat_sim, rq_outage, monkeypatch
):
    [message_id] = queue_payments(wechat_sim, 1)
    deliver = tasks.deliver

    def dies_after_sending(message, *, today):
        deliver(message, today=today)
        raise RuntimeError("worker killed before it recorded WeChat's answer")

    monkeypatch.setattr(tasks, "deliver", dies_after_sending)
    with pytest.raises(RuntimeError):
        tasks.send_template_message(message_id)
    db.session.rollback()
    monkeypatch.setattr(tasks, "deliver", deliver)
    assert statuses([message_id]) == [TemplateMessageStatus.QUEUED]
    assert len(wechat_sim.state.template_messages) == 1

    age([message_id], 120)
    result = runner.invoke(args=["wechat", "send-queued"])
    assert result.exit_code == 0, result.output
    assert "1 queued template messages sent (sent 1)" in result.output
    # The same client_msg_id: WeChat answers with the first msgid and delivers nothing more.
    assert len(wechat_sim.state.template_messages) == 1


def test_the_sweep_refuses_a_negative_wait(runner):
    result = runner.invoke(args=["wechat", "send-queued", "--older-than", "-5"])
    assert result.exit_code != 0
    assert "older-than" in result.output
