"""扫码登录 on a PC through the WeChat simulator: the login page's code, WeChat's SCAN and
subscribe events with the scene ``login:<id>``, and the browser that asked finishing once."""

from __future__ import annotations

import itertools
import re
import time

from tests import factories
from tests.conftest import csrf_from
from tests.wechat_simulator import account_of, post_push, reply_of
from wechat_sim import push

# WeChat dedupes events by sender and CreateTime: each push of a test gets its own second.
_moments = itertools.count(int(time.time()))

PC = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36"}


def start_code(client, wechat_sim) -> str:
    page = client.get("/h5/login", headers=PC).get_data(as_text=True)
    assert "微信扫码登录" in page and "data-qr-login" in page
    started = client.post("/h5/login/qr", headers={**PC, "X-CSRFToken": csrf_from(page)})
    assert started.status_code == 200, started.get_data(as_text=True)
    assert client.get(started.get_json()["image_url"]).mimetype == "image/png"
    [code] = [q for q in wechat_sim.state.qrcodes.values() if q["scene"].startswith("login:")]
    assert code["temporary"] and code["expires_at"] - code["created_at"] <= 300
    return code["scene"].removeprefix("login:")


def scan(client, app, openid: str, login_id: str, event: str = "SCAN"):
    key = f"login:{login_id}" if event == "SCAN" else f"qrscene_login:{login_id}"
    xml = push.event_message(
        account_of(app), openid, event, key=key, ticket="gQtest", create_time=next(_moments)
    )
    return reply_of(app, post_push(client, app, xml))


def test_a_bound_follower_scans_and_the_pc_logs_in_once(client, app, wechat_sim):
    learner = factories.learner(name="张伟")
    factories.bind_wechat(learner, "oPC_scanner")
    login_id = start_code(client, wechat_sim)
    assert client.get("/h5/login/qr/status").get_json() == {"state": "waiting"}
    phone = app.test_client()
    reply = scan(phone, app, "oPC_scanner", login_id)
    assert "张伟，您已在电脑上登录" in reply["Content"]
    assert client.get("/h5/login/qr/status").get_json() == {"state": "confirmed"}
    page = client.get("/h5/login", headers=PC).get_data(as_text=True)
    finished = client.post(
        "/h5/login/qr/finish", data={"csrf_token": csrf_from(page), "next": "/h5/orders"}
    )
    assert finished.status_code == 302 and finished.headers["Location"] == "/h5/orders"
    assert "我的订单" in client.get("/h5/orders").get_data(as_text=True)
    # The code logs in once; another browser with its id gets nothing.
    other = app.test_client()
    token = csrf_from(other.get("/h5/login", headers=PC).get_data(as_text=True))
    again = other.post("/h5/login/qr/finish", data={"csrf_token": token})
    assert again.status_code == 302 and "/h5/login" in again.headers["Location"]
    assert other.get("/h5/orders").status_code == 302
    assert scan(phone, app, "oPC_scanner", login_id)["Content"].startswith("该登录二维码已过期")


def test_an_unbound_follower_gets_the_link_to_bind_and_the_pc_stays_out(client, app, wechat_sim):
    login_id = start_code(client, wechat_sim)
    reply = scan(app.test_client(), app, "oPC_stranger", login_id, event="subscribe")
    assert "尚未绑定学习账号" in reply["Content"]
    assert re.search(r'<a href="http://localhost/h5/">登录并绑定</a>', reply["Content"])
    assert client.get("/h5/login/qr/status").get_json() == {"state": "unbound"}
    page = client.get("/h5/login", headers=PC).get_data(as_text=True)
    refused = client.post("/h5/login/qr/finish", data={"csrf_token": csrf_from(page)})
    assert refused.status_code == 302
    assert client.get("/h5/home").status_code == 302  # still not logged in


def test_a_phone_browser_is_not_offered_the_code(client):
    phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"}
    page = client.get("/h5/login", headers=phone).get_data(as_text=True)
    assert "data-qr-login" not in page and "登录" in page


def test_the_code_refuses_when_wechat_cannot_make_one(client):
    page = client.get("/h5/login", headers=PC).get_data(as_text=True)
    started = client.post("/h5/login/qr", headers={**PC, "X-CSRFToken": csrf_from(page)})
    assert started.status_code == 502
    assert "请使用密码登录" in started.get_json()["error"]
