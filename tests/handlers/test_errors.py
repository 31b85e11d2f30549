"""Error pages in Chinese for people, JSON for programs."""

import pytest
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from services.accounts import sessions
from tests.conftest import submit_form


def test_a_missing_page_is_explained_in_chinese(client):
    response = client.get("/h5/no-such-page")
    assert response.status_code == 404
    assert "您访问的页面不存在" in response.get_data(as_text=True)
    console = client.get("/admin/no-such-page").get_data(as_text=True)
    assert "您访问的页面不存在" in console and "公需科目管理后台" in console


def test_programs_get_json(client):
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404
    assert response.get_json()["message"] == "您访问的页面不存在。"


def test_any_other_refusal_is_in_chinese_too(make_app, tmp_path):
    app = make_app({"APP_ENV": "test", "STORAGE_DIR": str(tmp_path)})

    @app.get("/h5/clip")
    def clip():
        raise RequestedRangeNotSatisfiable()

    page = app.test_client().get("/h5/clip")
    assert page.status_code == 416
    text = page.get_data(as_text=True)
    assert "The server cannot" not in text
    assert "请求有误" in text


BROKEN_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/none"


def signed_in_without_a_database(app, client, *, staff_id=None, learner_id=None):
    """A browser that holds an open login, on an app whose database does not answer."""
    with app.app_context():
        if staff_id is not None:
            staff_login = sessions.open_login(sessions.STAFF, staff_id)
        if learner_id is not None:
            learner_login = sessions.open_login(sessions.LEARNER, learner_id)
    with client.session_transaction() as session:
        if staff_id is not None:
            session["staff_id"], session["staff_tag"] = staff_id, "0" * 16
            session["staff_login"] = staff_login
        if learner_id is not None:
            session["learner_id"], session["learner_tag"] = learner_id, "0" * 16
            session["learner_login"] = learner_login


@pytest.mark.committed  # the broken app must get its own session, not the test's connection
def test_every_error_page_renders_in_chinese_without_the_database(make_app, tmp_path, caplog):
    broken = make_app(
        {
            "APP_ENV": "test",
            "STORAGE_DIR": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": BROKEN_DATABASE,
        }
    )
    console = broken.test_client()
    signed_in_without_a_database(broken, console, staff_id=1)
    for url, status, words in (
        ("/admin/", 503, "服务暂时不可用"),
        ("/admin/learners?q=13800000001", 503, "服务暂时不可用"),
        ("/admin/no-such-page", 404, "您访问的页面不存在"),
    ):
        page = console.get(url)
        text = page.get_data(as_text=True)
        assert page.status_code == status, (url, text[:200])
        assert words in text and "公需科目管理后台" in text
        assert "Internal Server Error" not in text
    learner = broken.test_client()
    signed_in_without_a_database(broken, learner, learner_id=1)
    page = learner.get("/h5/home")
    assert page.status_code == 503 and "服务暂时不可用" in page.get_data(as_text=True)
    anonymous = broken.test_client()
    response = submit_form(anonymous, "/h5/login", {"account": "13800000001", "password": "x1"})
    assert response.status_code == 503
    assert "服务暂时不可用" in response.get_data(as_text=True)
    assert broken.test_client().get("/healthz").status_code == 503
    # Logged without the statement's parameters (the phone that was typed).
    assert "13800000001" not in caplog.text
