"""Providers' notifications: WeChat Pay's ``POST /pay/notify`` (payments),
``POST /pay/refund-notify``, ``POST /pay/complaint-notify`` and ``POST /pay/fapiao-notify``
(数电 invoices), and Alipay's
``POST /pay/alipay/notify``.

WeChat Pay retries anything but 200/204 on its schedule, so a refusal answers 4xx with
``{"code": "FAIL", "message": …}`` and an accepted or duplicate notification answers 204.
Alipay retries until it reads ``success``: accepted and duplicate ones get that; a refusal
gets ``fail`` with a 4xx.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, jsonify, request

from infra.transaction import commit
from services.paperwork import fapiao
from services.payments import notifications

bp = Blueprint("pay", __name__, url_prefix="/pay")


@bp.before_request
def _bound_the_body() -> None:
    # A notification is a few KB: a larger body is refused (413) before it is read.
    limit = int(current_app.config["PAY_NOTIFY_MAX_BYTES"])
    if (request.content_length or 0) > limit:
        abort(413)
    request.max_content_length = limit


def _answer(answer: notifications.NotificationAnswer):
    if answer.accepted:
        return "", 204
    return jsonify({"code": "FAIL", "message": answer.message}), answer.status


@bp.post("/notify")
def transaction_notify():
    answer = notifications.receive_transaction_notification(
        request.headers, request.get_data(as_text=True)
    )
    commit()
    return _answer(answer)


@bp.post("/refund-notify")
def refund_notify():
    answer = notifications.receive_refund_notification(
        request.headers, request.get_data(as_text=True)
    )
    commit()
    return _answer(answer)


@bp.post("/complaint-notify")
def complaint_notify():
    answer = notifications.receive_complaint_notification(
        request.headers, request.get_data(as_text=True)
    )
    commit()
    return _answer(answer)


@bp.post("/fapiao-notify")
def fapiao_notify():
    answer = fapiao.receive_notification(request.headers, request.get_data(as_text=True))
    commit()
    return _answer(answer)


@bp.post("/alipay/notify")
def alipay_notify():
    fields = request.form.to_dict()
    answer = notifications.receive_alipay_notification(fields, urlencode(fields))
    commit()
    text = "success" if answer.accepted else "fail"
    return Response(text, status=200 if answer.accepted else answer.status, mimetype="text/plain")
