"""The published techniques against the ledger, each measured: what it earns against the
wall time it took, and whether the 学习异常 desk flags it. ``bench/study_attacks.py`` runs
this module and prints the table (each test prints one ``ATTACK`` line)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from infra.extensions import db
from infra.redis_client import get_redis
from infra.transaction import commit
from models.base import utcnow
from models.catalog import Chapter
from services.study import ledger as study_ledger
from services.study import signals
from tests import factories
from tests.study_player import FakeClock, Player, log_in, right_choice
from wxapp import study_flush

CHAPTER = 1200  # seconds


@pytest.fixture
def clock(app):
    fake = FakeClock(time.time())
    app.extensions["study_clock"] = fake
    yield fake
    app.extensions.pop("study_clock", None)


@pytest.fixture(autouse=True)
def rhythm(app, monkeypatch):
    # Questions every 2-3 minutes of watched time, so that every run meets several.
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MIN_SECONDS", 120)
    monkeypatch.setitem(app.config, "STUDY_QUESTION_MAX_SECONDS", 180)


@dataclass
class Stage:
    plan: object
    chapter: Chapter


@pytest.fixture
def stage(app, tmp_path, monkeypatch) -> Stage:
    # The platform serves the chapter's media itself: media proof applies.
    monkeypatch.setitem(app.config, "STUDY_MEDIA_DIR", str(tmp_path))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "attack.webm").write_bytes(b"\x1a" * CHAPTER * 100)
    plan = factories.plan(required_hours=3, courses=0)
    course = factories.course(plan, hours=3, chapters=1, chapter_seconds=CHAPTER)
    course.chapters[0].media_url = "demo/attack.webm"
    factories.question(course, answer_index=1)
    return Stage(plan, course.chapters[0])


def fetch_media_of(client, start: dict) -> None:
    """What a browser does with the page's media: fetch it through the signed URL."""
    client.get(start["media_url"]).close()


def learner_on(app, stage: Stage, address: str = "192.0.2.1"):
    learner = factories.learner()
    factories.enrollment(learner, stage.plan)
    commit()
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    log_in(client, learner)
    return learner, client


def covered(learner, stage: Stage) -> int:
    value = get_redis().hget(study_ledger.progress_key(learner.id, stage.chapter.id), "cov")
    return int(value or 0)


def is_flagged(learner) -> bool:
    study_flush.flush_all(500)
    commit()
    return learner.id in {item.learner_id for item in signals.flagged(utcnow())}


def report(name: str, earned: int, wall: float, learner, note: str = "") -> None:
    flag = "flagged" if is_flagged(learner) else "not flagged"
    print(f"\nATTACK | {name} | earned {earned} s | wall {wall:.0f} s | {flag} | {note}")


def test_final_packet(app, clock, stage):
    learner, client = learner_on(app, stage)
    player = Player(client, clock, stage.chapter.id)
    fetch_media_of(player.client, player.start())
    started = clock.now
    clock.advance(CHAPTER)
    player.beat(segment_from=0, position=CHAPTER)
    earned = covered(learner, stage)
    report("final packet", earned, clock.now - started, learner, "one report of the whole chapter")
    assert earned == 0


def test_faster_timer(app, clock, stage):
    learner, client = learner_on(app, stage)
    player = Player(client, clock, stage.chapter.id)
    fetch_media_of(player.client, player.start())
    started = clock.now
    for _ in range(40):  # claims 14 s per 12 s
        if player.question:
            clock.advance(5)
            player.answer(right_choice(player.question))
        clock.advance(12)
        player.beat(position=player.position + 14)
    earned = covered(learner, stage)
    report("faster timer (14 s per 12 s)", earned, clock.now - started, learner)
    assert earned <= clock.now - started


def test_sixteen_times(app, clock, stage):
    learner, client = learner_on(app, stage)
    player = Player(client, clock, stage.chapter.id)
    fetch_media_of(player.client, player.start())
    started = clock.now
    for _ in range(6):
        clock.advance(12)
        player.beat(position=min(CHAPTER, player.position + 12 * 16), rate=16)
    earned = covered(learner, stage)
    report("16x playback", earned, clock.now - started, learner)
    assert earned == 0


def test_seek(app, clock, stage):
    learner, client = learner_on(app, stage)
    player = Player(client, clock, stage.chapter.id)
    fetch_media_of(player.client, player.start())
    started = clock.now
    player.play(24)
    clock.advance(12)
    player.beat(segment_from=24, position=CHAPTER - 1)
    earned = covered(learner, stage)
    report("seek to the end", earned, clock.now - started, learner, "only the 24 s watched")
    assert earned == 24


def test_never_answer(app, clock, stage):
    learner, client = learner_on(app, stage)
    player = Player(client, clock, stage.chapter.id)
    fetch_media_of(player.client, player.start())
    started = clock.now
    statuses = []
    for _ in range(175):  # 35 minutes, the dialog never answered
        clock.advance(12)
        position = min(CHAPTER, player.position + 12)
        statuses.append(player.beat(position=position).status_code)
    earned = covered(learner, stage)
    report(
        "never answer", earned, clock.now - started, learner,
        f"earns to the first question, then nothing; last report {statuses[-1]}",
    )  # fmt: skip
    assert earned <= 180 and statuses[-1] == 410


