"""Learners (专技人员) and the WeChat identities bound to them."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, UTCDateTime, enum_type, utcnow
from models.org import District, Unit


class Gender(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"

    @property
    def label(self) -> str:
        return "男" if self is Gender.MALE else "女"


class AccountSource(enum.StrEnum):
    SELF = "self"  # registered on the H5 page
    ROSTER = "roster"  # created from a unit's roster by staff
    LEGACY = "legacy"  # carried over from the earlier platform

    @property
    def label(self) -> str:
        return {
            AccountSource.SELF: "自主注册",
            AccountSource.ROSTER: "单位名单导入",
            AccountSource.LEGACY: "原平台账号",
        }[self]


class Learner(Model):
    __tablename__ = "learners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str | None] = mapped_column(String(11), unique=True)
    gender: Mapped[Gender] = mapped_column(enum_type(Gender, 8))
    birth_date: Mapped[date]
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # The district that holds the person's file, when the unit is not in the list.
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    # None means the account still has its initial password (the ID number's last 6
    # characters), which is derivable and so is not hashed at import time.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    source: Mapped[AccountSource] = mapped_column(
        enum_type(AccountSource), default=AccountSource.SELF
    )
    roster_import_id: Mapped[int | None] = mapped_column(ForeignKey("roster_imports.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Deleted at the learner's request: the personal data is gone, what the law keeps stays.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    unit: Mapped[Unit | None] = relationship()
    district: Mapped[District | None] = relationship()
    binding: Mapped[WechatBinding | None] = relationship(back_populates="learner", uselist=False)

    def __repr__(self) -> str:
        return f"<Learner {self.id}>"


class WechatBinding(Model):
    """One WeChat (openid) per account, one account per WeChat."""

    __tablename__ = "wechat_bindings"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    learner: Mapped[Learner] = relationship(back_populates="binding")
