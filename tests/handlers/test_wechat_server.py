import hashlib
import logging
import time

import pytest
from sqlalchemy import select

from infra.extensions import db
from infra.redis_client import get_redis
from models.accounts import WechatBinding
from models.wechat import WechatFollower
from tests import factories
from tests import wechat_samples as samples
from tests.wechat_simulator import account_of, post_push, reply_of
from wechat_sim import push

OPENID = "oTEST_follower_0001"


def to(app):
    return app.config["WECHAT_ORIGINAL_ID"]


def signed_query(token, timestamp="1409735669", nonce="1320562132"):
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


# --- server URL check ------------------------------------------------------------------
def test_server_check_echoes_echostr(app, client):
    query = {**signed_query(app.config["WECHAT_TOKEN"]), "echostr": "5837397520665436492"}
    response = client.get("/wechat", query_string=query)
    assert response.status_code == 200
    assert response.data == b"5837397520665436492"


def test_server_check_with_a_bad_signature_is_forbidden(app, client):
    query = {**signed_query("not-the-token"), "echostr": "1"}
    response = client.get("/wechat", query_string=query)
    assert response.status_code == 403
    assert b"1" not in response.data.replace(b"signature", b"")


def test_a_signature_that_is_not_hexadecimal_is_forbidden_not_an_error(app, client):
    query = {**signed_query(app.config["WECHAT_TOKEN"]), "signature": "签名", "echostr": "1"}
    assert client.get("/wechat", query_string=query).status_code == 403
    body = samples.text(to(app), OPENID, "证书").encode()
    assert client.post("/wechat", query_string=query, data=body).status_code == 403


# --- replies in every mode ---------------------------------------------------------------
def test_keyword_answers_from_the_faq(app, client, mode):
    response = post_push(client, app, samples.text(to(app), OPENID, "证书怎么打印"), mode)
    reply = reply_of(app, response, mode)
    assert reply["MsgType"] == "text"
    assert reply["ToUserName"] == OPENID
    assert reply["FromUserName"] == to(app)
    assert "打印证书" in reply["Content"]
    assert "http://localhost/h5/certificates" in reply["Content"]
    if mode != "plaintext":
        assert b"<Encrypt>" in response.data
        assert "打印".encode() not in response.data


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("发票", "不能跨年补开"),
        ("忘记密码了", "首次登录"),
        ("学时", "30 学时"),
        ("补学", "缴费承诺书"),
        ("客服电话", "400-618-7500"),
        ("ＱＱ群", "851487026"),
    ],
)
def test_each_keyword_has_its_answer(app, client, content, expected):
    reply = reply_of(app, post_push(client, app, samples.text(to(app), OPENID, content)))
    assert expected in reply["Content"]


def test_anything_else_gets_the_short_help(app, client, mode):
    response = post_push(client, app, samples.text(to(app), OPENID, "你好"), mode)
    reply = reply_of(app, response, mode)
    assert "发送以下关键词" in reply["Content"]
    image = samples.event(samples.IMAGE, to(app), OPENID)
    assert "发送以下关键词" in reply_of(app, post_push(client, app, image, mode), mode)["Content"]


def test_asking_for_a_person_transfers_to_customer_service(app, client, mode):
    response = post_push(client, app, samples.text(to(app), OPENID, "人工客服"), mode)
    assert reply_of(app, response, mode)["MsgType"] == "transfer_customer_service"


@pytest.mark.parametrize("content", ["人工", "人工！", "转人工", "我要找人工"])
def test_other_ways_of_asking_for_a_person_transfer_too(app, client, content):
    response = post_push(client, app, samples.text(to(app), OPENID, content))
    assert reply_of(app, response, "plaintext")["MsgType"] == "transfer_customer_service"


def test_a_course_name_with_the_word_for_person_is_not_a_transfer(app, client):
    response = post_push(client, app, samples.text(to(app), OPENID, "人工智能概论"))
    assert reply_of(app, response, "plaintext")["MsgType"] == "text"


