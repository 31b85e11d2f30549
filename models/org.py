"""Districts (区县 and the zones that act as districts) and the units (单位) under them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, UTCDateTime, enum_type, utcnow


class DistrictKind(enum.StrEnum):
    DISTRICT = "district"  # 区
    COUNTY = "county"  # 县 and 自治县
    ZONE = "zone"  # 两江新区, 高新区, 万盛经开区


class District(Model):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[DistrictKind] = mapped_column(enum_type(DistrictKind))
    sort_order: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<District {self.code} {self.name}>"


class Unit(Model):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("district_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    # Short public code used in QR scene values (``unit:<code>``).
    code: Mapped[str] = mapped_column(String(16), unique=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    district: Mapped[District] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Unit {self.code} {self.name}>"
