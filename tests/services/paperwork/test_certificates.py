import re
import threading
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import func, select

from infra.extensions import db
from infra.transaction import commit
from models.certificates import Certificate, CertificateStatus
from models.enrollments import EnrollmentStatus
from models.staff import AuditLog
from services import stored_files
from services.audit import Actor
from services.errors import Conflict, NotFound, PermissionDenied, ValidationError
from services.paperwork import certificates
from tests import factories


def test_a_completed_plan_is_eligible_and_listed():
    learner = factories.learner()
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)
    [row] = certificates.completed_plans(learner.id)
    assert row.plan.id == plan.id
    assert row.certificate is None
    assert certificates.check_eligible(learner.id, plan.id).plan_id == plan.id


@pytest.mark.parametrize(
    ("hours", "completed", "status", "eligible"),
    [
        (30, True, EnrollmentStatus.ACTIVE, True),
        (29, True, EnrollmentStatus.ACTIVE, False),  # one 学时 short
        (30, False, EnrollmentStatus.ACTIVE, False),  # the ledger has not closed it
        (30, True, EnrollmentStatus.REVOKED, False),  # refunded
    ],
)
def test_eligibility_needs_an_active_completed_enrollment_with_the_hours(
    hours, completed, status, eligible
):
    learner = factories.learner()
    plan = factories.plan(required_hours=30)
    enrollment = factories.completed_enrollment(learner, plan, hours=hours)
    enrollment.status = status
    if not completed:
        enrollment.completed_at = None
    db.session.flush()
    assert bool(certificates.completed_plans(learner.id)) is eligible
    if eligible:
        assert certificates.issue_certificate(learner.id, plan.id).status is CertificateStatus.VALID
    else:
        with pytest.raises((Conflict, NotFound)):
            certificates.issue_certificate(learner.id, plan.id)


def test_a_plan_never_joined_gives_no_certificate():
    learner = factories.learner()
    plan = factories.plan()
    with pytest.raises(NotFound):
        certificates.issue_certificate(learner.id, plan.id)


def test_issuing_snapshots_what_is_printed_and_is_idempotent():
    unit = factories.unit("重庆市第一中学校")
    learner = factories.learner(name="王䶮", unit_obj=unit)
    plan = factories.plan(year=2022)
    factories.completed_enrollment(learner, plan, hours=32)
    first = certificates.issue_certificate(learner.id, plan.id)
    again = certificates.issue_certificate(learner.id, plan.id)
    assert again.id == first.id
    assert db.session.scalar(select(func.count(Certificate.id))) == 1
    assert (first.holder_name, first.holder_id_number) == ("王䶮", learner.id_number)
    assert first.unit_name == "重庆市第一中学校"
    assert (first.year, first.hours, first.plan_title) == (2022, 32, plan.title)
    # Renaming the account later does not change the certificate already issued.
    learner.name = "王岩"
    db.session.flush()
    assert certificates.issue_certificate(learner.id, plan.id).holder_name == "王䶮"


def test_numbers_are_random_not_counters():
    numbers = {certificates.new_certificate_number(2022) for _ in range(2000)}
    assert len(numbers) == 2000
    for number in list(numbers)[:50]:
        assert re.fullmatch(r"GX2022(-[0-9A-HJKMNP-TV-Z]{4}){4}", number)
    # 80 random bits: no shared prefix beyond the year, unlike a counter.
    assert len({number[:11] for number in numbers}) > 1000


def test_the_district_prints_when_the_unit_is_not_in_the_list():
    learner = factories.learner()
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)
    district = factories.district("500106")
    certificates.confirm_profile(learner.id, unit_id=None, district_id=district.id)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    assert certificate.unit_name == "沙坪坝区（档案所在区县）"


def test_profile_needs_a_unit_or_a_district():
    learner = factories.learner()
    learner.unit_id = learner.district_id = None
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)
    with pytest.raises(ValidationError):
        certificates.confirm_profile(learner.id, unit_id=None, district_id=None)
    with pytest.raises(ValidationError, match="完善个人信息"):
        certificates.issue_certificate(learner.id, plan.id)


