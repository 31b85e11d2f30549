"""What the study ledger has made durable: per learner and chapter, the covered parts of the media."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
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
    # Raised by every withdrawal of this chapter's credit: the ledger's snapshots carry the
    # generation they were read from, and the write-behind writes only the current one's.
    generation: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class StudySession(Model):
    """The evidence of one playback session, kept as long as a certificate must be checkable:
    opened by ``POST /api/study/sessions`` (who, what, from where, on what device), its
    counters written by the write-behind in batches from the ledger's session hash."""

    __tablename__ = "study_sessions"
    __table_args__ = (Index("ix_study_sessions_learner_chapter", "learner_id", "chapter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_key: Mapped[str] = mapped_column(String(32), unique=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"))
    chapter_id: Mapped[int] = mapped_column(ForeignKey("chapters.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    device: Mapped[str] = mapped_column(String(40), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    heartbeats_accepted: Mapped[int] = mapped_column(default=0)
    # Refused heartbeats by the ledger's code (stale, too_soon, superseded, closed, absurd).
    refusals: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Accepted heartbeats that counted nothing, by reason (jump, gap, rate, paused, …).
    uncounted: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    credited_seconds: Mapped[int] = mapped_column(default=0)
    media_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    questions_asked: Mapped[int] = mapped_column(default=0)
    answers: Mapped[int] = mapped_column(default=0)
    wrong_answers: Mapped[int] = mapped_column(default=0)
    answer_latencies_ms: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # The rhythm of the reports: how many intervals between reports passed the ledger's
    # checks, their sum (ms) and their sum of squares (ms²), for the machine-timing signal.
    report_intervals: Mapped[int] = mapped_column(default=0, server_default="0")
    report_interval_sum_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    report_interval_squares_ms2: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0"
    )
    # The whole-second [start, end) spans of the chapter this session newly covered (what
    # its credit paid for): withdrawing the session takes back exactly these.
    covered_spans: Mapped[list[Any]] = mapped_column(JSONType, default=list, server_default="[]")
    # Staff withdrew this session's credit, and why.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdraw_reason: Mapped[str] = mapped_column(String(200), default="")
