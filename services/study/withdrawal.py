"""Staff take cheated study credit back: a session's, a chapter's or a course's.

Each scope has its function (``withdraw_session``, ``withdraw_chapter``, ``withdraw_course``).
A withdrawal, in one transaction:

- resets the learner's progress in the chapters concerned (covered spans, credit, the green
  check) and raises each one's ``generation``, so no snapshot the ledger read before can be
  written back by the write-behind; a session's withdrawal takes out of its chapter only the
  spans that session newly covered, and the chapter keeps what other sessions covered;
- marks the study sessions concerned withdrawn, with the reason;
- recomputes the plan's 学时 and completion, and revokes a valid certificate that no longer
  meets the plan's requirement;
- writes the audit log (who, when, what, the reason, the figures before);
- queues a template message telling the learner what was withdrawn and why.

After the transaction commits, the ledger forgets those chapters in Redis (the learner's
open page is told its session ended and restarts from PostgreSQL), and
``after_withdrawal_committed`` runs: the one place for what must follow a committed
withdrawal outside the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update

from infra.extensions import db
from infra.transaction import after_commit
from models.base import utcnow
from models.catalog import Chapter, Course, Plan
from models.certificates import Certificate, CertificateStatus
from models.enrollments import Enrollment
from models.study import ChapterProgress, StudySession
from services.audit import Actor, record_action
from services.errors import Conflict, NotFound, ValidationError
from services.paperwork import registry
from services.study import ledger as study_ledger
from services.study.rules import finished_course_ids, persist_sessions, threshold_seconds
from services.wechat import notify

log = logging.getLogger(__name__)

REASON_LIMIT = 200


@dataclass(frozen=True)
class Withdrawal:
    """What one withdrawal took back."""

    scope: str  # session | chapter | course
    learner_id: int
    plan_id: int
    chapter_ids: list[int]
    seconds: int
    reason: str
    hours_before: int
    hours_after: int
    certificate_revoked: str | None = None  # its number
    session_id: int | None = None
    course_id: int | None = None
    details: dict[int, int] = field(default_factory=dict)


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("reason", "请填写撤销学时的原因（将告知学员）。")
    if len(text) > REASON_LIMIT:
        raise ValidationError("reason", f"撤销原因不能超过{REASON_LIMIT}个字。")
    return text


def withdraw_session(session_id: int, *, reason: str, actor: Actor) -> Withdrawal:
    """The credit of one playback session: the spans of its chapter that this session newly
    covered are taken out (they must be watched again); what the chapter's other sessions
    covered stays."""
    session = db.session.get(StudySession, session_id)
    if session is None:
        raise NotFound("找不到这次学习记录。")
    if session.withdrawn_at is not None:
        raise Conflict("这次学习的学时已经撤销过了。")
    return _withdraw(
        "session",
        session.learner_id,
        session.plan_id,
        [session.chapter_id],
        reason=reason,
        actor=actor,
        session_id=session.id,
        session=session,
    )


def withdraw_chapter(learner_id: int, chapter_id: int, *, reason: str, actor: Actor) -> Withdrawal:
    """The learner's credit in one chapter: it must be watched again."""
    chapter = db.session.get(Chapter, chapter_id)
    if chapter is None:
        raise NotFound("找不到这个章节。")
    plan_id = db.session.scalar(select(Course.plan_id).where(Course.id == chapter.course_id))
    assert plan_id is not None
    return _withdraw("chapter", learner_id, plan_id, [chapter_id], reason=reason, actor=actor)


def withdraw_course(learner_id: int, course_id: int, *, reason: str, actor: Actor) -> Withdrawal:
    """The learner's credit in every chapter of a course."""
    course = db.session.get(Course, course_id)
    if course is None:
        raise NotFound("找不到这门课程。")
    chapter_ids = list(db.session.scalars(select(Chapter.id).where(Chapter.course_id == course_id)))
    return _withdraw(
        "course", learner_id, course.plan_id, chapter_ids, reason=reason, actor=actor,
        course_id=course_id,
    )  # fmt: skip


