"""The study ledger: time really watched becomes 学时, nothing else does.

Every decision is taken on the server:

- Starting a chapter opens a playback session (a signed token naming the learner, the
  chapter, the session and the login that opened it). A learner has one active session;
  starting another (second device, second tab) ends the first, whose heartbeats are then
  refused. Logging out or changing the password ends the login in the ledger: no token it
  opened counts again.
- The player sends a heartbeat every 10-15 s: the segment it played (from, position),
  whether it is playing, and the rate. A heartbeat covers its segment only when the
  segment is no longer than the server's wall time since the previous accepted heartbeat
  plus the slack carried over (unused wall time, at most ``STUDY_SLACK_SECONDS``, so
  slack never accumulates). Longer segments (seeking, fast playback, scripts) cover
  nothing. Covered spans are merged, so rewatching earns nothing; credit is the newly
  covered time in whole seconds, paid from the same wall-time budget (so rounding never
  adds up to more than real time). Heartbeats out of sequence or too close together are
  refused.
- 防挂机: questions come at random moments of watched time. While one waits nothing is
  credited and the wait is not carried forward; left unanswered too long, the session is
  paused. Answers are checked on the server.
- A chapter is finished when its covered time reaches the plan's threshold; a course when
  every chapter is; its 学时 then count; the plan is complete at its requirement, which
  queues the "certificate ready" message.

Hot state lives in Redis (``services/study/ledger.py``); the write-behind
(``wxapp/study_flush.py``) copies it to PostgreSQL in batches, and finishing a chapter is
written through at once.
"""

from __future__ import annotations

import functools
import json
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from infra.extensions import db
from models.catalog import Chapter, Course, Plan
from models.enrollments import Enrollment, EnrollmentStatus
from models.study import ChapterProgress, StudySession
from services.display import local_time
from services.errors import NotFound, PermissionDenied, ServiceError, ValidationError
from services.rows import get_row
from services.study import ledger as study_ledger
from services.study import questions as study_questions
from services.study.ledger import ProgressState
from services.wechat import notify

# Segments a heartbeat may carry besides its own: what a player queued while its reports
# were refused or the network was down (12 of them, about two minutes at 12 s a report).
MAX_QUEUED_SEGMENTS = 12


