"""Pages and static files for a phone network: compressed, static URLs versioned and kept a
year, a favicon, and the certificate's page showing a phone-sized preview."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

from PIL import Image

from services.paperwork import certificates
from tests import factories
from tests.conftest import count_statements
from tests.handlers.paperwork_helpers import download, log_in
from tests.handlers.test_safe_requests import writes_of

STATIC = Path(__file__).resolve().parents[2] / "static"
GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def test_pages_and_static_files_are_compressed_and_static_urls_versioned(client):
    log_in(client, factories.learner())
    page = client.get("/h5/home", headers=GZIP)
    assert page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["Vary"]
    html = gzip.decompress(page.data).decode()
    weui = re.search(r'href="(/static/weui/weui[^"]*\.css\?v=[0-9a-f]{12})"', html).group(1)

    css = client.get(weui, headers=GZIP)
    assert css.status_code == 200 and css.headers["Content-Encoding"] == "gzip"
    assert css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    file = STATIC / weui.split("?")[0].removeprefix("/static/")
    assert gzip.decompress(css.data) == file.read_bytes()
    assert len(css.data) < file.stat().st_size / 3

    plain = client.get(weui)  # a client that does not take gzip gets the bytes as they are
    assert "Content-Encoding" not in plain.headers and plain.data == file.read_bytes()
    plain.close()  # a static file stays open until then
    for url in (weui.split("?")[0], weui.split("?")[0] + "?v=000000000000"):
        response = client.get(url)  # unversioned, or a version that is not the file's
        assert "immutable" not in response.headers.get("Cache-Control", "")
        response.close()


def test_the_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"<svg" in response.data
    response.close()
    assert 'rel="icon"' in client.get("/h5/login").get_data(as_text=True)


def test_the_certificate_page_shows_a_small_preview_and_keeps_the_full_files(client):
    learner, plan = factories.learner(), factories.plan()
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    log_in(client, learner)
    page = client.get(f"/h5/certificates/{certificate.id}").get_data(as_text=True)
    assert f'src="/h5/certificates/{certificate.id}/preview.jpg"' in page
    assert f'href="/h5/certificates/{certificate.id}/certificate.png" download' in page
    assert f'href="/h5/certificates/{certificate.id}/certificate.pdf"' in page

    preview = download(client, f"/h5/certificates/{certificate.id}/preview.jpg")
    assert preview.status_code == 200 and preview.mimetype == "image/jpeg"
    assert len(preview.data) <= 200 * 1024
    assert Image.open(io.BytesIO(preview.data)).size == (720, 509)
    full = download(client, f"/h5/certificates/{certificate.id}/certificate.png")
    assert Image.open(io.BytesIO(full.data)).size == (3508, 2480)
    # Drawn once and kept: asked again (or prefetched), the same bytes and no write.
    with count_statements() as statements:
        again = download(client, f"/h5/certificates/{certificate.id}/preview.jpg")
    assert writes_of(statements) == [] and again.data == preview.data
