"""A real Redis primary, one replica and three Sentinels, started in a temporary directory
for one test (``redis-server`` from Debian's package; Sentinel is the same binary)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

MASTER = "gx-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except (redis.exceptions.RedisError, OSError):
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds} s")


class SentinelCluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def _start(self, name: str, lines: list[str], *, sentinel: bool = False) -> None:
        port = free_port()
        conf = self.directory / f"{name}.conf"
        conf.write_text(
            "\n".join(
                [f"port {port}", "bind 127.0.0.1", f"dir {self.directory}", "save ''", *lines]
            )
            + "\n"
        )
        args = ["redis-server", str(conf)] + (["--sentinel"] if sentinel else [])
        with open(self.directory / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.ports[name] = port
        _wait_for(lambda: redis.Redis(port=port).ping(), 10, f"{name} answering")

    def start(self) -> SentinelCluster:
        self._start("primary", ["appendonly no"])
        primary = self.ports["primary"]
        self._start("replica", [f"replicaof 127.0.0.1 {primary}", "replica-priority 10"])
        _wait_for(
            lambda: (
                redis.Redis(port=self.ports["replica"]).info("replication")["master_link_status"]
                == "up"
            ),
            10,
            "the replica in sync",
        )
        for n in range(3):
            self._start(
                f"sentinel{n}",
                [
                    f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2",
                    f"sentinel down-after-milliseconds {MASTER} 1000",
                    f"sentinel failover-timeout {MASTER} 5000",
                    f"sentinel parallel-syncs {MASTER} 1",
                ],
                sentinel=True,
            )
        return self

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{self.ports[f'sentinel{n}']}" for n in range(3))

    def master_port(self) -> int:
        answer = redis.Redis(port=self.ports["sentinel0"]).sentinel_get_master_addr_by_name(MASTER)
        return int(answer[1])

    def kill_primary(self) -> float:
        """SIGKILL the primary (after the replica has every write); returns when a Sentinel
        names the replica as primary, with the seconds that took."""
        redis.Redis(port=self.ports["primary"]).wait(1, 2000)
        started = time.monotonic()
        self.processes["primary"].send_signal(signal.SIGKILL)
        self.processes["primary"].wait()
        replica = self.ports["replica"]
        _wait_for(lambda: self.master_port() == replica, 30, "a Sentinel promoting the replica")
        _wait_for(
            lambda: redis.Redis(port=replica).info("replication")["role"] == "master",
            10,
            "the replica taking writes",
        )
        return time.monotonic() - started

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