def test_subscribe_welcomes_with_entry_links_and_records_the_follower(app, client, mode):
    response = post_push(client, app, samples.event(samples.SUBSCRIBE, to(app), OPENID), mode)
    reply = reply_of(app, response, mode)
    assert "感谢关注" in reply["Content"]
    assert '<a href="http://localhost/h5/">' in reply["Content"]
    follower = db.session.get(WechatFollower, OPENID)
    assert follower.subscribed is True
    assert follower.subscribed_at is not None

    post_push(client, app, samples.event(samples.UNSUBSCRIBE, to(app), OPENID), mode)
    db.session.refresh(follower)
    assert follower.subscribed is False
    assert follower.unsubscribed_at is not None


def test_scanning_a_unit_poster_ties_the_follower_to_the_unit(app, client, mode):
    unit = factories.unit("重庆市渝中区人民医院")
    xml = samples.event(samples.SUBSCRIBE_SCENE, to(app), OPENID, scene=f"unit:{unit.code}")
    reply = reply_of(app, post_push(client, app, xml, mode), mode)
    assert "重庆市渝中区人民医院" in reply["Content"]
    assert f"http://localhost/h5/?unit={unit.code}" in reply["Content"]
    follower = db.session.get(WechatFollower, OPENID)
    assert follower.unit_id == unit.id
    assert follower.last_scene == f"unit:{unit.code}"


def test_scanning_again_while_following_is_a_scan_event(app, client):
    unit = factories.unit("重庆市第一中学")
    xml = samples.event(samples.SCAN, to(app), OPENID, scene=f"unit:{unit.code}")
    reply = reply_of(app, post_push(client, app, xml))
    assert "重庆市第一中学" in reply["Content"]
    assert db.session.get(WechatFollower, OPENID).unit_id == unit.id


def test_a_bound_learner_scanning_a_unit_poster_is_not_asked_to_register(app, client):
    unit = factories.unit()
    learner = factories.learner()
    db.session.add(WechatBinding(openid=OPENID, learner_id=learner.id))
    xml = samples.event(samples.SCAN, to(app), OPENID, scene=f"unit:{unit.code}")
    reply = reply_of(app, post_push(client, app, xml))
    assert "欢迎回来" in reply["Content"]
    assert "unit=" not in reply["Content"]


def test_a_plan_poster_opens_the_plan(app, client):
    plan = factories.plan(published=True)
    xml = samples.event(samples.SCAN, to(app), OPENID, scene=f"plan:{plan.id}")
    reply = reply_of(app, post_push(client, app, xml))
    assert plan.title in reply["Content"]
    assert f"http://localhost/h5/?next=%2Fh5%2Fplans%2F{plan.id}" in reply["Content"]


def test_an_unknown_scene_gets_the_welcome(app, client):
    xml = samples.event(samples.SUBSCRIBE_SCENE, to(app), OPENID, scene="unit:NOSUCH")
    assert "感谢关注" in reply_of(app, post_push(client, app, xml))["Content"]


def test_menu_click_is_answered(app, client, mode):
    xml = samples.event(samples.CLICK, to(app), OPENID, key="ONLINE_SERVICE")
    assert "人工客服" in reply_of(app, post_push(client, app, xml, mode), mode)["Content"]


def test_menu_view_is_counted_and_answered_success(app, client):
    xml = samples.event(samples.VIEW, to(app), OPENID, url="http://localhost/h5/certificates")
    response = post_push(client, app, xml)
    assert response.data == b"success"
    views = get_redis().hgetall(f"wechat:menu-views:{time.strftime('%Y-%m-%d')}")
    assert views == {b"/h5/certificates": b"1"}


@pytest.mark.parametrize("template", [samples.UNKNOWN, samples.LOCATION_EVENT])
def test_unknown_types_and_other_events_get_success(app, client, template):
    response = post_push(client, app, samples.event(template, to(app), OPENID))
    assert response.status_code == 200
    assert response.data == b"success"


