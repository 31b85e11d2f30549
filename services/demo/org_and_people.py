"""Demo units, learners and staff."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from infra.extensions import db
from models.accounts import AccountSource, Learner, WechatBinding
from models.org import District, Unit
from models.staff import StaffRole, StaffUser
from services.accounts import passwords
from services.accounts.identity import id_check_character, parse_id_number
from services.accounts.staff import create_staff
from services.audit import Actor

DEMO_PASSWORD = "Study2022"
STAFF_PASSWORD = "Admin2022"
SEED_ACTOR = Actor.system("cli:demo seed")

# (name, district code, unit code): units a presenter can search for at registration.
UNITS = [
    ("重庆市渝中区人民医院", "500103", "YZRMYY01"),
    ("重庆市第一中学校", "500106", "CQYZ0001"),
    ("重庆市江北区建筑设计院", "500105", "JBJZSJ01"),
    ("重庆市九龙坡区农业技术推广站", "500107", "JLPNJ001"),
    ("重庆两江新区智能制造研究院", "LJXQ", "LJZNZZ01"),
    ("重庆市万州区第三人民医院", "500101", "WZSY0001"),
]

# (name, area code, birth date, sequence, phone, unit code or None, district code, openid)
LEARNERS = [
    ("张伟", "500103", date(1985, 3, 12), "101", "13800000001", "YZRMYY01", "500103", "oDEMO_zhangwei"),
    ("李娜", "500106", date(1990, 7, 8), "202", "13800000002", "CQYZ0001", "500106", "oDEMO_lina"),
    ("阿依古丽·买买提", "500105", date(1988, 11, 23), "302", "13800000003", "JBJZSJ01", "500105", None),
    ("王芳", "500107", date(1979, 1, 30), "402", "13800000004", None, "500107", None),
]  # fmt: skip

# A roster account: still on its initial password (the last 6 characters of the ID number).
ROSTER_LEARNER = ("刘洋", "500101", date(1992, 5, 17), "511", "13800000005", "WZSY0001", "500101")


def demo_id_number(area: str, birth: date, sequence: str) -> str:
    first17 = f"{area}{birth:%Y%m%d}{sequence}"
    return first17 + id_check_character(first17)


def _district(code: str) -> District:
    return db.session.scalars(select(District).where(District.code == code)).one()


def seed() -> list[str]:
    units: dict[str, Unit] = {}
    for name, district_code, code in UNITS:
        unit = db.session.scalar(select(Unit).where(Unit.code == code))
        if unit is None:
            unit = Unit(name=name, district_id=_district(district_code).id, code=code)
            db.session.add(unit)
        units[code] = unit
    db.session.flush()

    notes = [f"demo learners (password {DEMO_PASSWORD}):"]
    for name, area, birth, seq, phone, unit_code, district_code, openid in LEARNERS:
        id_number = demo_id_number(area, birth, seq)
        unit = units[unit_code] if unit_code else None
        learner = _ensure_learner(name, id_number, phone, unit, district_code, roster=False)
        if (
            openid
            and db.session.scalar(select(WechatBinding).where(WechatBinding.openid == openid))
            is None
        ):
            db.session.add(WechatBinding(openid=openid, learner_id=learner.id))
        notes.append(f"  {name}: {id_number} / {phone}" + (f" (WeChat {openid})" if openid else ""))

    name, area, birth, seq, phone, unit_code, district_code = ROSTER_LEARNER
    id_number = demo_id_number(area, birth, seq)
    _ensure_learner(name, id_number, phone, units[unit_code], district_code, roster=True)
    notes.append(f"  {name}: {id_number}, roster account, initial password {id_number[-6:]}")

    if db.session.scalar(select(StaffUser).where(StaffUser.username == "admin")) is None:
        create_staff(
            username="admin",
            name="系统管理员",
            password=STAFF_PASSWORD,
            role=StaffRole.ADMIN,
            actor=SEED_ACTOR,
        )
    if db.session.scalar(select(StaffUser).where(StaffUser.username == "yzrmyy")) is None:
        create_staff(
            username="yzrmyy",
            name="渝中区人民医院人事科",
            password=STAFF_PASSWORD,
            role=StaffRole.UNIT_ADMIN,
            unit_id=units["YZRMYY01"].id,
            actor=SEED_ACTOR,
        )
    notes.append(
        f"staff console /admin: admin / {STAFF_PASSWORD}; unit admin yzrmyy / {STAFF_PASSWORD}"
    )
    db.session.flush()
    return notes


def _ensure_learner(
    name: str, id_number: str, phone: str, unit: Unit | None, district_code: str, *, roster: bool
) -> Learner:
    learner = db.session.scalar(select(Learner).where(Learner.id_number == id_number))
    if learner is not None:
        return learner
    resident = parse_id_number(id_number)
    learner = Learner(
        name=name,
        id_number=id_number,
        phone=phone,
        gender=resident.gender,
        birth_date=resident.birth_date,
        unit_id=unit.id if unit else None,
        district_id=unit.district_id if unit else _district(district_code).id,
        # Roster accounts keep the derivable initial password until first login.
        password_hash=None if roster else passwords.hash_password(DEMO_PASSWORD),
        must_change_password=roster,
        source=AccountSource.ROSTER if roster else AccountSource.SELF,
    )
    db.session.add(learner)
    db.session.flush()
    return learner
