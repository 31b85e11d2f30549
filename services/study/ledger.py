"""The study ledger's hot state in Redis: sessions, covered intervals, 防挂机 questions.

Every key of a learner carries the hash tag ``{learner id}``, so one learner's keys live on
one shard and a heartbeat is one script call (one round trip). The rules themselves, and
the PostgreSQL side, are in ``services/study/rules.py``.

Keys:
  study:{L}:l        active session id, the tag of the login that opened it, pending question
                     and its answer, question schedule
  study:{L}:s:<sid>  one playback session: plan, chapter figures, last accepted heartbeat, pool
  study:{L}:c:<chap> the learner's progress in a chapter: merged intervals, covered, credited
  study:dirty        progress entries ("L:chap") not yet written to PostgreSQL
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from infra.redis_client import get_redis
from infra.redis_scripts import ThreadScript

DIRTY_KEY = "study:dirty"
# Sessions ("L:sid") whose evidence (counters in the session hash) waits for PostgreSQL.
SESSIONS_DIRTY_KEY = "study:sdirty"
# Set when a session opens (heartbeats do not renew it): long enough for any session, and
# PostgreSQL has the state long before. An expired session is simply opened again.
KEY_LIFETIME_SECONDS = 2 * 24 * 3600

_HERE = Path(__file__).resolve().parent
# spans.lua (merging whole-second spans) goes before the scripts that use it.
_SPANS_LUA = (_HERE / "spans.lua").read_text()
_HEARTBEAT_LUA = _SPANS_LUA + (_HERE / "heartbeat.lua").read_text()
_ANSWER_LUA = (_HERE / "answer.lua").read_text()
_MEDIA_LUA = _SPANS_LUA + (_HERE / "media.lua").read_text()


def learner_key(learner_id: int) -> str:
    return f"study:{{{learner_id}}}:l"


def session_key(learner_id: int, session_id: str) -> str:
    return f"study:{{{learner_id}}}:s:{session_id}"


def progress_key(learner_id: int, chapter_id: int) -> str:
    return f"study:{{{learner_id}}}:c:{chapter_id}"


def dirty_member(learner_id: int, chapter_id: int) -> str:
    return f"{learner_id}:{chapter_id}"


def session_member(learner_id: int, session_id: str) -> str:
    return f"{learner_id}:{session_id}"


@dataclass(frozen=True)
class ProgressState:
    """A learner's progress in one chapter as the ledger holds it."""

    learner_id: int
    chapter_id: int
    intervals: str  # "a-b,c-d": merged whole-second [start, end) spans
    covered: int
    credited: int
    position: int
    finished_ms: int
    generation: int = 0

    def interval_list(self) -> list[list[int]]:
        return encoded_intervals_to_list(self.intervals)


def encoded_intervals_to_list(encoded: str) -> list[list[int]]:
    spans = []
    for part in encoded.split(","):
        if part:
            start, end = part.split("-")
            spans.append([int(start), int(end)])
    return spans


def list_to_encoded_intervals(spans: list[Any]) -> str:
    return ",".join(f"{int(start)}-{int(end)}" for start, end in spans)


# A chapter's progress hash, in the order ``_stored_state`` reads it.
_PROGRESS_FIELDS = ("iv", "cov", "cred", "pos", "fin", "gen")


def _stored_state(learner_id: int, chapter_id: int, values: list[Any]) -> ProgressState:
    iv, cov, cred, pos, fin, gen = values
    return ProgressState(
        learner_id=learner_id,
        chapter_id=chapter_id,
        intervals=_text(iv),
        covered=_int(cov),
        credited=_int(cred),
        position=_int(pos),
        finished_ms=_int(fin),
        generation=_int(gen),
    )


