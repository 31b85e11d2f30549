"""学习档案: every year's plans, 学时 and certificate numbers in one signed PDF."""

import io

from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from infra.extensions import db
from models.catalog import Plan
from models.enrollments import EnrollmentStatus
from services.audit import Actor
from services.paperwork import certificates, signing, study_record
from tests import factories
from tests.handlers.paperwork_helpers import log_in

STAFF = Actor.system("system:test")


def test_the_learner_downloads_a_signed_record_of_every_year(client):
    learner = factories.learner(name="欧阳㵘娜")
    done, current = factories.plan(year=2022), factories.plan(year=2023)
    factories.completed_enrollment(learner, done)
    factories.enrollment(learner, current)
    certificate = certificates.issue_certificate(learner.id, done.id)
    log_in(client, learner)
    assert "下载学习档案" in client.get("/h5/certificates").get_data(as_text=True)

    response = client.get("/h5/certificates/record.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    check = signing.check_signature(response.data)
    assert check.ours_and_unchanged
    assert check.title == "学习档案 欧阳㵘娜"
    # The public check says: ours, intact, and not a certificate.
    verdict = certificates.verify_pdf(response.data)
    assert verdict.verdict == "no_number"
    assert len(PdfFileReader(io.BytesIO(response.data)).root["/Pages"]["/Kids"]) == 1

    record = study_record.study_record(learner.id)
    assert [(row.year, row.completed, row.certificate_number) for row in record.years] == [
        (2022, True, certificate.number),
        (2023, False, None),
    ]


def test_a_revoked_certificate_and_a_refunded_plan_leave_the_record(app):
    learner = factories.learner()
    kept, refunded = factories.plan(year=2021), factories.plan(year=2022)
    factories.completed_enrollment(learner, kept)
    taken = factories.completed_enrollment(learner, refunded)
    first = certificates.issue_certificate(learner.id, kept.id)
    new = certificates.reissue_certificate(first.id, actor=STAFF, reason="更正")
    taken.status = EnrollmentStatus.REVOKED
    db.session.flush()
    record = study_record.study_record(learner.id)
    assert [(row.year, row.certificate_number) for row in record.years] == [(2021, new.number)]


def test_many_years_take_several_pages(app):
    learner = factories.learner()
    for year in range(2011, 2011 + study_record.ROWS_PER_PAGE + 2):
        plan = db.session.scalar(select(Plan).where(Plan.year == year)) or factories.plan(year=year)
        factories.completed_enrollment(learner, plan)
    pdf = study_record.record_pdf(study_record.study_record(learner.id))
    assert len(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]) == 2
    assert signing.check_signature(pdf).ours_and_unchanged


def test_one_changed_byte_breaks_the_records_signature(app):
    learner = factories.learner()
    factories.completed_enrollment(learner, factories.plan(year=2022))
    data = bytearray(study_record.record_pdf(study_record.study_record(learner.id)))
    data[len(data) // 3] ^= 0x01
    assert not signing.check_signature(bytes(data)).intact
