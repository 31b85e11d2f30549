"""Every per-person resource, asked for by someone else: another learner, a unit admin of
another unit (logged in to the console only), and an anonymous visitor. Each row names the
resource and its URL; each must refuse (403 or 404, or a redirect to log in) and give away
nothing of it. The owner (or an administrator, for console pages) opens the same URL first,
so a row whose URL has drifted cannot pass by answering 404 to everyone.

The group purchase's failures file is not stored: it is worked out from the lines posted
with the request, so another learner only ever gets back the lines they sent themselves.
Its row refuses those who are not logged in as a learner.

Heartbeats and 防挂机 answers are not in the matrix: no login asks for them, the signed token
of one playback session is their only credential, handed to the page that opened it, and
whatever it credits is its own learner's. ``tests/handlers/test_study_api.py`` shows that a
token altered to name someone else, or signed with another key, is refused, and that a
token counts nothing once its login is over.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from infra.extensions import db
from models.invoices import InvoiceStatus
from models.orders import Order
from models.org import Unit
from models.staff import StaffRole
from services.audit import Actor
from services.paperwork import certificates, invoices, makeup, registry
from tests import factories
from tests.conftest import csrf_from
from tests.study_player import FakeClock, log_in

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# Whatever the file or page, these bytes must not reach anyone but the owner.
FILE_SIGNATURES = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"PK\x03\x04")


@dataclass
class World:
    """The owner's resources and the people who ask for them."""

    ids: dict[str, Any]
    secrets: list[str]
    clients: dict[str, FlaskClient] = field(default_factory=dict)


def _log_in_staff(client: FlaskClient, staff) -> None:
    g.pop("csrf_token", None)
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "username": staff.username,
            "password": factories.PASSWORD,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def clock(app: Flask):
    fake = FakeClock(time.time())
    app.extensions["study_clock"] = fake
    yield fake
    app.extensions.pop("study_clock", None)


@pytest.fixture
def world(app: Flask, clock: FakeClock) -> World:
    home, elsewhere = factories.unit("重庆市渝中区人民医院"), factories.unit("重庆市江北区设计院")
    owner = factories.learner(name="张伟", unit_obj=home)
    other = factories.learner(name="李娜", unit_obj=elsewhere)
    colleague_a = factories.learner(name="陈静", unit_obj=home)
    colleague_b = factories.learner(name="赵磊", unit_obj=home)

    plan = factories.plan(required_hours=3)
    course = factories.course(plan, title="数字经济与数字化转型（张伟的课程）", hours=3)
    factories.question(course)
    enrollment = factories.completed_enrollment(owner, plan)
    order = db.session.get(Order, enrollment.order_id)
    certificate = certificates.issue_certificate(owner.id, plan.id)
    invoice = invoices.request_invoice(
        order_id=order.id,
        learner_id=owner.id,
        request=invoices.InvoiceRequest(title_type="personal", email="zw@example.cn"),
    )
    invoices.record_issued(
        invoice.id,
        invoice_number="25500000000000004321",
        pdf=PDF,
        actor=Actor.system("test"),
    )
    assert invoice.status is InvoiceStatus.ISSUED
    group = factories.paid_order(owner, plan, seats=[colleague_a, colleague_b])
    makeup_plan = factories.makeup_plan(2019)
    application = makeup.submit_voucher(
        owner.id,
        makeup_plan.id,
        makeup.Voucher(
            order_no="JX2019052000123",
            payer="张伟",
            paid_at="2019-05-20",
            platform="某某继续教育网",
            screenshot=factories.image_bytes(),
        ),
    )
    # The certificate's completion, in a batch file for the provincial registry.
    batch = registry.make_batch(actor=Actor.system("test"))
    db.session.flush()

    clients = {name: app.test_client() for name in ("owner", "other", "unit_admin", "anonymous")}
    clients["admin"] = app.test_client()
    log_in(clients["owner"], owner)
    log_in(clients["other"], other)
    _log_in_staff(clients["unit_admin"], factories.staff(StaffRole.UNIT_ADMIN, unit_obj=elsewhere))
    _log_in_staff(clients["admin"], factories.staff(StaffRole.ADMIN))
    ids = {
        "owner": owner.id,
        "home_unit": home.id,
        "order": order.id,
        "plan": plan.id,
        "course": course.id,
        "chapter": course.chapters[0].id,
        "certificate": certificate.id,
        "invoice": invoice.id,
        "group": group.id,
        "application": application.id,
        "batch": batch,
        "lines": f"{colleague_a.id_number}\n{factories.valid_id_number()}",
    }
    secrets = [
        owner.id_number,
        owner.phone,
        order.out_trade_no,
        group.out_trade_no,
        certificate.number,
        "25500000000000004321",
        course.title,
        "JX2019052000123",
        "陈静",  # the group order's seats
        "赵磊",
    ]
    return World(ids=ids, secrets=secrets, clients=clients)


# --- the matrix --------------------------------------------------------------------------------

LEARNER = "learner"  # the owner opens it as the learner it belongs to
CONSOLE = "console"  # an administrator opens it in the console


def _invoice_change(world: World) -> dict:
    return {"title_type": "personal", "email": "thief@example.cn"}


def _group_lines(world: World) -> dict:
    return {"id_numbers": world.ids["lines"]}


