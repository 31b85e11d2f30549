"""Logging in and downloading as a browser does; counting what a page asks the database."""

from infra.extensions import db
from tests import factories
from tests.conftest import count_statements, submit_form


def log_in(client, learner):
    response = submit_form(
        client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def log_in_staff(client, staff):
    response = submit_form(
        client, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302


def download(client, url):
    """GET a file response and close it (send_file keeps the file open until then)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def statements_for(client, url: str) -> int:
    """How many statements one GET of the page runs, nothing cached from before."""
    db.session.expire_all()
    with count_statements() as statements:
        assert client.get(url).status_code == 200
    return len(statements)
