"""A scripted player for the study tests: logs in, opens chapters and sends heartbeats over
HTTP, on the ledger's injectable clock (tests advance time instead of sleeping)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, g
from flask.testing import FlaskClient

from tests import factories
from tests.conftest import submit_form


class FakeClock:
    """The ledger's clock, moved by the test."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def log_in(client: FlaskClient, learner) -> None:
    # The test's app context outlives requests; a CSRF token cached in ``g`` for another
    # client's session would not match this one's.
    g.pop("csrf_token", None)
    response = submit_form(
        client, "/h5/login", {"account": learner.id_number, "password": factories.PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@dataclass
class Player:
    client: FlaskClient
    clock: FakeClock
    chapter_id: int
    token: str = ""
    seq: int = 0
    position: float = 0.0
    question: dict[str, Any] | None = None
    replies: list[Any] = field(default_factory=list)

    def start(self) -> dict[str, Any]:
        response = self.client.post("/api/study/sessions", json={"chapter_id": self.chapter_id})
        assert response.status_code == 201, response.get_json()
        data = response.get_json()
        self.token = data["token"]
        self.seq = 0
        self.position = float(data["resume_position"])
        self.question = data["question"]
        return data

    def beat(
        self,
        *,
        position: float,
        segment_from: float | None = None,
        playing: bool = True,
        rate: float = 1.0,
        seq: int | None = None,
        token: str | None = None,
        queued: list[list[float]] | None = None,
    ):
        if seq is None:
            self.seq += 1
            seq = self.seq
        body = {
            "token": token or self.token,
            "seq": seq,
            "from": self.position if segment_from is None else segment_from,
            "position": position,
            "playing": playing,
            "rate": rate,
        }
        if queued:
            body["queued"] = queued
        response = self.client.post("/api/study/heartbeats", json=body)
        self.replies.append((body, response))
        if response.status_code == 200:
            self.position = position
            self.question = response.get_json()["question"]
        return response

    def play(self, seconds: float, *, step: float = 12.0, rate: float = 1.0):
        """Play for ``seconds`` of wall time at ``rate``, reporting every ``step`` seconds."""
        last = None
        elapsed = 0.0
        while elapsed < seconds:
            chunk = min(step, seconds - elapsed)
            self.clock.advance(chunk)
            elapsed += chunk
            last = self.beat(position=self.position + chunk * rate, rate=rate)
        return last

    def answer(self, choice: int):
        response = self.client.post(
            "/api/study/answers", json={"token": self.token, "choice": choice}
        )
        if response.status_code == 200:
            self.question = response.get_json()["question"]
        return response


def new_client(app: Flask, learner) -> FlaskClient:
    client = app.test_client()
    log_in(client, learner)
    return client


@dataclass
class HonestPlayer:
    """The chapter page's player (``static/js/study-player.js``) as a phone runs it, on the
    ledger's fake clock: what it played is queued and leaves the queue only in a report the
    ledger took; reports go every ``heartbeat_seconds``, when paused, seeking or ended, never
    closer than the ledger's minimum gap (a report due too early is sent once allowed).
    Every request takes ``rtt`` seconds (the server sees it halfway), and media plays on
    meanwhile. ``offline`` windows of wall time make every request fail."""

    client: FlaskClient
    clock: FakeClock
    chapter_id: int
    duration: float
    choose: Any = None  # question dict -> option index; None never answers
    rtt: float = 0.25
    read_seconds: float = 6.0
    max_queued: int = 12
    offline: list[tuple[float, float]] = field(default_factory=list)
    token: str = ""
    seq: int = 0
    media: float = 0.0
    playing: bool = False
    segment_start: float | None = None
    queue: list[list[float]] = field(default_factory=list)
    question: dict[str, Any] | None = None
    question_shown_at: float = 0.0
    heartbeat_seconds: float = 12.0
    min_gap: float = 2.0
    last_sent: float = -1e9
    next_tick: float = 0.0
    # The page spaces its reports at random within ±15% of the heartbeat period.
    jitter: random.Random = field(default_factory=lambda: random.Random(11))
    retry_at: float | None = None
    sealed: int = 0
    jump_retried: bool = False
    covered: int = 0
    finished: bool = False
    statuses: list[Any] = field(default_factory=list)
    answered: int = 0

    def start(self) -> dict[str, Any]:
        data = self._post("/api/study/sessions", {"chapter_id": self.chapter_id})
        assert data is not None and data[0] == 201, data
        body = data[1]
        self.token = body["token"]
        self.seq = 0
        self.queue = []
        self.heartbeat_seconds = body["heartbeat_seconds"]
        self.min_gap = body["min_heartbeat_seconds"]
        self.last_sent = self.clock.now
        self.next_tick = self.clock.now + self._spacing()
        self.media = float(body["resume_position"])
        self.covered = body["covered_seconds"]
        if body["media_url"]:
            # The video element loads the media through the URL signed for this session.
            self.client.get(body["media_url"]).close()
        if body["question"]:
            self._show(body["question"])
        return body

    # --- the media element --------------------------------------------------------------

    def play(self) -> None:
        if self.question is None and not self.playing and self.media < self.duration:
            self.playing = True
            self.segment_start = self.media

    def pause(self) -> None:
        if self.playing:
            self.playing = False
            self._close(self.media, reopen=False)
            self.beat()

    def seek(self, position: float) -> None:
        self._close(self.media, reopen=False)
        self.media = position
        if self.playing:
            self.segment_start = position

    def _advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        if self.playing:
            self.media = min(self.duration, self.media + seconds)
            if self.media >= self.duration:  # ended
                self.playing = False
                self._close(self.media, reopen=False)
                self.beat()

    def _close(self, position: float, *, reopen: bool) -> None:
        if self.segment_start is not None and position > self.segment_start:
            last = self.queue[-1] if self.queue else None
            if (
                last
                and len(self.queue) > self.sealed
                and last[1] == self.segment_start
                and position - last[0] <= self.heartbeat_seconds
            ):
                last[1] = position
            else:
                self.queue.append([self.segment_start, position])
            del self.queue[: max(0, len(self.queue) - self.max_queued - 1)]
        self.segment_start = position if reopen else None

    # --- reports ------------------------------------------------------------------------

    def _online(self) -> bool:
        return not any(start <= self.clock.now < end for start, end in self.offline)

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """One request: ``rtt / 2`` there, ``rtt / 2`` back; None when the network is down."""
        online = self._online()
        self._advance(self.rtt / 2)
        response = self.client.post(path, json=body) if online else None
        self._advance(self.rtt / 2)
        if response is None:
            return None
        return response.status_code, response.get_json()

    def _spacing(self) -> float:
        return self.heartbeat_seconds * (0.85 + 0.3 * self.jitter.random())

    def tick(self) -> None:
        if self.playing:
            self._close(self.media, reopen=True)
        self.beat()

    def beat(self) -> None:
        if not self.token:
            return
        if self.clock.now - self.last_sent < self.min_gap:
            self.retry_at = self.last_sent + self.min_gap + 0.05
            return
        sent = [list(segment) for segment in self.queue[: self.max_queued + 1]]
        last = sent[-1] if sent else [self.media, self.media]
        self.seq += 1
        body: dict[str, Any] = {
            "token": self.token,
            "seq": self.seq,
            "from": last[0],
            "position": last[1],
            "playing": bool(sent),
            "rate": 1.0,
        }
        if len(sent) > 1:
            body["queued"] = sent[:-1]
        self.last_sent = self.clock.now
        # The segments a report in flight carries are not extended meanwhile.
        self.sealed = len(sent)
        reply = self._post("/api/study/heartbeats", body)
        self.sealed = 0
        self.statuses.append(reply and (reply[0], reply[1].get("reason") or reply[1].get("error")))
        if reply is None:
            return
        status, data = reply
        if status == 200:
            taken = data["reason"] not in ("question", "question_timeout")
            # A jump: the same segments are offered once more before they go.
            if taken and data["reason"] == "jump" and not self.jump_retried:
                self.jump_retried, taken = True, False
            elif taken:
                self.jump_retried = False
            if taken:
                del self.queue[: len(sent)]
            self.covered = data["covered_seconds"]
            self.finished = data["finished"]
            if data["question"]:
                self._show(data["question"])
        elif data.get("error") == "session_expired":
            self.start()
        elif data.get("error") == "too_soon":
            self.retry_at = self.clock.now + self.min_gap

    # --- 防挂机 ------------------------------------------------------------------------------

    def _show(self, question: dict[str, Any]) -> None:
        # A report answered while the question is open names it again: the learner goes on
        # reading the same question.
        if self.question is None or self.question.get("id") != question.get("id"):
            self.question_shown_at = self.clock.now
        self.question = question
        self.pause()

    def _answer(self) -> None:
        assert self.question is not None
        reply = self._post(
            "/api/study/answers", {"token": self.token, "choice": self.choose(self.question)}
        )
        if reply is None or reply[0] != 200:
            self.question_shown_at = self.clock.now  # read it again, try again
            return
        data = reply[1]
        if data["correct"]:
            self.answered += 1
            self.question = None
            self.play()
        else:
            self.question = data["question"]
            self.question_shown_at = self.clock.now

    # --- wall time ------------------------------------------------------------------------

    def run(self, seconds: float, *, step: float = 0.25, until_finished: bool = False) -> None:
        """Let ``seconds`` of wall time pass on the page."""
        end = self.clock.now + seconds
        while self.clock.now < end and not (until_finished and self.finished):
            self._advance(step)
            if self.clock.now >= self.next_tick:
                self.next_tick += self._spacing()
                self.tick()
            if self.retry_at is not None and self.clock.now >= self.retry_at:
                self.retry_at = None
                self.beat()
            if (
                self.question is not None
                and self.choose is not None
                and self.clock.now - self.question_shown_at >= self.read_seconds
            ):
                self._answer()


def right_option(question: dict[str, Any]) -> str:
    """The right option's text, as a learner who watched (or a shared answer list) knows it:
    the bank's answers by stem (the database's banks and the platform's rules)."""
    from sqlalchemy import select

    from infra.extensions import db
    from models.catalog import Question
    from services.study.questions import PLATFORM_RULES

    answers = {stem: options[answer] for stem, options, answer in PLATFORM_RULES}
    for row in db.session.scalars(select(Question)):
        answers[row.stem] = row.options[row.answer_index]
    return answers[question["stem"]]


def right_choice(question: dict[str, Any]) -> int:
    """The index, as shown, of the right option."""
    return question["options"].index(right_option(question))


def wrong_choice(question: dict[str, Any]) -> int:
    return next(
        i for i, option in enumerate(question["options"]) if option != right_option(question)
    )