class StudyRefused(ServiceError):
    """A playback request the ledger will not count; ``code`` tells the player what to do."""

    def __init__(self, code: str, message: str, status_code: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code


# What the player shows when time is not being counted, by the ledger's reason.
NOT_COUNTED = {
    "rate": "倍速播放不计学时，请调回 1 倍速播放。",
    "jump": "拖动进度跳过的内容不计学时，请从未学完的位置继续观看。",
    "gap": "长时间没有收到播放记录，这一段不计学时；请保持网络畅通。",
    "paused": "已暂停播放，暂停期间不计学时。",
    "still": "视频没有向前播放，这段时间不计学时。",
    "rewatch": "这部分内容已经学过，重复观看不再计时。",
    "finished": "本章节已学完，重复观看不再计时。",
    "question": "请先回答弹出的问题，回答正确后继续计时。",
    "question_timeout": "长时间未回答问题，学习已暂停；回答正确后继续计时。",
    "daily_cap": "今天的学习已达到本计划每天可计入的学时上限，明天再继续学习。",
    "no_media": "没有收到这段视频的播放数据，这段时间不计学时；请刷新页面后继续观看。",
}

_REFUSALS = {
    "expired": ("session_expired", "学习会话已失效，请刷新页面重新开始学习。", 410),
    "superseded": (
        "superseded",
        "您已在其他设备或页面开始学习，本页面已停止计时。如需在本页面继续，请刷新页面。",
        409,
    ),
    "stale": ("stale", "这次进度上报重复或已过期，已忽略。", 409),
    "too_soon": ("too_soon", "进度上报过于频繁，请稍后再试。", 429),
    "absurd": ("invalid_position", "播放位置超出了视频长度，请刷新页面后重试。", 400),
}


# --- time ----------------------------------------------------------------------------------


def clock() -> float:
    """The ledger's clock in seconds; tests inject their own (``app.extensions``)."""
    source: Callable[[], float] = current_app.extensions.get("study_clock") or time.time
    return source()


def now_ms() -> int:
    return int(clock() * 1000)


def _as_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _rules() -> dict[str, Any]:
    config = current_app.config
    return {
        "min_gap_ms": int(config["STUDY_MIN_HEARTBEAT_SECONDS"] * 1000),
        "slack_seconds": int(config["STUDY_SLACK_SECONDS"]),
        "max_rate": float(config["STUDY_MAX_RATE"]),
        "question_timeout_ms": int(config["STUDY_QUESTION_TIMEOUT_SECONDS"] * 1000),
        "idle_ms": int(config["STUDY_SESSION_IDLE_SECONDS"] * 1000),
        "max_segment_seconds": int(config["STUDY_MAX_SEGMENT_SECONDS"]),
    }


def _question_gap() -> int:
    config = current_app.config
    low = int(config["STUDY_QUESTION_MIN_SECONDS"])
    high = max(low, int(config["STUDY_QUESTION_MAX_SECONDS"]))
    return random.randint(low, high)


# --- session tokens ------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    serializer = current_app.extensions.get("study_token_serializer")
    if serializer is None:
        serializer = URLSafeSerializer(current_app.config["SECRET_KEY"], salt="study-session")
        current_app.extensions["study_token_serializer"] = serializer
    return serializer


@dataclass(frozen=True)
class SessionToken:
    """What a playback session's token names: whose session, which chapter, and the login
    that opened it (its ``session_tag``), which the ledger holds while that login lasts."""

    learner_id: int
    chapter_id: int
    session_id: str
    login_tag: str


def _issue_token(session: SessionToken) -> str:
    return _serializer().dumps(
        [session.learner_id, session.chapter_id, session.session_id, session.login_tag]
    )


# A player sends the same token every 12 s: a verified token is remembered, in a bounded
# LRU per app (about 0.5 KB an entry; a miss costs one signature check, some 15 µs).
TOKEN_CACHE_SIZE = 20_000


def _token_reader() -> Callable[[str], SessionToken]:
    reader: Callable[[str], SessionToken] | None = current_app.extensions.get("study_token_reader")
    if reader is None:
        serializer = _serializer()

        @functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
        def verified(token: str) -> SessionToken:
            # Refusals raise, and what raises is not remembered.
            try:
                learner, chapter, session_id, login_tag = serializer.loads(token)
                return SessionToken(int(learner), int(chapter), str(session_id), str(login_tag))
            except (BadSignature, TypeError, ValueError):
                raise StudyRefused(
                    "session_invalid", "学习会话无效，请刷新页面重新开始学习。", 400
                ) from None

        reader = current_app.extensions["study_token_reader"] = verified
    return reader


def read_token(token: str) -> SessionToken:
    """The session a token names, if we issued it. The token is the heartbeat's and the
    answer's only credential: it is signed, and the ledger refuses it once the session or
    the login that opened it has ended."""
    return _token_reader()(token)


# --- questions -----------------------------------------------------------------------------

# A wrong answer: the credit since the previous question is withdrawn, and the next answer
# waits WRONG_WAIT_SECONDS, doubled by each further wrong answer in a row; after
# WRONG_IN_A_ROW_PAUSE of them the session pauses for WRONG_PAUSE_SECONDS.
WRONG_WAIT_SECONDS = 15
WRONG_IN_A_ROW_PAUSE = 3
WRONG_PAUSE_SECONDS = 300


def _question_pool(course_id: int) -> list[tuple[str, int, int]]:
    """A session's questions: (the pool entry, the right option's index, how many options)."""
    return [
        (entry, answer, len(json.loads(entry)["options"]))
        for entry, answer in study_questions.pool_for(course_id)
    ]


def _question_payload(raw: str) -> dict[str, Any] | None:
    return study_questions.shown(raw)


def _digits() -> str:
    # A question's options' order (12 hex digits) and its one-time id (12 more).
    return secrets.token_hex(12)


# --- starting a chapter --------------------------------------------------------------------


@dataclass(frozen=True)
class SessionStart:
    token: str
    chapter_id: int
    duration_seconds: int
    threshold_seconds: int
    resume_position: int
    covered_seconds: int
    finished: bool
    heartbeat_seconds: int
    min_heartbeat_seconds: int
    question: dict[str, Any] | None
    media_url: str = ""


def threshold_seconds(duration_seconds: int, percent: int) -> int:
    return max(1, math.ceil(duration_seconds * percent / 100))


def device_of(user_agent: str) -> str:
    """A short name of the device, for the learner's 学习记录 and the review desk."""
    agent = user_agent.lower()
    system = next(
        (
            name
            for key, name in (
                ("iphone", "iPhone"),
                ("ipad", "iPad"),
                ("android", "安卓手机"),
                ("windows", "Windows 电脑"),
                ("mac os", "Mac 电脑"),
                ("linux", "Linux 电脑"),
            )
            if key in agent
        ),
        "其他设备",
    )
    return f"微信 · {system}" if "micromessenger" in agent else system


def start_session(
    learner_id: int,
    chapter_id: int,
    login_tag: str,
    *,
    user_agent: str = "",
    address: str = "",
) -> SessionStart:
    """Open a playback session for a chapter of a plan the learner holds (ends any other).

    ``login_tag`` is the ``session_tag`` of the login asking: the token carries it, and the
    ledger refuses the token once that login has ended (logout, password change)."""
    if not 0 < chapter_id < 2**31:
        raise NotFound("找不到这个章节，请返回课程重新选择。")
    row = db.session.execute(
        select(Chapter, Course, Plan, Enrollment.status)
        .join(Course, Chapter.course_id == Course.id)
        .join(Plan, Course.plan_id == Plan.id)
        .outerjoin(
            Enrollment, and_(Enrollment.plan_id == Plan.id, Enrollment.learner_id == learner_id)
        )
        .where(Chapter.id == chapter_id)
    ).first()
    if row is None:
        raise NotFound("找不到这个章节，请返回课程重新选择。")
    chapter, course, plan, enrollment_status = row
    if enrollment_status is not EnrollmentStatus.ACTIVE:
        raise PermissionDenied("您还没有开通包含这个章节的学习计划，请先购买或申请开通。")
    now = now_ms()
    ends_ms = int(plan.study_ends_at.timestamp() * 1000)
    if now > ends_ms:
        raise StudyRefused(
            "closed",
            f"本计划的学习已于 {local_time(plan.study_ends_at)} 截止，观看不再计入学时。",
            403,
        )
    durable = db.session.scalar(
        select(ChapterProgress).where(
            ChapterProgress.learner_id == learner_id, ChapterProgress.chapter_id == chapter_id
        )
    )
    session = SessionToken(learner_id, chapter_id, secrets.token_urlsafe(12), login_tag)
    threshold = threshold_seconds(chapter.duration_seconds, plan.chapter_threshold_percent)
    media_bytes = served_media_bytes(chapter.media_url)
    state, question = study_ledger.open_session(
        learner_id=learner_id,
        plan_id=plan.id,
        chapter_id=chapter_id,
        session_id=session.session_id,
        login_tag=login_tag,
        now_ms=now,
        ends_ms=ends_ms,
        threshold_seconds=threshold,
        duration_seconds=chapter.duration_seconds,
        durable=_durable_state(learner_id, chapter_id, durable),
        questions=_question_pool(course.id),
        first_question_after=_question_gap(),
        rules=_rules()
        | {
            "daily_cap_seconds": (plan.daily_cap_hours or 0) * plan.minutes_per_hour * 60,
            "media_bytes": media_bytes,
        },
    )
    # The evidence of this session; the one it supersedes ends now.
    started_at = _as_datetime(now)
    db.session.execute(
        update(StudySession)
        .where(StudySession.learner_id == learner_id, StudySession.ended_at.is_(None))
        .values(ended_at=started_at)
    )
    db.session.add(
        StudySession(
            session_key=session.session_id,
            learner_id=learner_id,
            chapter_id=chapter_id,
            plan_id=plan.id,
            started_at=started_at,
            device=device_of(user_agent),
            user_agent=user_agent[:300],
            address=address[:64],
            refusals={},
            uncounted={},
            answer_latencies_ms=[],
        )
    )
    resume = state.position if state.position < chapter.duration_seconds - 3 else 0
    config = current_app.config
    return SessionStart(
        token=_issue_token(session),
        chapter_id=chapter_id,
        duration_seconds=chapter.duration_seconds,
        threshold_seconds=threshold,
        resume_position=resume,
        covered_seconds=state.covered,
        finished=bool(state.finished_ms),
        heartbeat_seconds=int(config["STUDY_HEARTBEAT_SECONDS"]),
        min_heartbeat_seconds=int(config["STUDY_MIN_HEARTBEAT_SECONDS"]),
        question=_question_payload(question),
        media_url=media_url_for(chapter.media_url, session) if media_bytes else "",
    )


# --- media proof ---------------------------------------------------------------------------


def served_media_bytes(media_url: str) -> int:
    """The size of a chapter's media when the platform serves it itself (a path under the
    media root), else 0: media on another host (a CDN) carries no proof here."""
    from services.study.overview import media_root

    if not media_url or media_url.startswith(("https://", "http://", "/")):
        return 0
    try:
        path = (media_root() / media_url).resolve()
        if media_root().resolve() not in path.parents:
            return 0
        return path.stat().st_size
    except OSError:
        return 0


def _media_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="study-media")