def _scripts(client: redis.Redis) -> dict[str, ThreadScript]:
    # Each runs EVALSHA on its thread's own connection, and reloads the script after a
    # Redis restart (``infra/redis_scripts.py``).
    cached = getattr(client, "_study_scripts", None)
    if cached is None:
        cached = {
            "heartbeat": ThreadScript(client, _HEARTBEAT_LUA),
            "answer": ThreadScript(client, _ANSWER_LUA),
            "media": ThreadScript(client, _MEDIA_LUA),
        }
        client._study_scripts = cached  # type: ignore[attr-defined]
    return cached


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _int(value: Any) -> int:
    # Lua 5.4 (the development stand-in's) may write whole numbers as "12.0".
    text = _text(value)
    return int(float(text)) if text else 0


def open_session(
    *,
    learner_id: int,
    plan_id: int,
    chapter_id: int,
    session_id: str,
    login_tag: str,
    now_ms: int,
    ends_ms: int,
    threshold_seconds: int,
    duration_seconds: int,
    durable: ProgressState,
    questions: list[tuple[str, int, int]],
    first_question_after: int,
    rules: dict[str, Any],
) -> tuple[ProgressState, str]:
    """Make ``session_id`` the learner's only active session, opened by the login tagged
    ``login_tag``; returns the chapter's progress (Redis's own when it has it, which is newer
    than PostgreSQL's) and any pending question."""
    client = get_redis()
    lkey = learner_key(learner_id)
    skey = session_key(learner_id, session_id)
    pkey = progress_key(learner_id, chapter_id)
    session_fields: dict[FieldT, EncodableT] = {
        "plan": plan_id,
        "chapter": chapter_id,
        "last": now_ms,
        "carry": 0,
        "seq": 0,
        "ends": ends_ms,
        "thr": threshold_seconds,
        "dur": duration_seconds,
        "n": len(questions),
        # The rules travel with the session: a heartbeat sends only what it reports.
        "gap": rules["min_gap_ms"],
        "slack": rules["slack_seconds"],
        "maxr": repr(float(rules["max_rate"])),
        "qto": rules["question_timeout_ms"],
        "idle": rules["idle_ms"],
        "mseg": rules["max_segment_seconds"],
        "dcap": rules.get("daily_cap_seconds", 0),
        # Bytes of the chapter's media when the platform serves it (0: no media proof).
        "msz": rules.get("media_bytes", 0),
    }
    for slot, (question_json, answer, count) in enumerate(questions):
        session_fields[f"q{slot}"] = question_json
        session_fields[f"a{slot}"] = answer
        session_fields[f"k{slot}"] = count
    pipe = client.pipeline(transaction=True)
    pipe.hset(lkey, mapping={"sid": session_id, "tag": login_tag})
    pipe.hsetnx(lkey, "nextq", first_question_after)
    # The learner's own wall-time budget starts once and runs on across sessions.
    pipe.hsetnx(lkey, "bt", now_ms)
    pipe.hsetnx(lkey, "bc", 0)
    pipe.expire(lkey, KEY_LIFETIME_SECONDS)
    pipe.hset(skey, mapping=session_fields)
    pipe.expire(skey, KEY_LIFETIME_SECONDS)
    # Only fills a chapter Redis does not hold (first visit, expiry or a Redis restart).
    for name, value in (
        ("iv", durable.intervals),
        ("cov", durable.covered),
        ("cred", durable.credited),
        ("pos", durable.position),
        ("fin", durable.finished_ms),
        ("gen", durable.generation),
        # Where the chapter stood at the previous question: a wrong answer goes back there.
        ("piv", durable.intervals),
        ("pcov", durable.covered),
    ):
        pipe.hsetnx(pkey, name, value)
    pipe.expire(pkey, KEY_LIFETIME_SECONDS)
    pipe.hmget(pkey, *_PROGRESS_FIELDS)
    pipe.hmget(lkey, "qid", "qo", "q")
    results = pipe.execute()
    return _stored_state(learner_id, chapter_id, results[-2]), _pending(results[-1])


