from datetime import timedelta

import pytest
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from infra.extensions import db
from infra.transaction import commit
from infra.wechat_client import get_wechat_client
from models.accounts import WechatBinding
from models.base import utcnow
from models.enrollments import Enrollment
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat import notify, reminders, tasks, template_fields
from services.wechat.tasks import local_today
from tests import factories


def bound_learner(openid: str = "oDEMO_zhangwei"):
    learner = factories.learner(name="张伟")
    db.session.add(WechatBinding(openid=openid, learner_id=learner.id))
    db.session.flush()
    return learner


def payment(learner, order_id: int = 1):
    message = notify.payment_received(
        learner_id=learner.id,
        order_id=order_id,
        plan_title="重庆市2022年专技人员继续教育公需科目培训",
        amount_fen=3000,
        paid_at=utcnow(),
        path="/h5/orders",
    )
    commit()  # the job is queued after commit (and runs at once in tests)
    db.session.refresh(message)
    return message


def test_a_template_message_reaches_wechat(app, wechat_sim):
    learner = bound_learner()
    message = payment(learner)
    assert message.status is TemplateMessageStatus.SENT, message.error
    [sent] = wechat_sim.state.template_messages
    assert sent["touser"] == "oDEMO_zhangwei"
    assert sent["template_id"] == app.config["WECHAT_TEMPLATE_IDS"]["payment_received"]
    assert sent["url"] == "http://localhost/h5/orders"
    assert sent["data"]["amount2"] == {"value": "¥30.00"}
    assert message.wechat_msgid == str(sent["msgid"])
    assert message.openid == "oDEMO_zhangwei"


def test_each_message_is_sent_at_most_once(wechat_sim):
    learner = bound_learner()
    payment(learner, order_id=7)
    assert (
        notify.payment_received(
            learner_id=learner.id,
            order_id=7,
            plan_title="x",
            amount_fen=1,
            paid_at=utcnow(),
            path="/",
        )
        is None
    )
    commit()
    assert len(wechat_sim.state.template_messages) == 1


def test_learners_without_wechat_are_skipped(wechat_sim):
    message = payment(factories.learner())
    assert message.status is TemplateMessageStatus.SKIPPED
    assert wechat_sim.state.template_messages == []


def test_a_user_who_unfollowed_fails_with_wechats_reason(wechat_sim):
    wechat_sim.state.subscribed.discard("oDEMO_zhangwei")
    message = payment(bound_learner())
    assert message.status is TemplateMessageStatus.FAILED
    assert "43004" in message.error


def test_an_unknown_template_id_fails(app, wechat_sim):
    saved = app.config["WECHAT_TEMPLATE_IDS"]
    app.config["WECHAT_TEMPLATE_IDS"] = {**saved, "payment_received": "not-added-to-the-account"}
    try:
        message = payment(bound_learner())
    finally:
        app.config["WECHAT_TEMPLATE_IDS"] = saved
    assert message.status is TemplateMessageStatus.FAILED
    assert "40037" in message.error


def test_a_missing_template_id_fails_without_calling_wechat(app, wechat_sim):
    saved = app.config["WECHAT_TEMPLATE_IDS"]
    app.config["WECHAT_TEMPLATE_IDS"] = {}
    try:
        message = payment(bound_learner())
    finally:
        app.config["WECHAT_TEMPLATE_IDS"] = saved
    assert message.status is TemplateMessageStatus.FAILED
    assert message.error == "未配置该消息的模板ID（WECHAT_TEMPLATE_PAYMENT_RECEIVED）"
    assert wechat_sim.state.token_fetches == 0


def test_wechat_unreachable_leaves_the_message_for_a_retry(app, wechat_sim):
    saved = app.config["WECHAT_API_BASE"]
    app.config["WECHAT_API_BASE"] = "http://127.0.0.1:9"  # nothing listens there
    app.extensions.pop("wechat_client", None)
    try:
        message = payment(bound_learner())
    finally:
        app.config["WECHAT_API_BASE"] = saved
        app.extensions.pop("wechat_client", None)
    # The sweep sends it again (tests/cli/test_send_retries.py).
    assert message.status is TemplateMessageStatus.QUEUED
    assert message.error.startswith("无法连接微信接口，第1次发送未成功")