def media_url_for(media_url: str, session: SessionToken) -> str:
    """The chapter's media URL signed for one playback session: what it fetches through it
    is recorded, and only what it fetched can count."""
    from flask import url_for

    signed = _media_serializer().dumps([session.learner_id, session.session_id])
    return url_for("h5.study_media", path=media_url, s=signed)


def record_media_fetch(
    learner_id: int, signed: str, duration_seconds: int, total: int, start: int, end: int
) -> bool:
    """A fetch of bytes [start, end) of a chapter's media through a URL signed for a
    session of ``learner_id``: the seconds those bytes hold (in proportion, a second of
    margin each side for the container's headers and keyframes) are recorded as fetched."""
    try:
        owner, session_id = _media_serializer().loads(signed)
    except (BadSignature, TypeError, ValueError):
        return False
    if int(owner) != learner_id or total <= 0 or end <= start:
        return False
    first = max(0, math.floor(start * duration_seconds / total) - 1)
    last = min(duration_seconds, math.ceil(end * duration_seconds / total) + 1)
    return study_ledger.record_media(learner_id, str(session_id), first, last, end - start)


def end_playback(learner_ids: list[int], plan_id: int) -> None:
    """The learners no longer hold the plan (a refund): a page left open on one of its
    chapters stops counting now, not once it goes idle. Its next heartbeat is answered
    ``session_expired``, and the player's new start is refused for want of the plan."""
    if learner_ids:
        study_ledger.end_plan_sessions(learner_ids, plan_id)


