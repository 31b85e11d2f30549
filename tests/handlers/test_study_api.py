"""The study ledger through the player's HTTP API: what counts, and the attacks that must not."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from flask import g
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from infra.extensions import db
from infra.redis_client import get_redis
from models.base import utcnow
from models.catalog import Chapter, Course, Plan
from models.enrollments import Enrollment
from models.study import ChapterProgress, StudySession
from models.wechat import TemplateMessage
from services.study import ledger as study_ledger
from services.study import rules as study
from tests import factories
from tests.conftest import csrf_from, submit_form
from tests.study_player import (
    FakeClock,
    HonestPlayer,
    Player,
    log_in,
    new_client,
    right_choice,
    wrong_choice,
)
from wxapp import study_flush

WECHAT_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI"
)
DURATION = 120  # seconds; the plan's threshold is 95%, so 114 s must be covered


@pytest.fixture
def clock(app):
    fake = FakeClock(time.time())
    app.extensions["study_clock"] = fake
    yield fake
    app.extensions.pop("study_clock", None)


@dataclass
class Setting:
    learner: object
    plan: Plan
    course: Course
    chapter: Chapter
    enrollment: Enrollment


@pytest.fixture
def setting() -> Setting:
    learner = factories.learner()
    plan = factories.plan(required_hours=3)
    course = factories.course(plan, hours=3, chapters=1, chapter_seconds=DURATION)
    enrollment = factories.enrollment(learner, plan)
    return Setting(learner, plan, course, course.chapters[0], enrollment)


@pytest.fixture
def player(app, client, clock, setting) -> Player:
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    return player


def redis_progress(setting: Setting) -> dict:
    raw = get_redis().hgetall(study_ledger.progress_key(setting.learner.id, setting.chapter.id))
    return {key.decode(): value.decode() for key, value in raw.items()}


def covered(setting: Setting) -> int:
    return int(redis_progress(setting).get("cov", 0))


def durable(setting: Setting) -> ChapterProgress | None:
    db.session.expire_all()
    return db.session.scalar(
        select(ChapterProgress).where(
            ChapterProgress.learner_id == setting.learner.id,
            ChapterProgress.chapter_id == setting.chapter.id,
        )
    )


# --- the honest learner ---------------------------------------------------------------------


def test_watching_the_whole_chapter_finishes_it_and_completes_the_plan(app, player, setting):
    first = player.play(12)
    assert first.status_code == 200
    assert first.get_json() | {"question": None} == {
        "counting": True,
        "reason": "",
        "message": "正在计时。",
        "credited_seconds": 12,
        "covered_seconds": 12,
        "finished": False,
        "question": None,
    }
    player.play(DURATION - 12)
    reply = player.replies[-1][1].get_json()
    assert reply["finished"] is True
    # Finishing is written through at once, with the course's 学时 and the plan's completion.
    progress = durable(setting)
    assert progress.finished_at is not None
    assert progress.covered_seconds == DURATION
    assert progress.intervals == [[0, DURATION]]
    db.session.refresh(setting.enrollment)
    assert setting.enrollment.earned_hours == 3
    assert setting.enrollment.completed_at is not None
    message = db.session.scalar(
        select(TemplateMessage).where(TemplateMessage.learner_id == setting.learner.id)
    )
    assert message.kind == "certificate_ready"
    assert message.dedupe_key == f"certificate:{setting.learner.id}:{setting.plan.id}"


def test_the_honest_learner_who_answers_and_pauses_finishes(
    app, client, clock, setting, monkeypatch
):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 30)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 40)
    factories.question(setting.course, answer_index=1)
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    questions = 0
    paused_once = False
    while not player.replies or not player.replies[-1][1].get_json()["finished"]:
        if player.question:
            questions += 1
            assert len(player.question["options"]) == 3
            assert "answer_index" not in player.question
            clock.advance(8)  # reading the question
            assert player.answer(right_choice(player.question)).get_json()["correct"] is True
            assert player.question is None
        if not paused_once and player.position >= 60:
            # A coffee break: the player reports that it is paused; nothing counts.
            paused_once = True
            for _ in range(20):
                clock.advance(15)
                reply = player.beat(position=player.position, playing=False).get_json()
                assert reply["counting"] is False
                assert reply["reason"] == "paused"
        reply = player.play(12)
        assert reply.status_code == 200
        assert len(player.replies) < 40
    assert questions >= 2
    assert durable(setting).finished_at is not None


def test_the_page_player_gets_every_second_it_played(app, client, clock, setting, monkeypatch):
    # The page's logic as a phone runs it: play pressed 2 s after load, 250 ms round trips,
    # a pause just after a report, a seek back and forth, questions, a minute offline while
    # playing. At a 100% threshold every second played must count.
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 25)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 35)
    setting.plan.chapter_threshold_percent = 100
    course = factories.course(setting.plan, chapters=1, chapter_seconds=240)
    factories.question(course, answer_index=1)
    chapter = course.chapters[0]
    log_in(client, setting.learner)
    page = HonestPlayer(client, clock, chapter.id, duration=240, choose=right_choice)
    page.start()
    started = clock.now
    page.run(2)
    page.play()
    page.run(12.4)  # just after the first report
    page.pause()
    page.run(20)
    page.play()
    page.run(9.3)
    page.seek(page.media - 5)  # back a little, then on again
    page.run(7)
    page.offline = [(clock.now, clock.now + 60)]
    page.run(70)
    page.run(600, until_finished=True)
    assert page.finished, page.statuses
    assert page.covered == 240
    assert page.answered >= 2
    assert None in page.statuses  # reports were lost while offline
    refused = [status for status in page.statuses if status and status[1] in ("jump", "gap")]
    assert refused == []
    assert page.covered <= clock.now - started


@pytest.mark.parametrize("rtt", [0.25, 0.7, 1.3])
@pytest.mark.parametrize("seed", range(4))
def test_the_page_player_loses_nothing_to_a_question_asked_by_a_slow_reply(
    app, client, clock, setting, monkeypatch, rtt, seed
):
    # A question every few seconds, reports every 2 s and replies up to 1.3 s slow: the
    # video plays on between the report that asks and the question shown, and that stretch,
    # reported after the answer, counts (the question's wait pays it, never more).
    monkeypatch.setitem(app.config, "STUDY_HEARTBEAT_SECONDS", 2)
    monkeypatch.setitem(app.config, "STUDY_MIN_HEARTBEAT_SECONDS", 1)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 3)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 4)
    setting.plan.chapter_threshold_percent = 100
    course = factories.course(setting.plan, chapters=1, chapter_seconds=30)
    factories.question(course, answer_index=1)
    log_in(client, setting.learner)
    page = HonestPlayer(
        client, clock, course.chapters[0].id, duration=30, choose=right_choice, rtt=rtt
    )
    page.read_seconds = 2.5
    page.jitter = random.Random(seed)
    page.start()
    started = clock.now
    page.run(2 + 0.13 * seed)
    page.play()
    page.run(300, until_finished=True)
    assert page.answered >= 3
    assert [status for status in page.statuses if status and status[1] in ("jump", "gap")] == []
    assert page.finished and page.covered == 30, page.statuses
    assert page.covered <= clock.now - started


def test_rewatching_earns_nothing_more(player, setting):
    player.play(36)
    player.position = 0  # back to the start
    reply = player.play(12).get_json()
    assert reply["counting"] is False
    assert reply["reason"] == "rewatch"
    assert covered(setting) == 36


def test_a_seek_back_then_watching_new_parts_counts_only_new_time(player, setting):
    player.play(24)
    player.position = 60  # skipped ahead: 24-60 is not covered
    player.play(24)
    assert redis_progress(setting)["iv"] == "0-24,60-84"
    assert covered(setting) == 48


def test_a_late_heartbeat_carries_a_few_seconds_of_slack_never_more(player, clock, setting):
    # The previous heartbeat arrived 3 s late: the next one may cover 3 s more than its gap.
    clock.advance(15)
    player.beat(position=12)
    clock.advance(9)
    assert player.beat(position=24).get_json()["credited_seconds"] == 12
    # A long pause does not bank time for a burst afterwards.
    clock.advance(600)
    player.beat(position=24, playing=False)
    clock.advance(12)
    reply = player.beat(position=24 + 12 + 5).get_json()
    assert reply["credited_seconds"] == 17  # 12 s of wall time + at most 5 s of slack
    clock.advance(12)
    assert player.beat(position=41 + 20).get_json()["reason"] == "jump"


# --- attacks that must earn nothing ---------------------------------------------------------


def test_posting_only_the_final_position_earns_nothing(player, clock, setting):
    clock.advance(DURATION)  # even after waiting as long as the chapter
    reply = player.beat(segment_from=0, position=DURATION).get_json()
    assert reply["counting"] is False
    assert reply["reason"] == "gap"
    assert covered(setting) == 0
    assert reply["finished"] is False


def test_a_timer_script_claiming_more_than_real_time_earns_nothing(player, clock, setting):
    for _ in range(4):
        clock.advance(12)
        reply = player.beat(position=player.position + 30).get_json()
        assert reply["counting"] is False
        assert reply["reason"] == "jump"
    assert covered(setting) == 0
    assert reply["finished"] is False


def test_a_script_a_little_faster_than_real_time_earns_at_most_real_time(player, clock, setting):
    started = clock.now
    for _ in range(8):
        clock.advance(12)
        player.beat(position=player.position + 14)
    assert covered(setting) <= clock.now - started + 5


def test_a_script_rounding_fractions_of_a_second_earns_at_most_real_time(
    app, client, clock, setting
):
    # Each report starts just short of a whole second after the last one ended and claims a
    # little more than its wall time: rounded to whole seconds, every report would cover a
    # second more than was played.
    chapter = factories.course(setting.plan, chapters=1, chapter_seconds=600).chapters[0]
    log_in(client, setting.learner)
    player = Player(client, clock, chapter.id)
    player.start()
    started = clock.now
    for k in range(60):
        clock.advance(2.1)
        player.beat(segment_from=3 * k + 0.999, position=3 * k + 3.0)
    progress = get_redis().hget(study_ledger.progress_key(setting.learner.id, chapter.id), "cov")
    assert int(progress) <= clock.now - started + 1


def test_restarting_sessions_earns_no_more_than_wall_time(app, client, clock, setting):
    # Open a session, wait 2 s, claim the whole budget from just short of a whole second,
    # start again: each new session once began with a fresh budget and kept the rounding.
    chapter = factories.course(setting.plan, chapters=1, chapter_seconds=600).chapters[0]
    log_in(client, setting.learner)
    player = Player(client, clock, chapter.id)
    started = clock.now
    position = 0.999
    for _ in range(19):  # the start rate limit allows 20 a minute
        player.start()
        clock.advance(2.0)
        reply = player.beat(segment_from=position, position=position + 2.999)
        assert reply.status_code == 200
        position += 3.0
        clock.advance(0.05)
    credited = int(
        get_redis().hget(study_ledger.progress_key(setting.learner.id, chapter.id), "cov")
    )
    assert credited <= clock.now - started + 1


def test_many_short_sessions_on_two_chapters_earn_no_more_than_wall_time(
    app, client, clock, setting
):
    second = factories.course(setting.plan, chapters=1, chapter_seconds=600).chapters[0]
    log_in(client, setting.learner)
    started = clock.now
    positions = {setting.chapter.id: 0.0, second.id: 0.0}
    for k in range(18):
        chapter_id = (setting.chapter.id, second.id)[k % 2]
        player = Player(client, clock, chapter_id)
        player.start()
        clock.advance(2.5)
        here = positions[chapter_id]
        assert player.beat(segment_from=here + 0.99, position=here + 3.4).status_code == 200
        positions[chapter_id] += 3
    total = sum(
        int(get_redis().hget(study_ledger.progress_key(setting.learner.id, chapter), "cov") or 0)
        for chapter in positions
    )
    assert 0 < total <= clock.now - started + 1


def test_nothing_counts_while_the_player_is_not_playing(player, clock, setting):
    clock.advance(12)
    reply = player.beat(position=12, playing=False).get_json()
    assert reply["counting"] is False
    assert reply["reason"] == "paused"
    assert covered(setting) == 0


def test_queued_segments_are_credited_once_within_wall_time(player, clock, setting):
    # Refused or lost reports: the player queues what it played and sends it with the next.
    clock.advance(40)
    response = player.client.post(
        "/api/study/heartbeats",
        json={
            "token": player.token,
            "seq": 1,
            "queued": [[0, 12.4], [12.4, 25.1]],
            "from": 25.1,
            "position": 38.0,
            "playing": True,
            "rate": 1,
        },
    )
    assert response.get_json()["credited_seconds"] == 38
    assert redis_progress(setting)["iv"] == "0-38"
    # The same segments again (a reply lost on the way back) earn nothing more.
    clock.advance(12)
    again = player.client.post(
        "/api/study/heartbeats",
        json={
            "token": player.token,
            "seq": 2,
            "queued": [[0, 12.4], [12.4, 25.1]],
            "from": 25.1,
            "position": 50.0,
            "playing": True,
            "rate": 1,
        },
    )
    assert again.get_json()["credited_seconds"] == 12
    # Many slivers, each rounded to a whole second, cover nothing.
    clock.advance(3)
    slivers = player.client.post(
        "/api/study/heartbeats",
        json={
            "token": player.token,
            "seq": 3,
            "queued": [[60 + k + 0.9, 60 + k + 1.0] for k in range(12)],
            "from": 80.9,
            "position": 81.0,
            "playing": True,
            "rate": 1,
        },
    )
    assert slivers.get_json()["reason"] == "jump"
    assert covered(setting) == 50


@pytest.mark.parametrize(
    "queued",
    [
        "0-12",
        [[0, 12]] * 13,
        [[0]],
        [[0, "12"]],
        [[0, float("inf")]],
    ],
)
def test_malformed_queued_segments_are_refused(player, clock, queued):
    clock.advance(12)
    body = {"token": player.token, "seq": 1, "from": 0, "position": 12, "playing": True}
    body |= {"rate": 1, "queued": queued}
    response = player.client.post(
        "/api/study/heartbeats",
        data=json.dumps(body).replace("Infinity", "1e400"),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "validation"


def test_playing_at_16x_earns_nothing(player, clock, setting):
    # At 16x the 120 s chapter ends after 7.5 s.
    clock.advance(7.5)
    reply = player.beat(position=DURATION, rate=16).get_json()
    assert reply["counting"] is False
    assert covered(setting) == 0
    # Even a segment no longer than the wall time does not count at a fast rate.
    player.clock.advance(12)
    reply = player.beat(segment_from=0, position=12, rate=2.0).get_json()
    assert reply["reason"] == "rate"
    assert reply["message"] == "倍速播放不计学时，请调回 1 倍速播放。"


def test_seeking_to_the_end_covers_nothing(player, clock, setting):
    player.play(12)
    clock.advance(12)
    reply = player.beat(segment_from=12, position=DURATION).get_json()
    assert reply["reason"] == "jump"
    # Watching the last seconds after the jump covers only those seconds.
    player.position = DURATION - 10
    reply = player.play(12).get_json()
    assert covered(setting) == 12 + 10
    assert reply["finished"] is False


def test_an_unattended_script_that_never_answers_earns_nothing_more(
    app, client, clock, setting, monkeypatch
):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 30)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 30)
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    statuses = []
    for _ in range(30):  # six minutes at real-time pace, dialog hidden
        clock.advance(12)
        response = player.client.post(
            "/api/study/heartbeats",
            json={
                "token": player.token,
                "seq": len(statuses) + 1,
                "from": min(12.0 * len(statuses), DURATION),
                "position": min(12.0 * (len(statuses) + 1), DURATION),
                "playing": True,
                "rate": 1.0,
            },
        )
        statuses.append(response.get_json().get("reason") or response.get_json())
    # It earned up to the first question, then nothing; left unanswered, the session paused.
    assert covered(setting) == 36
    assert statuses[3:7] == ["question"] * 4
    assert statuses[-1] == "question_timeout"
    # Starting a new session does not make the question go away.
    again = player.start()
    assert again["question"] is not None
    player.play(24)
    assert covered(setting) == 36


def test_an_unanswered_question_lets_the_session_go_idle(app, client, clock, setting, monkeypatch):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 12)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 12)
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    player.play(12)
    assert player.question is not None, player.replies[-1][1].get_json()
    # Heartbeats while the question waits do not keep the session alive.
    for _ in range(app.config["STUDY_SESSION_IDLE_SECONDS"] // 60):
        clock.advance(60)
        assert player.beat(position=player.position, playing=False).status_code == 200
    clock.advance(60)
    expired = player.beat(position=player.position, playing=False)
    assert expired.status_code == 410
    assert expired.get_json()["error"] == "session_expired"


def test_a_wrong_answer_withdraws_the_credit_since_the_previous_question(
    app, client, clock, setting, monkeypatch
):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 24)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 24)
    factories.question(setting.course, answer_index=1)
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    player.play(24)
    first = player.question
    assert first is not None and "answer_index" not in first and "answer" not in first
    clock.advance(3)
    assert player.answer(right_choice(first)).get_json()["correct"] is True
    player.play(24)
    assert covered(setting) == 48
    second = player.question
    assert second["id"] != first["id"]
    clock.advance(3)
    wrong = player.answer(wrong_choice(second)).get_json()
    assert wrong["correct"] is False
    # What was covered since the previous question must be watched again.
    assert wrong["withdrawn_seconds"] == 24
    assert covered(setting) == 24
    assert redis_progress(setting)["iv"] == "0-24"
    assert "24 秒" in wrong["message"]
    assert wrong["question"]["stem"] != second["stem"]  # another question, really
    assert wrong["question"]["id"] != second["id"]
    # The next answer waits; then the right one resumes counting.
    clock.advance(5)
    locked = player.answer(right_choice(wrong["question"]))
    assert locked.status_code == 429
    assert locked.get_json()["error"] == "locked"
    clock.advance(wrong["wait_seconds"])
    assert player.answer(right_choice(wrong["question"])).get_json()["correct"] is True
    player.position = 24
    clock.advance(12)
    assert player.beat(position=36).get_json()["credited_seconds"] == 12


def test_wrong_answers_in_a_row_cost_more_each_time_and_pause(
    app, client, clock, setting, monkeypatch
):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 12)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 12)
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    player.play(12)
    waits = []
    statuses = []
    for _ in range(3):
        clock.advance(3)
        reply = player.answer(wrong_choice(player.question)).get_json()
        waits.append(reply["wait_seconds"])
        statuses.append(reply["message"])
        clock.advance(reply["wait_seconds"])
    assert waits == [15, 30, 300]
    assert "学习已暂停" in statuses[-1]


def test_options_are_shuffled_and_ids_are_one_time(app, client, clock, setting, monkeypatch):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 12)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 12)
    orders, ids = set(), set()
    for _ in range(12):
        learner = factories.learner()
        factories.enrollment(learner, setting.plan)
        player = Player(new_client(app, learner), clock, setting.chapter.id)
        player.start()
        player.play(12)
        question = player.question
        assert "加" not in question["stem"] and "等于" not in question["stem"]  # no arithmetic
        orders.add((question["stem"], tuple(question["options"])))
        ids.add(question["id"])
        assert len(question["id"]) >= 12
    assert len(ids) == 12
    # The same stems come with their options in different orders.
    stems = [stem for stem, _ in orders]
    assert len(orders) > len(set(stems))


def test_an_answer_to_a_question_no_longer_shown_is_refused(
    app, client, clock, setting, monkeypatch
):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 12)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 12)
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    player.play(12)
    clock.advance(3)
    response = player.client.post(
        "/api/study/answers",
        json={"token": player.token, "choice": 0, "question_id": "an-old-one"},
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "stale"


def test_two_devices_at_once_earn_no_more_than_one(app, client, clock, setting):
    log_in(client, setting.learner)
    phone = Player(client, clock, setting.chapter.id)
    phone.start()
    phone.play(24)
    tablet = Player(new_client(app, setting.learner), clock, setting.chapter.id)
    tablet.start()
    clock.advance(12)
    refused = phone.beat(position=36)
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "superseded"
    assert "其他设备" in refused.get_json()["message"]
    # The tablet resumes where the phone was; both together earn only real time.
    tablet.position = 24
    tablet.beat(position=36)
    assert covered(setting) == 36


def test_replaying_an_old_heartbeat_earns_nothing(player, clock, setting):
    player.play(24)
    old_body, _ = player.replies[0]
    clock.advance(12)
    for body in (old_body, player.replies[-1][0]):
        replayed = player.client.post("/api/study/heartbeats", json=body)
        assert replayed.status_code == 409
        assert replayed.get_json()["error"] == "stale"
    assert covered(setting) == 24


def test_a_token_credits_only_the_learner_it_was_issued_to(app, clock, player, setting):
    # Heartbeats are authenticated by the signed token alone, whoever sends it: what it
    # credits is its own learner's time in its own session, never the sender's.
    other = factories.learner(name="李四")
    factories.enrollment(other, setting.plan)
    thief = new_client(app, other)
    Player(thief, clock, setting.chapter.id).start()
    clock.advance(12)
    body = {"token": player.token, "seq": 1, "from": 0, "position": 12, "playing": True, "rate": 1}
    assert thief.post("/api/study/heartbeats", json=body).status_code == 200
    thief_progress = get_redis().hget(
        study_ledger.progress_key(other.id, setting.chapter.id), "cov"
    )
    assert int(thief_progress) == 0
    assert covered(setting) == 12
    # Nor can a token be rewritten to name someone else: the signature no longer holds.
    payload, signature = player.token.rsplit(".", 1)
    named = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    named[0] = other.id
    forged = base64.urlsafe_b64encode(json.dumps(named).encode()).decode().rstrip("=")
    clock.advance(12)
    refused = thief.post("/api/study/heartbeats", json=body | {"token": f"{forged}.{signature}"})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "session_invalid"
    assert (
        int(get_redis().hget(study_ledger.progress_key(other.id, setting.chapter.id), "cov")) == 0
    )


def test_a_token_signed_with_another_key_is_refused(app, clock, player, setting):
    session = study.read_token(player.token)
    foreign = URLSafeSerializer("not-our-secret", salt="study-session").dumps(
        [session.learner_id, session.chapter_id, session.session_id, session.login_tag]
    )
    clock.advance(12)
    response = player.beat(position=12, token=foreign)
    assert response.status_code == 400
    assert response.get_json()["error"] == "session_invalid"
    assert covered(setting) == 0


# --- the end of a login ends its playback ---------------------------------------------------


def log_out(client) -> None:
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/h5/home").get_data(as_text=True))
    assert client.post("/h5/logout", data={"csrf_token": token}).status_code == 302


def change_password(client, new: str) -> None:
    g.pop("csrf_token", None)
    response = submit_form(
        client,
        "/h5/password",
        {"current_password": factories.PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def assert_session_over(response) -> None:
    assert response.status_code == 410
    assert response.get_json()["error"] == "session_expired"
    assert "学习会话已失效" in response.get_json()["message"]


def test_logging_out_stops_the_playback_at_once(app, client, clock, player, setting):
    player.play(12)
    log_out(client)
    clock.advance(12)
    # The page left open keeps its token; it counts nothing more, from any client.
    assert_session_over(player.beat(position=24))
    clock.advance(12)
    assert_session_over(app.test_client().post("/api/study/heartbeats", json=player.replies[-1][0]))
    assert_session_over(player.answer(0))
    assert covered(setting) == 12
    # Starting again needs a login.
    assert (
        client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id}).status_code
        == 401
    )


def test_a_password_change_stops_the_old_logins_playback(app, client, clock, player, setting):
    player.play(12)
    old_token = player.token
    phone = new_client(app, setting.learner)
    change_password(phone, "Changed2022")
    clock.advance(12)
    assert_session_over(player.beat(position=24))
    # The old login cannot start again; the new one can, and its token is its own: the old
    # token sent with the new login's cookie counts nothing.
    assert (
        client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id}).status_code
        == 401
    )
    fresh = Player(phone, clock, setting.chapter.id)
    fresh.start()
    fresh.position = 12
    assert fresh.play(12).get_json()["credited_seconds"] == 12
    clock.advance(12)
    stale = phone.post(
        "/api/study/heartbeats",
        json={"token": old_token, "seq": 9, "from": 24, "position": 36, "playing": True, "rate": 1},
    )
    assert_session_over(stale)
    assert covered(setting) == 24


def test_the_ledger_refuses_a_token_whose_login_it_no_longer_holds(clock, player, setting):
    # Ending a login removes its tag from the ledger and deletes its session; a session that
    # a start in flight opened meanwhile keeps its hash, and the tag check alone refuses it.
    player.play(12)
    get_redis().hdel(study_ledger.learner_key(setting.learner.id), "tag")
    clock.advance(12)
    assert_session_over(player.beat(position=24))
    assert covered(setting) == 12


def test_heartbeats_and_answers_need_no_cookie(app, client, clock, setting, monkeypatch):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 12)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 12)
    factories.question(setting.course, answer_index=1)
    log_in(client, setting.learner)
    token = Player(client, clock, setting.chapter.id).start()["token"]
    anonymous = Player(app.test_client(), clock, setting.chapter.id, token=token)
    assert anonymous.play(12).get_json()["credited_seconds"] == 12
    assert anonymous.question is not None
    clock.advance(3)
    assert anonymous.answer(right_choice(anonymous.question)).get_json()["correct"] is True
    assert anonymous.play(12).get_json()["credited_seconds"] == 12
    assert covered(setting) == 24


def test_every_session_leaves_its_evidence(app, client, clock, setting, monkeypatch):
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 24)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 24)
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    client.environ_base["HTTP_USER_AGENT"] = WECHAT_IPHONE
    player.start()
    player.play(24)
    clock.advance(1)
    assert player.beat(position=player.position).status_code == 429  # too soon
    clock.advance(4)
    player.answer(wrong_choice(player.question))
    clock.advance(15)
    player.answer(right_choice(player.question))
    clock.advance(12)
    player.beat(position=player.position + 40)  # a jump
    first_key = player.token
    player.start()  # a second session ends the first
    study_flush.flush_once(500)
    db.session.expire_all()
    rows = db.session.scalars(
        select(StudySession)
        .where(StudySession.learner_id == setting.learner.id)
        .order_by(StudySession.id)
    ).all()
    assert len(rows) == 2 and first_key
    first, second = rows
    assert first.device == "微信 · iPhone"
    assert "MicroMessenger" in first.user_agent
    assert first.address == "127.0.0.1"
    assert first.ended_at is not None and second.ended_at is None
    assert first.heartbeats_accepted == 3
    assert first.refusals == {"too_soon": 1}
    assert first.uncounted == {"jump": 1}
    assert first.credited_seconds == 24
    assert first.questions_asked == 2
    assert first.answers == 2 and first.wrong_answers == 1
    assert len(first.answer_latencies_ms) == 2
    assert first.answer_latencies_ms[0] == 5000
    # The learner's 学习记录 of the chapter says when, on what device, how much counted, why not.
    page = client.get(f"/h5/study/chapters/{setting.chapter.id}").get_data(as_text=True)
    record = page[page.index('id="study-record"') :]
    assert "微信 · iPhone" in record
    assert "计入 00:24" in record or "计入 0:24" in record
    assert "未计入：" in record and "拖动或倍速跳过" in record and "答错 1 次" in record


def test_a_round_without_sessions_leaves_their_evidence_waiting(client, clock, setting):
    # The write-behind writes sessions' counters less often than credit: a round that
    # skips them writes the credit and leaves every session for the next that does not.
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    player.start()
    player.play(24)

    def session_row() -> StudySession:
        db.session.expire_all()
        return db.session.scalars(
            select(StudySession).where(StudySession.learner_id == setting.learner.id)
        ).one()

    assert study_flush.flush_all(500, sessions=False) == 1
    assert durable(setting).covered_seconds == 24
    assert session_row().heartbeats_accepted == 0
    assert study_flush.flush_all(500) == 1
    assert session_row().heartbeats_accepted == 2
    assert session_row().credited_seconds == 24


def test_a_plan_with_a_daily_cap_stops_counting_at_it(app, client, clock, setting):
    setting.plan.daily_cap_hours = 1
    setting.plan.minutes_per_hour = 1  # a 学时 of one minute: the cap is 60 s a day
    chapter = factories.course(setting.plan, chapters=1, chapter_seconds=600).chapters[0]
    log_in(client, setting.learner)
    clock.now = (clock.now // 86400 + 1) * 86400 + 3600  # 09:00 in Chongqing
    player = Player(client, clock, chapter.id)
    player.start()
    player.play(96)
    reply = player.replies[-1][1].get_json()
    assert reply["reason"] == "daily_cap"
    assert "今天" in reply["message"]
    cov = int(get_redis().hget(study_ledger.progress_key(setting.learner.id, chapter.id), "cov"))
    assert 60 <= cov <= 72
    # The next day counts again.
    clock.advance(86400)
    player.start()
    player.position = cov
    assert player.play(12).get_json()["credited_seconds"] == 12, player.replies[-1][1].get_json()


def test_only_media_the_session_fetched_counts(app, client, clock, setting, tmp_path, monkeypatch):
    # The platform serves this chapter's media: a span counts only if this playback session
    # fetched it through the URL signed for it.
    monkeypatch.setitem(app.config, "STUDY_MEDIA_DIR", str(tmp_path))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "proof.webm").write_bytes(b"\x1a" * 120_000)  # 1000 bytes a second
    setting.chapter.media_url = "demo/proof.webm"
    log_in(client, setting.learner)
    player = Player(client, clock, setting.chapter.id)
    started = player.start()
    assert "/h5/media/demo/proof.webm?s=" in started["media_url"]
    reply = player.play(12).get_json()
    assert reply["counting"] is False and reply["reason"] == "no_media"
    # An unsigned fetch, or one signed for another session, proves nothing.
    client.get("/h5/media/demo/proof.webm", headers={"Range": "bytes=0-59999"}).close()
    player.position = 0
    assert player.play(12).get_json()["reason"] == "no_media"
    fetched = client.get(started["media_url"], headers={"Range": "bytes=0-29999"})
    assert fetched.status_code == 206
    fetched.close()
    player.position = 0
    assert player.play(12).get_json()["credited_seconds"] == 12
    player.play(12)
    assert covered(setting) == 24
    reply = player.play(12).get_json()  # 24-36 s: not fetched yet
    assert reply["reason"] == "no_media"
    client.get(started["media_url"], headers={"Range": "bytes=30000-"}).close()
    player.position = 24
    assert player.play(12).get_json()["credited_seconds"] == 12
    study_flush.flush_once(500)
    db.session.expire_all()
    record = db.session.scalar(
        select(StudySession).where(
            StudySession.session_key == study.read_token(player.token).session_id
        )
    )
    assert record.media_bytes == 30_000 + 90_000
    assert record.uncounted["no_media"] == 3


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("not json", 400, "validation"),
        ([1, 2], 400, "validation"),
        ({"seq": 1, "from": 0, "position": 12, "playing": True, "rate": 1}, 400, "validation"),
        ({"token": "x", "seq": "1", "from": 0, "position": 12, "rate": 1}, 400, "validation"),
        (
            {"token": "forged", "seq": 1, "from": 0, "position": 12, "rate": 1},
            400,
            "session_invalid",
        ),
    ],
)
def test_malformed_heartbeats_are_refused_clearly(player, body, status, error):
    if isinstance(body, str):
        response = player.client.post(
            "/api/study/heartbeats", data=body, content_type="application/json"
        )
    else:
        response = player.client.post("/api/study/heartbeats", json=body)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.get_json()["message"]


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"position": -1}, 400, "validation"),
        ({"position": 1e12}, 400, "validation"),
        ({"position": DURATION + 60}, 400, "invalid_position"),
        ({"rate": 0}, 400, "validation"),
        ({"rate": 100}, 400, "validation"),
        ({"seq": 0}, 400, "validation"),
    ],
)
def test_absurd_positions_and_rates_are_refused(player, clock, setting, changes, status, error):
    clock.advance(12)
    body = {"token": player.token, "seq": 1, "from": 0, "position": 12, "playing": True, "rate": 1}
    response = player.client.post("/api/study/heartbeats", json=body | changes)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert covered(setting) == 0


def test_nan_is_refused(player, clock):
    clock.advance(12)
    response = player.client.post(
        "/api/study/heartbeats",
        data=f'{{"token": "{player.token}", "seq": 1, "from": 0, "position": NaN, "rate": 1}}',
        content_type="application/json",
    )
    assert response.status_code == 400


def test_heartbeats_closer_than_the_minimum_gap_are_refused(player, clock, setting):
    clock.advance(1)
    response = player.beat(position=1)
    assert response.status_code == 429
    assert response.get_json()["error"] == "too_soon"


def test_an_idle_session_expires(player, clock, setting):
    clock.advance(3600)
    response = player.beat(position=12)
    assert response.status_code == 410
    assert response.get_json()["error"] == "session_expired"


def test_a_session_needs_a_logged_in_enrolled_learner(app, client, clock, setting):
    assert (
        client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id}).status_code
        == 401
    )
    outsider = factories.learner(name="王五")
    log_in(client, outsider)
    response = client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id})
    assert response.status_code == 403
    assert "开通" in response.get_json()["message"]
    assert client.post("/api/study/sessions", json={"chapter_id": 999999}).status_code == 404
    assert client.post("/api/study/sessions", json={"chapter_id": "x"}).status_code == 400
    assert client.post("/api/study/sessions", json={"chapter_id": 2**31}).status_code == 404
    assert (
        client.post(
            "/api/study/heartbeats",
            json={"token": "x", "seq": 1, "from": 0, "position": 1, "rate": 1},
        ).status_code
        == 400
    )


def test_a_learner_who_must_change_the_initial_password_cannot_start(client, clock, setting):
    # As on the study pages: an account still on its initial password studies nothing.
    setting.learner.must_change_password = True
    db.session.flush()
    log_in(client, setting.learner)
    response = client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id})
    assert response.status_code == 403
    assert "修改初始密码" in response.get_json()["message"]


def test_no_study_after_the_window_closes(app, client, clock, setting, player):
    setting.plan.study_ends_at = utcnow() + timedelta(minutes=1)
    db.session.flush()
    started = player.start()
    assert started["token"]
    clock.advance(120)
    response = player.beat(position=12)
    assert response.status_code == 403
    assert response.get_json()["error"] == "closed"
    refused = client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id})
    assert refused.status_code == 403
    assert "截止" in refused.get_json()["message"]


def test_a_revoked_enrollment_cannot_start(client, clock, setting):
    log_in(client, setting.learner)
    setting.enrollment.status = setting.enrollment.status.REVOKED
    db.session.flush()
    assert (
        client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id}).status_code
        == 403
    )


def test_session_starts_are_rate_limited(client, clock, setting):
    log_in(client, setting.learner)
    statuses = [
        client.post("/api/study/sessions", json={"chapter_id": setting.chapter.id}).status_code
        for _ in range(25)
    ]
    assert statuses[:20] == [201] * 20
    assert statuses[-1] == 429


# --- write-behind ---------------------------------------------------------------------------


def test_credit_is_written_behind_and_a_chapter_resumes_from_postgresql(app, player, setting):
    player.play(48)
    assert durable(setting) is None  # still only in Redis
    assert study_flush.flush_all(500) == 1
    progress = durable(setting)
    assert (progress.covered_seconds, progress.credited_seconds, progress.last_position) == (
        48,
        48,
        48,
    )
    assert progress.finished_at is None
    # Redis forgets everything (logins too): the next session resumes from what PostgreSQL
    # holds.
    get_redis().flushdb()
    assert player.beat(position=60).status_code == 410
    log_in(player.client, setting.learner)
    restarted = player.start()
    assert restarted["resume_position"] == 48
    assert restarted["covered_seconds"] == 48


def test_the_flush_command_writes_what_waits(app, runner, player, setting):
    player.play(24)
    result = runner.invoke(args=["study", "flush", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 progress entries written" in result.output
    assert durable(setting).covered_seconds == 24


def test_an_older_snapshot_never_overwrites_a_newer_one(app, player, setting):
    from services.study import rules as study

    player.play(36)
    newer = study_ledger.take_dirty(10)
    study.persist_progress(newer)
    older = [
        study_ledger.ProgressState(setting.learner.id, setting.chapter.id, "0-12", 12, 12, 12, 0)
    ]
    study.persist_progress(older)
    assert durable(setting).covered_seconds == 36


def test_heartbeat_refusals_of_the_ingest_app(player, clock, setting):
    body = {"token": player.token, "seq": 1, "from": 0, "position": 12, "playing": True, "rate": 1}
    clock.advance(12)
    for path in ("/api/study/heartbeats", "/api/study/answers"):
        response = player.client.get(path)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        assert response.get_json()["error"] == "method_not_allowed"
        below = player.client.post(path + "/x", json=body)
        assert below.status_code == 404
        assert below.get_json()["message"] == "您访问的页面不存在。"
    # The cookie plays no part: a broken one changes nothing.
    tampered = player.client.get_cookie("gx_session").value[:-2] + "xx"
    player.client.set_cookie("gx_session", tampered)
    assert player.client.post("/api/study/heartbeats", json=body).status_code == 200
    assert covered(setting) == 12


def test_the_ledger_unavailable_is_a_503_in_chinese(app, player, clock, monkeypatch):
    clock.advance(12)

    def unavailable(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(study_ledger, "heartbeat", unavailable)
    response = player.beat(position=12)
    assert response.status_code == 503
    assert response.get_json()["error"] == "unavailable"
    assert "学习记录服务暂时不可用" in response.get_json()["message"]


def test_an_unexpected_error_is_a_500_in_chinese_logged_with_the_client_address(
    make_app, tmp_path, monkeypatch, caplog
):
    # Behind a proxy (TRUSTED_PROXIES), ProxyFix wraps the ingest app as it wraps Flask.
    proxied = make_app({"APP_ENV": "test", "TRUSTED_PROXIES": 1, "STORAGE_DIR": str(tmp_path)})

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(study, "record_heartbeat", broken)
    response = proxied.test_client().post(
        "/api/study/heartbeats",
        json={"token": "t", "seq": 1, "from": 0, "position": 12, "playing": True, "rate": 1},
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal", "message": "系统繁忙，请稍后再试。"}
    assert "unhandled error on /api/study/heartbeats from 203.0.113.7" in caplog.text
    assert "RuntimeError: a bug" in caplog.text


# --- hostile bodies, on each of the three endpoints -------------------------------------------

STUDY_ENDPOINTS = ["/api/study/sessions", "/api/study/heartbeats", "/api/study/answers"]
JSON = "application/json"
CHINESE = re.compile(r"[\u4e00-\u9fff]")

HOSTILE_BODIES = [
    ("malformed", b'{"token": "abc", "seq": ', JSON, 400),
    ("deeply nested array", b"[" * 1024, JSON, 400),
    ("deeply nested objects", b'{"a":[' * 600, JSON, 400),
    ("NaN", b'{"token": "t", "chapter_id": NaN, "seq": NaN, "choice": NaN}', JSON, 400),
    (
        "Infinity",
        b'{"token": "t", "chapter_id": Infinity, "seq": 1, "choice": -Infinity}',
        JSON,
        400,
    ),
    (
        "a number beyond the double range",
        b'{"token": "t", "chapter_id": 1e400, "seq": 1e400, "choice": 1e400}',
        JSON,
        400,
    ),
    # Parsed (no JSON integer within 4 KB reaches Python's 4300-digit limit), then refused by
    # the rules: no such chapter (404), not a sequence number (400).
    (
        "an integer of 4000 digits",
        b'{"token": "t", "chapter_id": 9' + b"9" * 4000 + b"}",
        JSON,
        None,
    ),
    ("oversized", b'{"token": "' + b"x" * 5000 + b'"}', JSON, 413),
    ("not UTF-8", b'{"token": "\xff\xfe", "chapter_id": 1}', JSON, 400),
    ("not an object", b"[1, 2, 3]", JSON, 400),
    ("a bare string", b'"token"', JSON, 400),
    ("empty", b"", JSON, 400),
    ("text/plain", b'{"chapter_id": 1}', "text/plain", 400),
    ("a form", b"chapter_id=1&token=x", "application/x-www-form-urlencoded", 400),
    ("no content type", b'{"chapter_id": 1}', None, 400),
]


@pytest.mark.parametrize("path", STUDY_ENDPOINTS)
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [pytest.param(body, kind, status, id=name) for name, body, kind, status in HOSTILE_BODIES],
)
def test_hostile_bodies_get_a_4xx_in_chinese(
    player, clock, setting, path, body, content_type, status
):
    clock.advance(12)
    headers = {"Content-Type": content_type} if content_type else {}
    response = player.client.post(path, data=body, headers=headers)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    answer = response.get_json()
    assert answer["error"] == ("too_large" if status == 413 else answer["error"])
    assert isinstance(answer["error"], str) and answer["error"]
    assert CHINESE.search(answer["message"]), answer
    assert covered(setting) == 0


@pytest.mark.parametrize("path", STUDY_ENDPOINTS)
def test_an_oversized_chunked_body_is_refused(player, path):
    # No Content-Length: the body is read only up to the limit.
    response = player.client.post(
        path,
        input_stream=io.BytesIO(b'{"token": "' + b"x" * 10_000 + b'"}'),
        content_type=JSON,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    assert "4 KB" in response.get_json()["message"]


@pytest.mark.parametrize("path", STUDY_ENDPOINTS)
def test_a_nonsense_content_length_is_refused(player, path):
    response = player.client.post(
        path, data=b"{}", content_type=JSON, environ_overrides={"CONTENT_LENGTH": "-5"}
    )
    assert response.status_code == 400
    assert "Content-Length" in response.get_json()["message"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_constant_anywhere_refuses_the_body(player, clock, setting, constant):
    # Even in a field no rule reads: the body is not JSON as the player sends it.
    clock.advance(12)
    good = {
        "/api/study/sessions": {"chapter_id": setting.chapter.id},
        "/api/study/heartbeats": {
            "token": player.token,
            "seq": 1,
            "from": 0,
            "position": 12,
            "playing": True,
            "rate": 1,
        },
        "/api/study/answers": {"token": player.token, "choice": 0},
    }
    for path, body in good.items():
        data = json.dumps(body)[:-1] + f', "note": {constant}}}'
        response = player.client.post(path, data=data, content_type=JSON)
        assert response.status_code == 400, (path, response.get_json())
        assert "NaN 或 Infinity" in response.get_json()["message"]
    assert covered(setting) == 0


def test_each_thread_answers_in_its_own_app_context_with_an_empty_g(app):
    from flask import current_app

    from handlers.study_ingest import StudyIngest

    ingest = StudyIngest(app)
    with ingest._context() as first:
        assert current_app._get_current_object() is app
        g.left_over = "a heartbeat's"
    with ingest._context() as again:
        assert again is first
        assert "left_over" not in g
    other = []
    thread = threading.Thread(target=lambda: other.append(ingest._context()))
    thread.start()
    thread.join()
    assert other[0] is not first