def test_a_revoked_token_is_refreshed_and_the_message_still_goes(wechat_sim):
    learner = bound_learner()
    payment(learner, order_id=1)
    wechat_sim.state.revoke_tokens()
    second = payment(learner, order_id=2)
    assert second.status is TemplateMessageStatus.SENT
    assert wechat_sim.state.token_fetches == 2
    statuses = db.session.scalars(select(TemplateMessage.status)).all()
    assert statuses == [TemplateMessageStatus.SENT, TemplateMessageStatus.SENT]


# --- client_msg_id ------------------------------------------------------------------
def test_every_message_carries_a_client_msg_id_stable_across_attempts(wechat_sim):
    first = payment(bound_learner(), order_id=3)
    [sent] = wechat_sim.state.template_messages
    assert sent["client_msg_id"] == tasks.client_msg_id(first)
    # WeChat took the message, but the worker's record of it was lost (killed before its
    # commit): the retried job sends the same client_msg_id and WeChat sends nothing twice.
    first_msgid = first.wechat_msgid
    first.status, first.wechat_msgid = TemplateMessageStatus.QUEUED, None
    commit()
    tasks.send_template_message(first.id)
    db.session.refresh(first)
    assert first.status is TemplateMessageStatus.SENT
    assert first.wechat_msgid == first_msgid
    assert len(wechat_sim.state.template_messages) == 1
    assert wechat_sim.state.template_calls == 2


def test_two_messages_have_two_client_msg_ids(wechat_sim):
    learner = bound_learner()
    one, two = payment(learner, order_id=1), payment(learner, order_id=2)
    assert tasks.client_msg_id(one) != tasks.client_msg_id(two)
    assert len(wechat_sim.state.template_messages) == 2


def test_a_transactional_message_over_wechats_quota_waits_for_the_next_day(wechat_sim):
    wechat_sim.state.template_quota = 1
    learner = bound_learner()
    assert payment(learner, order_id=1).status is TemplateMessageStatus.SENT
    message = payment(learner, order_id=2)
    assert message.status is TemplateMessageStatus.QUEUED
    assert "45009" in message.error
    wechat_sim.state.next_day()
    tasks.send_queued_messages((local_today() + timedelta(days=1)).isoformat())
    db.session.refresh(message)
    assert message.status is TemplateMessageStatus.SENT
    assert message.error == ""
    assert len(wechat_sim.state.template_messages) == 2


# --- WeChat's keyword limits ----------------------------------------------------------
LONG_TITLE = "重庆市2022年度专业技术人员继续教育公需科目培训（补学）"
LONG_REASON = "上传的缴费凭证看不清楚，缴费金额与单位名称均无法辨认，请重新拍摄后上传清晰的照片"


def _send_every_kind(learner, plan) -> dict[str, TemplateMessage | None]:
    """One message of every kind the platform sends, each with the longest texts it meets."""
    messages = {
        notify.MessageKind.PAYMENT_RECEIVED: notify.payment_received(
            learner_id=learner.id,
            order_id=9,
            plan_title=LONG_TITLE,
            amount_fen=9_999_999_99,
            paid_at=utcnow(),
            path="/h5/orders",
        ),
        notify.MessageKind.CERTIFICATE_READY: notify.certificate_ready(
            learner_id=learner.id,
            certificate_key="CQ2022-000001",
            plan_title=LONG_TITLE,
            hours=120,
            path="/h5/certificates",
        ),
        notify.MessageKind.REVIEW_RESULT: notify.review_result(
            learner_id=learner.id,
            application_id=4,
            year=2022,
            approved=False,
            reason=LONG_REASON,
            path="/h5/makeup",
        ),
        notify.MessageKind.INVOICE_ISSUED: notify.invoice_issued(
            learner_id=learner.id,
            invoice_id=5,
            title="重庆市渝中区人民医院继续教育培训中心（工会委员会）",
            amount_fen=12_345_600,
            path="/h5/invoices",
        ),
        notify.MessageKind.STUDY_WITHDRAWN: notify.study_withdrawn(
            learner_id=learner.id,
            withdrawal_key="chapter-7-1",
            what="第三章 专业技术人员职业道德与诚信建设（上）",
            seconds=3725,
            reason=LONG_REASON,
            path="/h5/study",
        ),
    }
    messages[notify.MessageKind.DEADLINE_SUBSCRIPTION] = notify.deadline_subscription(
        learner_id=learner.id,
        subscription_id=1,
        plan_title=LONG_TITLE,
        deadline=plan.study_ends_at,
        path=f"/h5/plans/{plan.id}",
    )
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == learner.id))
    enrollment.earned_hours = 28
    reminders.queue_reminders(
        plan,
        [reminders.ReminderTarget(learner.id, 28)],
        today=local_today(),
    )
    commit()
    messages[notify.MessageKind.DEADLINE_REMINDER] = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.kind == "deadline_reminder")
    )
    return messages