def end_learner_playback(learner_id: int) -> None:
    """The learner logged out, or the password changed: a page left playing (perhaps by
    whoever knew the old password) stops counting now, and no token of that login counts
    again. The player's new start needs a current login."""
    study_ledger.end_learner_session(learner_id)


def _durable_state(
    learner_id: int, chapter_id: int, progress: ChapterProgress | None
) -> ProgressState:
    if progress is None:
        return ProgressState(learner_id, chapter_id, "", 0, 0, 0, 0)
    return ProgressState(
        learner_id=learner_id,
        chapter_id=chapter_id,
        intervals=study_ledger.list_to_encoded_intervals(progress.intervals or []),
        covered=progress.covered_seconds,
        credited=progress.credited_seconds,
        position=progress.last_position,
        finished_ms=int(progress.finished_at.timestamp() * 1000) if progress.finished_at else 0,
        generation=progress.generation,
    )


# --- heartbeats and answers ----------------------------------------------------------------


@dataclass(frozen=True)
class Heartbeat:
    """What the player reports: the segment played since its last report, and how."""

    seq: int
    segment_from: float
    position: float
    playing: bool
    rate: float
    queued: tuple[tuple[float, float], ...] = ()

    def segments(self) -> list[tuple[float, float]]:
        return [*self.queued, (self.segment_from, self.position)]


