"""What a unit's designee is told: a colleague's own unpaid order blocking a seat, and the
invoice of a refunded group order."""

from __future__ import annotations

from models.orders import OrderStatus
from services.accounts.identity import credit_code_check_character
from services.audit import Actor
from services.display import local_time
from services.paperwork import invoices
from services.payments import orders
from tests import factories
from tests.handlers.test_group_lookups import check, log_in


def test_a_colleagues_own_unpaid_order_is_named_with_the_time_it_closes(client):
    plan = factories.plan()
    colleague = factories.learner()
    own = orders.place_individual_order(learner_id=colleague.id, plan_id=plan.id, invoice=None)
    designee = factories.learner()
    log_in(client, designee)
    page = check(client, plan, [colleague.id_number]).get_data(as_text=True)
    closes = local_time(own.expires_at)
    assert f"该同事本人有一笔未支付的订单，将于{closes}自动关闭" in page
    assert "请先支付或取消该订单" not in page  # advice the designee could not follow


def test_a_refunded_group_orders_invoice_shows_its_reversal_and_numbers(client):
    designee = factories.learner()
    colleagues = [factories.learner() for _ in range(2)]
    order = factories.paid_order(designee, factories.plan(), seats=colleagues)
    first17 = "91500000202812345"
    invoice = invoices.request_invoice(
        order_id=order.id,
        learner_id=designee.id,
        request=invoices.InvoiceRequest(
            title_type="unit", email="cw@example.cn", title="重庆建工（集团）股份有限公司",
            tax_code=first17 + credit_code_check_character(first17),
        ),
    )  # fmt: skip
    staff = factories.staff()
    actor = Actor.staff(staff.id, staff.username, None)
    pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    invoices.record_issued(invoice.id, invoice_number="25500000000000000001", pdf=pdf, actor=actor)
    order.refunded_fen, order.status = order.amount_fen, OrderStatus.REFUNDED
    invoices.reverse_for_refund(order.id)

    log_in(client, designee)
    page = client.get("/h5/invoices").get_data(as_text=True)
    assert "该订单已关闭或已退款" not in page
    assert "红冲中" in page and "25500000000000000001" in page
    assert "原发票正在红冲作废" in page
    assert f'href="/h5/invoices/{invoice.id}"' in page

    invoices.record_reversed(invoice.id, red_invoice_number="25500000000000000099", actor=actor)
    page = client.get("/h5/invoices").get_data(as_text=True)
    assert "已红冲" in page and "红字发票号码：25500000000000000099" in page
    view = client.get(f"/h5/invoices/{invoice.id}").get_data(as_text=True)
    assert "25500000000000000099" in view and "红冲时间" in view and "订单退款" in view
