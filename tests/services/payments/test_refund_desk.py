"""Finance staff follow refunds up from the console with a button (what the scheduled
``pay sync-refunds`` does), and read the providers' events in Chinese."""

from __future__ import annotations

from infra.extensions import db
from models.orders import RefundStatus
from models.staff import StaffRole
from tests import factories
from tests.services.payments.conftest import reload, submit_form
from tests.services.payments.test_refunds import paid_through_simulator, refunds_of


def test_the_refund_page_follows_up_every_waiting_refund_with_one_button(
    client, pay_sim, staff_client
):
    _, _, order = paid_through_simulator(client, pay_sim)
    pay_sim.fail_next("refund", 500, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
    staff_client.refund(order, "学员申请退费")
    [refund] = refunds_of(order)
    assert refund.status is RefundStatus.REQUESTED and pay_sim.refunds == {}

    page = staff_client.client.get("/admin/refunds").get_data(as_text=True)
    assert "flask" not in page and "sync-refunds" not in page
    assert "立即核对全部待处理退款（1 笔）" in page
    response = submit_form(staff_client.client, "/admin/refunds/sync", {}, page="/admin/refunds")
    assert response.status_code == 302
    done = staff_client.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已核对 1 笔退款：退款处理中 1 笔" in done
    db.session.expire_all()
    assert refund.status is RefundStatus.PROCESSING
    assert list(pay_sim.refunds) == [refund.out_refund_no]
    pay_sim.advance(3)
    assert reload(order).refunded_fen == 3000

    again = submit_form(staff_client.client, "/admin/refunds/sync", {}, page="/admin/refunds")
    assert "没有需要核对的退款" in staff_client.client.get(again.headers["Location"]).get_data(
        as_text=True
    )


def test_the_order_page_says_the_payment_events_in_words(client, pay_sim, staff_client):
    _, _, order = paid_through_simulator(client, pay_sim)
    staff_client.refund(order, "学员申请退费")
    pay_sim.advance(3)
    page = staff_client.client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    notes = page[page.index("<h2>支付通知") :]
    assert "<td>支付成功</td>" in notes and "<td>退款成功</td>" in notes
    assert "TRANSACTION.SUCCESS" not in page and "REFUND.SUCCESS" not in page


def test_the_button_is_for_finance_staff_only(app):
    staff = factories.staff(StaffRole.STAFF)
    console = app.test_client()
    submit_form(
        console, "/admin/login", {"username": staff.username, "password": factories.PASSWORD}
    )
    response = submit_form(console, "/admin/refunds/sync", {}, page="/admin/")
    assert response.status_code == 403