def test_files_are_drawn_once_and_only_for_the_owner():
    learner = factories.learner(name="㵘䶮")
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(learner.id, plan.id)
    png = certificates.certificate_file(certificate.id, learner.id, "png")
    stamp = stored_files.resolve(png).stat().st_mtime_ns
    assert certificates.certificate_file(certificate.id, learner.id, "png") == png
    assert stored_files.resolve(png).stat().st_mtime_ns == stamp
    with Image.open(stored_files.resolve(png)) as image:
        assert image.size == (3508, 2480)
        assert round(image.info["dpi"][0]) == 300
    pdf = stored_files.read(certificates.certificate_file(certificate.id, learner.id, "pdf"))
    assert pdf.startswith(b"%PDF-")
    assert b"/MediaBox [ 0 0 841.92 595.2 ]" in pdf  # A4 landscape: 297 x 210 mm
    other = factories.learner()
    with pytest.raises(PermissionDenied):
        certificates.certificate_file(certificate.id, other.id, "png")


def test_revocation_and_reissue_after_a_name_correction():
    learner = factories.learner(name="李那")
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)
    old = certificates.issue_certificate(learner.id, plan.id)
    staff = factories.staff()
    new = certificates.reissue_certificate(
        old.id,
        actor=Actor.staff(staff.id, staff.username, None),
        reason="姓名录入错误",
        corrected_name="李娜",
    )
    assert old.status is CertificateStatus.REVOKED and old.replaced_by_id == new.id
    assert new.status is CertificateStatus.VALID and new.number != old.number
    assert new.holder_name == "李娜" and learner.name == "李娜"
    assert certificates.verify(old.number).status is CertificateStatus.REVOKED
    assert certificates.verify(new.number).status is CertificateStatus.VALID
    assert certificates.issue_certificate(learner.id, plan.id).id == new.id
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"learner.correct_name", "certificate.revoke", "certificate.reissue"} <= actions
    with pytest.raises(Conflict):
        certificates.revoke_certificate(
            old.id, actor=Actor.staff(staff.id, staff.username, None), reason="再次"
        )
    with pytest.raises(Conflict, match="已作废"):
        certificates.certificate_file(old.id, learner.id, "png")


def test_a_revoked_certificate_without_reissue_lets_the_learner_print_a_new_one():
    learner = factories.learner()
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)
    old = certificates.issue_certificate(learner.id, plan.id)
    staff = factories.staff()
    certificates.revoke_certificate(
        old.id, actor=Actor.staff(staff.id, staff.username, None), reason="单位错误"
    )
    assert certificates.issue_certificate(learner.id, plan.id).id != old.id


def test_verification_masks_the_holder():
    learner = factories.learner(name="欧阳娜娜")
    plan = factories.plan(year=2022)
    factories.completed_enrollment(learner, plan)
    certificate = certificates.issue_certificate(
        learner.id, plan.id, now=datetime(2022, 11, 3, 2, 0, tzinfo=UTC)
    )
    result = certificates.verify(certificate.number.lower())
    assert result.holder_name == "欧**娜"
    assert result.holder_id_number == learner.id_number[:3] + "*" * 11 + learner.id_number[-4:]
    assert certificates.verify("GX2022-0000-0000-0000-0000") is None
    assert certificates.verify("x" * 200) is None


@pytest.mark.committed
def test_concurrent_issuing_gives_one_certificate(app):
    learner = factories.learner()
    plan = factories.plan()
    factories.completed_enrollment(learner, plan)
    commit()
    learner_id, plan_id = learner.id, plan.id
    barrier = threading.Barrier(6)
    numbers, errors = [], []

    def issue():
        with app.app_context():
            try:
                barrier.wait()
                numbers.append(certificates.issue_certificate(learner_id, plan_id).number)
                commit()
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=issue) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(numbers)) == 1
    assert db.session.scalar(select(func.count(Certificate.id))) == 1
