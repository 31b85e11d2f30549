"""Security headers on every answer, and no inline script or style in any template (the
Content-Security-Policy allows neither)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select

from infra.extensions import db
from models.makeup import MakeupApplication
from models.staff import StaffRole
from tests import factories
from tests.conftest import submit_form
from tests.handlers.paperwork_helpers import download, log_in, log_in_staff
from wxapp.config import PROJECT_ROOT

TEMPLATE_FOLDERS = (PROJECT_ROOT / "templates_h5", PROJECT_ROOT / "wechat_sim" / "templates")


def assert_secure(response) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    policy = headers["Content-Security-Policy"]
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
    )
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/h5/login"),
        ("GET", "/admin/login"),
        ("GET", "/h5/home"),  # a redirect
        ("GET", "/healthz"),  # JSON
        ("GET", "/no/such/page"),  # an error page
        ("GET", "/static/js/h5.js"),
        ("GET", "/verify/GX0000000000"),
        ("POST", "/pay/notify"),  # WeChat Pay's JSON refusal
        ("POST", "/api/study/heartbeats"),  # the study ingest app, outside Flask
        ("GET", "/api/study/answers"),
    ],
)
def test_every_answer_carries_the_security_headers(client, method, url):
    response = client.open(url, method=method, data=b"{}")
    response.get_data()
    response.close()  # a static file stays open until then
    assert_secure(response)


def test_private_files_carry_them_too(client):
    learner = factories.learner()
    plan = factories.makeup_plan(2019)
    log_in(client, learner)
    response = submit_form(
        client,
        f"/h5/makeup/{plan.id}/voucher",
        {
            "order_no": "CQ2019052000123",
            "payer": "李娜",
            "paid_at": "2019-05-20T10:30",
            "platform": "某继续教育网",
            "screenshot": (io.BytesIO(factories.image_bytes()), "pay.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    application = db.session.scalar(select(MakeupApplication))
    own = download(client, f"/h5/makeup/applications/{application.id}/screenshot")
    assert own.status_code == 200 and own.mimetype == "image/jpeg"
    assert_secure(own)
    staff = client.application.test_client()
    log_in_staff(staff, factories.staff(StaffRole.STAFF))
    seen = download(staff, f"/admin/makeup/{application.id}/screenshot")
    assert seen.status_code == 200
    assert_secure(seen)


class _InlineCode(HTMLParser):
    """Collects what the Content-Security-Policy would block in one template."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        names = {name.lower() for name, _ in attrs}
        for name, value in attrs:
            if re.fullmatch(r"on[a-z]+", name.lower()):
                self.problems.append(f"line {line}: event handler attribute {name}=")
            if name.lower() == "style":
                self.problems.append(f"line {line}: inline style attribute")
            if value and "javascript:" in value.replace(" ", "").lower():
                self.problems.append(f"line {line}: javascript: URL in {name}=")
        if tag == "style":
            self.problems.append(f"line {line}: <style> block (put it in static/css)")
        if tag == "script":
            self._in_script = "src" not in names

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"line {self.getpos()[0]}: inline <script> (put it in static/js)")


def _templates() -> list[Path]:
    return sorted(path for folder in TEMPLATE_FOLDERS for path in folder.rglob("*.html"))


def test_templates_hold_no_inline_script_handler_or_style():
    """Scripts go in static/js/*.js (data in data-* attributes), styles in static/css: the
    Content-Security-Policy without 'unsafe-inline' would block them in the browser."""
    found = {}
    for path in _templates():
        text = path.read_text()
        parser = _InlineCode()
        parser.feed(text)
        parser.close()
        problems = parser.problems
        # Attributes that a template writes from Jinja code are invisible to the parser.
        for match in re.finditer(r"""['"\s]on[a-z]+=['"]""", text):
            problems.append(f"offset {match.start()}: event handler attribute")
        if problems:
            found[str(path.relative_to(PROJECT_ROOT))] = problems
    assert not found, f"inline code the Content-Security-Policy blocks: {found}"


def test_the_scan_finds_what_it_looks_for():
    parser = _InlineCode()
    parser.feed(
        '<body ontouchstart><form onsubmit="return confirm(1)"><a href="javascript:go()">x</a>'
        '<p style="color:red"></p><style>p{}</style><script>alert(1)</script>'
        '<script src="/static/js/h5.js"></script>'
    )
    kinds = " ".join(parser.problems)
    assert kinds.count("event handler") == 2
    assert "javascript: URL" in kinds and "inline style" in kinds
    assert "<style> block" in kinds and "inline <script>" in kinds
    assert len(parser.problems) == 6


def test_a_confirmed_console_form_asks_through_the_console_script(client, app):
    log_in_staff(client, factories.staff(StaffRole.ADMIN))
    plan = factories.plan()
    course = factories.course(plan)
    page = client.get(f"/admin/courses/{course.id}").get_data(as_text=True)
    assert 'data-confirm="删除课程及其章节和题目？"' in page
    assert "/static/js/admin.js" in page
    script = (PROJECT_ROOT / "static" / "js" / "admin.js").read_text()
    assert "data-confirm" in script and "preventDefault" in script
