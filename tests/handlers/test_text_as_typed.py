"""Text people read is stored exactly as typed (full-width brackets and punctuation kept);
only codes are normalised to half-width."""

from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy import select

from infra.extensions import db
from models.accounts import Unit
from models.catalog import Plan
from models.invoices import Invoice
from models.staff import StaffRole
from services.accounts.identity import clean_text, credit_code_check_character, parse_credit_code
from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import log_in, log_in_staff

UNIT = "重庆建工（集团）股份有限公司"
PLAN_TITLE = "重庆市2021年专技人员继续教育公需科目培训（补学）"
DESCRIPTION = "说明：本年度补学，请按时完成：，谢谢。"


class _FormValues(HTMLParser):
    """The values a browser would send back for the page's first form, unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attr = dict(attrs)
        name = attr.get("name")
        if tag == "input" and name and name != "csrf_token":
            kind = attr.get("type", "text")
            if kind in {"checkbox", "radio"}:
                if "checked" in attr:
                    self.values[name] = attr.get("value") or "y"
            elif kind not in {"submit", "button", "file"}:
                self.values[name] = attr.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attr:
            self.values[self._select] = attr.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def form_values(html: str) -> dict[str, str]:
    parser = _FormValues()
    parser.feed(html)
    return parser.values


def credit_code(body="91500000202812345"):
    return body + credit_code_check_character(body)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_clean_text_strips_only_and_codes_are_normalised():
    assert clean_text(f"  {UNIT}\u3000") == UNIT
    assert clean_text(" （补学）：， ") == "（补学）：，"
    code = credit_code()
    assert parse_credit_code(full_width(code.lower())) == code


def test_a_plan_saved_unchanged_in_the_console_keeps_its_full_width_text(app):
    staff = factories.staff(StaffRole.STAFF)
    console = app.test_client()
    submit_form(
        console, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    response = submit_form(
        console,
        "/admin/plans/new",
        {
            "year": "2021",
            "kind": "makeup",
            "title": f"  {PLAN_TITLE} ",
            "description": DESCRIPTION,
            "price_yuan": full_width("30"),
            "required_hours": "30",
            "minutes_per_hour": "45",
            "chapter_threshold_percent": "95",
            "sale_starts_at": "2021-06-01T00:00",
            "sale_ends_at": "2030-12-31T23:59",
            "study_ends_at": "2030-12-31T23:59",
            "is_published": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    plan = db.session.scalar(select(Plan).where(Plan.year == 2021))
    assert (plan.title, plan.description, plan.price_fen) == (PLAN_TITLE, DESCRIPTION, 3000)

    edit = f"/admin/plans/{plan.id}/edit"
    values = form_values(console.get(edit).get_data(as_text=True))
    assert values["title"] == PLAN_TITLE
    response = submit_form(console, edit, values)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(plan)
    assert (plan.title, plan.description) == (PLAN_TITLE, DESCRIPTION)


def test_an_invoice_title_is_kept_as_typed_and_its_credit_code_normalised(client):
    learner = factories.learner()
    order = factories.paid_order(learner, factories.plan())
    log_in(client, learner)
    code = credit_code()
    response = submit_form(
        client,
        f"/h5/invoices/order/{order.id}/apply",
        {
            "title_type": "unit",
            "title": f" {UNIT} ",
            "tax_code": full_width(code),
            "email": "cw@example.cn",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    assert (invoice.title, invoice.tax_code) == (UNIT, code)
    assert UNIT in client.get(f"/h5/invoices/{invoice.id}").get_data(as_text=True)

    desk = client.application.test_client()
    log_in_staff(desk, factories.staff(StaffRole.FINANCE))
    assert UNIT in desk.get(f"/admin/invoices/{invoice.id}").get_data(as_text=True)


def test_a_unit_name_saved_in_the_console_keeps_its_brackets(app):
    staff = factories.staff(StaffRole.ADMIN)
    console = app.test_client()
    submit_form(
        console, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    district = factories.district()
    response = submit_form(
        console,
        "/admin/units/new",
        {"name": UNIT, "district_id": str(district.id), "credit_code": full_width(credit_code())},
        page="/admin/units",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    unit = db.session.scalar(select(Unit).where(Unit.name == UNIT))
    assert unit is not None and unit.credit_code == credit_code()