def _pending(values: list[Any]) -> str:
    """A pending question as the scripts return it: ``id\norder\nentry``, or ''."""
    question_id, order, entry = (_text(value) for value in values)
    return f"{question_id}\n{order}\n{entry}" if entry else ""


@dataclass(frozen=True)
class HeartbeatOutcome:
    status: (
        str  # ok | finished | question | paused | expired | superseded | stale | too_soon | closed
    )
    credit: int = 0
    reason: str = ""
    question: str = ""
    state: ProgressState | None = None


def heartbeat(
    *,
    learner_id: int,
    chapter_id: int,
    session_id: str,
    login_tag: str,
    seq: int,
    segments: list[tuple[float, float]],
    position: float,
    playing: bool,
    rate: float,
    now_ms: int,
    next_question_gap: int,
    digits: str,
) -> HeartbeatOutcome:
    client = get_redis()
    reply = _text(
        _scripts(client)["heartbeat"](
            keys=[
                learner_key(learner_id),
                session_key(learner_id, session_id),
                progress_key(learner_id, chapter_id),
                DIRTY_KEY,
                SESSIONS_DIRTY_KEY,
            ],
            args=[
                session_id,
                seq,
                ";".join(f"{start!r},{end!r}" for start, end in segments),
                repr(position),
                1 if playing else 0,
                repr(rate),
                now_ms,
                next_question_gap,
                dirty_member(learner_id, chapter_id),
                login_tag,
                digits,
                chapter_id,
                session_member(learner_id, session_id),
            ],
        )
    )
    if "|" not in reply:
        return HeartbeatOutcome(status=reply)
    (
        status,
        credit,
        covered,
        credited,
        finished,
        reason,
        last_position,
        intervals,
        generation,
        question,
    ) = reply.split("|", 9)
    return HeartbeatOutcome(
        status=status,
        credit=_int(credit),
        reason=reason,
        question=question,
        state=ProgressState(
            learner_id=learner_id,
            chapter_id=chapter_id,
            intervals=intervals,
            covered=_int(covered),
            credited=_int(credited),
            position=_int(last_position),
            finished_ms=_int(finished),
            generation=_int(generation),
        ),
    )


@dataclass(frozen=True)
class AnswerOutcome:
    status: (
        str  # correct | wrong | paused | none | stale | locked | expired | superseded | too_soon
    )
    question: str = ""
    withdrawn: int = 0
    latency_ms: int = 0
    wait_ms: int = 0


def answer(
    *,
    learner_id: int,
    chapter_id: int,
    session_id: str,
    login_tag: str,
    choice: int,
    question_id: str,
    now_ms: int,
    min_gap_ms: int,
    digits: str,
    penalty: tuple[int, int, int],
) -> AnswerOutcome:
    """``penalty``: the wait after a first wrong answer (ms, doubled by each further one in
    a row), the wrong answers in a row that pause the session, and that pause (ms)."""
    client = get_redis()
    reply = _scripts(client)["answer"](
        keys=[
            learner_key(learner_id),
            session_key(learner_id, session_id),
            progress_key(learner_id, chapter_id),
            DIRTY_KEY,
            SESSIONS_DIRTY_KEY,
        ],
        args=[
            session_id,
            choice,
            now_ms,
            min_gap_ms,
            login_tag,
            digits,
            chapter_id,
            dirty_member(learner_id, chapter_id),
            question_id,
            *penalty,
            session_member(learner_id, session_id),
        ],
    )
    values = [_text(value) for value in reply] + [""] * 5
    return AnswerOutcome(
        status=values[0],
        question=values[1],
        withdrawn=_int(values[2]),
        latency_ms=_int(values[3]),
        wait_ms=_int(values[4]),
    )