@dataclass(frozen=True)
class HeartbeatResult:
    counting: bool
    reason: str
    message: str
    credited_seconds: int
    covered_seconds: int
    finished: bool
    chapter_finished_now: bool
    question: dict[str, Any] | None


def check_heartbeat(beat: Heartbeat) -> None:
    if not 0 < beat.seq < 2**31:
        raise ValidationError("seq", "进度上报的序号不正确。")
    values = [("from", beat.segment_from), ("position", beat.position)]
    values += [("queued", value) for segment in beat.queued for value in segment]
    for field, value in values:
        if not math.isfinite(value) or not 0 <= value <= 24 * 3600:
            raise ValidationError(field, "播放位置不正确，请刷新页面后重试。")
    if not math.isfinite(beat.rate) or not 0 < beat.rate <= 16:
        raise ValidationError("rate", "播放速度不正确，请刷新页面后重试。")


def record_heartbeat(token: str, beat: Heartbeat) -> HeartbeatResult:
    """Credit what this heartbeat proves was watched; refuse what it cannot prove."""
    check_heartbeat(beat)
    session = read_token(token)
    outcome = study_ledger.heartbeat(
        learner_id=session.learner_id,
        chapter_id=session.chapter_id,
        session_id=session.session_id,
        login_tag=session.login_tag,
        seq=beat.seq,
        segments=beat.segments(),
        position=beat.position,
        playing=beat.playing,
        rate=beat.rate,
        now_ms=now_ms(),
        next_question_gap=_question_gap(),
        digits=_digits(),
    )
    if outcome.status in _REFUSALS:
        raise StudyRefused(*_REFUSALS[outcome.status])
    if outcome.status == "closed":
        raise StudyRefused("closed", "本计划的学习已截止，观看不再计入学时。", 403)
    state = outcome.state
    assert state is not None
    if outcome.status == "finished":
        # Written through: a finished chapter never waits in Redis alone.
        persist_progress([state])
    reason = outcome.reason
    if outcome.status == "question":
        reason = "question"
    elif outcome.status == "paused":
        reason = "question_timeout"
    elif reason == "rewatch" and state.finished_ms:
        reason = "finished"
    question = outcome.question
    return HeartbeatResult(
        counting=outcome.credit > 0,
        reason=reason,
        message=NOT_COUNTED.get(reason, "正在计时。") if outcome.credit == 0 else "正在计时。",
        credited_seconds=outcome.credit,
        covered_seconds=state.covered,
        finished=bool(state.finished_ms),
        chapter_finished_now=outcome.status == "finished",
        question=_question_payload(question),
    )


@dataclass(frozen=True)
class AnswerResult:
    correct: bool
    message: str
    question: dict[str, Any] | None
    withdrawn_seconds: int = 0
    wait_seconds: int = 0


