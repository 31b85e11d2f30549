"""Staff take study credit back: the chapter must be watched again, the plan's 学时 and
completion are recomputed, a certificate that no longer meets the requirement is revoked,
the learner is told, and the ledger cannot write the old progress back."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from infra.extensions import db
from infra.redis_client import get_redis
from infra.transaction import commit
from models.certificates import CertificateStatus
from models.enrollments import Enrollment
from models.registry import RegistryKind, RegistryRecord
from models.staff import AuditLog
from models.study import ChapterProgress, StudySession
from models.wechat import TemplateMessage
from services.audit import Actor
from services.errors import Conflict, ValidationError
from services.paperwork.certificates import issue_certificate
from services.study import ledger as study_ledger
from services.study import rules, withdrawal
from tests import factories
from tests.study_player import FakeClock, Player, log_in
from wxapp import study_flush


@pytest.fixture
def clock(app):
    fake = FakeClock(time.time())
    app.extensions["study_clock"] = fake
    yield fake
    app.extensions.pop("study_clock", None)


@pytest.fixture
def finished(app, client, clock):
    """A learner who watched the plan's one 3-学时 course to the end, with a certificate."""
    learner = factories.learner()
    plan = factories.plan(required_hours=3, courses=0)
    course = factories.course(plan, hours=3, chapters=1, chapter_seconds=60)
    factories.enrollment(learner, plan)
    log_in(client, learner)
    player = Player(client, clock, course.chapters[0].id)
    player.start()
    player.play(60)
    assert player.replies[-1][1].get_json()["finished"] is True
    certificate = issue_certificate(learner.id, plan.id)
    commit()
    return learner, plan, course, player, certificate


def staff_actor() -> Actor:
    user = factories.staff()
    return Actor.staff(user.id, user.username, "10.0.0.9")


def test_withdrawing_a_chapter_takes_everything_that_followed_from_it_back(app, finished, clock):
    learner, _plan, course, player, certificate = finished
    chapter_id = course.chapters[0].id
    result = withdrawal.withdraw_chapter(
        learner.id, chapter_id, reason="同一地址多账号同时学习", actor=staff_actor()
    )
    commit()
    assert result.seconds == 60 and result.hours_before == 3 and result.hours_after == 0
    assert result.certificate_revoked == certificate.number
    db.session.expire_all()
    progress = db.session.scalar(
        select(ChapterProgress).where(ChapterProgress.learner_id == learner.id)
    )
    assert (progress.covered_seconds, progress.finished_at, progress.generation) == (0, None, 1)
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == learner.id))
    assert enrollment.earned_hours == 0 and enrollment.completed_at is None
    db.session.refresh(certificate)
    assert certificate.status is CertificateStatus.REVOKED
    assert "同一地址多账号" in certificate.revoke_reason
    session = db.session.scalar(select(StudySession).where(StudySession.learner_id == learner.id))
    assert session.withdrawn_at is not None and session.withdraw_reason == "同一地址多账号同时学习"
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "study.withdraw_chapter"))
    assert audit.after["reason"] == "同一地址多账号同时学习"
    assert audit.before["earned_hours"] == 3
    message = db.session.scalar(
        select(TemplateMessage).where(
            TemplateMessage.learner_id == learner.id, TemplateMessage.kind == "study_withdrawn"
        )
    )
    assert message.payload["data"]["thing3"]["value"] == "同一地址多账号同时学习"
    # The page still open is told its session ended; a new one starts from nothing.
    clock.advance(12)
    assert player.beat(position=12).status_code == 410
    again = player.start()
    assert again["covered_seconds"] == 0 and again["finished"] is False
    assert get_redis().hget(study_ledger.progress_key(learner.id, chapter_id), "gen") == b"1"
    # The provincial registry, told of the completion when the certificate was issued, is told
    # of the withdrawal by the same certificate number.
    records = db.session.scalars(
        select(RegistryRecord)
        .where(RegistryRecord.certificate_number == certificate.number)
        .order_by(RegistryRecord.id)
    ).all()
    assert [record.kind for record in records] == [
        RegistryKind.COMPLETION,
        RegistryKind.WITHDRAWAL,
    ]
    assert "同一地址多账号" in records[1].payload["reason"]