def test_the_encryption_guide_sample_is_read_and_answered_encrypted(app, client):
    saved = {key: app.config[key] for key in samples.GUIDE_ACCOUNT}
    app.config.update(samples.GUIDE_ACCOUNT)
    try:
        query = {**signed_query("spamtest"), **samples.GUIDE_QUERY}
        response = client.post("/wechat", query_string=query, data=samples.GUIDE_BODY)
        reply = reply_of(app, response, "compatible")
    finally:
        app.config.update(saved)
    assert reply["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert reply["FromUserName"] == "gh_10f6c3c3ac5a"
    assert "发送以下关键词" in reply["Content"]  # "abcdteT" is no keyword


# --- retries ------------------------------------------------------------------------
def test_a_retried_message_is_answered_once_and_the_same_way(app, client, wechat_sim):
    learner = factories.learner(name="张伟")
    db.session.add(WechatBinding(openid="oDEMO_zhangwei", learner_id=learner.id))
    db.session.flush()
    xml = samples.text(to(app), "oDEMO_zhangwei", "我的学时")
    first = reply_of(app, post_push(client, app, xml))
    # WeChat's retry: same MsgId, new timestamp and nonce.
    second = reply_of(app, post_push(client, app, xml, timestamp=str(int(time.time()) + 5)))
    assert first == second
    assert "稍后发送" in first["Content"]
    # The slow part (the progress query) ran once and arrived as a customer-service message.
    sent = [m for m in wechat_sim.state.custom_messages if m["touser"] == "oDEMO_zhangwei"]
    assert len(sent) == 1
    assert "张伟" in sent[0]["body"]["content"]


def test_the_progress_message_lists_the_plans_the_study_pages_show(app):
    from models.enrollments import EnrollmentStatus
    from services.wechat.conversation import study_progress_text

    learner = factories.learner(name="张伟")
    db.session.add(WechatBinding(openid=OPENID, learner_id=learner.id))
    current = factories.enrollment(learner, factories.plan(year=2022))
    current.earned_hours = 12
    refunded = factories.enrollment(learner, factories.plan(year=2021))
    refunded.status = EnrollmentStatus.REVOKED
    db.session.flush()
    text = study_progress_text(OPENID)
    assert f"· {current.plan.title}：12/30 学时，还差 18 学时" in text
    assert refunded.plan.title not in text
    assert '<a href="http://localhost/h5/study">' in text


def test_events_are_deduplicated_by_sender_and_create_time(app, client):
    unit = factories.unit()
    xml = samples.event(
        samples.SCAN, to(app), OPENID, scene=f"unit:{unit.code}", create_time=1700000000
    )
    first = post_push(client, app, xml).data
    assert post_push(client, app, xml).data == first
    other_time = samples.event(
        samples.SCAN, to(app), OPENID, scene=f"unit:{unit.code}", create_time=1700000001
    )
    assert post_push(client, app, other_time).status_code == 200


# --- bad input ------------------------------------------------------------------------
def _refused(app, client, caplog, body: bytes, query: dict | None = None, expect: str = ""):
    query = query or signed_query(app.config["WECHAT_TOKEN"])
    with caplog.at_level(logging.WARNING, logger="handlers.wechat"):
        started = time.monotonic()
        response = client.post("/wechat", query_string=query, data=body, content_type="text/xml")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.data == b"success"
    assert elapsed < 2
    assert any(
        "WeChat push refused" in r.message and expect in r.message for r in caplog.records
    ), [r.message for r in caplog.records]
    return response


def test_an_oversized_body_is_refused(app, client, caplog):
    body = samples.text(to(app), OPENID, "证" * 40000).encode()
    _refused(app, client, caplog, body, expect="bytes")


@pytest.mark.parametrize(
    "body",
    [b"<xml><ToUserName>", b"not xml at all", b"", "<xml>\xff</xml>".encode("latin-1"), b"<root/>"],
)
def test_malformed_bodies_are_refused(app, client, caplog, body):
    _refused(app, client, caplog, body)


def test_billion_laughs_is_refused_quickly(app, client, caplog):
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol0 "lol">{lol}]>'
        f"<xml><ToUserName>{to(app)}</ToUserName><FromUserName>x</FromUserName>"
        "<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"
    ).encode()
    _refused(app, client, caplog, body, expect="DTD")


def test_external_entities_are_refused(app, client, caplog):
    body = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f"<xml><ToUserName>{to(app)}</ToUserName><FromUserName>x</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"
    ).encode()
    response = _refused(app, client, caplog, body, expect="DTD")
    assert b"root:" not in response.data


def test_a_message_for_another_account_is_refused(app, client, caplog):
    body = samples.text("gh_someoneelse", OPENID, "证书").encode()
    _refused(app, client, caplog, body, expect="gh_someoneelse")


