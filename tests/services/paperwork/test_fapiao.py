"""数电 invoices through WeChat Pay's fapiao API, called through wechatpayv3 against the
simulator: issue, the asynchronous callbacks, download, the card wallet, reversal and the
红字确认单 of a unit's invoice, failures, and the staff desk as the fallback."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.invoices import InvoiceStatus, RedConfirmStatus
from models.orders import OrderStatus, PayNotification
from models.staff import StaffRole
from models.wechat import TemplateMessage
from services import stored_files
from services.accounts.identity import credit_code_check_character
from services.audit import Actor
from services.paperwork import fapiao, invoices
from tests import factories
from tests.conftest import submit_form
from wechat_sim.fapiao import (
    RED_CONFIRM_SECONDS,
    buyer_answers_red_confirmation,
    fail_next_issue,
)


def credit_code(body="91500103MA5U1234"):
    first17 = body + "5"
    return first17 + credit_code_check_character(first17)


@pytest.fixture
def wechat_fapiao(app, pay_sim, runner, monkeypatch):
    """INVOICE_PROVIDER=wechatpay and the callback URL registered at the simulator."""
    monkeypatch.setitem(app.config, "INVOICE_PROVIDER", "wechatpay")
    result = runner.invoke(args=["invoices", "callback-url"])
    assert result.exit_code == 0, result.output
    assert pay_sim.fapiao_callback_url == "http://localhost/pay/fapiao-notify"
    return pay_sim


def paid_learner(price_fen=3000):
    learner = factories.learner(name="刘洋")
    factories.bind_wechat(learner)
    order = factories.paid_order(learner, factories.plan(price_fen=price_fen))
    return learner, order


def ask(learner, order, request):
    invoice = invoices.request_invoice(order_id=order.id, learner_id=learner.id, request=request)
    commit()  # the provider's job runs after the commit (synchronously in tests)
    db.session.refresh(invoice)
    return invoice


def personal():
    return invoices.InvoiceRequest(title_type="personal", email="liu@example.cn")


def unit_title():
    return invoices.InvoiceRequest(
        title_type="unit",
        email="cw@example.cn",
        title="重庆市渝中区人民医院",
        tax_code=credit_code(),
    )


def learner_page(learner, invoice) -> str:
    from flask import current_app

    browser = current_app.test_client()
    submit_form(browser, "/h5/login", {"account": learner.phone, "password": factories.PASSWORD})
    return browser.get(f"/h5/invoices/{invoice.id}").get_data(as_text=True)


def settle(sim, seconds=5.0):
    """Let WeChat Pay's side move on, then deliver its callbacks (and their follow-ups)."""
    sim.advance(seconds)
    while sim.deliver():
        pass


def issued(sim, learner, order, request):
    invoice = ask(learner, order, request)
    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.ISSUED, invoice.provider_error
    return invoice


def test_an_application_is_issued_downloaded_and_put_in_the_card_wallet(wechat_fapiao):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = ask(learner, order, personal())
    assert invoice.provider == "wechatpay"
    assert invoice.fapiao_apply_id == f"GXFP{invoice.id:010d}"
    assert invoice.fapiao_status == "ISSUE_ACCEPTED" and invoice.status is InvoiceStatus.REQUESTED
    sent = sim.fapiaos[invoice.fapiao_apply_id]
    # The email travelled encrypted with WeChat Pay's public key; the simulator decrypted it.
    assert sent.buyer == {"type": "INDIVIDUAL", "name": "刘洋", "email": "liu@example.cn"}
    assert sent.total_amount == 3000 and sent.items[0]["tax_code"] == "3070201020000000000"

    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.ISSUED
    assert invoice.invoice_number == sent.fapiao_number and len(sent.fapiao_number) == 20
    assert invoice.issued_by_staff_id is None
    pdf = stored_files.read(invoice.pdf_path)
    assert pdf.startswith(b"%PDF-") and sent.fapiao_number.encode() in pdf
    assert invoice.card_status == "INSERTED" and sent.card_status == "INSERTED"
    assert "已存入" in learner_page(learner, invoice)
    assert sim.fapiao_files  # the file was uploaded before the card was inserted
    message = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.learner_id == learner.id)
    )
    assert message is not None and message.kind == "invoice_issued"
    events = db.session.scalars(
        select(PayNotification.event_type).where(PayNotification.kind == "fapiao")
    )
    assert sorted(events) == ["FAPIAO.CARD_INSERTED", "FAPIAO.ISSUED"]


