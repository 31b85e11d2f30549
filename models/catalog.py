"""Training plans (学习计划) per year, their courses, chapters and 防挂机 questions.

Rules that differ by province and year live here as data: the 学时 required, minutes per
学时, the share of a chapter that must be watched, and the study window.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import JSONType, Model, UTCDateTime, enum_type, utcnow


class PlanKind(enum.StrEnum):
    CURRENT = "current"  # the year's 公需科目 plan
    MAKEUP = "makeup"  # 补学 of a past year (2011-2021)

    @property
    def label(self) -> str:
        return "本年度" if self is PlanKind.CURRENT else "补学"


class Plan(Model):
    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("year", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    kind: Mapped[PlanKind] = mapped_column(enum_type(PlanKind))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    price_fen: Mapped[int]
    required_hours: Mapped[int] = mapped_column(default=30)
    minutes_per_hour: Mapped[int] = mapped_column(default=45)
    # Share of a chapter's duration that must be covered for its green check.
    chapter_threshold_percent: Mapped[int] = mapped_column(default=95)
    # At most this many 学时 a day per learner, where the province sets a cap (None: none).
    daily_cap_hours: Mapped[int | None] = mapped_column()
    sale_starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sale_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    study_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_published: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    courses: Mapped[list[Course]] = relationship(
        back_populates="plan", order_by="Course.sort_order, Course.id"
    )

    def __repr__(self) -> str:
        return f"<Plan {self.year} {self.kind}>"


class Course(Model):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    lecturer: Mapped[str] = mapped_column(String(60), default="")
    hours: Mapped[int]
    description: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)

    plan: Mapped[Plan] = relationship(back_populates="courses")
    chapters: Mapped[list[Chapter]] = relationship(
        back_populates="course", order_by="Chapter.sort_order, Chapter.id"
    )


class Chapter(Model):
    __tablename__ = "chapters"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    duration_seconds: Mapped[int]
    media_url: Mapped[str] = mapped_column(String(500))
    sort_order: Mapped[int] = mapped_column(default=0)

    course: Mapped[Course] = relationship(back_populates="chapters")


class Question(Model):
    """A 防挂机 question; without a course it belongs to the generic bank."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), index=True)
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]] = mapped_column(JSONType)
    answer_index: Mapped[int]
    is_active: Mapped[bool] = mapped_column(default=True)
