"""Every invoice rule at its boundaries, with "now" given (dates in Asia/Shanghai)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from infra.extensions import db
from models.catalog import Plan, PlanKind
from models.invoices import InvoiceStatus, InvoiceTitleType, ReissueReason
from models.orders import OrderStatus
from models.staff import AuditLog
from models.wechat import TemplateMessage
from services.accounts.identity import credit_code_check_character
from services.audit import Actor
from services.errors import Conflict, PermissionDenied, StopValidation
from services.paperwork import invoices
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def local(*args):
    return datetime(*args, tzinfo=SHANGHAI)


def credit_code(body="91500103MA5U1234"):
    first17 = body + "5"
    return first17 + credit_code_check_character(first17)


def personal():
    return invoices.InvoiceRequest(title_type="personal", email="me@example.cn")


def unit_title(title="重庆市渝中区人民医院", code=None):
    return invoices.InvoiceRequest(
        title_type="unit", email="cw@example.cn", title=title, tax_code=code or credit_code()
    )


def the_plan(price_fen=3000):
    plan = db.session.scalar(select(Plan).where(Plan.year == 2022, Plan.kind == PlanKind.CURRENT))
    return plan or factories.plan(price_fen=price_fen)


def paid(paid_at, **kwargs):
    learner = factories.learner()
    order = factories.paid_order(learner, the_plan(), paid_at=paid_at, **kwargs)
    return learner, order


def issue(invoice, when):
    staff = factories.staff()
    return invoices.record_issued(
        invoice.id, invoice_number="24500000000012345678", pdf=PDF,
        actor=Actor.staff(staff.id, staff.username, None), now=when,
    )  # fmt: skip


# --- the calendar year of payment -------------------------------------------------------------


def test_an_invoice_is_asked_for_up_to_the_last_second_of_the_payment_year():
    learner, order = paid(local(2024, 12, 31, 23, 30))
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=personal(),
        now=local(2024, 12, 31, 23, 59, 59),
    )  # fmt: skip
    assert invoice.status is InvoiceStatus.REQUESTED
    assert invoice.title == learner.name and invoice.tax_code is None


def test_no_invoice_from_the_first_second_of_the_next_year():
    learner, order = paid(local(2024, 12, 31, 23, 30))
    # 2025-01-01 00:00 in Shanghai is still 2024 in UTC: the local year decides.
    now = local(2025, 1, 1, 0, 0, 0)
    assert now.astimezone(UTC).year == 2024
    with pytest.raises(Conflict, match="不能跨年补开发票"):
        invoices.request_invoice(
            order_id=order.id, learner_id=learner.id, request=personal(), now=now
        )


def test_paid_on_new_years_morning_in_shanghai_counts_as_the_new_year():
    paid_at = local(2025, 1, 1, 0, 10)
    assert paid_at.astimezone(UTC).year == 2024
    learner, order = paid(paid_at)
    invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=personal(), now=local(2025, 3, 1, 9)
    )


def test_only_the_buyer_asks_and_only_once_per_order():
    learner, order = paid(local(2024, 5, 1, 10))
    now = local(2024, 5, 2, 10)
    other = factories.learner()
    with pytest.raises(PermissionDenied):
        invoices.request_invoice(
            order_id=order.id, learner_id=other.id, request=personal(), now=now
        )
    invoices.request_invoice(order_id=order.id, learner_id=learner.id, request=personal(), now=now)
    with pytest.raises(Conflict, match="已申请发票"):
        invoices.request_invoice(
            order_id=order.id, learner_id=learner.id, request=personal(), now=now
        )


# --- titles ---------------------------------------------------------------------------------------


def test_a_unit_title_needs_a_valid_credit_code_and_an_id_number_does_not_pass():
    learner, order = paid(local(2024, 5, 1, 10))
    now = local(2024, 5, 2, 10)
    with pytest.raises(StopValidation, match="身份证号码"):
        invoices.request_invoice(
            order_id=order.id, learner_id=learner.id,
            request=unit_title(code=learner.id_number), now=now,
        )  # fmt: skip
    bad = credit_code()[:-1] + ("0" if credit_code()[-1] != "0" else "1")
    with pytest.raises(StopValidation, match="校验位"):
        invoices.request_invoice(
            order_id=order.id, learner_id=learner.id, request=unit_title(code=bad), now=now
        )
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=unit_title(), now=now
    )
    assert invoice.title_type is InvoiceTitleType.UNIT
    assert invoice.tax_code == credit_code()


def test_a_group_order_gets_one_unit_invoice_for_all_its_seats():
    buyer = factories.learner()
    colleagues = [buyer, factories.learner(), factories.learner()]
    order = factories.paid_order(buyer, the_plan(), seats=colleagues, paid_at=local(2024, 6, 1, 9))
    now = local(2024, 6, 2, 9)
    with pytest.raises(StopValidation, match="只能开具单位发票"):
        invoices.request_invoice(
            order_id=order.id, learner_id=buyer.id, request=personal(), now=now
        )
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=buyer.id, request=unit_title(), now=now
    )
    assert invoice.amount_fen == 9000
    with pytest.raises(Conflict):
        invoices.request_invoice(
            order_id=order.id, learner_id=buyer.id, request=unit_title(), now=now
        )


# --- changing once, within 15 days, never across a year end -----------------------------------


def issued_invoice(issued_at, paid_at=None):
    learner, order = paid(paid_at or issued_at - timedelta(days=1))
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=personal(),
        now=issued_at - timedelta(hours=1),
    )  # fmt: skip
    return learner, issue(invoice, issued_at)


def test_an_issued_invoice_can_be_changed_on_the_fifteenth_day():
    issued_at = local(2024, 3, 1, 10)
    learner, invoice = issued_invoice(issued_at)
    new = invoices.change_invoice(
        invoice.id, learner.id, unit_title(), now=issued_at + timedelta(days=15)
    )
    assert invoice.status is InvoiceStatus.REVERSING  # 红冲, waiting for the red-letter invoice
    assert new.status is InvoiceStatus.REQUESTED and new.replaces_id == invoice.id
    assert new.reissue_reason is ReissueReason.CHANGE and new.title_type is InvoiceTitleType.UNIT


def test_no_change_one_second_after_the_fifteen_days():
    issued_at = local(2024, 3, 1, 10)
    learner, invoice = issued_invoice(issued_at)
    with pytest.raises(Conflict, match="15日"):
        invoices.change_invoice(
            invoice.id, learner.id, unit_title(),
            now=issued_at + timedelta(days=15, seconds=1),
        )  # fmt: skip
    assert invoice.status is InvoiceStatus.ISSUED


def test_a_change_is_possible_until_the_year_ends_but_not_across_it():
    issued_at = local(2024, 12, 25, 10)
    learner, invoice = issued_invoice(issued_at)
    assert invoices.change_deadline(invoice) == local(2024, 12, 31, 23, 59, 59, 999999)
    with pytest.raises(Conflict, match="跨年"):
        invoices.change_invoice(
            invoice.id, learner.id, unit_title(), now=local(2025, 1, 1, 0, 0, 0)
        )
    invoices.change_invoice(
        invoice.id, learner.id, unit_title(), now=local(2024, 12, 31, 23, 59, 59)
    )


def test_an_invoice_changes_once_only():
    issued_at = local(2024, 3, 1, 10)
    learner, invoice = issued_invoice(issued_at)
    new = invoices.change_invoice(invoice.id, learner.id, unit_title(), now=issued_at)
    new = issue(new, issued_at + timedelta(days=1))
    assert invoices.change_refusal(new, issued_at + timedelta(days=2)) == (
        "每张发票只能修改1次，该发票已修改过。"
    )
    with pytest.raises(Conflict, match="只能修改1次"):
        invoices.change_invoice(new.id, learner.id, personal(), now=issued_at + timedelta(days=2))


def test_an_invoice_not_yet_issued_is_not_changed():
    learner, order = paid(local(2024, 3, 1, 10))
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=personal(), now=local(2024, 3, 1, 11)
    )
    with pytest.raises(Conflict, match="已开具"):
        invoices.change_invoice(invoice.id, learner.id, unit_title(), now=local(2024, 3, 1, 12))


# --- refunds --------------------------------------------------------------------------------------


def refund(order, amount_fen):
    order.refunded_fen += amount_fen
    order.status = (
        OrderStatus.REFUNDED
        if order.refunded_fen >= order.amount_fen
        else OrderStatus.PARTIALLY_REFUNDED
    )
    db.session.flush()


def test_a_refunded_orders_issued_invoice_is_reversed():
    learner, invoice = issued_invoice(local(2024, 3, 1, 10))
    order = db.session.get(invoices.Order, invoice.order_id)
    refund(order, order.amount_fen)
    assert invoices.reverse_for_refund(order.id) is None
    assert invoice.status is InvoiceStatus.REVERSING
    assert invoices.reverse_for_refund(order.id) is None  # safe to repeat
    staff = factories.staff()
    invoices.record_reversed(
        invoice.id,
        red_invoice_number="24500000000087654321",
        actor=Actor.staff(staff.id, staff.username, None),
    )
    assert invoice.status is InvoiceStatus.REVERSED
    assert invoice.red_invoice_number == "24500000000087654321"
    with pytest.raises(Conflict, match="已关闭或已退款"):
        invoices.request_invoice(order_id=order.id, learner_id=learner.id, request=personal())


def test_a_refund_before_issue_withdraws_the_application():
    learner, order = paid(local(2024, 3, 1, 10))
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=personal(), now=local(2024, 3, 1, 11)
    )
    refund(order, order.amount_fen)
    invoices.reverse_for_refund(order.id)
    assert invoice.status is InvoiceStatus.CANCELLED


def test_a_partial_refund_of_a_group_order_invoices_the_rest_again():
    buyer = factories.learner()
    order = factories.paid_order(
        buyer, the_plan(), seats=[buyer, factories.learner()],
        paid_at=local(2024, 6, 1, 9),
    )  # fmt: skip
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=buyer.id, request=unit_title(), now=local(2024, 6, 1, 10)
    )
    issue(invoice, local(2024, 6, 2, 10))
    refund(order, 3000)
    again = invoices.reverse_for_refund(order.id, now=local(2024, 6, 3, 10))
    assert invoice.status is InvoiceStatus.REVERSING
    assert (again.amount_fen, again.title, again.tax_code) == (
        3000,
        invoice.title,
        invoice.tax_code,
    )
    assert again.reissue_reason is ReissueReason.REFUND
    # The learner's one change is still there for the reissued invoice.
    issue(again, local(2024, 6, 4, 10))
    assert invoices.change_refusal(again, local(2024, 6, 5, 10)) is None


# --- the staff desk -----------------------------------------------------------------------------


def test_staff_see_paid_applications_oldest_first_and_issue_them():
    learner, order = paid(local(2024, 3, 1, 10))
    first = invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=personal(), now=local(2024, 3, 1, 11)
    )
    other, second_order = paid(local(2024, 3, 2, 10))
    second = invoices.request_invoice(
        order_id=second_order.id, learner_id=other.id, request=personal(), now=local(2024, 3, 2, 11)
    )
    queue = [invoice.id for invoice in invoices.staff_queue(InvoiceStatus.REQUESTED)]
    assert queue.index(first.id) < queue.index(second.id)
    issue(first, local(2024, 3, 3, 9))
    assert first.status is InvoiceStatus.ISSUED
    assert first.invoice_number == "24500000000012345678"
    message = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.dedupe_key == f"invoice:{first.id}")
    )
    assert message.kind == "invoice_issued" and message.learner_id == learner.id
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "invoice.issue"))
    assert invoices.invoice_pdf_path(first).startswith("invoices/2024/")


def test_an_unpaid_orders_application_waits_for_the_payment():
    learner = factories.learner()
    order = factories.paid_order(learner, the_plan())
    order.status, order.paid_at = OrderStatus.PENDING, None
    db.session.flush()
    invoice = invoices.request_invoice(order_id=order.id, learner_id=learner.id, request=personal())
    assert invoice.id not in [i.id for i in invoices.staff_queue(InvoiceStatus.REQUESTED)]
    with pytest.raises(Conflict, match="尚未缴费"):
        issue(invoice, datetime.now(UTC))


@pytest.mark.parametrize(
    ("number", "pdf", "message"),
    [
        ("24500000000012345678", b"\x89PNG\r\n\x1a\n not a pdf", "不是完整的PDF"),
        ("24500000000012345678", b"", "请上传"),
        ("12", PDF, "发票号码"),
    ],
)
def test_staff_uploads_are_checked(number, pdf, message):
    learner, order = paid(local(2024, 3, 1, 10))
    invoice = invoices.request_invoice(
        order_id=order.id, learner_id=learner.id, request=personal(), now=local(2024, 3, 1, 11)
    )
    with pytest.raises(StopValidation, match=message):
        invoices.record_issued(
            invoice.id, invoice_number=number, pdf=pdf, actor=Actor.system("test")
        )
    assert invoice.status is InvoiceStatus.REQUESTED