@dataclass(frozen=True)
class Row:
    resource: str
    url: str  # formatted with the world's ids
    side: str = LEARNER
    method: str = "GET"
    owner_status: int = 200
    json: Callable[[World], dict] | None = None
    form: Callable[[World], dict] | None = None
    refused_to: tuple[str, ...] = ("other", "unit_admin", "anonymous")


ROWS = [
    Row("order: detail", "/h5/orders/{order}"),
    Row("order: pay page", "/h5/pay/{order}"),
    Row("order: payment poll", "/h5/orders/{order}/status"),
    Row("order: payment poll asking WeChat Pay", "/h5/orders/{order}/status?query=1"),
    Row("order: invoice application", "/h5/invoices/order/{group}/apply"),
    Row("enrollment: study plan page", "/h5/study/plans/{plan}"),
    Row("progress: course page", "/h5/study/courses/{course}"),
    Row("progress: chapter page", "/h5/study/chapters/{chapter}"),
    Row(
        "progress: playback session start",
        "/api/study/sessions",
        method="POST",
        owner_status=201,
        json=lambda world: {"chapter_id": world.ids["chapter"]},
    ),
    Row("certificate: print (profile)", "/h5/certificates/plan/{plan}/print", owner_status=302),
    Row("certificate: view", "/h5/certificates/{certificate}"),
    Row("certificate: PNG", "/h5/certificates/{certificate}/certificate.png"),
    Row("certificate: preview", "/h5/certificates/{certificate}/preview.jpg"),
    Row("certificate: PDF", "/h5/certificates/{certificate}/certificate.pdf"),
    Row("invoice: view", "/h5/invoices/{invoice}"),
    Row("invoice: PDF", "/h5/invoices/{invoice}/invoice.pdf"),
    Row("invoice: change form", "/h5/invoices/{invoice}/change"),
    Row(
        "invoice: change",
        "/h5/invoices/{invoice}/change",
        method="POST",
        owner_status=302,
        form=_invoice_change,
    ),
    Row("voucher: screenshot", "/h5/makeup/applications/{application}/screenshot"),
    Row("group order: detail", "/h5/orders/{group}"),
    Row("group order: pay page", "/h5/pay/{group}"),
    Row(
        "group order: failures file",
        "/h5/plans/{plan}/group/errors.xlsx",
        method="POST",
        form=_group_lines,
        refused_to=("unit_admin", "anonymous"),
    ),
    # The console pages that show these resources.
    Row("console: learner detail", "/admin/learners/{owner}", side=CONSOLE),
    Row("console: voucher review", "/admin/makeup/{application}", side=CONSOLE),
    Row("console: voucher screenshot", "/admin/makeup/{application}/screenshot", side=CONSOLE),
    Row("console: order", "/admin/orders/{order}", side=CONSOLE),
    Row("console: group order", "/admin/orders/{group}", side=CONSOLE),
    Row("console: certificate", "/admin/certificates/{certificate}", side=CONSOLE),
    Row("console: invoice", "/admin/invoices/{invoice}", side=CONSOLE),
    Row("console: invoice PDF", "/admin/invoices/{invoice}/invoice.pdf", side=CONSOLE),
    Row("console: registry records", "/admin/registry", side=CONSOLE),
    Row("console: registry batch file", "/admin/registry/batches/{batch}.xlsx", side=CONSOLE),
]

# Where refusing someone may send them: the learner entry (OAuth, then login) or a login page.
LOGIN_PATHS = re.compile(r"^(?:https?://[^/]+)?/(?:h5/(?:\?|login)|admin/login)")


def ask(client: FlaskClient, row: Row, world: World):
    url = row.url.format(**world.ids)
    if row.method == "GET":
        return client.get(url)
    if row.json is not None:
        return client.post(url, json=row.json(world))
    # A form carries a good CSRF token of the asker's own session: a refusal must come from
    # who is asking, not from a missing token.
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/h5/login").get_data(as_text=True))
    return client.post(url, data={**row.form(world), "csrf_token": token})


def refused(response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code == 302 and bool(LOGIN_PATHS.match(response.location))


@pytest.mark.parametrize("row", [pytest.param(row, id=row.resource) for row in ROWS])
def test_only_the_owner_gets_the_resource(row: Row, world: World):
    for asker in row.refused_to:
        response = ask(world.clients[asker], row, world)
        body = response.get_data()
        response.close()
        assert refused(response), (row.resource, asker, response.status_code, response.location)
        text = body.decode("utf-8", "replace")
        assert not any(secret in text for secret in world.secrets), (row.resource, asker)
        assert not body.startswith(FILE_SIGNATURES), (row.resource, asker)

    # The owner (an administrator in the console) does get it: the URL is the right one.
    owner = world.clients["owner" if row.side == LEARNER else "admin"]
    response = ask(owner, row, world)
    response.get_data()
    response.close()
    assert response.status_code == row.owner_status, (row.resource, response.status_code)


def test_a_unit_admin_sees_their_own_units_learner_and_no_one_elses(app, world: World):
    """The console's scoping is by unit, not a blanket refusal of unit admins."""
    same_unit = app.test_client()
    home = db.session.get(Unit, world.ids["home_unit"])
    _log_in_staff(same_unit, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=home))
    assert same_unit.get(f"/admin/learners/{world.ids['owner']}").status_code == 200
    listing = world.clients["unit_admin"].get("/admin/learners", query_string={"q": "张伟"})
    results = listing.get_data(as_text=True).split("<table", 1)[1]
    assert "没有符合条件的学员" in results and "张伟" not in results
