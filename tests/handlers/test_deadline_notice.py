import re
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from infra.extensions import db
from infra.wechat_client import get_wechat_client
from models.accounts import WechatBinding
from models.wechat import ReminderSubscription, TemplateMessage, TemplateMessageStatus
from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import log_in

GUEST = "oDEMO_guest1"  # follows the account in the simulator


def _learner_with_wechat(openid: str = GUEST):
    learner = factories.learner(name="王芳")
    db.session.add(WechatBinding(openid=openid, learner_id=learner.id))
    db.session.flush()
    return learner


def _answer_on_wechat(location: str, *, openid: str, answer: str) -> str:
    """Open WeChat's consent page as the user and tap 允许 or 取消; where WeChat sends them."""
    url = location.split("#", 1)[0]
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    form = next(
        chunk
        for chunk in page.text.split("<form")[1:]
        if f'name="openid" value="{openid}"' in chunk
    )
    fields = {
        name: unescape(value) for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', form)
    }
    fields["answer"] = answer
    back = requests.post(url.split("?", 1)[0], data=fields, allow_redirects=False, timeout=5)
    assert back.status_code == 302, back.text
    return back.headers["Location"]


def _ask(client, plan):
    response = submit_form(client, f"/h5/plans/{plan.id}/deadline-notice", {}, page="/h5/plans")
    assert response.status_code == 302
    return response.headers["Location"]


def _come_back(client, location: str):
    target = urlsplit(location)
    return client.get(f"{target.path}?{target.query}")


def test_a_learner_who_has_not_bought_gets_one_notice_per_consent(client, runner, wechat_sim):
    plan = factories.plan(year=2022)
    learner = _learner_with_wechat()
    log_in(client, learner)
    assert "截止前提醒我" in client.get("/h5/plans").get_data(as_text=True)

    location = _ask(client, plan)
    assert location.startswith(wechat_sim.url + "/mp/subscribemsg?action=get_confirm")
    assert location.endswith("#wechat_redirect")
    back = _answer_on_wechat(location, openid=GUEST, answer="confirm")
    response = _come_back(client, back)
    assert response.status_code == 302
    page = client.get("/h5/plans").get_data(as_text=True)
    assert "已订阅：学习截止前，公众号会提醒您一次" in page
    assert "已订阅截止提醒" in page
    # The same answer arriving again records nothing more.
    assert _come_back(client, back).status_code == 302
    assert len(db.session.scalars(select(ReminderSubscription)).all()) == 1

    result = runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert "1 reminders queued" in result.output, result.output
    [notice] = wechat_sim.state.subscribe_messages
    assert notice["touser"] == GUEST
    assert notice["page"] == f"http://localhost/h5/plans/{plan.id}"
    assert wechat_sim.state.template_messages == []  # never a template message to a non-buyer
    message = db.session.scalar(select(TemplateMessage))
    assert message.kind == "deadline_subscription"
    assert message.status is TemplateMessageStatus.SENT, message.error

    # The consent is used: the next round sends nothing until the learner consents again.
    runner.invoke(args=["reminders", "send", "--year", "2022"])
    assert len(wechat_sim.state.subscribe_messages) == 1
    assert "截止前提醒我" in client.get("/h5/plans").get_data(as_text=True)


def test_declining_on_wechat_records_nothing(client, wechat_sim):
    plan = factories.plan(year=2022)
    log_in(client, _learner_with_wechat())
    back = _answer_on_wechat(_ask(client, plan), openid=GUEST, answer="cancel")
    _come_back(client, back)
    assert "您取消了订阅" in client.get("/h5/plans").get_data(as_text=True)
    assert db.session.scalars(select(ReminderSubscription)).all() == []


def test_an_answer_not_started_here_or_from_another_wechat_is_refused(client, wechat_sim):
    plan = factories.plan(year=2022)
    log_in(client, _learner_with_wechat())
    forged = client.get(
        f"/h5/deadline-notice/answer?openid={GUEST}&template_id=x&action=confirm&reserved=abc"
    )
    assert forged.status_code == 302
    assert "不是从本页面发起的" in client.get("/h5/plans").get_data(as_text=True)

    back = _answer_on_wechat(_ask(client, plan), openid="oDEMO_guest2", answer="confirm")
    _come_back(client, back)
    assert "订阅来自另一个微信号" in client.get("/h5/plans").get_data(as_text=True)
    assert db.session.scalars(select(ReminderSubscription)).all() == []


def test_buyers_and_learners_without_wechat_are_not_offered_it(client, wechat_sim):
    plan = factories.plan(year=2022)
    buyer = _learner_with_wechat()
    factories.paid_order(buyer, plan)
    log_in(client, buyer)
    assert "截止前提醒我" not in client.get("/h5/plans").get_data(as_text=True)
    response = submit_form(client, f"/h5/plans/{plan.id}/deadline-notice", {}, page="/h5/plans")
    assert response.headers["Location"].endswith("/h5/plans")
    assert "您已购买该计划" in client.get("/h5/plans").get_data(as_text=True)

    other = client.application.test_client()
    log_in(other, factories.learner())
    submit_form(other, f"/h5/plans/{plan.id}/deadline-notice", {}, page="/h5/plans")
    assert "请先在微信中打开本平台并绑定微信" in other.get("/h5/plans").get_data(as_text=True)


def test_wechat_sends_no_notice_without_a_consent(app, wechat_sim):
    with pytest.raises(WeChatClientException) as caught:
        get_wechat_client().post(
            "message/subscribe/bizsend",
            data={
                "touser": GUEST,
                "template_id": app.config["WECHAT_TEMPLATE_IDS"]["deadline_subscription"],
                "data": {"thing1": {"value": "公需科目"}},
            },
        )
    assert caught.value.errcode == 43101
