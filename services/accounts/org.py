"""Districts and units: lookup and search for forms, creation for rosters."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from infra.extensions import db
from models.base import MAX_ROW_ID
from models.org import District, Unit
from services.accounts.identity import clean_text, normalise_code, parse_credit_code
from services.audit import Actor, record_action
from services.errors import ValidationError

_UNIT_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def list_districts() -> list[District]:
    return list(db.session.scalars(select(District).order_by(District.sort_order, District.id)))


def _row_id(value: int | None) -> bool:
    """A number a form sent that could be an id (a larger one would fail in the database)."""
    return value is not None and 0 < value <= MAX_ROW_ID


def get_district(district_id: int | None) -> District:
    district = db.session.get(District, district_id) if _row_id(district_id) else None
    if district is None:
        raise ValidationError("district_id", "请选择档案所在区县。")
    return district


def find_district_by_name(raw: str | None) -> District | None:
    """Matches 渝中区 and also 渝中 or 重庆市渝中区, as rosters write them."""
    name = clean_text(raw).replace(" ", "").removeprefix("重庆市").removeprefix("重庆")
    if not name:
        return None
    for district in list_districts():
        if name == district.name or (len(name) >= 2 and district.name.startswith(name)):
            return district
    return None


def get_unit(unit_id: int | None) -> Unit:
    unit = db.session.get(Unit, unit_id) if _row_id(unit_id) else None
    if unit is None:
        raise ValidationError("unit_id", "请选择工作单位。")
    return unit


def search_units(query: str, *, district_id: int | None = None, limit: int = 20) -> list[Unit]:
    text = clean_text(query).replace(" ", "")
    if len(text) < 2:
        return []
    statement = select(Unit).where(Unit.name.contains(text, autoescape=True))
    if district_id:
        statement = statement.where(Unit.district_id == district_id)
    return list(db.session.scalars(statement.order_by(Unit.name).limit(limit)))


def new_unit_code() -> str:
    return "".join(secrets.choice(_UNIT_CODE_ALPHABET) for _ in range(8))


def find_or_create_unit(district: District, raw_name: str) -> Unit:
    name = clean_text(raw_name).replace(" ", "")
    if not name:
        raise ValidationError("unit_name", "单位全称不能为空。")
    unit = db.session.scalar(select(Unit).where(Unit.district_id == district.id, Unit.name == name))
    if unit is None:
        unit = Unit(name=name, district_id=district.id, code=new_unit_code())
        db.session.add(unit)
        db.session.flush()
    return unit


UNITS_PAGE_SIZE = 50


def list_units(query: str = "", *, district_id: int | None = None, page: int = 1):
    text = clean_text(query).replace(" ", "")
    statement = select(Unit).order_by(Unit.district_id, Unit.name)
    if text:
        statement = statement.where(Unit.name.contains(text, autoescape=True))
    if district_id:
        statement = statement.where(Unit.district_id == district_id)
    return db.paginate(statement, page=page, per_page=UNITS_PAGE_SIZE, error_out=False)


def save_unit(
    *,
    unit_id: int | None,
    name: str,
    district_id: int | None,
    credit_code: str = "",
    actor: Actor,
) -> Unit:
    """Create a unit, or correct one's name, district or credit code (audited)."""
    clean_name = clean_text(name).replace(" ", "")
    if not clean_name or len(clean_name) > 100:
        raise ValidationError("name", "请填写单位全称（不超过100个字）。")
    district = get_district(district_id)
    code = parse_credit_code(credit_code) if normalise_code(credit_code) else None
    clash = db.session.scalar(
        select(Unit).where(
            Unit.district_id == district.id, Unit.name == clean_name, Unit.id != (unit_id or 0)
        )
    )
    if clash is not None:
        raise ValidationError("name", "该区县下已有同名单位。")
    if unit_id is None:
        unit = Unit(
            name=clean_name, district_id=district.id, code=new_unit_code(), credit_code=code
        )
        db.session.add(unit)
        before = None
    else:
        existing = db.session.get(Unit, unit_id)
        if existing is None:
            raise ValidationError(None, "单位不存在。")
        unit = existing
        before = {
            "name": unit.name,
            "district_id": unit.district_id,
            "credit_code": unit.credit_code,
        }
        unit.name, unit.district_id, unit.credit_code = clean_name, district.id, code
    db.session.flush()
    record_action(
        actor,
        action="unit.create" if before is None else "unit.update",
        target_type="unit",
        target_id=unit.id,
        before=before,
        after={"name": unit.name, "district_id": unit.district_id, "credit_code": unit.credit_code},
    )
    return unit