def test_a_callback_again_changes_nothing(wechat_fapiao):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = issued(sim, learner, order, personal())
    number = invoice.invoice_number
    [delivery] = [d for d in sim.deliveries.values() if d.envelope["event_type"] == "FAPIAO.ISSUED"]
    sim.resend(delivery.id)
    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.ISSUED and invoice.invoice_number == number


def test_a_forged_callback_is_refused(wechat_fapiao, client):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = ask(learner, order, personal())
    headers, body = sim.signed_notification(
        "FAPIAO.ISSUED",
        {"mchid": "1900000001", "fapiao_apply_id": invoice.fapiao_apply_id},
        forge=True,
    )
    response = client.post("/pay/fapiao-notify", data=body.encode(), headers=headers)
    assert response.status_code == 401
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REQUESTED


def test_a_refund_reverses_a_personal_invoice_through_wechat_pay(wechat_fapiao):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = issued(sim, learner, order, personal())
    order.refunded_fen = order.amount_fen
    order.status = OrderStatus.REFUNDED
    invoices.reverse_for_refund(order.id)
    commit()
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSING
    assert sim.fapiaos[invoice.fapiao_apply_id].status == "REVERSE_ACCEPTED"
    assert sim.fapiaos[invoice.fapiao_apply_id].reverse_reason == "订单退款"
    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSED
    assert invoice.red_invoice_number == sim.fapiaos[invoice.fapiao_apply_id].red_number
    assert invoice.red_confirm_status is None  # a person's invoice needs no 红字确认单


def test_a_units_reversal_waits_for_the_red_letter_confirmation(wechat_fapiao):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = issued(sim, learner, order, unit_title())
    changed = invoices.change_invoice(invoice.id, learner.id, personal())
    commit()
    settle(sim, 1)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSING
    assert invoice.red_confirm_status is RedConfirmStatus.AWAITING_BUYER
    assert invoice.red_confirm_number == sim.fapiaos[invoice.fapiao_apply_id].red_confirm_number
    page = learner_page(learner, invoice)
    assert "红字确认单待购方确认" in page and "请联系单位财务确认" in page
    buyer_answers_red_confirmation(sim, invoice.fapiao_apply_id, confirm=True)
    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSED
    assert invoice.red_confirm_status is RedConfirmStatus.CONFIRMED
    db.session.refresh(changed)
    assert changed.status is InvoiceStatus.ISSUED  # the new personal invoice
    assert sim.fapiaos[changed.fapiao_apply_id].buyer["type"] == "INDIVIDUAL"


@pytest.mark.parametrize(
    ("answer", "status"),
    [("decline", RedConfirmStatus.DECLINED), ("lapse", RedConfirmStatus.LAPSED)],
)
def test_a_red_letter_confirmation_declined_or_lapsed_goes_to_staff(wechat_fapiao, answer, status):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = issued(sim, learner, order, unit_title())
    order.refunded_fen = order.amount_fen
    order.status = OrderStatus.REFUNDED
    invoices.reverse_for_refund(order.id)
    commit()
    settle(sim, 1)
    if answer == "decline":
        buyer_answers_red_confirmation(sim, invoice.fapiao_apply_id, confirm=False)
        settle(sim, 1)
    else:
        settle(sim, RED_CONFIRM_SECONDS + 1)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSING
    assert invoice.red_confirm_status is status
    assert "红冲未完成" in invoice.provider_error
    assert (invoice.id, "sync") not in fapiao.open_invoice_ids()  # waits for staff, not cron
    # Staff settle it with the unit and record the red-letter invoice by hand.
    staff = factories.staff()
    invoices.record_reversed(
        invoice.id,
        red_invoice_number="24500000000087654321",
        actor=Actor.staff(staff.id, staff.username, None),
    )
    assert invoice.status is InvoiceStatus.REVERSED


def test_an_issue_that_fails_at_the_tax_system_stays_for_the_staff_desk(wechat_fapiao):
    sim = wechat_fapiao
    fail_next_issue(sim, "购买方名称与纳税人识别号不符")
    learner, order = paid_learner()
    invoice = ask(learner, order, unit_title())
    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REQUESTED
    assert invoice.fapiao_status == "ISSUE_FAILED"
    assert "购买方名称与纳税人识别号不符" in invoice.provider_error
    assert invoice in invoices.staff_queue(InvoiceStatus.REQUESTED)


