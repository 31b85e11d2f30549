"""LIKE wildcards typed into the console's searches are searched for as themselves."""

from __future__ import annotations

from models.staff import StaffRole
from services.accounts.staff import create_staff
from services.audit import Actor
from tests import factories
from tests.handlers.paperwork_helpers import log_in_staff


def test_a_percent_or_underscore_in_the_suffix_search_matches_only_itself(client):
    for ending in ("5001", "5002", "5003"):
        factories.learner(name="王芳", phone=f"1390000{ending}")
    log_in_staff(client, factories.staff(StaffRole.STAFF))
    for query in ("500%", "500_", "50%1", "%%%%"):
        page = client.get("/admin/learners", query_string={"q": query}).get_data(as_text=True)
        assert "没有符合条件的学员" in page, query
    page = client.get("/admin/learners", query_string={"q": "5002"}).get_data(as_text=True)
    assert page.count("王芳") == 1


def test_an_underscore_in_the_audit_log_s_action_filter_matches_only_itself(client):
    log_in_staff(client, factories.staff(StaffRole.ADMIN))
    create_staff(
        username="wildcard.check",
        name="王芳",
        password="Passw0rd2026",
        role=StaffRole.STAFF,
        actor=Actor.system("cli:test"),
    )
    shown = client.get("/admin/audit", query_string={"action": "staff."}).get_data(as_text=True)
    assert "命令行（test）" in shown
    page = client.get("/admin/audit", query_string={"action": "staff_"}).get_data(as_text=True)
    assert "命令行（test）" not in page
