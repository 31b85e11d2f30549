"""Lua scripts of the hot path, run on a connection of the calling thread's own.

A call through the client checks a connection out of the pool and back in (under the pool's
lock, with a ``can_read`` poll of the socket), wraps the command in the retry machinery and
emits redis-py's events and observability hooks: for the heartbeat, which is one
``EVALSHA``, that costs more CPU than the rest of its Python work. A ``ThreadScript`` sends
the ``EVALSHA`` straight on a connection that only its thread uses, made by the client's
own pool (so with the pool's options: timeouts, health checks, retry; behind Sentinel a
connection that asks the Sentinels for the primary on every connect).

What the client does and this keeps:
- a script Redis does not hold (a restart, ``SCRIPT FLUSH``, another primary) is loaded
  with ``SCRIPT LOAD`` on the same connection and run again;
- a connection that fails (Redis restarted, the primary died or became a replica, which
  the Sentinel connection turns into a ``ConnectionError``) is dropped, and the call is
  tried again on a new one within the connection's retry policy; the error is raised when
  that fails too (the ingest app answers 503);
- a connection whose reply was not read whole (a timeout, a signal) is dropped, so the
  next call never reads an old reply.

The development stand-in (fakeredis) has no socket to write on: there the script is the
client's own ``Script``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import hiredis
import redis
from redis.commands.core import Script
from redis.typing import EncodableT, KeyT

# hiredis's stub types the command as a 1-tuple; it takes any number of arguments.
_pack = cast(Callable[[tuple[Any, ...]], bytes], hiredis.pack_command)


def _direct_pool(client: redis.Redis) -> redis.ConnectionPool | None:
    """The client's pool when its connections are real sockets, else None."""
    pool = getattr(client, "connection_pool", None)
    if not isinstance(pool, redis.ConnectionPool) or type(client).__module__.startswith(
        "fakeredis"
    ):
        return None
    connection_class = pool.connection_class
    if not isinstance(connection_class, type) or not issubclass(
        connection_class, redis.connection.AbstractConnection
    ):
        return None
    if connection_class.__module__.startswith("fakeredis"):
        return None
    return pool


class _Held:
    """A thread's connection, closed when the thread (or the client) is gone."""

    __slots__ = ("connection", "pid")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.pid = os.getpid()

    def __del__(self) -> None:
        # In a forked child this only closes the child's copy (redis-py shuts the socket
        # down only in the process that opened it). At exit the socket may be gone already.
        with contextlib.suppress(Exception):
            self.connection.disconnect()


class ThreadConnections:
    """One connection per thread (and per process: a forked child makes its own), made by
    ``pool`` but never checked in or out of it."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self._local = threading.local()

    def get(self) -> Any:
        held = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():
            held = self._local.held = _Held(
                self.pool.connection_class(**self.pool.connection_kwargs)
            )
        return held.connection


def thread_connections(client: redis.Redis) -> ThreadConnections | None:
    """The client's per-thread connections (one set per client), or None for a client
    without sockets (the development stand-in)."""
    try:
        cached: ThreadConnections | None = client._thread_connections  # type: ignore[attr-defined]
    except AttributeError:
        pool = _direct_pool(client)
        cached = ThreadConnections(pool) if pool is not None else None
        client._thread_connections = cached  # type: ignore[attr-defined]
    return cached


class ThreadScript:
    """A Lua script called like redis-py's ``Script`` (``script(keys=…, args=…)``)."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.script: Script = client.register_script(source)
        self.source = source.encode()
        self.sha = self.script.sha.encode()
        self.connections = thread_connections(client)

    def __call__(self, keys: Sequence[KeyT] = (), args: Sequence[EncodableT] = ()) -> Any:
        connections = self.connections
        if connections is None:
            return self.script(keys=keys, args=args)
        connection = connections.get()
        if not connection.is_connected:
            # Tried within the connection's retry policy; when Redis is gone this raises
            # after it, as a call through the pool does.
            connection.connect()
        try:
            return self._run(connection, keys, args)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            # A connection that was working broke (Redis restarted, a failover): a new one,
            # as the connection's retry policy says.
            connection.disconnect()
            return connection.retry.call_with_retry(
                lambda: self._run(connection, keys, args),
                lambda _error: connection.disconnect(),
            )
        except redis.exceptions.ResponseError:
            raise  # an error reply, read whole: the connection is in step
        except BaseException:
            # Interrupted between the send and the whole reply: never read it later.
            connection.disconnect()
            raise

    def _run(self, connection: Any, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any:
        # hiredis packs the command in C (redis-py's packer first looks at every argument).
        command = _pack((b"EVALSHA", self.sha, len(keys), *keys, *args))
        if not connection.is_connected:
            # As the pool's checkout does: ``connect`` is what asks the Sentinels for the
            # primary (a send on a closed connection would connect to the configured host).
            connection.connect()
        connection.send_packed_command((command,))
        try:
            return connection.read_response()
        except redis.exceptions.NoScriptError:
            connection.send_packed_command((_pack((b"SCRIPT", b"LOAD", self.source)),))
            connection.read_response()
            connection.send_packed_command((command,))
            return connection.read_response()
