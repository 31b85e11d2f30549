"""Logging in and posting forms as a browser does, with several browsers in one test."""

from flask import g

from tests import factories
from tests.conftest import submit_form


def submit(client, url, data, **kwargs):
    """``submit_form`` for tests that switch between browsers: the app context (and so ``g``,
    where Flask-WTF caches the CSRF token) outlives each request, so forget the last
    browser's token first."""
    g.pop("csrf_token", None)
    return submit_form(client, url, data, **kwargs)


def log_in(client, learner):
    response = submit(
        client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def log_in_staff(client, staff):
    response = submit(
        client, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302


def download(client, url):
    """GET a file response and close it (send_file keeps the file open until then)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response