def end_plan_sessions(learner_ids: list[int], plan_id: int) -> None:
    """End the learners' active sessions that play a chapter of ``plan_id``; their next
    heartbeat is answered ``expired``."""
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    for learner_id in learner_ids:
        pipe.hget(learner_key(learner_id), "sid")
    keys = [
        session_key(learner_id, _text(sid))
        for learner_id, sid in zip(learner_ids, pipe.execute(), strict=True)
        if sid
    ]
    for key in keys:
        pipe.hget(key, "plan")
    # One key a command: each learner's keys may live on a shard of their own.
    for key, plan in zip(keys, pipe.execute(), strict=True):
        if _int(plan) == plan_id:
            pipe.delete(key)
    pipe.execute()


def end_learner_session(learner_id: int) -> None:
    """End the learner's login in the ledger: its tag goes, so no token it opened counts,
    and the active session with it, whatever it plays. Their next heartbeat is answered
    ``expired``; the next session opened records its own login's tag."""
    client = get_redis()
    lkey = learner_key(learner_id)
    sid = _text(client.hget(lkey, "sid"))
    pipe = client.pipeline(transaction=True)
    pipe.hdel(lkey, "tag")
    if sid:
        pipe.delete(session_key(learner_id, sid))
    pipe.execute()


def pending_question(learner_id: int) -> str:
    return _pending(get_redis().hmget(learner_key(learner_id), "qid", "qo", "q"))


def take_dirty(limit: int) -> list[ProgressState]:
    """Pop up to ``limit`` entries waiting for PostgreSQL, with their current state.

    Popping before reading is what keeps this safe: a heartbeat that lands after the read
    marks its entry dirty again, so the next flush writes it."""
    client = get_redis()
    members = [_text(member) for member in client.spop(DIRTY_KEY, limit) or []]
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    pairs = []
    for member in members:
        learner_text, chapter_text = member.split(":")
        pairs.append((int(learner_text), int(chapter_text)))
        pipe.hmget(progress_key(*pairs[-1]), *_PROGRESS_FIELDS)
    # A hash without ``cov`` expired or was lost with Redis: nothing newer than PostgreSQL.
    return [
        _stored_state(learner_id, chapter_id, values)
        for (learner_id, chapter_id), values in zip(pairs, pipe.execute(), strict=True)
        if values[1] is not None
    ]


def mark_dirty_again(states: list[ProgressState]) -> None:
    if states:
        get_redis().sadd(DIRTY_KEY, *[dirty_member(s.learner_id, s.chapter_id) for s in states])


# Codes a session hash counts: refusals (``x:``) and accepted reports that counted nothing
# (``u:``).
REFUSAL_CODES = ("stale", "too_soon", "superseded", "closed", "absurd")
UNCOUNTED_REASONS = (
    "rate",
    "paused",
    "still",
    "jump",
    "gap",
    "rewatch",
    "no_media",
    "question",
    "question_timeout",
    "daily_cap",
)
_EVIDENCE_FIELDS = (
    "last",
    "acc",
    "cr",
    "asked",
    "answers",
    "wrong",
    "lat",
    "mb",
    "tn",
    "ts",
    "tq",
    "sv",
    *(f"x:{code}" for code in REFUSAL_CODES),
    *(f"u:{reason}" for reason in UNCOUNTED_REASONS),
)


@dataclass(frozen=True)
class SessionEvidence:
    """A playback session's counters as the ledger holds them."""

    learner_id: int
    session_id: str
    last_ms: int
    accepted: int
    credited: int
    asked: int
    answers: int
    wrong: int
    latencies_ms: list[int]
    media_bytes: int
    refusals: dict[str, int]
    uncounted: dict[str, int]
    # The intervals between reports (ms): how many, their sum and their sum of squares.
    interval_count: int = 0
    interval_sum_ms: int = 0
    interval_squares_ms2: int = 0
    # The whole-second spans this session newly covered.
    covered_spans: list[list[int]] = field(default_factory=list)


