"""学习异常: a farm of accounts behind one address is flagged with its evidence, and staff
withdraw a flagged learner's credit from the page."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from flask import g
from sqlalchemy import select

from infra.extensions import db
from infra.transaction import commit
from models.enrollments import Enrollment
from models.staff import AuditLog, StaffRole
from models.study import ChapterProgress, StudySession
from services.study import signals
from tests import factories
from tests.study_player import FakeClock, HonestPlayer, Player, log_in, right_choice
from wxapp import study_flush


@pytest.fixture
def clock(app):
    fake = FakeClock(time.time())
    app.extensions["study_clock"] = fake
    yield fake
    app.extensions.pop("study_clock", None)


def test_a_ten_account_farm_is_flagged_and_its_credit_withdrawn(app, client, clock, login_staff):
    plan = factories.plan(required_hours=3, courses=0)
    course = factories.course(plan, hours=3, chapters=1, chapter_seconds=60)
    chapter_id = course.chapters[0].id
    farm = []
    for _ in range(10):
        learner = factories.learner()
        factories.enrollment(learner, plan)
        farm.append(learner)
    honest = factories.learner(name="李娜")
    factories.enrollment(honest, plan)
    commit()
    players = []
    for learner in farm:
        farm_client = app.test_client()
        farm_client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
        log_in(farm_client, learner)
        players.append(Player(farm_client, clock, chapter_id))
    honest_client = app.test_client()
    honest_client.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    log_in(honest_client, honest)
    honest_player = Player(honest_client, clock, chapter_id)
    for player in [*players, honest_player]:
        player.start()
    for _ in range(5):  # all at once, one address
        clock.advance(12)
        for player in [*players, honest_player]:
            if player.question:
                player.answer(right_choice(player.question))
            player.beat(position=player.position + 12)
    study_flush.flush_all(500)
    commit()

    g.pop("csrf_token", None)
    login_staff(StaffRole.STAFF)
    page = client.get("/admin/study/anomalies").get_data(as_text=True)
    assert page.count("同一地址多账号同时学习") == 10
    assert "203.0.113.7 共 10 个账号学习" in page
    assert "李娜" not in page and "198.51.100.20" not in page  # the honest learner is not flagged

    target = farm[0]
    session_id = int(page.split("/admin/study/sessions/")[1].split("/")[0])
    response = client.post(
        f"/admin/study/sessions/{session_id}/withdraw",
        data={"scope": "chapter", "reason": "", "csrf_token": _csrf(page)},
    )
    assert response.status_code == 302
    assert "请填写撤销学时的原因" in client.get("/admin/study/anomalies").get_data(as_text=True)
    response = client.post(
        f"/admin/study/sessions/{session_id}/withdraw",
        data={"scope": "chapter", "reason": "同一地址十个账号同时学习", "csrf_token": _csrf(page)},
    )
    assert response.status_code == 302
    after = client.get("/admin/study/anomalies").get_data(as_text=True)
    assert "已撤销" in after
    db.session.expire_all()
    withdrawn_learner = db.session.scalar(
        select(ChapterProgress.learner_id).where(
            ChapterProgress.chapter_id == chapter_id, ChapterProgress.generation == 1
        )
    )
    assert withdrawn_learner in {learner.id for learner in farm}
    assert (
        db.session.scalar(
            select(AuditLog).where(AuditLog.action == "study.withdraw_chapter")
        ).after["reason"]
        == "同一地址十个账号同时学习"
    )
    assert target.id in {learner.id for learner in farm}
    assert (
        db.session.scalar(
            select(Enrollment.earned_hours).where(Enrollment.learner_id == withdrawn_learner)
        )
        == 0
    )


def test_a_fixed_timer_script_is_flagged_and_the_page_player_is_not(
    app, client, clock, login_staff
):
    plan = factories.plan(required_hours=3, courses=0)
    course = factories.course(plan, hours=3, chapters=1, chapter_seconds=1200)
    factories.question(course, answer_index=1)
    chapter_id = course.chapters[0].id
    script_learner = factories.learner(name="王强")
    honest = factories.learner(name="李娜")
    for learner in (script_learner, honest):
        factories.enrollment(learner, plan)
    commit()
    script_client = app.test_client()
    script_client.environ_base["REMOTE_ADDR"] = "192.0.2.61"
    log_in(script_client, script_learner)
    script = Player(script_client, clock, chapter_id)
    script.start()
    honest_client = app.test_client()
    honest_client.environ_base["REMOTE_ADDR"] = "198.51.100.61"
    log_in(honest_client, honest)
    # Twenty minutes of a script that reports every 12 s sharp and answers its questions at
    # once, then twenty minutes of the page's player on the same chapter.
    for _ in range(100):
        clock.advance(9)
        if script.question:
            script.answer(right_choice(script.question))
        clock.advance(3)
        response = script.beat(position=script.position + 12)
        assert response.status_code == 200, response.get_json()
    page = HonestPlayer(honest_client, clock, chapter_id, duration=1200, choose=right_choice)
    page.start()
    page.run(2)
    page.play()
    page.run(1200)
    study_flush.flush_all(500)
    commit()

    by_learner = {item.learner_id: item for item in signals.flagged(clock_now(clock))}
    assert "machine_timing" in {flag.code for flag in by_learner[script_learner.id].flags}
    assert honest.id not in by_learner
    recorded = db.session.scalars(
        select(StudySession).where(StudySession.learner_id.in_([script_learner.id, honest.id]))
    ).all()
    variation = {row.learner_id: signals.timing_variation(row) for row in recorded}
    assert variation[script_learner.id] is not None and variation[script_learner.id] < 0.001
    assert variation[honest.id] is not None and variation[honest.id] > 0.05

    g.pop("csrf_token", None)
    login_staff(StaffRole.STAFF)
    html = client.get("/admin/study/anomalies").get_data(as_text=True)
    assert html.count("上报间隔机械规律") == 1
    assert "上报间隔平均 12.00 秒，标准差 0 毫秒" in html
    assert "李娜" not in html


def clock_now(clock: FakeClock) -> datetime:
    return datetime.fromtimestamp(clock.now, UTC)


def _csrf(page: str) -> str:
    from tests.conftest import csrf_from

    return csrf_from(page)