def test_a_sender_that_is_no_openid_is_refused(app, client, caplog):
    body = samples.event(samples.SUBSCRIBE, to(app), "o" * 200).encode()
    _refused(app, client, caplog, body, expect="FromUserName")
    assert db.session.scalar(select(WechatFollower.openid)) is None


def test_a_push_with_a_bad_signature_is_forbidden(app, client):
    query, body = push.signed_push(account_of(app), samples.text(to(app), OPENID, "证书"))
    query["signature"] = "0" * 40
    response = client.post("/wechat", query_string=query, data=body)
    assert response.status_code == 403


def test_plaintext_pushes_are_refused_in_safe_mode(app, client, caplog, encrypted_mode):
    body = samples.text(to(app), OPENID, "证书").encode()
    _refused(app, client, caplog, body, expect="plaintext push refused")


def test_undecryptable_pushes_are_refused(app, client, caplog, encrypted_mode):
    other = push.Account(
        token=app.config["WECHAT_TOKEN"],
        appid=app.config["WECHAT_APPID"],
        original_id=to(app),
        aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    )
    query, body = push.signed_push(
        other, samples.text(to(app), OPENID, "证书"), mode=encrypted_mode
    )
    _refused(app, client, caplog, body, query=query, expect="decrypt failed")


def test_a_tampered_ciphertext_is_refused(app, client, caplog, encrypted_mode):
    query, body = push.signed_push(
        account_of(app), samples.text(to(app), OPENID, "证书"), mode=encrypted_mode
    )
    body = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    _refused(app, client, caplog, body, query=query, expect="msg_signature")


def test_a_msg_signature_that_is_not_hexadecimal_is_refused(app, client, caplog, encrypted_mode):
    query, body = push.signed_push(
        account_of(app), samples.text(to(app), OPENID, "证书"), mode=encrypted_mode
    )
    query["msg_signature"] = "签名"
    _refused(app, client, caplog, body, query=query, expect="msg_signature")


def test_when_redis_is_down_the_user_is_told_to_try_again(app, client, caplog, monkeypatch):
    import redis

    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    monkeypatch.setitem(app.extensions, "redis", dead)
    with caplog.at_level(logging.ERROR, logger="handlers.wechat"):
        response = post_push(client, app, samples.text(to(app), OPENID, "证书"))
    assert reply_of(app, response)["Content"] == "系统繁忙，请稍后再试。"
    assert any("could not be answered" in record.message for record in caplog.records)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("success", "delivered"),
        ("failed:user block", "failed"),
        ("failed: system failed", "failed"),
    ],
)
def test_delivery_receipts_update_the_template_message(app, client, status, expected):
    from models.wechat import TemplateMessage, TemplateMessageStatus

    learner = factories.learner()
    message = TemplateMessage(
        learner_id=learner.id,
        openid=OPENID,
        kind="payment_received",
        dedupe_key=f"receipt-test:{status}",
        payload={},
        status=TemplateMessageStatus.SENT,
        wechat_msgid="200163836",
    )
    db.session.add(message)
    db.session.flush()
    xml = samples.event(
        samples.TEMPLATE_SEND_JOB_FINISH, to(app), OPENID, wechat_msgid="200163836", status=status
    )
    response = post_push(client, app, xml)
    assert response.data == b"success"
    db.session.refresh(message)
    assert message.status.value == expected
    assert message.error == ("" if status == "success" else status)


def test_two_receipts_in_the_same_second_are_both_recorded(app, client):
    from models.wechat import TemplateMessage, TemplateMessageStatus

    learner = factories.learner()
    messages = [
        TemplateMessage(
            learner_id=learner.id,
            openid=OPENID,
            kind=kind,
            dedupe_key=f"same-second:{kind}",
            payload={},
            status=TemplateMessageStatus.SENT,
            wechat_msgid=msgid,
        )
        for kind, msgid in (("payment_received", "200163840"), ("invoice_issued", "200163841"))
    ]
    db.session.add_all(messages)
    db.session.flush()
    for message in messages:
        xml = samples.event(
            samples.TEMPLATE_SEND_JOB_FINISH,
            to(app),
            OPENID,
            wechat_msgid=message.wechat_msgid,
            status="success",
            create_time=1700000100,
        )
        assert post_push(client, app, xml).data == b"success"
    for message in messages:
        db.session.refresh(message)
    assert [m.status for m in messages] == [TemplateMessageStatus.DELIVERED] * 2