def take_dirty_sessions(limit: int) -> list[SessionEvidence]:
    """Pop up to ``limit`` sessions whose evidence changed, with their counters (popped
    before read, as ``take_dirty``)."""
    client = get_redis()
    members = [_text(member) for member in client.spop(SESSIONS_DIRTY_KEY, limit) or []]
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    pairs = []
    for member in members:
        learner_text, session_id = member.split(":", 1)
        pairs.append((int(learner_text), session_id))
        pipe.hmget(session_key(*pairs[-1]), *_EVIDENCE_FIELDS)
    evidence = []
    for (learner_id, session_id), values in zip(pairs, pipe.execute(), strict=True):
        if values[0] is None:
            continue  # the session hash is gone: what PostgreSQL has is all there is
        evidence.append(_evidence(learner_id, session_id, values))
    return evidence


def active_session_evidence(learner_id: int) -> SessionEvidence | None:
    """The counters of the learner's active session, read (not popped) from its hash."""
    client = get_redis()
    session_id = _text(client.hget(learner_key(learner_id), "sid"))
    if not session_id:
        return None
    values = client.hmget(session_key(learner_id, session_id), *_EVIDENCE_FIELDS)
    return None if values[0] is None else _evidence(learner_id, session_id, values)


def _evidence(learner_id: int, session_id: str, values: list[Any]) -> SessionEvidence:
    codes = len(REFUSAL_CODES)
    counts = [_int(value) for value in values[12:]]
    return SessionEvidence(
        learner_id=learner_id,
        session_id=session_id,
        last_ms=_int(values[0]),
        accepted=_int(values[1]),
        credited=_int(values[2]),
        asked=_int(values[3]),
        answers=_int(values[4]),
        wrong=_int(values[5]),
        latencies_ms=[int(x) for x in _text(values[6]).split(",") if x],
        media_bytes=_int(values[7]),
        interval_count=_int(values[8]),
        interval_sum_ms=_int(values[9]),
        interval_squares_ms2=_int(values[10]),
        covered_spans=encoded_intervals_to_list(_text(values[11])),
        refusals={c: n for c, n in zip(REFUSAL_CODES, counts[:codes], strict=True) if n},
        uncounted={r: n for r, n in zip(UNCOUNTED_REASONS, counts[codes:], strict=True) if n},
    )


def mark_sessions_dirty_again(evidence: list[SessionEvidence]) -> None:
    if evidence:
        get_redis().sadd(
            SESSIONS_DIRTY_KEY, *[session_member(e.learner_id, e.session_id) for e in evidence]
        )


def withdraw_chapter(learner_id: int, chapter_id: int) -> None:
    """Forget the learner's progress in a chapter (staff withdrew its credit) and end the
    active session, in one transaction: the next heartbeat is answered ``expired`` and the
    player's new session starts from what PostgreSQL now holds."""
    client = get_redis()
    lkey = learner_key(learner_id)
    sid = _text(client.hget(lkey, "sid"))
    pipe = client.pipeline(transaction=True)
    pipe.delete(progress_key(learner_id, chapter_id))
    if sid:
        pipe.delete(session_key(learner_id, sid))
    pipe.srem(DIRTY_KEY, dirty_member(learner_id, chapter_id))
    pipe.execute()


def live_session_spans(learner_id: int, session_id: str) -> list[list[int]]:
    """The spans a session newly covered, as its hash in Redis holds them (empty once the
    hash is gone: PostgreSQL's record is then all there is)."""
    return encoded_intervals_to_list(
        _text(get_redis().hget(session_key(learner_id, session_id), "sv"))
    )


def progress_state(learner_id: int, chapter_id: int) -> ProgressState | None:
    """The chapter's progress as Redis holds it, if it does."""
    values = get_redis().hmget(progress_key(learner_id, chapter_id), *_PROGRESS_FIELDS)
    return None if values[1] is None else _stored_state(learner_id, chapter_id, values)


def record_media(learner_id: int, session_id: str, first: int, last: int, served: int) -> bool:
    """The session fetched the media's seconds [first, last) (``served`` bytes)."""
    client = get_redis()
    done = _scripts(client)["media"](
        keys=[session_key(learner_id, session_id)], args=[first, last, served]
    )
    return bool(done)
