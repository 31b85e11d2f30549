"""Demo certificates, invoices and make-up applications.

Works whether or not the catalogue's demo plans exist: it uses the plans it finds and creates
a current-year and a make-up plan only when there are none. Every step is skipped when its
result is already there, so seeding again changes nothing.
"""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image, ImageDraw
from sqlalchemy import select

from models.accounts import Learner
from models.base import utcnow
from models.catalog import Plan, PlanKind
from models.enrollments import Enrollment, EnrollmentSource, EnrollmentStatus
from models.invoices import Invoice
from models.makeup import MakeupApplication
from models.orders import (
    Order,
    OrderKind,
    OrderSeat,
    OrderStatus,
    Payment,
    PaymentSource,
    SeatStatus,
)
from services import certificates, invoices, makeup
from services.cjk_fonts import font_chain
from services.demo.org_and_people import LEARNERS, demo_id_number
from services.display import LOCAL_TZ
from wxapp.extensions import db


def _learner(name: str) -> Learner | None:
    for demo_name, area, birth, seq, *_ in LEARNERS:
        if demo_name == name:
            number = demo_id_number(area, birth, seq)
            return db.session.scalar(select(Learner).where(Learner.id_number == number))
    return None


def _plan(kind: PlanKind, year: int, title: str) -> Plan:
    plan = db.session.scalar(
        select(Plan)
        .where(Plan.kind == kind, Plan.is_published.is_(True))
        .order_by(Plan.year.desc())
    )
    if plan is not None:
        return plan
    now = utcnow()
    plan = Plan(
        year=year,
        kind=kind,
        title=title,
        description="",
        price_fen=3000,
        required_hours=30,
        sale_starts_at=now - timedelta(days=60),
        sale_ends_at=now + timedelta(days=300),
        study_ends_at=now + timedelta(days=300),
        is_published=True,
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def _completed_purchase(learner: Learner, plan: Plan) -> None:
    """A paid order whose plan the learner has finished, as payment and study leave it."""
    now = utcnow()
    paid_at = now - timedelta(days=20)
    order = Order(
        out_trade_no=f"DEMO{plan.year}{learner.id:06d}",
        buyer_id=learner.id,
        plan_id=plan.id,
        kind=OrderKind.INDIVIDUAL,
        seat_count=1,
        unit_price_fen=plan.price_fen,
        amount_fen=plan.price_fen,
        status=OrderStatus.PAID,
        expires_at=paid_at + timedelta(minutes=30),
        paid_at=paid_at,
        created_at=paid_at - timedelta(minutes=2),
    )
    db.session.add(order)
    db.session.flush()
    db.session.add(OrderSeat(order_id=order.id, learner_id=learner.id, status=SeatStatus.ACTIVE))
    db.session.add(
        Payment(
            order_id=order.id,
            transaction_id=f"4200DEMO{plan.year}{learner.id:010d}",
            amount_fen=order.amount_fen,
            success_time=paid_at,
            source=PaymentSource.NOTIFY,
            raw={},
        )
    )
    db.session.add(
        Enrollment(
            learner_id=learner.id,
            plan_id=plan.id,
            source=EnrollmentSource.ORDER,
            order_id=order.id,
            status=EnrollmentStatus.ACTIVE,
            earned_hours=plan.required_hours,
            completed_at=now - timedelta(days=2),
        )
    )
    db.session.flush()


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
    current = _plan(PlanKind.CURRENT, 2022, "重庆市2022年专技人员继续教育公需科目培训")
    past = _plan(PlanKind.MAKEUP, 2019, "重庆市2019年专技人员继续教育公需科目培训（补学）")

    zhang = _learner("张伟")
    if zhang is not None:
        enrollment = db.session.scalar(
            select(Enrollment).where(
                Enrollment.learner_id == zhang.id, Enrollment.plan_id == current.id
            )
        )
        if enrollment is None:
            _completed_purchase(zhang, current)

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
            and order.paid_at.astimezone(LOCAL_TZ).year == utcnow().astimezone(LOCAL_TZ).year
        ):
            invoices.request_invoice(
                order_id=order.id,
                learner_id=zhang.id,
                request=invoices.InvoiceRequest(title_type="personal", email="zhangwei@example.cn"),
            )
            notes.append("invoice application of 张伟 waits in the console (/admin/invoices)")

    lina = _learner("李娜")
    if (
        lina is not None
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