def test_two_devices(app, clock, stage):
    learner, client = learner_on(app, stage)
    phone = Player(client, clock, stage.chapter.id)
    tablet_client = app.test_client()
    log_in(tablet_client, learner)
    tablet = Player(tablet_client, clock, stage.chapter.id)
    fetch_media_of(phone.client, phone.start())
    fetch_media_of(tablet.client, tablet.start())
    tablet.position = 600
    started = clock.now
    for _ in range(20):
        clock.advance(12)
        for device in (phone, tablet):
            if device.question:
                device.answer(right_choice(device.question))
            device.beat(position=device.position + 12)
    earned = covered(learner, stage)
    report("two devices at once", earned, clock.now - started, learner, "the first is superseded")
    assert earned <= clock.now - started


def test_replay(app, clock, stage):
    learner, client = learner_on(app, stage)
    player = Player(client, clock, stage.chapter.id)
    fetch_media_of(player.client, player.start())
    started = clock.now
    player.play(24)
    before = covered(learner, stage)
    for body, _ in list(player.replies):
        clock.advance(12)
        client.post("/api/study/heartbeats", json=body)
    earned = covered(learner, stage)
    report("replay", earned - before, clock.now - started, learner, f"{before} s honestly first")
    assert earned == before


def test_other_learners_token(app, clock, stage):
    victim, victim_client = learner_on(app, stage)
    thief, thief_client = learner_on(app, stage, address="192.0.2.2")
    token = Player(victim_client, clock, stage.chapter.id).start()["token"]
    started = clock.now
    stolen = Player(thief_client, clock, stage.chapter.id, token=token)
    stolen.play(60)
    earned = covered(thief, stage)
    report(
        "another learner's token", earned, clock.now - started, thief,
        f"the token's own learner was credited {covered(victim, stage)} s",
    )  # fmt: skip
    assert earned == 0


def test_restart_rounding(app, clock, stage):
    learner, client = learner_on(app, stage)
    player = Player(client, clock, stage.chapter.id)
    started = clock.now
    position = 0.999
    for _ in range(19):
        fetch_media_of(player.client, player.start())
        clock.advance(2.0)
        player.beat(segment_from=position, position=position + 2.999)
        position += 3.0
        clock.advance(0.05)
    earned = covered(learner, stage)
    report("restart rounding", earned, clock.now - started, learner)
    assert earned <= clock.now - started + 1


def _auto_answer(app, clock, stage, *, knows_answers: bool, fetch_media: bool, address: str):
    learner, client = learner_on(app, stage, address=address)
    player = Player(client, clock, stage.chapter.id)
    start = player.start()
    if fetch_media:
        fetch_media_of(client, start)
    started = clock.now
    rng = random.Random(7)
    while clock.now - started < CHAPTER and covered(learner, stage) < CHAPTER:
        if player.question:
            clock.advance(3)  # a script waits a little to look human
            options = player.question["options"]
            choice = right_choice(player.question) if knows_answers else rng.randrange(len(options))
            reply = player.answer(choice)
            if reply.status_code == 200 and not reply.get_json()["correct"]:
                clock.advance(reply.get_json()["wait_seconds"])
            elif reply.status_code == 429:
                clock.advance(15)
            continue
        clock.advance(12)
        player.beat(position=min(CHAPTER, player.position + 12))
    return learner, covered(learner, stage), clock.now - started


def test_auto_answer_script_without_media(app, clock, stage):
    learner, earned, wall = _auto_answer(
        app, clock, stage, knows_answers=False, fetch_media=False, address="192.0.2.3"
    )
    report("1x auto-answer script, blind guesses, no media", earned, wall, learner)
    assert earned == 0
    learner, earned, wall = _auto_answer(
        app, clock, stage, knows_answers=True, fetch_media=False, address="192.0.2.4"
    )
    report(
        "1x auto-answer script with a shared answer list, no media", earned, wall, learner,
        "every report refused no_media",
    )  # fmt: skip
    assert earned == 0 and is_flagged(learner)


def test_auto_answer_script_with_media(app, clock, stage):
    learner, earned, wall = _auto_answer(
        app, clock, stage, knows_answers=True, fetch_media=True, address="192.0.2.5"
    )
    report(
        "1x auto-answer script with a shared answer list that also fetches media",
        earned, wall, learner, "real time, like a learner; its timer's rhythm flagged",
    )  # fmt: skip
    assert earned <= wall and is_flagged(learner)


def test_ten_account_farm(app, clock, stage):
    accounts = [learner_on(app, stage, address="203.0.113.9") for _ in range(10)]
    players = [Player(client, clock, stage.chapter.id) for _, client in accounts]
    for player in players:
        fetch_media_of(player.client, player.start())
    started = clock.now
    for _ in range(25):
        clock.advance(12)
        for player in players:
            if player.question:
                player.answer(right_choice(player.question))
            player.beat(position=player.position + 12)
    wall = clock.now - started
    earned = [covered(learner, stage) for learner, _ in accounts]
    flagged = [is_flagged(learner) for learner, _ in accounts]
    print(
        f"\nATTACK | ten-account farm, one address | earned {min(earned)}-{max(earned)} s each "
        f"| wall {wall:.0f} s | flagged {sum(flagged)} of 10 | real time per account"
    )
    assert max(earned) <= wall and all(flagged)
    assert db.session.scalar(select(Chapter.id).where(Chapter.id == stage.chapter.id))
