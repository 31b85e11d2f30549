"""A scripted player for the study tests: logs in, opens chapters and sends heartbeats over
HTTP, on the ledger's injectable clock (tests advance time instead of sleeping)."""

from __future__ import annotations

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
