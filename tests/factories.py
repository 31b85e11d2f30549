"""Factories for test data: valid, unique, and flushed (never committed)."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import select

from models.accounts import AccountSource, Learner
from models.org import District, Unit
from models.staff import StaffRole, StaffUser
from services import passwords
from services.identity import id_check_character, parse_id_number
from services.org import new_unit_code
from wxapp.extensions import db

PASSWORD = "Passw0rd2022"
_sequence = itertools.count(1)


def valid_id_number(
    area: str = "500103", birth: date = date(1988, 6, 1), *, male: bool = True
) -> str:
    """A unique, valid ID number (a fresh sequence number each call)."""
    n = next(_sequence)
    seq = f"{n % 1000:03d}"
    # Ninth-digit parity decides the gender.
    last = int(seq[2])
    if (last % 2 == 1) != male:
        last = (last + 1) % 10
    seq = seq[:2] + str(last)
    # Vary the birth date too, so more than 500 per gender stay unique.
    birth = date(birth.year - (n // 1000) % 50, birth.month, birth.day)
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
