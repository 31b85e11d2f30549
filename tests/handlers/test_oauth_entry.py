from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, Response
from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner, WechatBinding
from models.wechat import WechatFollower
from services.wechat import bindings
from tests import factories
from tests.conftest import submit_form
from wechat_sim.server import LoopbackServer


def bind(learner, openid):
    db.session.add(WechatBinding(openid=openid, learner_id=learner.id))
    db.session.flush()


def binding_of(learner):
    return db.session.scalar(
        select(WechatBinding.openid).where(WechatBinding.learner_id == learner.id)
    )


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def through_wechat(client, sim, openid: str, entry: str = "/h5/"):
    """Open ``entry`` as WeChat's browser would, pick ``openid`` on WeChat's page, come back."""
    response = client.get(entry)
    assert response.status_code == 302
    authorize = response.headers["Location"]
    assert authorize.startswith(sim.url + "/connect/oauth2/authorize?")
    params = {key: values[0] for key, values in parse_qs(urlsplit(authorize).query).items()}
    assert params["scope"] == "snsapi_base"
    assert params["redirect_uri"] == "http://localhost/oauth/callback"
    assert authorize.endswith("#wechat_redirect")
    back = requests.post(
        sim.url + "/connect/oauth2/authorize",
        data={**params, "openid": openid},
        allow_redirects=False,
        timeout=5,
    )
    assert back.status_code == 302, back.text
    return client.get(path_of(back.headers["Location"]))


def test_a_bound_wechat_logs_in_silently(client, wechat_sim):
    learner = factories.learner(name="张伟")
    bind(learner, "oDEMO_zhangwei")
    response = through_wechat(client, wechat_sim, "oDEMO_zhangwei", "/h5/?next=/h5/manual")
    assert response.status_code == 302
    assert response.headers["Location"] == "/h5/manual"
    assert "张伟" in client.get("/h5/home").get_data(as_text=True)


def test_a_silent_login_is_the_learners_latest_login(client, wechat_sim):
    learner = factories.learner()
    bind(learner, "oDEMO_zhangwei")
    assert learner.last_login_at is None
    through_wechat(client, wechat_sim, "oDEMO_zhangwei")
    db.session.refresh(learner)
    assert learner.last_login_at is not None


def test_pages_that_need_a_learner_go_through_the_entry(client, wechat_sim):
    learner = factories.learner()
    bind(learner, "oDEMO_lina")
    response = client.get("/h5/home")
    assert response.headers["Location"].startswith("/h5/?next=/h5/home")
    response = through_wechat(client, wechat_sim, "oDEMO_lina", response.headers["Location"])
    assert response.headers["Location"] == "/h5/home"


