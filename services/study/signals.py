"""学习异常: signals that flag study sessions for staff, from the sessions' evidence.

Each signal is computed from ``study_sessions`` over a recent window (``WINDOW_DAYS``), in a
fixed number of queries:

- ``shared_address``: ``ACCOUNTS_PER_ADDRESS`` or more accounts studying from one address
  on one day (a farm of accounts behind one connection);
- ``fast_answers``: 防挂机 answers faster than a person reads a question
  (``READING_MS``);
- ``night``: a session started in the small hours (00:00–05:00, UTC+8) that was credited at
  least ``NIGHT_SECONDS``: study through the night without pause;
- ``machine_timing``: reports arriving at a regularity no phone keeps: over at least
  ``TIMING_MIN_INTERVALS`` intervals between reports, a coefficient of variation (standard
  deviation over mean) below ``TIMING_MAX_CV``. The player spaces its reports at random
  within ±15% of the heartbeat period (a coefficient near 0.09, more with pauses, questions
  and a changing network); a script's fixed timer shows a few milliseconds of jitter on 12 s
  (about 0.001). The ledger keeps the count, sum and sum of squares of the intervals;
- ``no_media``: reports of spans whose media the session never fetched through its signed
  URL (refused ``no_media``, ``NO_MEDIA_REPORTS`` or more in one session).

The honest learner (the browser test of the player) raises none of them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner
from models.catalog import Chapter
from models.study import StudySession
from services.display import local_time

WINDOW_DAYS = 7
ACCOUNTS_PER_ADDRESS = 3
READING_MS = 2000
NIGHT_SECONDS = 1800
NO_MEDIA_REPORTS = 3
TIMING_MIN_INTERVALS = 20
TIMING_MAX_CV = 0.03
LOCAL_OFFSET = timedelta(hours=8)
LIMIT = 5000


@dataclass
class Flag:
    code: str
    label: str
    evidence: str


@dataclass
class FlaggedLearner:
    learner_id: int
    name: str
    id_number: str
    flags: list[Flag] = field(default_factory=list)
    sessions: list[StudySession] = field(default_factory=list)


LABELS = {
    "shared_address": "同一地址多账号同时学习",
    "fast_answers": "答题快于正常阅读",
    "night": "深夜长时间连续学习",
    "no_media": "上报播放但未加载视频",
    "machine_timing": "上报间隔机械规律",
}


def timing_variation(session: StudySession) -> float | None:
    """The coefficient of variation of a session's intervals between reports, or ``None``
    below ``TIMING_MIN_INTERVALS`` of them."""
    count = session.report_intervals or 0
    if count < TIMING_MIN_INTERVALS or session.report_interval_sum_ms <= 0:
        return None
    mean = session.report_interval_sum_ms / count
    variance = max(0.0, session.report_interval_squares_ms2 / count - mean * mean)
    return math.sqrt(variance) / mean


def flagged(now: datetime) -> list[FlaggedLearner]:
    """The learners with at least one signal in the window, with the evidence and their
    flagged sessions (three queries)."""
    since = now - timedelta(days=WINDOW_DAYS)
    sessions = list(
        db.session.scalars(
            select(StudySession)
            .where(StudySession.started_at >= since, StudySession.withdrawn_at.is_(None))
            .order_by(StudySession.started_at.desc())
            .limit(LIMIT)
        )
    )
    flags: dict[int, list[Flag]] = defaultdict(list)
    flagged_sessions: dict[int, dict[int, StudySession]] = defaultdict(dict)

    by_address: dict[tuple[str, str], dict[int, list[StudySession]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for session in sessions:
        if session.address:
            day = (session.started_at + LOCAL_OFFSET).date().isoformat()
            by_address[(session.address, day)][session.learner_id].append(session)
    for (address, day), accounts in by_address.items():
        if len(accounts) >= ACCOUNTS_PER_ADDRESS:
            for learner_id, own in accounts.items():
                flags[learner_id].append(
                    Flag(
                        "shared_address",
                        LABELS["shared_address"],
                        f"{day} 地址 {address} 共 {len(accounts)} 个账号学习",
                    )
                )
                flagged_sessions[learner_id].update({s.id: s for s in own})

    for session in sessions:
        fast = [ms for ms in session.answer_latencies_ms or [] if int(ms) < READING_MS]
        if fast:
            flags[session.learner_id].append(
                Flag(
                    "fast_answers",
                    LABELS["fast_answers"],
                    f"{local_time(session.started_at)} 的学习中 {len(fast)} 次答题用时不到 "
                    f"{READING_MS // 1000} 秒（最快 {min(int(ms) for ms in fast)} 毫秒）",
                )
            )
            flagged_sessions[session.learner_id][session.id] = session
        unfetched = int((session.uncounted or {}).get("no_media", 0))
        if unfetched >= NO_MEDIA_REPORTS:
            flags[session.learner_id].append(
                Flag(
                    "no_media",
                    LABELS["no_media"],
                    f"{local_time(session.started_at)} 的学习中 {unfetched} 次上报的内容从未加载",
                )
            )
            flagged_sessions[session.learner_id][session.id] = session
        variation = timing_variation(session)
        if variation is not None and variation < TIMING_MAX_CV:
            mean = session.report_interval_sum_ms / session.report_intervals
            flags[session.learner_id].append(
                Flag(
                    "machine_timing",
                    LABELS["machine_timing"],
                    f"{local_time(session.started_at)} 的学习中 {session.report_intervals} 次"
                    f"上报间隔平均 {mean / 1000:.2f} 秒，标准差 {variation * mean:.0f} 毫秒"
                    f"（变异系数 {variation:.3f}，低于 {TIMING_MAX_CV}）",
                )
            )
            flagged_sessions[session.learner_id][session.id] = session
        local_start = session.started_at + LOCAL_OFFSET
        if local_start.hour < 5 and session.credited_seconds >= NIGHT_SECONDS:
            flags[session.learner_id].append(
                Flag(
                    "night",
                    LABELS["night"],
                    f"{local_time(session.started_at)} 开始，计入 "
                    f"{session.credited_seconds // 60} 分钟",
                )
            )
            flagged_sessions[session.learner_id][session.id] = session
    if not flags:
        return []
    learners = {
        row.id: row
        for row in db.session.scalars(select(Learner).where(Learner.id.in_(list(flags))))
    }
    result = []
    for learner_id, learner_flags in flags.items():
        learner = learners.get(learner_id)
        if learner is None:
            continue
        result.append(
            FlaggedLearner(
                learner_id=learner_id,
                name=learner.name,
                id_number=learner.id_number,
                flags=learner_flags,
                sessions=sorted(
                    flagged_sessions[learner_id].values(), key=lambda s: s.started_at, reverse=True
                ),
            )
        )
    return sorted(result, key=lambda item: (-len(item.flags), item.learner_id))


def chapter_titles(items: list[FlaggedLearner]) -> dict[int, str]:
    ids = {session.chapter_id for item in items for session in item.sessions}
    if not ids:
        return {}
    return dict(
        db.session.execute(select(Chapter.id, Chapter.title).where(Chapter.id.in_(ids)))
        .tuples()
        .all()
    )