def _withdraw(
    scope: str,
    learner_id: int,
    plan_id: int,
    chapter_ids: list[int],
    *,
    reason: str,
    actor: Actor,
    session_id: int | None = None,
    course_id: int | None = None,
    session: StudySession | None = None,
) -> Withdrawal:
    reason = _reason(reason)
    enrollment = db.session.scalar(
        select(Enrollment)
        .where(Enrollment.learner_id == learner_id, Enrollment.plan_id == plan_id)
        .with_for_update()
    )
    if enrollment is None:
        raise NotFound("该学员没有这个学习计划。")
    rows = list(
        db.session.scalars(
            select(ChapterProgress)
            .where(
                ChapterProgress.learner_id == learner_id,
                ChapterProgress.chapter_id.in_(chapter_ids),
            )
            .with_for_update()
        )
    )
    # The learner's active session ends with the withdrawal (its hash goes): its record gets
    # the counters the write-behind has not written yet.
    active = study_ledger.active_session_evidence(learner_id)
    if active is not None:
        persist_sessions([active])
    # What the ledger holds may be newer than PostgreSQL: write it first, then take it back.
    states = [
        state
        for state in (study_ledger.progress_state(learner_id, chapter) for chapter in chapter_ids)
        if state is not None
    ]
    by_chapter = {row.chapter_id: row for row in rows}
    now = utcnow()
    if session is not None:
        details = {session.chapter_id: _take_out_session(session, by_chapter, states, now)}
        if details[session.chapter_id] == 0:
            raise Conflict("这次学习没有仍计入的学时，无需撤销。")
        session.withdrawn_at = now
        session.withdraw_reason = reason
    else:
        details = {
            chapter: max(
                by_chapter[chapter].credited_seconds if chapter in by_chapter else 0,
                next((s.credited for s in states if s.chapter_id == chapter), 0),
            )
            for chapter in chapter_ids
        }
        if sum(details.values()) == 0:
            raise Conflict("这些内容没有已计入的学时，无需撤销。")
        for chapter in chapter_ids:
            row = by_chapter.get(chapter)
            if row is None:
                continue
            row.intervals = []
            row.covered_seconds = 0
            row.credited_seconds = 0
            row.last_position = 0
            row.finished_at = None
            row.generation += 1
            row.updated_at = now
        db.session.execute(
            update(StudySession)
            .where(
                StudySession.learner_id == learner_id,
                StudySession.chapter_id.in_(chapter_ids),
                StudySession.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=now, withdraw_reason=reason)
        )
    seconds = sum(details.values())
    db.session.flush()
    hours_before = enrollment.earned_hours
    revoked = recompute_completion(enrollment, now=now, reason=reason)
    withdrawal = Withdrawal(
        scope=scope,
        learner_id=learner_id,
        plan_id=plan_id,
        chapter_ids=chapter_ids,
        seconds=seconds,
        reason=reason,
        hours_before=hours_before,
        hours_after=enrollment.earned_hours,
        certificate_revoked=revoked,
        session_id=session_id,
        course_id=course_id,
        details=details,
    )
    entry = record_action(
        actor,
        action=f"study.withdraw_{scope}",
        target_type="learner",
        target_id=learner_id,
        before={
            "plan_id": plan_id,
            "earned_hours": hours_before,
            "credited_seconds": {str(k): v for k, v in details.items()},
        },
        after={
            "reason": reason,
            "session_id": session_id,
            "course_id": course_id,
            "chapter_ids": chapter_ids,
            "earned_hours": enrollment.earned_hours,
            "certificate_revoked": revoked,
        },
    )
    plan_title = db.session.scalar(select(Plan.title).where(Plan.id == plan_id)) or ""
    notify.study_withdrawn(
        learner_id=learner_id,
        withdrawal_key=str(entry.id),
        what=plan_title,
        seconds=seconds,
        reason=reason,
        path="/h5/study",
    )
    after_commit(_forget_in_ledger, learner_id, chapter_ids)
    after_commit(after_withdrawal_committed, withdrawal)
    return withdrawal


