"""What the console's paperwork pages offer (the views' ``can_*``) is what the services accept:
revoking and reissuing certificates, recording invoices and their reversal, reviewing make-up
applications."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from infra.extensions import db
from models.certificates import CertificateStatus
from models.invoices import InvoiceStatus
from models.makeup import ReviewStatus
from models.orders import OrderStatus
from services.audit import Actor
from services.errors import ServiceError
from services.paperwork import certificates, invoices, makeup
from tests import factories

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def accepted(service: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Whether the service accepts the call; whatever it wrote is undone either way."""
    savepoint = db.session.begin_nested()
    try:
        service(*args, **kwargs)
    except ServiceError:
        return False
    finally:
        savepoint.rollback()
    return True


def staff_actor() -> Actor:
    staff = factories.staff()
    return Actor.staff(staff.id, staff.username, "198.51.100.7")


def test_a_certificate_may_be_revoked_or_reissued_exactly_while_it_stands():
    actor = staff_actor()
    learner, plan = factories.learner(), factories.plan()
    factories.completed_enrollment(learner, plan)
    standing = certificates.issue_certificate(learner.id, plan.id)
    other = factories.learner()
    factories.completed_enrollment(other, plan)
    revoked = certificates.issue_certificate(other.id, plan.id)
    certificates.revoke_certificate(revoked.id, actor=actor, reason="单位错误")
    # Standing, but its holder has since lost both unit and district: nothing to print anew.
    adrift = factories.learner()
    factories.completed_enrollment(adrift, plan)
    homeless = certificates.issue_certificate(adrift.id, plan.id)
    adrift.unit_id = adrift.district_id = None
    db.session.flush()
    db.session.expire_all()
    assert not certificates.staff_certificate(homeless.id).can_reissue
    assert not accepted(certificates.reissue_certificate, homeless.id, actor=actor, reason="测试")
    for certificate, stands in ((standing, True), (revoked, False)):
        view = certificates.staff_certificate(certificate.id)
        assert view.can_revoke is stands
        assert view.can_revoke is accepted(
            certificates.revoke_certificate, certificate.id, actor=actor, reason="测试"
        )
        view = certificates.staff_certificate(certificate.id)
        assert view.can_reissue is accepted(
            certificates.reissue_certificate, certificate.id, actor=actor, reason="测试"
        )
        page = certificates.certificate_page(certificate.id, certificate.learner_id)
        assert page.can_download is accepted(
            certificates.certificate_file, certificate.id, certificate.learner_id, "png"
        )
    assert certificates.verify(standing.number).is_valid
    assert not certificates.verify(revoked.number).is_valid
    assert db.session.get(type(revoked), revoked.id).status is CertificateStatus.REVOKED


def test_an_invoice_may_be_recorded_issued_or_reversed_exactly_when_the_service_accepts_it():
    actor = staff_actor()
    plan = factories.plan()
    cases = []
    for status in InvoiceStatus:
        learner = factories.learner()
        order = factories.paid_order(learner, plan)
        invoice = invoices.request_invoice(
            order_id=order.id,
            learner_id=learner.id,
            request=invoices.InvoiceRequest(title_type="personal", email="me@example.cn"),
        )
        invoice.status = status
        cases.append(invoice)
    # Asked for, then the order was refunded before staff got to it.
    learner = factories.learner()
    order = factories.paid_order(learner, plan)
    refunded = invoices.request_invoice(
        order_id=order.id,
        learner_id=learner.id,
        request=invoices.InvoiceRequest(title_type="personal", email="me@example.cn"),
    )
    order.status = OrderStatus.REFUNDED
    cases.append(refunded)
    db.session.flush()

    issuable = []
    for invoice in cases:
        view = invoices.staff_invoice(invoice.id)
        can_issue, can_reverse = view.can_issue, view.can_record_reversal
        assert can_issue is accepted(
            invoices.record_issued,
            invoice.id,
            invoice_number="24500000000012345678",
            pdf=PDF,
            actor=actor,
        ), invoice.status
        assert can_reverse is accepted(
            invoices.record_reversed,
            invoice.id,
            red_invoice_number="24500000000087654321",
            actor=actor,
        ), invoice.status
        if can_issue:
            issuable.append(invoice.id)
    assert issuable == [cases[0].id]  # requested, its order paid
    assert [invoices.staff_invoice(i.id).can_record_reversal for i in cases].count(True) == 1


def test_a_make_up_application_may_be_reviewed_exactly_once():
    actor = staff_actor()
    now = datetime(2025, 3, 7, 2, 0, tzinfo=UTC)
    plan = factories.makeup_plan(2019)
    applications = []
    for outcome in ReviewStatus:
        learner = factories.learner()
        application = makeup.submit_commitment(
            learner.id,
            plan.id,
            makeup.Commitment(
                paid_on="2019-04-02", reason="原平台已关闭", signature=learner.name, agreed=True
            ),
            now=now,
        )
        if outcome is ReviewStatus.APPROVED:
            makeup.approve(application.id, actor=actor, now=now)
        elif outcome is ReviewStatus.REJECTED:
            makeup.reject(application.id, actor=actor, reason="材料不全", now=now)
        applications.append(application)
    for application in applications:
        view = makeup.staff_application(application.id)
        assert view.can_review is (application.status is ReviewStatus.PENDING)
        assert view.can_review is accepted(makeup.approve, application.id, actor=actor, now=now)
        assert view.can_review is accepted(
            makeup.reject, application.id, actor=actor, reason="截图不清", now=now
        )
        assert not view.is_voucher
