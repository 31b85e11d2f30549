"""Error pages in Chinese for people, JSON for programs."""

from werkzeug.exceptions import RequestedRangeNotSatisfiable


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
