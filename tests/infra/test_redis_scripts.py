"""The hot path's Lua scripts on a connection of each thread's own, against the test Redis:
what the client's own ``Script`` does (reloading a script Redis lost, a connection that
breaks) still holds."""

from __future__ import annotations

import os
import threading

import fakeredis
import pytest
import redis

from infra.redis_client import client_options
from infra.redis_scripts import ThreadScript, thread_connections

SOURCE = "return {KEYS[1], ARGV[1], ARGV[2]}"


def _connection_id(client: redis.Redis) -> int:
    """The Redis client id of the calling thread's script connection."""
    connection = thread_connections(client).get()
    connection.send_command("CLIENT", "ID")
    return connection.read_response()


@pytest.fixture
def client():
    client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"], **client_options())
    yield client
    client.close()


def test_a_script_runs_on_the_threads_own_connection(client):
    script = ThreadScript(client, SOURCE)
    assert script(keys=["k"], args=["a", 1]) == [b"k", b"a", b"1"]
    first = _connection_id(client)
    assert script(keys=["k"], args=["b", 2.5]) == [b"k", b"b", b"2.5"]
    assert _connection_id(client) == first  # the same connection, kept
    assert client.client_id() != first  # not one of the pool's

    other: list = []

    def in_another_thread() -> None:
        other.append(script(keys=["k"], args=["c", 3]))
        other.append(_connection_id(client))

    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join()
    assert other[0] == [b"k", b"c", b"3"]
    assert other[1] != first


def test_a_script_redis_no_longer_holds_is_loaded_again(client):
    script = ThreadScript(client, SOURCE)
    script(keys=["k"], args=["a", 1])
    client.script_flush()
    assert script(keys=["k"], args=["b", 2]) == [b"k", b"b", b"2"]
    assert client.script_exists(script.sha.decode()) == [True]


def test_a_killed_connection_is_replaced(client):
    script = ThreadScript(client, SOURCE)
    script(keys=["k"], args=["a", 1])
    before = _connection_id(client)
    client.client_kill_filter(_id=before)
    assert script(keys=["k"], args=["b", 2]) == [b"k", b"b", b"2"]
    assert _connection_id(client) != before


def test_a_reply_left_unread_never_answers_the_next_call(client):
    script = ThreadScript(client, SOURCE)
    script(keys=["k"], args=["a", 1])
    connection = thread_connections(client).get()
    real_read = connection.read_response

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # a signal between the send and the read

    connection.read_response = interrupted
    with pytest.raises(KeyboardInterrupt):
        script(keys=["k"], args=["lost", 1])
    del connection.read_response
    assert connection.read_response == real_read
    assert not connection.is_connected
    assert script(keys=["k"], args=["next", 2]) == [b"k", b"next", b"2"]


def test_redis_gone_raises_a_connection_error():
    client = redis.Redis(host="127.0.0.1", port=1, **client_options())  # nothing listens there
    script = ThreadScript(client, SOURCE)
    with pytest.raises(redis.exceptions.ConnectionError):
        script(keys=["k"], args=["a", 1])


def test_the_development_stand_in_runs_the_clients_own_script():
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    assert thread_connections(client) is None
    script = ThreadScript(client, "return {KEYS[1], ARGV[1]}")
    assert script(keys=["k"], args=["a"]) == [b"k", b"a"]
