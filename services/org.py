"""Districts and units: lookup and search for forms, creation for rosters."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from models.org import District, Unit
from services.errors import ValidationError
from services.identity import normalise_text
from wxapp.extensions import db

_UNIT_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def list_districts() -> list[District]:
    return list(db.session.scalars(select(District).order_by(District.sort_order, District.id)))


def get_district(district_id: int | None) -> District:
    district = db.session.get(District, district_id) if district_id else None
    if district is None:
        raise ValidationError("district_id", "请选择档案所在区县。")
    return district


def find_district_by_name(raw: str | None) -> District | None:
    """Matches 渝中区 and also 渝中 or 重庆市渝中区, as rosters write them."""
    name = normalise_text(raw).replace(" ", "").removeprefix("重庆市").removeprefix("重庆")
    if not name:
        return None
    for district in list_districts():
        if name == district.name or (len(name) >= 2 and district.name.startswith(name)):
            return district
    return None


def get_unit(unit_id: int | None) -> Unit:
    unit = db.session.get(Unit, unit_id) if unit_id else None
    if unit is None:
        raise ValidationError("unit_id", "请选择工作单位。")
    return unit


def search_units(query: str, *, district_id: int | None = None, limit: int = 20) -> list[Unit]:
    text = normalise_text(query).replace(" ", "")
    if len(text) < 2:
        return []
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    statement = select(Unit).where(Unit.name.like(f"%{escaped}%", escape="\\"))
    if district_id:
        statement = statement.where(Unit.district_id == district_id)
    return list(db.session.scalars(statement.order_by(Unit.name).limit(limit)))


def new_unit_code() -> str:
    return "".join(secrets.choice(_UNIT_CODE_ALPHABET) for _ in range(8))


def find_or_create_unit(district: District, raw_name: str) -> Unit:
    name = normalise_text(raw_name).replace(" ", "")
    if not name:
        raise ValidationError("unit_name", "单位全称不能为空。")
    unit = db.session.scalar(select(Unit).where(Unit.district_id == district.id, Unit.name == name))
    if unit is None:
        unit = Unit(name=name, district_id=district.id, code=new_unit_code())
        db.session.add(unit)
        db.session.flush()
    return unit
