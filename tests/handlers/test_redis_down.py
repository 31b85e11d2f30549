"""With Redis down: rate limits count in memory (logged), pages that need a login answer a
503 in Chinese, pages that need none answer as usual, nothing is half-written."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from infra.extensions import db
from models.accounts import Learner
from tests import factories
from tests.conftest import csrf_from, submit_form

CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def broken(make_app, app):
    return make_app(
        {"APP_ENV": "test", "STORAGE_DIR": app.config["STORAGE_DIR"], "REDIS_URL": CLOSED_PORT}
    )


def learner_count() -> int:
    return db.session.scalar(select(func.count(Learner.id)))


def test_login_answers_a_chinese_503_and_the_limiter_falls_back_to_memory(broken, caplog):
    learner = factories.learner()
    client = broken.test_client()
    with caplog.at_level(logging.WARNING):
        response = submit_form(
            client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
        )
    assert response.status_code == 503
    assert "登录服务暂时不可用" in response.get_data(as_text=True)
    assert "falling back to in-memory storage" in caplog.text
    # Wrong passwords are still counted, in this process's memory.
    statuses = [
        submit_form(client, "/h5/login", {"account": learner.phone, "password": "Wrong1234"})
        for _ in range(7)
    ]
    assert [r.status_code for r in statuses][-1] == 429


def test_registration_creates_nothing_without_a_login_to_open(broken):
    unit = factories.unit("重庆市渝中区人民医院")
    before = learner_count()
    response = submit_form(
        broken.test_client(),
        "/h5/register",
        {
            "name": "李娜",
            "id_number": factories.valid_id_number(male=False),
            "phone": factories.unique_phone(),
            "unit_id": str(unit.id),
            "password": "Secret2022",
            "confirm_password": "Secret2022",
            "privacy_consent": "y",
        },
    )
    assert response.status_code == 503
    assert "登录服务暂时不可用" in response.get_data(as_text=True)
    assert learner_count() == before


def test_first_login_answers_a_chinese_503(broken):
    learner = factories.learner()
    response = submit_form(
        broken.test_client(),
        "/h5/first-login",
        {"name": learner.name, "id_number": learner.id_number, "phone": learner.phone},
    )
    assert response.status_code == 503
    assert "服务暂时不可用" in response.get_data(as_text=True)


def test_pages_that_need_a_login_answer_503_and_others_answer(broken):
    learner = factories.learner()
    signed_in = broken.test_client()
    with signed_in.session_transaction() as session:
        session["learner_id"], session["learner_login"] = learner.id, "any"
        session["staff_id"], session["staff_login"] = 1, "any"
    for url in ("/h5/home", "/admin/"):
        page = signed_in.get(url)
        assert page.status_code == 503, url
        assert "登录服务暂时不可用" in page.get_data(as_text=True)
    # Logging out still clears the cookie.
    token = csrf_from(signed_in.get("/h5/login").get_data(as_text=True))
    assert signed_in.post("/h5/logout", data={"csrf_token": token}).status_code == 302
    with signed_in.session_transaction() as session:
        assert "learner_id" not in session
    anonymous = broken.test_client()
    assert anonymous.get("/verify/GX2026000001").status_code == 404
    assert "证书" in anonymous.get("/verify/GX2026000001").get_data(as_text=True)
    assert anonymous.get("/h5/login").status_code == 200
    health = anonymous.get("/healthz")
    assert health.status_code == 503 and health.get_json()["checks"]["redis"].startswith("error")