def test_a_snapshot_read_before_the_withdrawal_is_never_written_back(app, finished, clock):
    learner, _plan, course, _player, _ = finished
    chapter_id = course.chapters[0].id
    stale = study_ledger.progress_state(learner.id, chapter_id)
    withdrawal.withdraw_chapter(learner.id, chapter_id, reason="复核", actor=staff_actor())
    commit()
    rules.persist_progress([stale])
    commit()
    db.session.expire_all()
    progress = db.session.scalar(
        select(ChapterProgress).where(ChapterProgress.learner_id == learner.id)
    )
    assert progress.covered_seconds == 0
    study_flush.flush_once(500)
    db.session.expire_all()
    assert db.session.get(ChapterProgress, progress.id).covered_seconds == 0


def test_a_course_and_a_session_can_be_withdrawn_and_a_reason_is_required(app, finished):
    learner, _plan, course, _player, _ = finished
    with pytest.raises(ValidationError):
        withdrawal.withdraw_course(learner.id, course.id, reason=" ", actor=staff_actor())
    result = withdrawal.withdraw_course(
        learner.id, course.id, reason="夜间连续学习", actor=staff_actor()
    )
    commit()
    assert result.scope == "course" and result.seconds == 60
    session = db.session.scalar(select(StudySession).where(StudySession.learner_id == learner.id))
    with pytest.raises(Conflict):  # nothing left to withdraw
        withdrawal.withdraw_session(session.id, reason="复核", actor=staff_actor())


def test_withdrawing_a_session_takes_back_only_what_that_session_covered(app, client, clock):
    learner = factories.learner()
    plan = factories.plan(required_hours=3, courses=0)
    course = factories.course(plan, hours=3, chapters=1, chapter_seconds=60)
    chapter_id = course.chapters[0].id
    factories.enrollment(learner, plan)
    log_in(client, learner)
    first = Player(client, clock, chapter_id)
    first.start()
    first.play(30)
    study_flush.flush_all(500)  # the first session's record is written by the write-behind
    commit()
    clock.advance(120)
    second = Player(client, clock, chapter_id)  # later, another device
    assert second.start()["resume_position"] == 30
    second.play(30)
    assert second.replies[-1][1].get_json()["finished"] is True
    certificate = issue_certificate(learner.id, plan.id)
    commit()
    sessions = db.session.scalars(
        select(StudySession)
        .where(StudySession.learner_id == learner.id)
        .order_by(StudySession.started_at)
    ).all()
    assert len(sessions) == 2

    # The second session is still open: its spans come from the ledger, not yet PostgreSQL.
    result = withdrawal.withdraw_session(sessions[1].id, reason="代刷嫌疑", actor=staff_actor())
    commit()
    assert result.scope == "session" and result.seconds == 30
    assert result.hours_before == 3 and result.hours_after == 0
    db.session.expire_all()
    progress = db.session.scalar(
        select(ChapterProgress).where(ChapterProgress.learner_id == learner.id)
    )
    assert progress.intervals == [[0, 30]] and progress.covered_seconds == 30
    assert progress.finished_at is None
    assert db.session.get(type(certificate), certificate.id).status == CertificateStatus.REVOKED
    assert sessions[0].withdrawn_at is None
    assert sessions[1].withdrawn_at is not None and sessions[1].withdraw_reason == "代刷嫌疑"
    # The withdrawal ended that session: its record got what the write-behind had not written.
    assert sessions[1].covered_spans == [[30, 60]] and sessions[1].credited_seconds == 30
    assert sessions[1].heartbeats_accepted == 3
    with pytest.raises(Conflict):  # the same session twice
        withdrawal.withdraw_session(sessions[1].id, reason="代刷嫌疑", actor=staff_actor())

    # What the first session covered stays; watching the second half again finishes it.
    third = Player(client, clock, chapter_id)
    assert third.start()["covered_seconds"] == 30
    third.position = 30
    third.play(30)
    assert third.replies[-1][1].get_json()["finished"] is True

    # The first session's spans, from PostgreSQL's record alone (its hash is gone).
    study_flush.flush_all(500)
    commit()
    db.session.expire_all()
    assert db.session.get(StudySession, sessions[0].id).covered_spans == [[0, 30]]
    get_redis().delete(study_ledger.session_key(learner.id, sessions[0].session_key))
    result = withdrawal.withdraw_session(sessions[0].id, reason="代刷嫌疑", actor=staff_actor())
    commit()
    assert result.seconds == 30
    db.session.expire_all()
    progress = db.session.get(ChapterProgress, progress.id)
    assert progress.intervals == [[30, 60]] and progress.covered_seconds == 30
