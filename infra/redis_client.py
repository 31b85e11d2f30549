"""The one Redis client of an app: real Redis, or an in-process stand-in in development."""

from __future__ import annotations

import redis
from flask import Flask, current_app


def init_redis(app: Flask) -> None:
    client: redis.Redis
    if app.config.get("REDIS_STANDIN"):
        import fakeredis

        # One shared fake server per process, so every client sees the same data.
        server = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=server)
    else:
        # Creating the client does not connect; the first command does.
        client = redis.Redis.from_url(
            app.config["REDIS_URL"],
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=30,
        )
    app.extensions["redis"] = client


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def as_text(value: bytes | str) -> str:
    """A value read from Redis as text (the clients here answer bytes)."""
    return value.decode() if isinstance(value, bytes) else value
