"""A template message whose send got no answer (a timeout, WeChat unreachable or busy) is
sent again by the cron sweep, with the same ``client_msg_id`` so WeChat never shows it
twice, a bounded number of times; what WeChat refuses for good is failed at once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from infra.extensions import db
from infra.transaction import commit
from models.base import utcnow
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat import notify, tasks
from tests.cli.test_send_queued import bound_learner, queue_payments, rq_outage  # noqa: F401


def message(message_id: int) -> TemplateMessage:
    db.session.expire_all()
    return db.session.get(TemplateMessage, message_id)


def make_due(message_id: int, *, first_attempt_ago: timedelta | None = None) -> None:
    """Let the retry's wait pass (and the sweep's --older-than)."""
    row = message(message_id)
    retry = dict(row.payload["retry"])
    retry["retry_at"] = (utcnow() - timedelta(seconds=1)).isoformat()
    if first_attempt_ago is not None:
        retry["first_at"] = (utcnow() - first_attempt_ago).isoformat()
    row.payload = {**row.payload, "retry": retry}
    row.created_at = utcnow() - timedelta(minutes=5)
    commit()


def taken_by_wechat(sim) -> None:
    """Wait until the simulator has taken the late send (its answer is still on the way)."""
    for _ in range(500):
        if sim.state.template_messages:
            return
        time.sleep(0.01)
    raise AssertionError("the simulator never took the message")


def sweep(runner) -> str:
    result = runner.invoke(args=["wechat", "send-queued"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_send_that_timed_out_is_sent_again_and_reaches_the_follower_once(
    runner, wechat_sim, short_wechat_timeout
):
    wechat_sim.state.fail_next_templates("late")
    [message_id] = queue_payments(wechat_sim, 1)  # its job runs at the commit and times out
    first = message(message_id)
    assert first.status is TemplateMessageStatus.QUEUED
    assert first.error.startswith("请求微信接口超时，第1次发送未成功")
    # WeChat took it all the same.
    taken_by_wechat(wechat_sim)
    taken = wechat_sim.state.template_messages[0]["msgid"]

    # Before its wait is over the sweep leaves it.
    first.created_at = utcnow() - timedelta(minutes=5)
    commit()
    assert "0 queued template messages sent" in sweep(runner)

    make_due(message_id)
    assert "1 queued template messages sent (sent 1)" in sweep(runner)
    sent = message(message_id)
    assert sent.status is TemplateMessageStatus.SENT and sent.error == ""
    # The same client_msg_id: WeChat answered with the first msgid and delivered nothing more.
    assert sent.wechat_msgid == str(taken)
    assert len(wechat_sim.state.template_messages) == 1
    assert wechat_sim.state.template_calls == 2


def test_a_wechat_that_stays_unavailable_fails_the_message_after_the_last_attempt(
    runner, wechat_sim
):
    wechat_sim.state.fail_next_templates("unavailable", tasks.MAX_ATTEMPTS + 1)
    [message_id] = queue_payments(wechat_sim, 1)
    for attempt in range(2, tasks.MAX_ATTEMPTS + 1):
        assert message(message_id).status is TemplateMessageStatus.QUEUED
        assert f"第{attempt - 1}次发送未成功" in message(message_id).error
        make_due(message_id)
        sweep(runner)
    failed = message(message_id)
    assert failed.status is TemplateMessageStatus.FAILED
    assert failed.error == f"微信接口返回HTTP 503，已尝试{tasks.MAX_ATTEMPTS}次，不再重发"
    assert wechat_sim.state.template_messages == []
    # Bounded: one fault is left over, no further send was made.
    assert wechat_sim.state.template_faults == ["unavailable"]
    assert "0 queued template messages sent" in sweep(runner)


@pytest.mark.usefixtures("rq_outage")
def test_a_refused_connection_is_tried_again(runner, app, wechat_sim):
    [message_id] = queue_payments(wechat_sim, 1)
    served = app.config["WECHAT_API_BASE"]
    app.config["WECHAT_API_BASE"] = "http://127.0.0.1:9"  # nothing listens there
    app.extensions.pop("wechat_client", None)
    try:
        tasks.send_template_message(message_id)
    finally:
        app.config["WECHAT_API_BASE"] = served
        app.extensions.pop("wechat_client", None)
    waiting = message(message_id)
    assert waiting.status is TemplateMessageStatus.QUEUED
    assert waiting.error.startswith("无法连接微信接口，第1次发送未成功")
    make_due(message_id)
    assert "1 queued template messages sent (sent 1)" in sweep(runner)
    assert len(wechat_sim.state.template_messages) == 1


def test_no_retry_after_wechat_would_have_forgotten_the_client_msg_id(
    runner, wechat_sim, short_wechat_timeout
):
    wechat_sim.state.fail_next_templates("late")
    [message_id] = queue_payments(wechat_sim, 1)
    taken_by_wechat(wechat_sim)
    make_due(message_id, first_attempt_ago=tasks.RETRY_WINDOW + timedelta(seconds=1))
    sweep(runner)
    failed = message(message_id)
    assert failed.status is TemplateMessageStatus.FAILED
    assert failed.error == "请求微信接口超时，已超过微信去重时限，不再重发"
    assert wechat_sim.state.template_calls == 1


@pytest.mark.parametrize(
    ("unsubscribe", "reason"),
    [
        (True, "43004：学员未关注公众号或已取消关注（不重试）"),
        (False, "40003：学员的openid无效（可能已解绑或换号）（不重试）"),
    ],
)
def test_what_wechat_refuses_for_good_is_failed_at_once(runner, wechat_sim, unsubscribe, reason):
    learner = bound_learner(wechat_sim, "oGONE_0001")
    if unsubscribe:
        wechat_sim.state.subscribed.discard("oGONE_0001")
    else:
        del wechat_sim.state.users["oGONE_0001"]
    sent = notify.payment_received(
        learner_id=learner.id,
        order_id=77,
        plan_title="重庆市2022年专技人员继续教育公需科目培训",
        amount_fen=3000,
        paid_at=utcnow(),
        path="/h5/orders",
    )
    commit()
    failed = message(sent.id)
    assert failed.status is TemplateMessageStatus.FAILED
    assert failed.error == reason
    failed.created_at = utcnow() - timedelta(minutes=5)
    commit()
    assert "0 queued template messages sent" in sweep(runner)
    assert wechat_sim.state.template_messages == []
