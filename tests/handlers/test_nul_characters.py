"""A NUL character in any input that would reach PostgreSQL is refused at the request's
boundary with a clear message: no 500, nothing logged at ERROR."""

from __future__ import annotations

import io
import logging

import pytest
from flask import g

from models.staff import StaffRole
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.handlers.paperwork_helpers import log_in, log_in_staff

MESSAGE = "提交的内容含有不允许的空字符（NUL）"


def refused(response) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert MESSAGE in response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def _nothing_logged_at_error(caplog):
    with caplog.at_level(logging.WARNING):
        yield
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "url",
    [
        "/verify/GX%00",
        "/verify/?number=GX2026%0000001",
        "/h5/units/search?q=%E5%8C%BB%00",
        "/h5/units/search?q=%E5%8C%BB&district=1%00",
        "/h5/?unit=%00x",
    ],
)
def test_public_pages(client, url):
    refused(client.get(url))


def test_the_login_form(client):
    response = submit_form(client, "/h5/login", {"account": "1380000\x000001", "password": "x"})
    refused(response)
    response = submit_form(client, "/admin/login", {"username": "adm\x00in", "password": "x"})
    refused(response)


def test_registration(client):
    response = submit_form(
        client,
        "/h5/register",
        {
            "name": "李\x00娜",
            "id_number": "x",
            "phone": "1",
            "password": "a",
            "confirm_password": "a",
        },
    )
    refused(response)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/learners?q=500%00",
        "/admin/learners?q=%E6%9D%8E%00",
        "/admin/orders?q=%00",
        "/admin/units?q=%00",
        "/admin/audit?action=%00",
    ],
)
def test_console_searches(client, url):
    log_in_staff(client, factories.staff(StaffRole.ADMIN))
    refused(client.get(url))


def test_an_upload_s_file_name(client):
    log_in_staff(client, factories.staff(StaffRole.STAFF))
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/admin/rosters").get_data(as_text=True))
    response = client.post(
        "/admin/rosters",
        data={"csrf_token": token, "file": (io.BytesIO(b"PK\x03\x04"), "名单\x00.xlsx")},
        content_type="multipart/form-data",
    )
    refused(response)


def test_a_learner_s_form(client):
    learner = factories.learner()
    log_in(client, learner)
    plan = factories.plan()
    response = submit_form(client, f"/h5/plans/{plan.id}/group", {"id_numbers": "500103\x00"})
    refused(response)
