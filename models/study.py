"""What the study ledger has made durable: per learner and chapter, the covered parts of the media."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSONType, Model, UTCDateTime, utcnow


class ChapterProgress(Model):
    __tablename__ = "chapter_progress"
    __table_args__ = (UniqueConstraint("learner_id", "chapter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"))
    chapter_id: Mapped[int] = mapped_column(ForeignKey("chapters.id"), index=True)
    # Merged [start, end) second intervals of the media actually watched.
    intervals: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    covered_seconds: Mapped[int] = mapped_column(default=0)
    # Study time credited (wall time, never more than what was covered).
    credited_seconds: Mapped[int] = mapped_column(default=0)
    last_position: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
