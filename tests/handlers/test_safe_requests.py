"""GET requests that write are few, and each is idempotent and safe to prefetch (see
``tests/safe_requests.py``, the guard that fails any other GET that writes)."""

from __future__ import annotations

from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner
from models.certificates import Certificate
from services.paperwork import certificates
from tests import factories, safe_requests
from tests.conftest import count_statements
from tests.handlers.paperwork_helpers import download, log_in

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes_of(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().split(None, 1)[0].upper() in WRITES]


def test_a_certificates_files_are_drawn_once_and_the_same_after(client):
    """The PNG and PDF are drawn on the first request and kept: fetching (or prefetching)
    them again returns the same bytes and writes nothing."""
    learner, plan = factories.learner(), factories.plan()
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    log_in(client, learner)
    url = f"/h5/certificates/{certificate.id}/certificate"
    first_png, first_pdf = download(client, url + ".png"), download(client, url + ".pdf")
    assert first_png.status_code == first_pdf.status_code == 200
    db.session.expire_all()
    kept = db.session.execute(
        select(Certificate.png_path, Certificate.pdf_path).where(Certificate.id == certificate.id)
    ).one()
    assert all(kept)
    for _ in range(2):
        with count_statements() as statements:
            png, pdf = download(client, url + ".png"), download(client, url + ".pdf")
        assert writes_of(statements) == []
        assert (png.data, pdf.data) == (first_png.data, first_pdf.data)
    db.session.expire_all()
    assert (
        db.session.execute(
            select(Certificate.png_path, Certificate.pdf_path).where(
                Certificate.id == certificate.id
            )
        ).one()
        == kept
    )


def test_the_guard_fails_a_get_that_writes(app, make_app):
    """The suite-wide guard sees a write made while answering a GET (any blueprint)."""
    other = make_app({"APP_ENV": "test", "STORAGE_DIR": app.config["STORAGE_DIR"]})
    learner = factories.learner(name="王五")

    @other.get("/_rename")
    def rename():
        db.session.get(Learner, learner.id).name = "赵六"
        db.session.flush()
        return "renamed"

    assert other.test_client().get("/_rename").status_code == 200
    written, safe_requests._written[:] = list(safe_requests._written), []
    assert len(written) == 1 and "UPDATE learners" in written[0] and "/_rename" in written[0]
