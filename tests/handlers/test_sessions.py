"""Logins held on the server: logout, a password change and a staff member's removal end a
login everywhere, copied cookies included; idle logins end on their own."""

from __future__ import annotations

import time

import pytest
from flask import g

from infra.redis_client import get_redis
from models.staff import StaffRole
from tests import factories
from tests.conftest import csrf_from, submit_form

COOKIE = "gx_session"


def log_in(client, learner) -> None:
    g.pop("csrf_token", None)
    response = submit_form(
        client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def log_in_staff(client, staff) -> None:
    g.pop("csrf_token", None)
    response = submit_form(
        client, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def copy_of(client, app):
    """Another browser holding a copy of the client's session cookie (stolen, or synced)."""
    other = app.test_client()
    other.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return other


def logged_in_learner(response) -> bool:
    return response.status_code == 200


def login_key(client, name: str) -> str:
    with client.session_transaction() as session:
        return f"login:{session[name]}"


def test_a_copied_learner_cookie_opens_nothing_after_logout(app, client):
    learner = factories.learner()
    log_in(client, learner)
    thief = copy_of(client, app)
    assert logged_in_learner(thief.get("/h5/home"))
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/h5/home").get_data(as_text=True))
    assert client.post("/h5/logout", data={"csrf_token": token}).status_code == 302
    for browser in (client, thief):
        response = browser.get("/h5/home")
        assert response.status_code == 302
        assert "/h5/" in response.headers["Location"]


def test_a_copied_staff_cookie_opens_nothing_after_logout(app, client):
    staff = factories.staff(StaffRole.STAFF)
    log_in_staff(client, staff)
    thief = copy_of(client, app)
    assert thief.get("/admin/").status_code == 200
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    for browser in (client, thief):
        response = browser.get("/admin/")
        assert response.status_code == 302
        assert "/admin/login" in response.headers["Location"]


def test_a_password_change_ends_every_other_login_and_keeps_this_one(app, client):
    learner = factories.learner()
    phone, computer = app.test_client(), app.test_client()
    log_in(phone, learner)
    log_in(computer, learner)
    copied = copy_of(phone, app)
    g.pop("csrf_token", None)
    response = submit_form(
        phone,
        "/h5/password",
        {
            "current_password": factories.PASSWORD,
            "new_password": "Another2026",
            "confirm_password": "Another2026",
        },
    )
    assert response.status_code == 302
    assert phone.get("/h5/home").status_code == 200  # a new login for the one who changed it
    assert computer.get("/h5/home").status_code == 302
    assert copied.get("/h5/home").status_code == 302


def test_removing_a_staff_member_ends_their_logins_everywhere(app, client):
    admin = factories.staff(StaffRole.ADMIN)
    member = factories.staff(StaffRole.STAFF)
    office, home = app.test_client(), app.test_client()
    log_in_staff(office, member)
    log_in_staff(home, member)
    log_in_staff(client, admin)
    g.pop("csrf_token", None)
    response = submit_form(
        client, f"/admin/staff/{member.id}/active", {"active": "0"}, page="/admin/staff"
    )
    assert response.status_code == 302
    for browser in (office, home):
        assert "/admin/login" in browser.get("/admin/").headers["Location"]
    assert not get_redis().keys(f"logins:staff:{member.id}")


def test_an_admin_resetting_a_password_ends_that_member_s_logins(app, client):
    admin = factories.staff(StaffRole.ADMIN)
    member = factories.staff(StaffRole.FINANCE)
    office = app.test_client()
    log_in_staff(office, member)
    log_in_staff(client, admin)
    g.pop("csrf_token", None)
    response = submit_form(
        client,
        f"/admin/staff/{member.id}/password",
        {"password": "Renewed2026x"},
        page="/admin/staff",
    )
    assert response.status_code == 302
    assert "/admin/login" in office.get("/admin/").headers["Location"]


def test_staff_logins_end_after_thirty_idle_minutes_and_each_request_renews_them(app, client):
    assert app.config["STAFF_SESSION_IDLE_SECONDS"] == 1800
    log_in_staff(client, factories.staff(StaffRole.STAFF))
    key = login_key(client, "staff_login")
    redis = get_redis()
    assert 1790 <= redis.ttl(key) <= 1800
    redis.expire(key, 60)  # as if 29 minutes had passed
    assert client.get("/admin/").status_code == 200
    assert redis.ttl(key) > 1790  # the request renewed it
    redis.pexpire(key, 1)  # 30 minutes without a request
    time.sleep(0.01)
    assert "/admin/login" in client.get("/admin/").headers["Location"]


def test_learner_logins_last_longer_and_can_be_set(app, client, monkeypatch):
    assert app.config["LEARNER_SESSION_IDLE_SECONDS"] == 7200
    monkeypatch.setitem(app.config, "LEARNER_SESSION_IDLE_SECONDS", 1)
    log_in(client, factories.learner())
    assert get_redis().ttl(login_key(client, "learner_login")) == 1
    time.sleep(1.1)
    assert client.get("/h5/home").status_code == 302


@pytest.mark.parametrize("name", ["learner_login", "staff_login"])
def test_a_cookie_without_an_open_login_is_no_login(app, client, name):
    """A cookie signed before logins were held on the server, or naming a login that
    ended, logs nobody in."""
    learner = factories.learner()
    staff = factories.staff(StaffRole.STAFF)
    log_in(client, learner)
    log_in_staff(client, staff)
    with client.session_transaction() as session:
        session[name] = "forged-or-expired"
    if name == "learner_login":
        assert client.get("/h5/home").status_code == 302
        assert client.get("/admin/").status_code == 200
    else:
        assert client.get("/admin/").status_code == 302
        assert client.get("/h5/home").status_code == 200