def answer_question(token: str, choice: int, question_id: str = "") -> AnswerResult:
    session = read_token(token)
    outcome = study_ledger.answer(
        learner_id=session.learner_id,
        chapter_id=session.chapter_id,
        session_id=session.session_id,
        login_tag=session.login_tag,
        choice=choice,
        question_id=question_id,
        now_ms=now_ms(),
        min_gap_ms=int(current_app.config["STUDY_MIN_HEARTBEAT_SECONDS"] * 1000),
        digits=_digits(),
        penalty=(WRONG_WAIT_SECONDS * 1000, WRONG_IN_A_ROW_PAUSE, WRONG_PAUSE_SECONDS * 1000),
    )
    status = outcome.status
    if status in ("expired", "superseded"):
        raise StudyRefused(*_REFUSALS[status])
    if status == "too_soon":
        raise StudyRefused("too_soon", "回答过于频繁，请看清题目后再选择。", 429)
    if status == "locked":
        wait = math.ceil(outcome.wait_ms / 1000)
        raise StudyRefused("locked", f"答错后需等待 {wait} 秒才能再次作答，请先看清题目。", 429)
    if status == "stale":
        raise StudyRefused("stale", "这道题目已经更换，请回答当前显示的题目。", 409)
    if status == "none":
        return AnswerResult(
            correct=True, message="当前没有需要回答的问题，请继续学习。", question=None
        )
    if status == "correct":
        return AnswerResult(correct=True, message="回答正确，继续计时。", question=None)
    wait = math.ceil(outcome.wait_ms / 1000)
    withdrawn = (
        f"上一题以来的 {outcome.withdrawn} 秒学习不再计入，需要重新观看；"
        if outcome.withdrawn
        else ""
    )
    if status == "paused":
        message = f"连续答错 {WRONG_IN_A_ROW_PAUSE} 次，{withdrawn}学习已暂停，{wait // 60} 分钟后才能作答下面这道新题目。"
    else:
        message = f"回答错误，{withdrawn}请在 {wait} 秒后回答下面这道新题目。"
    return AnswerResult(
        correct=False,
        message=message,
        question=_question_payload(outcome.question),
        withdrawn_seconds=outcome.withdrawn,
        wait_seconds=wait,
    )


# --- PostgreSQL: write-behind, write-through, completion -----------------------------------


def persist_progress(states: list[ProgressState]) -> None:
    """Upsert progress from the ledger; settle courses and plans of newly finished chapters.

    Covered and credited time only grow, so an older snapshot never overwrites a newer one
    (two writers may race: a flush and a finishing heartbeat)."""
    if not states:
        return
    latest: dict[tuple[int, int], ProgressState] = {}
    for state in states:
        key = (state.learner_id, state.chapter_id)
        if key not in latest or latest[key].covered <= state.covered:
            latest[key] = state
    finished_keys = [key for key, state in latest.items() if state.finished_ms]
    already_finished: set[tuple[int, int]] = set()
    if finished_keys:
        already_finished = {
            (learner_id, chapter_id)
            for learner_id, chapter_id in db.session.execute(
                select(ChapterProgress.learner_id, ChapterProgress.chapter_id).where(
                    tuple_(ChapterProgress.learner_id, ChapterProgress.chapter_id).in_(
                        finished_keys
                    ),
                    ChapterProgress.finished_at.is_not(None),
                )
            )
        }
    now = _as_datetime(now_ms())
    table = ChapterProgress.__table__
    insert = (
        postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    statement = insert(table)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["learner_id", "chapter_id"],
        set_={
            "intervals": excluded.intervals,
            "covered_seconds": excluded.covered_seconds,
            "credited_seconds": excluded.credited_seconds,
            "last_position": excluded.last_position,
            "finished_at": func.coalesce(table.c.finished_at, excluded.finished_at),
            "updated_at": excluded.updated_at,
        },
        where=and_(
            table.c.covered_seconds <= excluded.covered_seconds,
            table.c.credited_seconds <= excluded.credited_seconds,
            # A snapshot read before a withdrawal is of a generation that is over.
            table.c.generation == excluded.generation,
        ),
    )
    # One statement, many parameter sets: compiled once, sent in batches by the driver.
    db.session.execute(
        statement,
        [
            {
                "learner_id": state.learner_id,
                "chapter_id": state.chapter_id,
                "intervals": state.interval_list(),
                "covered_seconds": state.covered,
                "credited_seconds": state.credited,
                "last_position": state.position,
                "finished_at": _as_datetime(state.finished_ms) if state.finished_ms else None,
                "generation": state.generation,
                "updated_at": now,
            }
            for state in latest.values()
        ],
    )
    newly_finished = [key for key in finished_keys if key not in already_finished]
    if newly_finished:
        _settle(newly_finished, now)
    db.session.flush()


