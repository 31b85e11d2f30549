"""Demo certificates, invoices and make-up applications, on the catalogue's demo plans and the
study seeder's finished plans. Every step is skipped when its result is already there, so
seeding again changes nothing.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner
from models.base import utcnow
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentStatus
from models.invoices import Invoice
from models.makeup import MakeupApplication
from models.orders import (
    Order,
    OrderKind,
)
from services.demo.org_and_people import LEARNERS, demo_id_number
from services.paperwork import certificates, invoices, makeup
from services.paperwork.cjk_fonts import font_chain


def _learner(name: str) -> Learner | None:
    for demo_name, area, birth, seq, *_ in LEARNERS:
        if demo_name == name:
            number = demo_id_number(area, birth, seq)
            return db.session.scalar(select(Learner).where(Learner.id_number == number))
    return None


def _makeup_plan(year: int) -> Plan | None:
    return db.session.scalar(select(Plan).where(Plan.kind == PlanKind.MAKEUP, Plan.year == year))


def _screenshot() -> bytes:
    """A stand-in for a payment page screenshot."""
    picture = Image.new("RGB", (750, 1100), (247, 247, 247))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 750, 120), fill=(7, 193, 96))
    big, text = font_chain("sans-bold", 40), font_chain("sans", 30)
    big.draw(draw, (40, 80), "支付成功", (255, 255, 255))
    lines = [
        "商品：2019年度公需科目网络培训",
        "金额：¥30.00",
        "订单编号：CQ2019052000123",
        "付款人：李娜",
        "支付时间：2019-05-20 10:30",
    ]
    for index, line in enumerate(lines):
        text.draw(draw, (40, 220 + index * 70), line, (34, 34, 34))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def seed() -> list[str]:
    notes: list[str] = []
    zhang = _learner("张伟")

    # Every demo learner who finished a plan gets the certificate.
    complete = db.session.scalars(
        select(Enrollment).where(
            Enrollment.status == EnrollmentStatus.ACTIVE, Enrollment.completed_at.is_not(None)
        )
    )
    for enrollment in list(complete):
        if certificates.is_complete(enrollment) and certificates.workplace_text(enrollment.learner):
            certificate = certificates.issue_certificate(enrollment.learner_id, enrollment.plan_id)
            notes.append(
                f"certificate {certificate.number} for {certificate.holder_name}: "
                f"/verify/{certificate.number}"
            )

    if zhang is not None:
        order = db.session.scalar(
            select(Order)
            .where(
                Order.buyer_id == zhang.id,
                Order.kind == OrderKind.INDIVIDUAL,
                Order.paid_at.is_not(None),
            )
            .order_by(Order.paid_at.desc())
        )
        if (
            order is not None
            and db.session.scalar(select(Invoice.id).where(Invoice.order_id == order.id)) is None
            and invoices.application_refusal(order, utcnow()) is None
        ):
            invoices.request_invoice(
                order_id=order.id,
                learner_id=zhang.id,
                request=invoices.InvoiceRequest(title_type="personal", email="zhangwei@example.cn"),
            )
            notes.append("invoice application of 张伟 waits in the console (/admin/invoices)")

    lina, past = _learner("李娜"), _makeup_plan(2019)
    if (
        lina is not None
        and past is not None
        and db.session.scalar(
            select(MakeupApplication.id).where(MakeupApplication.learner_id == lina.id)
        )
        is None
        and makeup.application_refusal(lina.id, past) is None
    ):
        makeup.submit_voucher(
            lina.id,
            past.id,
            makeup.Voucher(
                order_no="CQ2019052000123",
                payer="李娜",
                paid_at="2019-05-20T10:30",
                platform="重庆某继续教育网",
                screenshot=_screenshot(),
            ),
        )
        notes.append(f"make-up application of 李娜 for {past.year} waits in /admin/makeup")
    return notes
