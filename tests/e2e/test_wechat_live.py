"""The official account end to end: the simulator's chat page in headless Chromium, and
concurrent duplicate deliveries against a live server."""

import re
import threading

import pytest
import requests
from playwright.sync_api import expect

from infra.extensions import db
from infra.transaction import commit
from models.accounts import WechatBinding
from services.wechat import menu, posters
from services.wechat.followers import Scene
from tests import factories
from tests import wechat_samples as samples
from tests.e2e.conftest import PHONE
from wechat_sim import push


@pytest.mark.committed
def test_the_chat_page_talks_to_the_account(live_platform, browser, shots):
    unit_code = factories.unit("重庆市渝中区人民医院").code
    learner = factories.learner(name="张伟")
    db.session.add(WechatBinding(openid="oDEMO_zhangwei", learner_id=learner.id))
    commit()
    # Nothing of this test's session is read inside the live app's context: it would take a
    # connection from that app's pool and keep it past the app's teardown.
    with live_platform.app.app_context():
        menu.push_menu()
        posters.create_qrcode(Scene("unit", unit_code), 7)

    page = browser.new_page(viewport={"width": 1100, "height": 820})
    page.goto(live_platform.url + "/_sim/chat?user=oDEMO_guest1")
    phone = page.locator("[data-chat]")

    # A menu CLICK: 服务 → 在线客服, answered as a bubble.
    phone.get_by_role("button", name="服务").click()
    phone.get_by_role("button", name="在线客服").click()
    expect(phone.locator(".sim-bubble_in").last).to_contain_text("发送“人工客服”即可转接")

    # Typing a keyword.
    phone.get_by_role("button", name="切换到键盘").click()
    phone.get_by_label("消息").fill("发票")
    phone.get_by_role("button", name="发送").click()
    expect(phone.locator(".sim-bubble_out").last).to_have_text("发票")
    expect(phone.locator(".sim-bubble_in").last).to_contain_text("不能跨年补开")

    # Scanning the unit's poster (the follower already follows: a SCAN event).
    page.locator("[data-posters] button").first.click()
    expect(phone.locator(".sim-bubble_in").last).to_contain_text("重庆市渝中区人民医院")
    phone.screenshot(path=str(shots / "chat.png"))

    # VIEW: 继续教育 → 公需科目 opens the H5 entry through the simulated OAuth; guest1 is not
    # bound, and the unit of the poster is filled in on the registration page.
    phone.get_by_role("button", name="切换到菜单").click()
    phone.get_by_role("button", name="继续教育").click()
    phone.get_by_role("button", name="公需科目").click()
    frame = page.frame_locator("[data-frame]")
    expect(frame.locator("body")).to_contain_text("注册账号")
    expect(frame.locator("#unit_name")).to_have_value("重庆市渝中区人民医院")
    phone.screenshot(path=str(shots / "chat-webview.png"))

    # A bound WeChat user opening the entry on a phone: the OAuth picker, then straight in.
    h5 = browser.new_page(viewport=PHONE)
    h5.goto(live_platform.url + "/h5/")
    expect(h5.locator("h1")).to_have_text("选择微信用户")
    h5.screenshot(path=str(shots / "oauth-picker.png"))
    h5.get_by_role("button", name="张伟").click()
    expect(h5).to_have_url(re.compile(r"/h5/(study|plans)"))  # the landing, signed in
    h5.goto(live_platform.url + "/h5/home")
    expect(h5.locator("body")).to_contain_text("张伟")
    h5.screenshot(path=str(shots / "h5-entry-bound.png"))

    guest = browser.new_page(viewport=PHONE)
    guest.goto(live_platform.url + "/h5/")
    guest.get_by_role("button", name="刘洋").click()
    expect(guest.locator("body")).to_contain_text("当前微信将与账号绑定")
    guest.screenshot(path=str(shots / "h5-entry-unbound.png"))


@pytest.mark.committed
def test_concurrent_duplicate_deliveries_have_one_effect_and_one_answer(live_platform):
    learner = factories.learner(name="李娜")
    db.session.add(WechatBinding(openid="oDEMO_lina", learner_id=learner.id))
    commit()
    live_platform.sim.api_delay = 1.0  # the progress lookup's message takes a second to send
    config = live_platform.app.config
    account = push.Account(
        config["WECHAT_TOKEN"], config["WECHAT_APPID"], config["WECHAT_ORIGINAL_ID"]
    )
    xml = samples.text(account.original_id, "oDEMO_lina", "我的学时")
    answers: list[bytes] = []
    start = threading.Barrier(4)

    def deliver(index: int) -> None:
        query, body = push.signed_push(account, xml, nonce=str(1000 + index))
        start.wait()
        response = requests.post(live_platform.url + "/wechat", params=query, data=body, timeout=10)
        answers.append(response.content)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replies = [push.read_reply(account, answer, encrypted=False) for answer in answers]
    assert all(reply is not None for reply in replies)
    assert {reply["Content"] for reply in replies} == {"正在查询您的学习进度，结果稍后发送给您。"}
    assert len(live_platform.sim.custom_messages) == 1


@pytest.mark.committed
def test_the_chat_speaks_safe_mode_when_the_account_has_a_key(live_platform):
    from tests.wechat_simulator import TEST_AES_KEY

    sim_app = live_platform.app.extensions["wechat_sim"]
    live_platform.app.config["WECHAT_AES_KEY"] = TEST_AES_KEY
    sim_app.config["AES_KEY"] = TEST_AES_KEY
    send = live_platform.url + "/_sim/chat/api/send"
    answer = requests.post(
        send, json={"user": "oDEMO_guest2", "action": "text", "content": "补学"}, timeout=10
    ).json()
    assert "缴费承诺书" in answer["reply"]["content"]
    # A platform without the key cannot read the simulator's encrypted pushes.
    live_platform.app.config["WECHAT_AES_KEY"] = ""
    refused = requests.post(
        send, json={"user": "oDEMO_guest2", "action": "text", "content": "补学"}, timeout=10
    ).json()
    assert "reply" not in refused or refused["reply"] is None