def persist_sessions(evidence: list[study_ledger.SessionEvidence]) -> None:
    """Write sessions' counters from the ledger, in one batched statement. Counters only
    grow, so an older snapshot never overwrites a newer one."""
    if not evidence:
        return
    table = StudySession.__table__
    statement = (
        update(table)
        .where(
            table.c.session_key == bindparam("key"),
            table.c.heartbeats_accepted <= bindparam("accepted"),
        )
        .values(
            last_heartbeat_at=bindparam("last"),
            heartbeats_accepted=bindparam("accepted"),
            credited_seconds=bindparam("credited"),
            questions_asked=bindparam("asked"),
            answers=bindparam("answers_"),
            wrong_answers=bindparam("wrong"),
            answer_latencies_ms=bindparam("latencies"),
            media_bytes=bindparam("media"),
            refusals=bindparam("refused"),
            uncounted=bindparam("not_counted"),
            report_intervals=bindparam("intervals"),
            report_interval_sum_ms=bindparam("interval_sum"),
            report_interval_squares_ms2=bindparam("interval_squares"),
            covered_spans=bindparam("spans"),
        )
    )
    db.session.execute(
        statement,
        [
            {
                "key": item.session_id,
                "last": _as_datetime(item.last_ms),
                "accepted": item.accepted,
                "credited": item.credited,
                "asked": item.asked,
                "answers_": item.answers,
                "wrong": item.wrong,
                "latencies": item.latencies_ms,
                "media": item.media_bytes,
                "refused": item.refusals,
                "not_counted": item.uncounted,
                "intervals": item.interval_count,
                "interval_sum": item.interval_sum_ms,
                "interval_squares": item.interval_squares_ms2,
                "spans": item.covered_spans,
            }
            for item in evidence
        ],
    )


def _settle(finished: list[tuple[int, int]], now: datetime) -> None:
    """Recount the 学时 of every plan a newly finished chapter belongs to."""
    chapter_ids = {chapter_id for _, chapter_id in finished}
    plan_of: dict[int, int] = dict(
        db.session.execute(
            select(Chapter.id, Course.plan_id)
            .join(Course, Chapter.course_id == Course.id)
            .where(Chapter.id.in_(chapter_ids))
        )
        .tuples()
        .all()
    )
    for learner_id, plan_id in sorted({(lid, plan_of[cid]) for lid, cid in finished}):
        settle_plan(learner_id, plan_id, now)


def finished_course_ids(learner_id: int, plan_id: int) -> set[int]:
    """The plan's courses whose every chapter the learner has finished (one query)."""
    return set(
        db.session.scalars(
            select(Course.id)
            .join(Chapter, Chapter.course_id == Course.id)
            .outerjoin(
                ChapterProgress,
                and_(
                    ChapterProgress.chapter_id == Chapter.id,
                    ChapterProgress.learner_id == learner_id,
                ),
            )
            .where(Course.plan_id == plan_id)
            .group_by(Course.id)
            .having(func.count(Chapter.id) == func.count(ChapterProgress.finished_at))
        )
    )


def settle_plan(learner_id: int, plan_id: int, now: datetime) -> None:
    enrollment = db.session.scalar(
        select(Enrollment)
        .where(Enrollment.learner_id == learner_id, Enrollment.plan_id == plan_id)
        .with_for_update()
    )
    if enrollment is None:
        return
    done = finished_course_ids(learner_id, plan_id)
    earned = (
        db.session.scalar(select(func.sum(Course.hours)).where(Course.id.in_(done))) or 0
        if done
        else 0
    )
    enrollment.earned_hours = int(earned)
    plan = get_row(Plan, plan_id, "学习计划不存在。")
    if (
        enrollment.completed_at is None
        and enrollment.status is EnrollmentStatus.ACTIVE
        and earned >= plan.required_hours
    ):
        enrollment.completed_at = now
        notify.certificate_ready(
            learner_id=learner_id,
            certificate_key=f"{learner_id}:{plan_id}",
            plan_title=plan.title,
            hours=int(earned),
            path="/h5/certificates",
        )
