import re

import pytest
from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import AccountSource, Gender, Learner
from services.accounts import sms
from services.accounts.identity import id_check_character
from services.accounts.sms import MemorySmsSender
from services.errors import ValidationError
from tests import factories
from tests.conftest import submit_form


def registration(**overrides):
    unit = factories.unit("重庆市渝中区人民医院")
    data = {
        "name": "李娜",
        "id_number": factories.valid_id_number(male=False).lower(),
        "phone": factories.unique_phone(),
        "unit_id": str(unit.id),
        "password": "Secret2022",
        "confirm_password": "Secret2022",
        "privacy_consent": "y",
    }
    data.update(overrides)
    return data


def learner_count():
    return db.session.scalar(select(func.count(Learner.id)))


def test_register_creates_the_account_and_logs_in(client):
    data = registration()
    response = submit_form(client, "/h5/register", data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/h5/start")
    learner = db.session.scalar(select(Learner).where(Learner.phone == data["phone"]))
    assert learner.id_number == data["id_number"].upper()
    assert learner.gender is Gender.FEMALE
    assert learner.source is AccountSource.SELF
    assert learner.password_hash.startswith("scrypt:")
    home = client.get("/h5/home").get_data(as_text=True)
    assert "李娜" in home
    # The owner sees the whole ID number.
    assert learner.id_number in home


def test_register_page_warns_that_the_data_is_printed_on_the_certificate(client):
    page = client.get("/h5/register").get_data(as_text=True)
    assert "合格证书" in page
    assert "渝中区" in page  # districts to choose when the unit is not found


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "李 娜", "姓名中间不能有空格"),
        ("name", "Lina", "姓名只能是汉字"),
        ("id_number", "500103198503121016", "校验位不正确"),
        ("id_number", "50010319850230101X", "出生日期不存在"),
        ("phone", "2380000000", "手机号码应为以1开头的11位数字"),
        ("password", "short1", "密码长度"),
        ("password", "onlyletters", "同时包含字母和数字"),
        ("unit_id", "", "找不到单位时请选择档案所在区县"),
    ],
)
def test_bad_registration_is_refused_on_the_page_and_writes_nothing(client, field, value, message):
    before = learner_count()
    data = registration(**{field: value})
    if field == "password":
        data["confirm_password"] = value
    response = submit_form(client, "/h5/register", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert learner_count() == before


def test_registration_says_every_mistake_at_once(client):
    data = registration(phone="2380000000", confirm_password="Secret2023")
    response = submit_form(client, "/h5/register", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "两次输入的密码不一致" in page
    assert "手机号码应为以1开头的11位数字" in page


def test_form_limits_are_explained_in_chinese(client):
    data = registration(name="李" * 41)
    response = submit_form(client, "/h5/register", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "长度不能超过 40 个字符" in page
    assert "Field cannot be longer" not in page


def test_registration_with_a_district_instead_of_a_unit(client):
    district = factories.district("500229")
    response = submit_form(
        client, "/h5/register", registration(unit_id="", district_id=str(district.id))
    )
    assert response.status_code == 302
    learner = db.session.scalar(select(Learner).order_by(Learner.id.desc()))
    assert learner.unit_id is None
    assert learner.district_id == district.id


def test_duplicate_id_number_and_phone_are_refused(client):
    existing = factories.learner()
    response = submit_form(
        client,
        "/h5/register",
        registration(id_number=existing.id_number, phone=existing.phone),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "该身份证号码已注册" in page
    assert "该手机号码已被其他账号使用" in page


def test_login_with_id_number_or_phone(client):
    learner = factories.learner()
    response = submit_form(
        client,
        "/h5/login",
        {"account": learner.id_number.lower(), "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    client.post("/h5/logout", data={"csrf_token": _token(client, "/h5/home")})
    response = submit_form(
        client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/h5/home").status_code == 200


def _token(client, url):
    from tests.conftest import csrf_from

    return csrf_from(client.get(url).get_data(as_text=True))


def test_wrong_password_says_so_and_points_to_first_login(client):
    learner = factories.learner()
    response = submit_form(client, "/h5/login", {"account": learner.phone, "password": "nope"})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "用户名或密码错误" in page
    assert "首次登录" in page
    assert client.get("/h5/home").status_code == 302


def test_login_is_rate_limited_per_account(client):
    learner = factories.learner()
    statuses = [
        submit_form(
            client, "/h5/login", {"account": learner.phone, "password": "wrong"}
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:6] == [401] * 6
    assert statuses[6] == 429
    # Even the right password waits now.
    response = submit_form(
        client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
    )
    assert response.status_code == 429
    assert "操作过于频繁" in response.get_data(as_text=True)


def test_login_is_rate_limited_per_address(app, client):
    limit = app.config["LOGIN_LIMIT_PER_IP"]
    app.config["LOGIN_LIMIT_PER_IP"] = "3 per minute"
    try:
        statuses = [
            submit_form(
                client, "/h5/login", {"account": factories.unique_phone(), "password": "x"}
            ).status_code
            for _ in range(4)
        ]
    finally:
        app.config["LOGIN_LIMIT_PER_IP"] = limit
    assert statuses == [401, 401, 401, 429]


def test_forms_without_csrf_token_are_refused_and_write_nothing(client):
    before = learner_count()
    data = registration()
    response = client.post("/h5/register", data=data)
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)
    assert learner_count() == before
    response = client.post("/h5/register", data={**data, "csrf_token": "forged"})
    assert response.status_code == 400
    assert learner_count() == before


def test_roster_account_must_choose_a_new_password_first(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "")  # no code to ask for
    learner = factories.learner(
        password=None, must_change_password=True, source=AccountSource.ROSTER
    )
    initial = learner.id_number[-6:]
    response = submit_form(client, "/h5/login", {"account": learner.id_number, "password": initial})
    assert response.headers["Location"].endswith("/h5/password")
    # Nothing else opens before the new password is set.
    assert client.get("/h5/home").headers["Location"].endswith("/h5/password")
    response = submit_form(
        client,
        "/h5/password",
        {"current_password": initial, "new_password": initial, "confirm_password": initial},
    )
    assert response.status_code == 400
    assert "密码长度" in response.get_data(as_text=True)
    response = submit_form(
        client,
        "/h5/password",
        {
            "current_password": initial,
            "new_password": "NewPass2022",
            "confirm_password": "NewPass2022",
            "privacy_consent": "y",
        },
    )
    assert response.status_code == 302
    assert client.get("/h5/home").status_code == 200
    db.session.refresh(learner)
    assert learner.must_change_password is False
    assert learner.password_hash is not None


def test_sessions_end_when_the_password_changes(app, client):
    learner = factories.learner()
    submit_form(client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD})
    other = app.test_client()
    submit_form(other, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD})
    submit_form(
        client,
        "/h5/password",
        {
            "current_password": factories.PASSWORD,
            "new_password": "Changed2022",
            "confirm_password": "Changed2022",
        },
    )
    assert client.get("/h5/home").status_code == 200
    assert other.get("/h5/home").status_code == 302


def test_first_login_resets_the_password_with_a_text_message(client):
    MemorySmsSender.outbox.clear()
    learner = factories.learner(name="王芳", source=AccountSource.LEGACY)
    learner.password_hash = "md5$legacy$0123456789abcdef"
    response = submit_form(client, "/h5/login", {"account": learner.phone, "password": "old"})
    assert response.status_code == 401

    response = submit_form(
        client,
        "/h5/first-login",
        {"name": "王芳", "id_number": learner.id_number, "phone": "13000000000"},
    )
    assert "不一致" in response.get_data(as_text=True)
    assert MemorySmsSender.outbox == []

    response = submit_form(
        client,
        "/h5/first-login",
        {"name": "王芳", "id_number": learner.id_number, "phone": learner.phone},
    )
    assert response.headers["Location"].endswith("/h5/first-login/password")
    phone, text = MemorySmsSender.outbox[-1]
    assert phone == learner.phone
    code = re.search(r"\d{6}", text).group(0)

    wrong = "000000" if code != "000000" else "111111"
    response = submit_form(
        client,
        "/h5/first-login/password",
        {"code": wrong, "new_password": "Fresh2022x", "confirm_password": "Fresh2022x"},
    )
    assert "验证码不正确" in response.get_data(as_text=True)
    response = submit_form(
        client,
        "/h5/first-login/password",
        {"code": code, "new_password": "Fresh2022x", "confirm_password": "Fresh2022x"},
    )
    assert response.status_code == 302
    client.post("/h5/logout", data={"csrf_token": _token(client, "/h5/home")})
    response = submit_form(
        client, "/h5/login", {"account": learner.phone, "password": "Fresh2022x"}
    )
    assert response.status_code == 302
    # The code works once.
    with pytest.raises(ValidationError, match="验证码已过期"):
        sms.check_verification_code("reset", str(learner.id), code)


def test_first_login_without_a_text_message_provider_says_so(app, client, monkeypatch, caplog):
    # Production has no provider until one is configured: no code is made, none is logged,
    # and the learner is not told that a code was sent.
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "")
    MemorySmsSender.outbox.clear()
    learner = factories.learner(name="王芳")
    response = submit_form(
        client,
        "/h5/first-login",
        {"name": "王芳", "id_number": learner.id_number, "phone": learner.phone},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "短信验证码服务尚未开通" in page and "请联系在线客服" in page
    assert 'name="id_number"' in page  # the form, not an error page
    assert MemorySmsSender.outbox == []
    assert "验证码" not in caplog.text


def test_id_numbers_never_reach_the_log(client, caplog, capfd):
    data = registration()
    submit_form(client, "/h5/register", {**data, "phone": "bad"})
    submit_form(client, "/h5/login", {"account": data["id_number"], "password": "x"})
    import logging

    logging.getLogger("test").warning("looked up %s", data["id_number"].upper())
    first17 = data["id_number"].upper()[:17]
    assert first17 + id_check_character(first17) not in caplog.text
    assert data["id_number"].upper() not in capfd.readouterr().err
    assert "***********" in caplog.text


def test_unit_search_finds_units_by_part_of_the_name(client):
    factories.unit("重庆市江北区建筑设计院", "500105")
    found = client.get("/h5/units/search?q=建筑设计").get_json()
    assert [unit["name"] for unit in found] == ["重庆市江北区建筑设计院"]
    assert found[0]["district"] == "江北区"
    assert client.get("/h5/units/search?q=建").get_json() == []
    assert client.get("/h5/units/search?q=%25").get_json() == []
    assert client.get("/h5/units/search?q=%25%25").get_json() == []  # not a wildcard
    assert client.get("/h5/units/search?q=__").get_json() == []
