"""The public certificate check that the certificate's QR code opens: /verify/<number>."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from infra.extensions import limiter
from services.paperwork import certificates

bp = Blueprint("verify", __name__, url_prefix="/verify")


def _limit() -> str:
    return current_app.config["VERIFY_LIMIT_PER_IP"]


@bp.get("/", endpoint="search")
@limiter.limit(_limit)
def search():
    number = request.args.get("number", "")
    if number.strip():
        return redirect(url_for("verify.certificate", number=certificates.normalise_number(number)))
    return render_template("verify/search.html")


@bp.get("/<path:number>", endpoint="certificate")
@limiter.limit(_limit)
def certificate(number: str):
    result = certificates.verify(number)
    if result is None:
        return render_template("verify/not_found.html", number=number[:40]), 404
    return render_template("verify/result.html", result=result)
