"""A learner who has not bought asks for the deadline's 订阅通知 on a phone inside WeChat, consents on
WeChat's page, and receives one notice from the next reminder run."""

import pytest
from playwright.sync_api import expect

from infra.extensions import db
from infra.transaction import commit
from models.accounts import WechatBinding
from tests import factories
from tests.e2e.conftest import phone, snap


@pytest.mark.committed
def test_asking_for_the_deadline_notice_on_a_phone(live_platform, browser, shots):
    plan = factories.plan(year=2022)
    learner = factories.learner(name="张伟")
    db.session.add(WechatBinding(openid="oDEMO_zhangwei", learner_id=learner.id))
    commit()
    plan_id = plan.id

    page = phone(browser).new_page()
    page.goto(live_platform.url + "/h5/")
    page.get_by_role("button", name="张伟").click()  # WeChat's authorisation: a bound WeChat
    page.goto(live_platform.url + "/h5/plans")
    ask = page.get_by_role("button", name="截止前提醒我")
    expect(ask).to_be_visible()
    snap(page, shots, "deadline-notice-offer")
    ask.click()

    expect(page.locator("h1")).to_have_text("公众号申请向你发送一次通知")
    snap(page, shots, "deadline-notice-wechat-consent")
    page.locator("form", has_text="oDEMO_zhangwei").get_by_role("button", name="允许").click()
    expect(page.locator(".h5-flash")).to_contain_text("已订阅：学习截止前，公众号会提醒您一次")
    expect(page.locator(".notice-optin__done")).to_be_visible()
    snap(page, shots, "deadline-notice-subscribed")

    with live_platform.app.app_context():  # the command runs in the live platform's app
        result = live_platform.app.test_cli_runner().invoke(
            args=["reminders", "send", "--year", "2022"]
        )
    assert "1 reminders queued" in result.output, result.output
    [notice] = live_platform.sim.subscribe_messages
    assert notice["touser"] == "oDEMO_zhangwei"
    assert notice["page"] == f"{live_platform.url}/h5/plans/{plan_id}"
    assert live_platform.sim.template_messages == []

    page.reload()
    expect(page.get_by_role("button", name="截止前提醒我")).to_be_visible()  # consent used
