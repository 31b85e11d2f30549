"""团体购买 is no open ID-number lookup: distinct numbers are counted per learner and per
address, a valid line says only "已注册", large checks are in the audit log."""

from __future__ import annotations

from datetime import date, timedelta

from flask import g
from sqlalchemy import select

from infra.extensions import db
from models.staff import AuditLog
from services.accounts.identity import id_check_character
from tests import factories
from tests.conftest import submit_form


def id_numbers(count: int, start: int = 0, area: str = "500107") -> list[str]:
    numbers = []
    for index in range(start, start + count):
        first17 = f"{area}{date(1970, 1, 1) + timedelta(days=index):%Y%m%d}{index % 9 + 1}45"
        numbers.append(first17 + id_check_character(first17))
    return numbers


def log_in(client, learner) -> None:
    g.pop("csrf_token", None)
    response = submit_form(
        client, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD}
    )
    assert response.status_code == 302


def check(client, plan, numbers, address="203.0.113.20"):
    g.pop("csrf_token", None)
    return submit_form(
        client,
        f"/h5/plans/{plan.id}/group",
        {"id_numbers": "\n".join(numbers)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_the_issue_s_24000_lookups_in_12_requests_stop_at_the_second(client):
    plan = factories.plan()
    log_in(client, factories.learner())
    answers = [check(client, plan, id_numbers(2000, start=2000 * n)) for n in range(3)]
    assert [answer.status_code for answer in answers] == [200, 429, 429]
    refusal = answers[1].get_data(as_text=True)
    assert "您核验的身份证号码已达上限（2500个/小时）" in refusal


def test_distinct_numbers_count_and_checking_the_same_list_again_is_free(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "GROUP_LOOKUP_LIMIT_PER_LEARNER", "30 per hour;50 per day")
    plan = factories.plan()
    log_in(client, factories.learner())
    first = id_numbers(25)
    assert check(client, plan, first).status_code == 200
    assert check(client, plan, first).status_code == 200  # fixing a line, checking again
    refused = check(client, plan, first + id_numbers(10, start=100))
    assert refused.status_code == 429
    assert "30个/小时" in refused.get_data(as_text=True)
    # A refused check counted nothing: five more still fit the hour.
    assert check(client, plan, first + id_numbers(5, start=100)).status_code == 200


def test_one_address_is_counted_across_learners(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "GROUP_LOOKUP_LIMIT_PER_ADDRESS", "40 per hour")
    plan = factories.plan()
    log_in(client, factories.learner())
    assert check(client, plan, id_numbers(30)).status_code == 200
    other = app.test_client()
    log_in(other, factories.learner())
    refused = check(other, plan, id_numbers(30, start=500))
    assert refused.status_code == 429
    assert "您所在网络核验的身份证号码已达上限" in refused.get_data(as_text=True)
    assert check(other, plan, id_numbers(30, start=500), address="198.51.100.3").status_code == 200


def test_a_valid_line_says_only_that_the_number_is_registered(client):
    plan = factories.plan()
    colleague = factories.learner(name="欧阳娜娜")
    log_in(client, factories.learner())
    page = check(client, plan, [colleague.id_number]).get_data(as_text=True)
    assert "已注册" in page
    assert "欧阳娜娜" not in page and "欧**娜" not in page


def test_a_large_check_is_in_the_audit_log(client):
    plan = factories.plan()
    designee = factories.learner()
    log_in(client, designee)
    assert check(client, plan, id_numbers(199)).status_code == 200
    assert db.session.scalar(select(AuditLog)) is None
    assert check(client, plan, id_numbers(200, start=300)).status_code == 200
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "group_purchase.check"))
    assert entry.actor == f"learner:{designee.id}"
    assert entry.ip == "203.0.113.20"
    assert (entry.target_type, entry.target_id) == ("plan", str(plan.id))
    assert entry.after == {"id_numbers": 200}
