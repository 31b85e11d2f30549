from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.accounts import WechatBinding
from models.base import utcnow
from models.wechat import TemplateMessage, TemplateMessageStatus
from services.wechat import notify
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
    assert "no template id" in message.error
    assert wechat_sim.state.token_fetches == 0


def test_wechat_unreachable_marks_the_message_failed(app, wechat_sim):
    saved = app.config["WECHAT_API_BASE"]
    app.config["WECHAT_API_BASE"] = "http://127.0.0.1:9"  # nothing listens there
    app.extensions.pop("wechat_client", None)
    try:
        message = payment(bound_learner())
    finally:
        app.config["WECHAT_API_BASE"] = saved
        app.extensions.pop("wechat_client", None)
    assert message.status is TemplateMessageStatus.FAILED
    assert message.error


def test_a_revoked_token_is_refreshed_and_the_message_still_goes(wechat_sim):
    learner = bound_learner()
    payment(learner, order_id=1)
    wechat_sim.state.revoke_tokens()
    second = payment(learner, order_id=2)
    assert second.status is TemplateMessageStatus.SENT
    assert wechat_sim.state.token_fetches == 2
    statuses = db.session.scalars(select(TemplateMessage.status)).all()
    assert statuses == [TemplateMessageStatus.SENT, TemplateMessageStatus.SENT]