def test_every_template_fits_wechats_limits_with_the_longest_texts(app, wechat_sim):
    # The learner consented to the 订阅通知 on WeChat's page (its one notice goes by bizsend).
    wechat_sim.state.consent(
        "oDEMO_zhangwei", app.config["WECHAT_TEMPLATE_IDS"]["deadline_subscription"]
    )
    plan = factories.plan(year=2022)
    plan.title = LONG_TITLE
    learner = bound_learner()
    factories.paid_order(learner, plan)
    messages = _send_every_kind(learner, plan)
    assert set(messages) == set(notify.MessageKind)  # a new kind needs its case here
    for kind, message in messages.items():
        db.session.refresh(message)
        assert message.status is TemplateMessageStatus.SENT, (kind, message.error)
        for key, item in message.payload["data"].items():
            assert template_fields.problem(key, item["value"]) is None, (kind, key, item)
    by_kind = {m.kind: m.payload["data"] for m in messages.values()}
    # Shortened to their usual short forms, not cut mid-word.
    assert by_kind["payment_received"]["thing1"]["value"] == "重庆市2022年专技人员公需科目（补学）"
    assert by_kind["payment_received"]["amount2"]["value"] == "¥9999999.99"
    assert by_kind["review_result"]["phrase2"]["value"] == "未通过"
    assert by_kind["review_result"]["thing3"]["value"] == "上传的缴费凭证看不清楚，缴费金额与单位…"
    assert by_kind["invoice_issued"]["thing1"]["value"].endswith("…")
    assert (
        by_kind["study_withdrawn"]["thing1"]["value"] == "第三章 专技人员职业道德与诚信建设（上）"
    )
    assert len(wechat_sim.state.template_messages) == len(notify.MessageKind) - 1
    assert len(wechat_sim.state.subscribe_messages) == 1


def test_the_simulator_refuses_what_wechat_refuses(wechat_sim):
    client = get_wechat_client()
    template_id = next(iter(wechat_sim.app.config["TEMPLATE_IDS"]))

    def send(data):
        return client.post(
            "message/template/send",
            data={"touser": "oDEMO_zhangwei", "template_id": template_id, "data": data},
        )

    for data in (
        {"thing1": {"value": "一" * 21}},
        {"character_string1": {"value": "证书编号CQ2022"}},
        {"character_string1": {"value": "A" * 33}},
        {"phrase1": {"value": "审核已经通过"}},
        {"number1": {"value": "三十"}},
        {"amount1": {"value": "¥12345678901"}},
        {"time1": {"value": "下周一"}},
    ):
        with pytest.raises(WeChatClientException) as caught:
            send(data)
        assert caught.value.errcode == 47003, data
    assert send({"thing1": {"value": "一" * 20}, "time2": {"value": "2022年12月31日 23:59"}})
    assert len(wechat_sim.state.template_messages) == 1


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("重庆市2022年专技人员继续教育公需科目培训", "重庆市2022年专技人员公需科目培训"),
        (
            "二〇二二年度专业技术人员继续教育公需科目学习",
            "二〇二二年度专技人员继续教育公需科目学习",
        ),
        ("二〇二二年度专业技术人员公需科目", "二〇二二年度专业技术人员公需科目"),  # fits as it is
        ("甲" * 25, "甲" * 19 + "…"),
        ("您的申请材料已收到并完成初审，请耐心等待最终审核结果", "您的申请材料已收到并完成初审…"),
    ],
)
def test_long_things_are_shortened_to_stay_readable(text, short):
    assert template_fields.fit("thing1", text) == {"value": short}
    assert len(short) <= 20


def test_a_value_that_is_not_of_its_type_is_a_bug_not_a_cut():
    with pytest.raises(ValueError):
        template_fields.fit("amount2", "¥" + "9" * 11)
    assert template_fields.fit("phrase2", "审核通过了！") == {"value": "审核通过了"}
    assert template_fields.fit("character_string1", "编号CQ-2022-001") == {"value": "CQ-2022-001"}
