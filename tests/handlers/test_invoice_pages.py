import io

from sqlalchemy import select

from infra.extensions import db
from models.invoices import Invoice, InvoiceStatus
from models.staff import StaffRole
from services.accounts.identity import credit_code_check_character
from services.audit import Actor
from services.paperwork import invoices
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.handlers.paperwork_helpers import download, log_in, log_in_staff, statements_for

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_apply_issue_download_and_change_once(client):
    learner = factories.learner(name="张伟")
    order = factories.paid_order(learner, factories.plan())
    log_in(client, learner)
    page = client.get("/h5/invoices").get_data(as_text=True)
    assert order.out_trade_no in page and "申请开票" in page

    url = f"/h5/invoices/order/{order.id}/apply"
    bad = submit_form(client, url, {"title_type": "unit", "title": "", "email": "x"})
    assert bad.status_code == 400
    assert "请填写单位名称" in bad.get_data(as_text=True)
    response = submit_form(client, url, {"title_type": "personal", "email": "zw@example.cn"})
    assert response.status_code == 302
    invoice = db.session.scalar(select(Invoice))
    assert invoice.title == "张伟" and "开票中" in client.get("/h5/invoices").get_data(as_text=True)

    desk = client.application.test_client()
    log_in_staff(desk, factories.staff(StaffRole.FINANCE))
    listing = desk.get("/admin/invoices").get_data(as_text=True)
    assert order.out_trade_no in listing
    detail = f"/admin/invoices/{invoice.id}"
    response = submit_form(
        desk, f"{detail}/issue",
        {"invoice_number": "25500000000000000001", "pdf": (io.BytesIO(PDF), "fp.pdf")},
        page=detail, content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 302
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.ISSUED

    view = client.get(f"/h5/invoices/{invoice.id}").get_data(as_text=True)
    assert "25500000000000000001" in view and "修改发票" in view
    pdf = download(client, f"/h5/invoices/{invoice.id}/invoice.pdf")
    assert pdf.status_code == 200 and pdf.data == PDF

    change = f"/h5/invoices/{invoice.id}/change"
    first17 = "12500000MB1234567"
    code = first17 + credit_code_check_character(first17)
    response = submit_form(
        client, change,
        {"title_type": "unit", "title": "重庆市渝中区人民医院", "tax_code": code,
         "email": "cw@example.cn"},
    )  # fmt: skip
    assert response.status_code == 302
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSING
    new = db.session.scalar(select(Invoice).where(Invoice.replaces_id == invoice.id))
    assert (new.title, new.tax_code, new.status) == (
        "重庆市渝中区人民医院",
        code,
        InvoiceStatus.REQUESTED,
    )
    # Changed once: the new invoice offers no second change.
    assert "修改发票" not in client.get("/h5/invoices").get_data(as_text=True)
    reversals = desk.get("/admin/invoices?status=reversing").get_data(as_text=True)
    assert order.out_trade_no in reversals


def test_a_unit_admin_and_other_learners_stay_out(client):
    learner = factories.learner()
    order = factories.paid_order(learner, factories.plan())
    other = factories.learner()
    log_in(client, other)
    assert client.get(f"/h5/invoices/order/{order.id}/apply").status_code == 403
    desk = client.application.test_client()
    log_in_staff(desk, factories.staff(StaffRole.UNIT_ADMIN, unit_obj=factories.unit()))
    assert desk.get("/admin/invoices").status_code == 403


def paid_with_application(learner, year: int | None = None):
    """A paid order of the learner's and its personal invoice application."""
    order = factories.paid_order(learner, factories.plan(year=year) if year else factories.plan())
    return invoices.request_invoice(
        order_id=order.id,
        learner_id=learner.id,
        request=invoices.InvoiceRequest(title_type="personal", email="a@example.cn"),
    )


def test_the_console_list_asks_the_same_of_the_database_for_one_application_or_many(client):
    desk = client.application.test_client()
    log_in_staff(desk, factories.staff(StaffRole.FINANCE))
    counts = []
    for year in (2024, 2025, 2026):
        paid_with_application(factories.learner(), year)
        counts.append(statements_for(desk, "/admin/invoices"))
    assert counts[0] == counts[-1]


def test_my_invoices_asks_the_same_of_the_database_for_one_order_or_many(client):
    learner = factories.learner()
    log_in(client, learner)
    counts = []
    for year in (2024, 2025, 2026):
        paid_with_application(learner, year)
        counts.append(statements_for(client, "/h5/invoices"))
    assert counts[0] == counts[-1]


def test_no_shared_cache_keeps_an_invoice_pdf(client):
    learner = factories.learner()
    invoice = paid_with_application(learner)
    staff = factories.staff(StaffRole.FINANCE)
    invoices.record_issued(
        invoice.id,
        invoice_number="25500000000000000002",
        pdf=PDF,
        actor=Actor.staff(staff.id, staff.username, None),
    )
    log_in(client, learner)
    desk = client.application.test_client()
    log_in_staff(desk, staff)
    for browser, url in (
        (client, f"/h5/invoices/{invoice.id}/invoice.pdf"),
        (desk, f"/admin/invoices/{invoice.id}/invoice.pdf"),
    ):
        response = download(browser, url)
        assert response.status_code == 200 and response.data == PDF
        assert response.headers["Cache-Control"] == "private, no-store", url


def test_the_application_form_reads_the_title_as_the_purchase_page_does(client):
    learner = factories.learner()
    order = factories.paid_order(learner, factories.plan())
    log_in(client, learner)
    url = f"/h5/invoices/order/{order.id}/apply"
    page = client.get(url).get_data(as_text=True)
    assert "信用代码" in page and "接收邮箱" in page
    too_long = submit_form(
        client, url, {"title_type": "unit", "title": "单" * 101, "email": "a" * 120 + "@x.cn"}
    )
    assert too_long.status_code == 400
    text = too_long.get_data(as_text=True)
    assert "单位名称不能超过100个字" in text and "邮箱地址过长" in text
    assert db.session.scalar(select(Invoice)) is None


def test_a_group_order_offers_only_a_unit_title(client):
    designee = factories.learner()
    colleagues = [factories.learner(), factories.learner()]
    order = factories.paid_order(designee, factories.plan(), seats=colleagues)
    log_in(client, designee)
    url = f"/h5/invoices/order/{order.id}/apply"
    page = client.get(url).get_data(as_text=True)
    assert 'value="unit"' in page and 'value="personal"' not in page
    response = submit_form(client, url, {"title_type": "personal", "email": "a@example.cn"})
    assert response.status_code == 400
    assert db.session.scalar(select(Invoice)) is None


def test_asking_twice_shows_the_reason_on_the_form(client):
    learner = factories.learner()
    order = factories.paid_order(learner, factories.plan())
    log_in(client, learner)
    url = f"/h5/invoices/order/{order.id}/apply"
    token_page = client.get(url).get_data(as_text=True)
    data = {"title_type": "personal", "email": "a@example.cn", "csrf_token": csrf_from(token_page)}
    assert client.post(url, data=data).status_code == 302
    again = client.post(url, data=data)
    assert again.status_code == 400
    page = again.get_data(as_text=True)
    assert 'id="invoice-form"' in page and "已申请发票" in page