def _take_out_session(
    session: StudySession,
    by_chapter: dict[int, ChapterProgress],
    states: list[study_ledger.ProgressState],
    now: datetime,
) -> int:
    """Take the spans ``session`` newly covered out of its chapter's progress (the newest
    of PostgreSQL's row and the ledger's state); returns the seconds taken out."""
    spans = _merge(
        [
            *session.covered_spans,
            *study_ledger.live_session_spans(session.learner_id, session.session_key),
        ]
    )
    state = next((s for s in states if s.chapter_id == session.chapter_id), None)
    row = by_chapter.get(session.chapter_id)
    if row is None:
        if state is None:
            return 0
        # Only the ledger has this chapter so far: the row starts from its state.
        row = ChapterProgress(
            learner_id=session.learner_id,
            chapter_id=session.chapter_id,
            intervals=state.interval_list(),
            covered_seconds=state.covered,
            credited_seconds=state.credited,
            last_position=state.position,
            generation=state.generation,
        )
        db.session.add(row)
    elif state is not None and state.covered >= row.covered_seconds:
        row.intervals = state.interval_list()
        row.covered_seconds = state.covered
        row.credited_seconds = max(row.credited_seconds, state.credited)
    kept = _without(row.intervals, spans)
    covered = sum(end - start for start, end in kept)
    taken = row.covered_seconds - covered
    if taken <= 0:
        return 0
    chapter = db.session.get(Chapter, session.chapter_id)
    plan = db.session.get(Plan, session.plan_id)
    assert chapter is not None and plan is not None
    row.intervals = kept
    row.covered_seconds = covered
    row.credited_seconds = max(0, row.credited_seconds - taken)
    if covered < threshold_seconds(chapter.duration_seconds, plan.chapter_threshold_percent):
        row.finished_at = None
    row.generation += 1
    row.updated_at = now
    return taken


def _merge(spans: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, end in sorted((int(a), int(b)) for a, b in spans if int(b) > int(a)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _without(spans: list[list[int]], gone: list[list[int]]) -> list[list[int]]:
    """The parts of ``spans`` that ``gone`` does not cover."""
    kept: list[list[int]] = []
    for start, end in _merge(spans):
        for a, b in gone:
            if b <= start or a >= end:
                continue
            if a > start:
                kept.append([start, a])
            start = max(start, b)
            if start >= end:
                break
        if start < end:
            kept.append([start, end])
    return kept


def recompute_completion(enrollment: Enrollment, *, now: datetime, reason: str) -> str | None:
    """The plan's 学时 from the courses still finished; a completion that no longer meets
    the requirement is undone, and its valid certificate revoked (returns its number)."""
    plan = db.session.get(Plan, enrollment.plan_id)
    assert plan is not None
    done = finished_course_ids(enrollment.learner_id, enrollment.plan_id)
    earned = (
        db.session.scalar(select(func.sum(Course.hours)).where(Course.id.in_(done))) or 0
        if done
        else 0
    )
    enrollment.earned_hours = int(earned)
    if earned >= plan.required_hours:
        return None
    enrollment.completed_at = None
    # The provincial registry hears of it in this transaction (its outbox sends it on).
    registry.queue_withdrawal(
        enrollment.learner_id,
        enrollment.plan_id,
        reason=f"学时被撤销，未达到计划要求：{reason}"[:200],
    )
    certificate = db.session.scalar(
        select(Certificate).where(
            Certificate.learner_id == enrollment.learner_id,
            Certificate.plan_id == enrollment.plan_id,
            Certificate.status == CertificateStatus.VALID,
        )
    )
    if certificate is None:
        return None
    certificate.status = CertificateStatus.REVOKED
    certificate.revoked_at = now
    certificate.revoke_reason = f"学时被撤销，未达到计划要求：{reason}"[:200]
    db.session.flush()
    return certificate.number


def _forget_in_ledger(learner_id: int, chapter_ids: list[int]) -> None:
    for chapter_id in chapter_ids:
        study_ledger.withdraw_chapter(learner_id, chapter_id)


def after_withdrawal_committed(withdrawal: Withdrawal) -> None:
    """Runs once a withdrawal has committed: what must follow it outside the database goes
    here, and only here. (The registry's record is written with the withdrawal itself, by
    ``recompute_completion``; its outbox sends it.)"""
    log.info(
        "study credit withdrawn: learner %s, %s %s, %s s, 学时 %s -> %s, certificate revoked %s",
        withdrawal.learner_id,
        withdrawal.scope,
        withdrawal.session_id or withdrawal.course_id or withdrawal.chapter_ids,
        withdrawal.seconds,
        withdrawal.hours_before,
        withdrawal.hours_after,
        withdrawal.certificate_revoked,
    )
