"""Factories for test data: valid, unique, and flushed (never committed)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from sqlalchemy import select

from infra.extensions import db
from models.accounts import AccountSource, Learner, WechatBinding
from models.base import utcnow
from models.catalog import Chapter, Course, Plan, PlanKind, Question
from models.enrollments import Enrollment, EnrollmentSource
from models.orders import (
    Order,
    OrderKind,
    OrderSeat,
    OrderStatus,
    Payment,
    PaymentSource,
    SeatStatus,
)
from models.org import District, Unit
from models.staff import StaffRole, StaffUser
from services.accounts import passwords
from services.accounts.identity import id_check_character, parse_id_number
from services.accounts.org import new_unit_code

PASSWORD = "Passw0rd2022"
_sequence = itertools.count(1)


def valid_id_number(
    area: str = "500103", birth: date = date(1988, 6, 1), *, male: bool = True
) -> str:
    """A unique, valid ID number (a fresh sequence number each call)."""
    n = next(_sequence)
    # The sequence's last digit is odd for men, even for women: 500 numbers per birth date.
    seq = f"{(2 * n + (1 if male else 0)) % 1000:03d}"
    # Vary the birth date too, so more than 500 stay unique.
    birth = date(birth.year - (n // 500) % 50, birth.month, birth.day)
    first17 = f"{area}{birth:%Y%m%d}{seq}"
    return first17 + id_check_character(first17)


def unique_phone() -> str:
    return f"139{next(_sequence):08d}"


def district(code: str = "500103") -> District:
    return db.session.scalar(select(District).where(District.code == code))


def unit(name: str | None = None, district_code: str = "500103") -> Unit:
    unit = Unit(
        name=name or f"测试单位{next(_sequence)}",
        district_id=district(district_code).id,
        code=new_unit_code(),
    )
    db.session.add(unit)
    db.session.flush()
    return unit


def learner(
    *,
    name: str = "张三",
    id_number: str | None = None,
    phone: str | None = None,
    password: str | None = PASSWORD,
    unit_obj: Unit | None = None,
    must_change_password: bool = False,
    source: AccountSource = AccountSource.SELF,
) -> Learner:
    id_number = id_number or valid_id_number()
    resident = parse_id_number(id_number)
    unit_obj = unit_obj or unit()
    learner = Learner(
        name=name,
        id_number=id_number,
        phone=phone or unique_phone(),
        gender=resident.gender,
        birth_date=resident.birth_date,
        unit_id=unit_obj.id,
        district_id=unit_obj.district_id,
        password_hash=passwords.hash_password(password) if password else None,
        must_change_password=must_change_password,
        source=source,
    )
    db.session.add(learner)
    db.session.flush()
    return learner


def staff(
    role: StaffRole = StaffRole.ADMIN, *, unit_obj: Unit | None = None, password: str = PASSWORD
) -> StaffUser:
    user = StaffUser(
        username=f"staff{next(_sequence)}",
        name="工作人员",
        password_hash=passwords.hash_password(password),
        role=role,
        unit_id=unit_obj.id if unit_obj else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


# --- catalogue and enrollments -------------------------------------------------------------


def plan(
    *,
    year: int = 2022,
    kind: PlanKind = PlanKind.CURRENT,
    price_fen: int = 3000,
    required_hours: int = 30,
    courses: int = 0,
    chapters_per_course: int = 1,
    chapter_seconds: int = 60,
    hours_per_course: int = 3,
    published: bool = True,
) -> Plan:
    """A plan open for sale and study now, with ``courses`` courses of short chapters."""
    now = utcnow()
    plan = Plan(
        year=year,
        kind=kind,
        title=f"重庆市{year}年专技人员继续教育公需科目培训"
        + ("" if kind is PlanKind.CURRENT else "（补学）"),
        price_fen=price_fen,
        required_hours=required_hours,
        minutes_per_hour=45,
        chapter_threshold_percent=95,
        sale_starts_at=now - timedelta(days=30),
        sale_ends_at=now + timedelta(days=30),
        study_ends_at=now + timedelta(days=30),
        is_published=published,
    )
    db.session.add(plan)
    db.session.flush()
    for index in range(courses):
        course(
            plan,
            title=f"课程{index + 1}",
            hours=hours_per_course,
            chapters=chapters_per_course,
            chapter_seconds=chapter_seconds,
            sort_order=index,
        )
    return plan


def course(
    plan_obj: Plan,
    *,
    title: str = "数字经济概论",
    hours: int = 3,
    chapters: int = 1,
    chapter_seconds: int = 60,
    sort_order: int = 0,
) -> Course:
    course = Course(plan_id=plan_obj.id, title=title, hours=hours, sort_order=sort_order)
    db.session.add(course)
    db.session.flush()
    for index in range(chapters):
        chapter(
            course, title=f"第{index + 1}章", duration_seconds=chapter_seconds, sort_order=index
        )
    return course


def chapter(
    course_obj: Course, *, title: str = "第1章", duration_seconds: int = 60, sort_order: int = 0
) -> Chapter:
    chapter = Chapter(
        course_id=course_obj.id,
        title=title,
        duration_seconds=duration_seconds,
        media_url=f"/static/media/demo-{duration_seconds}s.webm",
        sort_order=sort_order,
    )
    db.session.add(chapter)
    db.session.flush()
    return chapter


def question(course_obj: Course | None = None, *, answer_index: int = 1) -> Question:
    question = Question(
        course_id=course_obj.id if course_obj else None,
        stem="专业技术人员每年应完成多少学时的公需科目学习？",
        options=["10学时", "30学时", "60学时"],
        answer_index=answer_index,
    )
    db.session.add(question)
    db.session.flush()
    return question


def enrollment(
    learner_obj: Learner,
    plan_obj: Plan,
    *,
    source: EnrollmentSource = EnrollmentSource.ORDER,
    order_obj: Order | None = None,
) -> Enrollment:
    enrollment = Enrollment(
        learner_id=learner_obj.id,
        plan_id=plan_obj.id,
        source=source,
        order_id=order_obj.id if order_obj else None,
    )
    db.session.add(enrollment)
    db.session.flush()
    return enrollment


def paid_order(
    learner_obj: Learner,
    plan_obj: Plan,
    *,
    paid_at: datetime | None = None,
    seats: list[Learner] | None = None,
) -> Order:
    """A paid order with its payment and enrollments, as the payment notification leaves it."""
    seat_learners = seats or [learner_obj]
    paid_at = paid_at or utcnow()
    number = next(_sequence)
    order = Order(
        out_trade_no=f"T{paid_at:%Y%m%d}{number:010d}",
        buyer_id=learner_obj.id,
        plan_id=plan_obj.id,
        kind=OrderKind.GROUP if seats else OrderKind.INDIVIDUAL,
        seat_count=len(seat_learners),
        unit_price_fen=plan_obj.price_fen,
        amount_fen=plan_obj.price_fen * len(seat_learners),
        status=OrderStatus.PAID,
        expires_at=paid_at + timedelta(minutes=30),
        paid_at=paid_at,
        created_at=paid_at - timedelta(minutes=1),
    )
    db.session.add(order)
    db.session.flush()
    for seat_learner in seat_learners:
        db.session.add(
            OrderSeat(order_id=order.id, learner_id=seat_learner.id, status=SeatStatus.ACTIVE)
        )
        enrollment(seat_learner, plan_obj, order_obj=order)
    db.session.add(
        Payment(
            order_id=order.id,
            transaction_id=f"42000{number:023d}",
            amount_fen=order.amount_fen,
            success_time=paid_at,
            source=PaymentSource.NOTIFY,
            raw={},
        )
    )
    db.session.flush()
    return order


# --- certificates, invoices and make-up study ----------------------------------------------


def completed_enrollment(
    learner_obj: Learner,
    plan_obj: Plan,
    *,
    hours: int | None = None,
    completed_at: datetime | None = None,
) -> Enrollment:
    """A plan bought and finished, as the study ledger leaves it."""
    order = paid_order(learner_obj, plan_obj)
    enrollment = db.session.scalar(
        select(Enrollment).where(
            Enrollment.learner_id == learner_obj.id, Enrollment.plan_id == plan_obj.id
        )
    )
    enrollment.order_id = order.id
    enrollment.earned_hours = plan_obj.required_hours if hours is None else hours
    enrollment.completed_at = completed_at or utcnow()
    db.session.flush()
    return enrollment


def makeup_plan(year: int = 2019, *, price_fen: int = 3000) -> Plan:
    return plan(year=year, kind=PlanKind.MAKEUP, price_fen=price_fen)


def image_bytes(
    size: tuple[int, int] = (390, 844), fmt: str = "PNG", *, exif: bytes | None = None
) -> bytes:
    """A small picture like a phone screenshot."""
    import io

    from PIL import Image, ImageDraw

    picture = Image.new("RGB", size, (245, 245, 245))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((10, 10, size[0] - 10, 60), fill=(7, 193, 96))
    draw.text((20, 80), "Payment 30.00", fill=(0, 0, 0))
    out = io.BytesIO()
    options = {"exif": exif} if exif else {}
    picture.save(out, fmt, **options)
    return out.getvalue()


def bind_wechat(learner_obj: Learner, openid: str | None = None) -> WechatBinding:
    """The learner's WeChat, as OAuth leaves it after login inside WeChat."""
    binding = WechatBinding(
        openid=openid or f"oTEST{next(_sequence):012d}", learner_id=learner_obj.id
    )
    db.session.add(binding)
    db.session.flush()
    return binding
