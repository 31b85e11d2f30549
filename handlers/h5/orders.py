"""Individual purchase: confirm, pay (WeixinJSBridge inside WeChat; on a PC a WeChat Pay QR
code or Alipay's cashier; in a phone browser WeChat Pay H5 or Alipay), 我的订单, an order's
page with the polling that confirms payment, and cancel."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import qrcode
from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from handlers.forms import apply_errors
from handlers.h5 import bp, learner_required, signed_in_learner
from handlers.h5.purchase_forms import OrderConfirmForm
from infra.transaction import commit
from models.orders import OrderKind, PayChannel
from services import catalog
from services.errors import ServiceError
from services.payments import checkout, orders
from services.payments.channels import Browser


@bp.route("/plans/<int:plan_id>/buy", methods=["GET", "POST"])
@learner_required
def order_confirm(plan_id: int):
    learner = signed_in_learner()
    page = catalog.plan_page(plan_id, learner.id)
    form = OrderConfirmForm()
    if form.validate_on_submit():
        try:
            order = orders.place_individual_order(
                learner_id=learner.id, plan_id=plan_id, invoice=form.invoice_request()
            )
        except ServiceError as error:
            apply_errors(form, error)
        else:
            commit()
            return redirect(url_for("h5.order_pay", order_id=order.id))
    status = 400 if form.is_submitted() else 200
    return render_template("orders/confirm.html", page=page, form=form, learner=learner), status


def _cashier_link(params: dict[str, str], order_id: int) -> str | None:
    """Outside WeChat (development, tests): the simulator's cashier takes the same parameters."""
    cashier = current_app.config["WECHAT_PAY_CASHIER_URL"]
    if not cashier:
        return None
    back = url_for("h5.order_detail", order_id=order_id, paying=1, _external=True)
    return cashier + "?" + urlencode({**params, "redirect_url": back})


def _browser() -> Browser:
    return Browser.from_user_agent(request.user_agent.string)


def _channel(raw: str | None) -> PayChannel | None:
    try:
        return PayChannel(raw) if raw else None
    except ValueError:
        return None


# A fixed directory (/h5/pay/) for the JSAPI 支付授权目录 registered at WeChat Pay: the page
# that calls WeixinJSBridge is /h5/pay/<id> whether it was opened (GET) or posted to.
@bp.get("/pay/<int:order_id>")
@learner_required
def order_pay(order_id: int):
    """The order and the buttons that start paying; opening the page changes nothing (a
    Native QR code made before is shown again with ``?channel=wechat_native``)."""
    page = checkout.pay_offer(
        order_id, signed_in_learner().id, _browser(), _channel(request.args.get("channel"))
    )
    return _pay_page(page)


@bp.post("/pay/<int:order_id>")
@learner_required
def order_prepay(order_id: int):
    """Start paying through the chosen channel (JSAPI when none is named): the page with the
    signed JSAPI parameters, the Native QR code, or off to WeChat Pay H5 / Alipay."""
    channel = _channel(request.form.get("channel")) or PayChannel.WECHAT_JSAPI
    back = url_for("h5.order_detail", order_id=order_id, paying=1, _external=True)
    page = checkout.prepare_payment(
        order_id,
        signed_in_learner().id,
        channel,
        browser=_browser(),
        client_ip=request.remote_addr or "",
        return_url=back,
    )
    commit()
    if page.redirect_url:
        return redirect(page.redirect_url, 303)
    if page.qr is not None:
        return redirect(url_for("h5.order_pay", order_id=order_id, channel=channel.value), 303)
    return _pay_page(page)


def _pay_page(page: checkout.PayPage):
    params = page.params.as_dict() if page.params else None
    scan_link = None
    if page.qr is not None and current_app.config["WECHAT_PAY_CASHIER_URL"]:
        scan_link = (
            current_app.config["WECHAT_PAY_CASHIER_URL"]
            + "?"
            + urlencode({"code_url": page.qr.pay_url})
        )
    return render_template(
        "orders/pay.html",
        page=page,
        params=params,
        in_wechat=_browser().in_wechat,
        cashier_link=_cashier_link(params, page.order.id) if params else None,
        scan_link=scan_link,
    )


@bp.get("/pay/<int:order_id>/qr.png")
@learner_required
def order_pay_qr(order_id: int):
    """The Native code_url of the buyer's order, drawn as a QR code (reads only)."""
    page = checkout.pay_offer(
        order_id, signed_in_learner().id, _browser(), PayChannel.WECHAT_NATIVE
    )
    if page.qr is None or not page.qr.pay_url:
        abort(404)
    image = qrcode.make(page.qr.pay_url, border=2, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return Response(buffer.getvalue(), mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.get("/orders", endpoint="orders")
@learner_required
def orders_list():
    return render_template(
        "orders/list.html",
        orders=orders.list_buyer_orders(signed_in_learner().id, OrderKind.INDIVIDUAL),
    )


@bp.get("/orders/<int:order_id>")
@learner_required
def order_detail(order_id: int):
    return render_template(
        "orders/detail.html",
        view=orders.order_view(order_id, signed_in_learner().id),
        paying=request.args.get("paying") == "1",
    )


# A GET that may write, on purpose: the poll only takes in a payment WeChat Pay reports (what
# the notification would do), once however many polls or tabs ask (the order row is locked,
# the transaction id unique), and queries WeChat Pay at most every few seconds per order.
# Polled twice, prefetched or replayed, it leaves the data as one poll would
# (tests/services/payments/test_safe_requests.py).
@bp.get("/orders/<int:order_id>/status")
@learner_required
def order_status(order_id: int):
    order = checkout.poll_payment(
        order_id, signed_in_learner().id, query=request.args.get("query") == "1"
    )
    commit()
    return jsonify(
        {
            "order_id": order.id,
            "status": order.status.value,
            "label": order.status.label,
            "paid": order.paid_at is not None,
        }
    )


@bp.post("/orders/<int:order_id>/cancel")
@learner_required
def order_cancel(order_id: int):
    try:
        orders.cancel_order(order_id, signed_in_learner().id)
    except ServiceError as error:
        flash(error.message, "error")
    else:
        commit()
        flash("订单已取消。", "success")
    return redirect(url_for("h5.order_detail", order_id=order_id))
