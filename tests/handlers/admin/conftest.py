import pytest

from tests import factories
from tests.conftest import submit_form


@pytest.fixture
def login_staff(client):
    """Log the test client in as a new staff member of ``role``; returns the member."""

    def login(role, unit_obj=None):
        member = factories.staff(role, unit_obj=unit_obj)
        response = submit_form(
            client, "/admin/login", {"username": member.username, "password": factories.PASSWORD}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return member

    return login