def test_an_unbound_wechat_is_bound_at_login(client, wechat_sim):
    learner = factories.learner()
    response = through_wechat(client, wechat_sim, "oDEMO_guest1")
    assert response.headers["Location"].startswith("/h5/login")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "当前微信将与账号绑定" in page
    response = submit_form(
        client,
        response.headers["Location"],
        {"account": learner.phone, "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    assert binding_of(learner) == "oDEMO_guest1"

    # Next time: straight in.
    other = client.application.test_client()
    response = through_wechat(other, wechat_sim, "oDEMO_guest1")
    assert response.headers["Location"] == "/h5/start"


def test_an_unbound_wechat_is_bound_at_registration(client, wechat_sim):
    unit = factories.unit("重庆市渝中区人民医院")
    through_wechat(client, wechat_sim, "oDEMO_guest2")
    data = {
        "name": "王芳",
        "id_number": factories.valid_id_number(male=False),
        "phone": factories.unique_phone(),
        "unit_id": str(unit.id),
        "password": "Secret2022",
        "confirm_password": "Secret2022",
        "privacy_consent": "y",
    }
    response = submit_form(client, "/h5/register", data)
    assert response.status_code == 302
    learner = db.session.scalar(select(Learner).where(Learner.phone == data["phone"]))
    assert binding_of(learner) == "oDEMO_guest2"


def test_a_unit_poster_fills_in_the_unit_at_registration(client, wechat_sim):
    unit = factories.unit("重庆市第一中学")
    response = through_wechat(client, wechat_sim, "oDEMO_guest1", f"/h5/?unit={unit.code}")
    assert response.headers["Location"] == "/h5/register"
    page = client.get("/h5/register").get_data(as_text=True)
    assert f'value="{unit.id}"' in page
    assert 'value="重庆市第一中学"' in page


def test_an_entry_link_with_an_unknown_unit_goes_to_the_login_page(client, wechat_sim):
    response = through_wechat(client, wechat_sim, "oDEMO_guest1", "/h5/?unit=NOSUCH")
    assert response.headers["Location"].startswith("/h5/login")


def test_a_follower_who_scanned_a_unit_poster_gets_the_unit_filled_in(client, wechat_sim):
    unit = factories.unit("重庆市江北区卫生健康委员会")
    db.session.add(
        WechatFollower(openid="oDEMO_guest2", unit_id=unit.id, last_scene=f"unit:{unit.code}")
    )
    db.session.flush()
    response = through_wechat(client, wechat_sim, "oDEMO_guest2")
    assert response.headers["Location"] == "/h5/register"
    assert 'value="重庆市江北区卫生健康委员会"' in client.get("/h5/register").get_data(as_text=True)


def test_moments_snapshot_visitors_get_no_account(client, wechat_sim):
    response = through_wechat(client, wechat_sim, "oDEMO_snapshot")
    assert response.status_code == 200
    assert "使用完整服务" in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "wechat_openid" not in session
        assert "learner_id" not in session


def test_a_code_is_exchanged_once(client, wechat_sim):
    response = client.get("/h5/")
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    back = requests.post(
        wechat_sim.url + "/connect/oauth2/authorize",
        data={**params, "openid": "oDEMO_guest1"},
        allow_redirects=False,
        timeout=5,
    )
    callback = path_of(back.headers["Location"])
    assert client.get(callback).status_code == 302
    # The same callback again (a reload): the state is spent, WeChat would refuse the code too.
    again = client.get(callback)
    assert again.status_code == 400
    assert "重新进入" in again.get_data(as_text=True)
    # A fresh state with the spent code: WeChat's 40163.
    client.get("/h5/")
    with client.session_transaction() as session:
        state = session["oauth_state"]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    reused = client.get("/oauth/callback", query_string={"code": code, "state": state})
    assert reused.status_code == 400
    assert "授权已失效" in reused.get_data(as_text=True)


def test_an_expired_code_is_refused(client, wechat_sim):
    client.get("/h5/")
    with client.session_transaction() as session:
        state = session["oauth_state"]
    code = wechat_sim.state.issue_code("oDEMO_guest1", "snsapi_base")
    wechat_sim.state.expire_codes()
    response = client.get("/oauth/callback", query_string={"code": code, "state": state})
    assert response.status_code == 400


def test_a_foreign_state_is_refused(client, wechat_sim):
    client.get("/h5/")
    code = wechat_sim.state.issue_code("oDEMO_zhangwei", "snsapi_base")
    response = client.get("/oauth/callback", query_string={"code": code, "state": "forged"})
    assert response.status_code == 400
    assert not wechat_sim.state.oauth_codes[code].used  # never exchanged


def test_a_state_with_other_characters_is_refused_not_an_error(client, wechat_sim):
    client.get("/h5/")
    code = wechat_sim.state.issue_code("oDEMO_zhangwei", "snsapi_base")
    response = client.get("/oauth/callback", query_string={"code": code, "state": "伪造"})
    assert response.status_code == 400
    assert "重新进入" in response.get_data(as_text=True)
    assert not wechat_sim.state.oauth_codes[code].used


@pytest.mark.parametrize(
    "answer",
    [
        ("<html><body>502 Bad Gateway</body></html>", "text/html"),
        ('{"access_token": "x", "expires_in": 7200}', "application/json"),
    ],
)
def test_an_unreadable_answer_from_wechat_is_a_clear_page(app, client, answer):
    gateway = Flask(__name__)
    gateway.add_url_rule(
        "/sns/oauth2/access_token", "token", lambda: Response(answer[0], mimetype=answer[1])
    )
    server = LoopbackServer(gateway).serve()
    saved = app.config["WECHAT_API_BASE"]
    app.config["WECHAT_API_BASE"] = server.url
    try:
        client.get("/h5/")
        with client.session_transaction() as session:
            state = session["oauth_state"]
        response = client.get("/oauth/callback", query_string={"code": "c", "state": state})
    finally:
        app.config["WECHAT_API_BASE"] = saved
        server.stop()
    assert response.status_code == 502
    assert "微信授权暂时不可用" in response.get_data(as_text=True)


def test_moving_an_account_to_another_wechat_needs_the_password(client, wechat_sim):
    learner = factories.learner()
    bind(learner, "oDEMO_lina")
    response = through_wechat(client, wechat_sim, "oDEMO_guest1")
    response = submit_form(
        client,
        response.headers["Location"],
        {"account": learner.phone, "password": factories.PASSWORD},
    )
    assert response.headers["Location"].startswith("/oauth/rebind")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已绑定另一个微信" in page
    assert learner.id_number not in page  # masked
    wrong = submit_form(client, response.headers["Location"], {"password": "wrong"})
    assert wrong.status_code == 400
    assert "密码不正确" in wrong.get_data(as_text=True)
    assert binding_of(learner) == "oDEMO_lina"
    right = submit_form(client, response.headers["Location"], {"password": factories.PASSWORD})
    assert right.status_code == 302
    assert binding_of(learner) == "oDEMO_guest1"


def test_one_wechat_binds_one_account(app):
    first, second = factories.learner(), factories.learner()
    assert bindings.bind_openid(first.id, "oX") is bindings.BindOutcome.BOUND
    assert bindings.bind_openid(first.id, "oX") is bindings.BindOutcome.ALREADY
    assert bindings.bind_openid(second.id, "oX") is bindings.BindOutcome.TAKEN
    assert bindings.bind_openid(first.id, "oY") is bindings.BindOutcome.NEEDS_PASSWORD
    assert binding_of(second) is None


def test_outside_wechat_the_entry_goes_to_the_login_page(app, client):
    app.config["WECHAT_OAUTH_WECHAT_BROWSER_ONLY"] = True
    try:
        plain = client.get("/h5/", headers={"User-Agent": "Mozilla/5.0 Chrome/120"})
        wechat = client.get(
            "/h5/", headers={"User-Agent": "Mozilla/5.0 MicroMessenger/8.0.47.2560 NetType/WIFI"}
        )
    finally:
        app.config["WECHAT_OAUTH_WECHAT_BROWSER_ONLY"] = False
    assert plain.headers["Location"].startswith("/h5/login")
    assert "/connect/oauth2/authorize" in wechat.headers["Location"]


def test_the_manual_page(client):
    page = client.get("/h5/manual").get_data(as_text=True)
    assert "打印证书" in page
    assert "400-023-9229" in page
