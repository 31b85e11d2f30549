"""Where a learner lands with no page asked for: 课程培训, or the plan to buy, with one
success message."""

from __future__ import annotations

import re

from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import log_in
from tests.handlers.test_accounts import registration


def flashes(page: str) -> list[str]:
    return re.findall(r'h5-flash"[^>]*>([^<]+)<', page)


def test_the_menu_entry_leads_to_the_study_when_a_plan_is_held(client):
    learner = factories.learner()
    factories.enrollment(learner, factories.plan())
    log_in(client, learner)
    response = client.get("/h5/")
    assert response.headers["Location"] == "/h5/start"
    assert client.get("/h5/start").headers["Location"] == "/h5/study"


def test_with_nothing_bought_the_entry_leads_to_the_plan_to_buy(client):
    factories.makeup_plan(2019)
    current = factories.plan(year=2022)
    log_in(client, factories.learner())
    assert client.get("/h5/start").headers["Location"] == f"/h5/plans/{current.id}"


def test_without_a_plan_on_sale_the_entry_leads_to_the_plan_list(client):
    log_in(client, factories.learner())
    assert client.get("/h5/start").headers["Location"] == "/h5/plans"


def test_registering_lands_on_the_plan_to_buy_with_one_message(client):
    current = factories.plan(year=2022)
    response = submit_form(client, "/h5/register", registration())
    assert response.headers["Location"] == "/h5/start"
    page = client.get("/h5/start", follow_redirects=True)
    assert page.request.path == f"/h5/plans/{current.id}"
    assert flashes(page.get_data(as_text=True)) == ["注册成功。"]


def test_the_plan_list_is_open_before_logging_in(client):
    current = factories.plan(year=2022)
    page = client.get("/h5/plans")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert current.title in html and "¥30.00" in html
    assert "登录 / 注册后购买学习" in html
    # The plan itself and buying still ask who is buying.
    assert client.get(f"/h5/plans/{current.id}").status_code == 302