def test_an_invoice_asked_at_ordering_is_sent_once_the_order_is_paid(wechat_fapiao, runner):
    sim = wechat_fapiao
    learner, order = paid_learner()
    order.status, order.paid_at = OrderStatus.PENDING, None
    db.session.flush()
    invoice = ask(learner, order, personal())
    assert invoice.fapiao_apply_id is None and sim.fapiaos == {}
    order.status, order.paid_at = OrderStatus.PAID, order.created_at
    commit()
    result = runner.invoke(args=["invoices", "sync"])
    assert result.exit_code == 0 and "invoices followed up: 1" in result.output
    db.session.refresh(invoice)
    assert invoice.fapiao_apply_id in sim.fapiaos


def test_a_lost_callback_is_made_good_by_sync(wechat_fapiao, runner):
    sim = wechat_fapiao
    sim.inject("drop", kind="fapiao")
    learner, order = paid_learner()
    invoice = ask(learner, order, personal())
    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REQUESTED  # the ISSUED callback never came
    result = runner.invoke(args=["invoices", "sync"])
    assert result.exit_code == 0, result.output
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.ISSUED


def test_a_staff_desk_invoice_is_reversed_at_the_desk(wechat_fapiao, app, monkeypatch):
    monkeypatch.setitem(app.config, "INVOICE_PROVIDER", "staff")
    learner, order = paid_learner()
    invoice = ask(learner, order, personal())
    staff = factories.staff()
    invoices.record_issued(
        invoice.id,
        invoice_number="24500000000012345678",
        pdf=b"%PDF-1.7\n%%EOF\n",
        actor=Actor.staff(staff.id, staff.username, None),
    )
    monkeypatch.setitem(app.config, "INVOICE_PROVIDER", "wechatpay")
    order.refunded_fen = order.amount_fen
    order.status = OrderStatus.REFUNDED
    invoices.reverse_for_refund(order.id)
    commit()
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSING and invoice.provider == "staff"
    assert wechat_fapiao.fapiaos == {}


def test_staff_see_a_declined_confirmation_and_ask_for_the_reversal_again(wechat_fapiao, app):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = issued(sim, learner, order, unit_title())
    order.refunded_fen = order.amount_fen
    order.status = OrderStatus.REFUNDED
    invoices.reverse_for_refund(order.id)
    commit()
    settle(sim, 1)
    buyer_answers_red_confirmation(sim, invoice.fapiao_apply_id, confirm=False)
    settle(sim, 1)

    staff = factories.staff(StaffRole.FINANCE)
    console = app.test_client()
    submit_form(
        console, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    page = console.get(f"/admin/invoices/{invoice.id}").get_data(as_text=True)
    assert "购方拒绝红字确认单" in page and "重新发起红冲" in page
    assert invoice.fapiao_apply_id in page
    response = submit_form(
        console,
        f"/admin/invoices/{invoice.id}/retry-reversal",
        {},
        page=f"/admin/invoices/{invoice.id}",
    )
    assert response.status_code == 302
    assert sim.fapiaos[invoice.fapiao_apply_id].status == "REVERSE_CONFIRMING"
    settle(sim, 1)
    buyer_answers_red_confirmation(sim, invoice.fapiao_apply_id, confirm=True)
    settle(sim)
    db.session.refresh(invoice)
    assert invoice.status is InvoiceStatus.REVERSED
    assert invoice.red_confirm_status is RedConfirmStatus.CONFIRMED
    again = submit_form(
        console,
        f"/admin/invoices/{invoice.id}/retry-reversal",
        {},
        page=f"/admin/invoices/{invoice.id}",
    )
    assert again.status_code == 302  # refused with a message: nothing to retry
    assert sim.fapiaos[invoice.fapiao_apply_id].status == "REVERSED"


def test_a_signature_probe_on_a_query_is_asked_again(wechat_fapiao):
    sim = wechat_fapiao
    learner, order = paid_learner()
    invoice = ask(learner, order, personal())
    sim.signtest_answers = 1  # the next answer (the query after the callback) is a probe
    settle(sim)
    db.session.refresh(invoice)
    assert sim.signtest_answers == 0
    assert invoice.status is InvoiceStatus.ISSUED  # the query was asked again, then trusted
