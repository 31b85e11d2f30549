"""The one Redis client of an app: real Redis (directly, or the primary the Sentinels name),
or an in-process stand-in in development.

Every Redis user of a process goes through this client: requests, the study ingest, the
write-behind, the RQ worker and queue. Flask-Limiter builds its own from
``RATELIMIT_STORAGE_URI``, which follows the same Sentinels (``redis+sentinel://``, see
``wxapp.config``). Behind Sentinel a connection that fails (the primary died, or became a
replica) is dropped and the next command asks the Sentinels for the primary again. The study
ledger's scripts run on a connection per thread that this client's pool makes
(``infra/redis_scripts.py``), with the same options and the same Sentinels.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

# A command that meets a broken connection is tried again a few times, within about a second:
# long enough to reach a restarted primary, short enough that a request fails fast when Redis
# is really gone (its page then says so, in Chinese).
RETRIES = 3
SOCKET_TIMEOUT = 5
CONNECT_TIMEOUT = 2


def parse_sentinels(raw: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as (host, port) pairs; ValueError when it is not that."""
    pairs = []
    for item in raw.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(item)
        pairs.append((host, int(port)))
    return pairs


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.1), RETRIES)


def client_options() -> dict[str, Any]:
    return {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "health_check_interval": 30,
        "retry": _retry(),
        "retry_on_error": [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
    }


class _SentinelConnection(SentinelManagedConnection):
    """redis-py's Sentinel connection keeps a connection whose read was interrupted (by a
    signal: RQ's worker stops on SIGTERM by raising out of its blocking dequeue); the next
    command on it then reads the old command's reply, and the worker hangs instead of
    stopping. A plain connection drops itself then; this one does too."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("disconnect_on_error", True)
        return super().read_response(*args, **kwargs)


def sentinel_client(sentinels: str, master: str, url: str = "") -> redis.Redis:
    """A client of the primary the Sentinels at ``sentinels`` name ``master``."""
    parsed = urlsplit(url or "redis://")
    database = int(parsed.path.lstrip("/") or 0)
    sentinel = Sentinel(
        parse_sentinels(sentinels),
        sentinel_kwargs={"socket_timeout": 1, "socket_connect_timeout": 1},
    )
    return sentinel.master_for(
        master,
        db=database,
        password=parsed.password or None,
        connection_class=_SentinelConnection,
        **client_options(),
    )


def init_redis(app: Flask) -> None:
    client: redis.Redis
    if app.config.get("REDIS_STANDIN"):
        import fakeredis

        # One shared fake server per process, so every client sees the same data.
        server = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=server)
    elif app.config.get("REDIS_SENTINELS"):
        client = sentinel_client(
            app.config["REDIS_SENTINELS"],
            app.config["REDIS_SENTINEL_MASTER"],
            app.config.get("REDIS_URL", ""),
        )
    else:
        # Creating the client does not connect; the first command does.
        client = redis.Redis.from_url(app.config["REDIS_URL"], **client_options())
    app.extensions["redis"] = client


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def as_text(value: bytes | str) -> str:
    """A value read from Redis as text (the clients here answer bytes)."""
    return value.decode() if isinstance(value, bytes) else value
