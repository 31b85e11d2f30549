"""A ``next=`` target with a control character is refused like any unsafe target, at every
place that follows one: never a 500, always a redirect to the usual page."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask import g

from handlers.h5 import safe_next
from models.staff import StaffRole
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.handlers.test_oauth_entry import bind, through_wechat

HOSTILE = [
    "/h5/home\n",
    "/h5/home\r\nSet-Cookie: x=1",
    "/h5/\tmanual",
    "/h5/home\x1b[31m",
    "/h5/home\x7f",
    "/h5/home\x85",
    "/\\evil.example/",
    "/h5/..\\..\\evil",
]


def followed(response, default: str) -> None:
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert location.split("?")[0].endswith(default), location
    assert "evil" not in location and "\n" not in location


def log_in(client, learner, next_target: str = ""):
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/h5/login").get_data(as_text=True))
    return client.post(
        "/h5/login",
        data={
            "account": learner.phone,
            "password": factories.PASSWORD,
            "next": next_target,
            "csrf_token": token,
        },
    )


def log_in_staff(client, staff, next_target: str = ""):
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login",
        data={
            "username": staff.username,
            "password": factories.PASSWORD,
            "next": next_target,
            "csrf_token": token,
        },
    )


@pytest.mark.parametrize("target", HOSTILE)
def test_the_learner_login_form(client, target):
    followed(log_in(client, factories.learner(), target), "/h5/start")


@pytest.mark.parametrize("target", HOSTILE)
def test_the_console_login_form(client, target):
    followed(log_in_staff(client, factories.staff(StaffRole.STAFF), target), "/admin/")


@pytest.mark.parametrize("target", HOSTILE)
def test_the_entry_of_a_signed_in_learner(client, target):
    log_in(client, factories.learner())
    followed(client.get("/h5/?next=" + quote(target)), "/h5/start")


@pytest.mark.parametrize("target", HOSTILE)
def test_the_entry_outside_wechat(app, client, monkeypatch, target):
    monkeypatch.setitem(app.config, "WECHAT_OAUTH_WECHAT_BROWSER_ONLY", True)
    response = client.get("/h5/?next=" + quote(target))
    assert response.status_code == 302
    assert response.headers["Location"] == "/h5/login?next=/h5/start"


@pytest.mark.parametrize("target", HOSTILE[:3])
def test_the_oauth_callback(client, wechat_sim, target):
    learner = factories.learner()
    bind(learner, "oDEMO_zhangwei")
    followed(through_wechat(client, wechat_sim, "oDEMO_zhangwei", "/h5/?next=" + quote(target)),
             "/h5/start")  # fmt: skip


@pytest.mark.parametrize("target", HOSTILE)
def test_rebind_and_skipping_it(client, target):
    log_in(client, factories.learner())
    followed(client.get("/oauth/rebind?next=" + quote(target)), "/h5/start")
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/h5/home").get_data(as_text=True))
    followed(
        client.post("/oauth/rebind/skip?next=" + quote(target), data={"csrf_token": token}),
        "/h5/start",
    )


@pytest.mark.parametrize("target", HOSTILE)
def test_refund_sync_in_the_console(client, target):
    log_in_staff(client, factories.staff(StaffRole.FINANCE))
    response = submit_form(
        client, "/admin/refunds/999999/sync", {"next": target}, page="/admin/refunds"
    )
    followed(response, "/admin/refunds")


def test_local_targets_are_still_followed():
    assert safe_next("/h5/plans?page=2", "/h5/home") == "/h5/plans?page=2"
    assert safe_next("/h5/课程", "/h5/home") == "/h5/课程"
    for target in [*HOSTILE, "//evil.example", "https://evil.example", "h5/home", None, ""]:
        assert safe_next(target, "/h5/home") == "/h5/home"
