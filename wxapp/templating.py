"""Jinja filters shared by the H5 pages and the console."""

from __future__ import annotations

from flask import Flask

from services import display
from services.payments import orders


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        mask_id=display.mask_id_number,
        mask_phone=display.mask_phone,
        mask_name=display.mask_name,
        yuan=display.yuan,
        local_time=display.local_time,
        local_date=display.local_date,
        tone=display.status_tone,
        buyer_status=orders.buyer_status_label,
        buyer_status_key=orders.buyer_status_key,
    )
    app.jinja_env.globals["app_env"] = app.config["APP_ENV"]
