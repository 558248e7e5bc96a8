"""Redis faults against `cronctl locks`: a server that went down, one that never answers, a key that changes
between being judged stale and being cleared. Real `redis-server` processes (skipped when not installed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_runner import CliResult, run_cli
from redis_server import RedisServer

redis = pytest.importorskip("redis", reason="the redis package is not installed")

PASSWORD = "redis-fault-pw-8c2e71d0"
MARGIN_S = 4.0
KEY = "cron:cleanup:lock"

RUNBOOK = """
[runbook]
name = "redis-faults"

[connection]
redis_url = "${REDIS_URL}"

[jobs.cleanup]
url = "http://127.0.0.1:9/api/cron/cleanup"
timeout = "60s"
lock = { backend = "redis", key = "cron:cleanup:lock", margin = "1m" }
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path)
    try:
        redis.Redis(port=srv.port).config_set("requirepass", PASSWORD)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    path = tmp_path / "redis.toml"
    path.write_text(RUNBOOK)
    return path


def url(port: int) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{port}/0"


def locks(runbook: Path, port: int, *args: str, fmt: str = "json") -> tuple[CliResult, float]:
    began = time.monotonic()
    result = run_cli(
        "locks",
        *args,
        "-r",
        str(runbook),
        "-f",
        fmt,
        env={"REDIS_URL": url(port), "CRONCTL_AUDIT_FILE": str(runbook.parent / "audit.jsonl")},
    )
    elapsed = time.monotonic() - began
    assert "Traceback" not in result.output
    assert PASSWORD not in result.output
    return result, elapsed


def age(client: redis.Redis, key: str, value: bytes) -> None:
    """Store `value` without expiry and an idle time of an hour: a lock a crashed run left behind."""
    client.set(key, value)
    client.restore(key, 0, client.dump(key), replace=True, idletime=3600)


@pytest.mark.parametrize(
    "args",
    [(), ("clear", "--all-stale", "--yes"), ("clear", "cleanup", "--yes")],
    ids=["list", "clear-all-stale", "clear-one"],
)
def test_redis_down(server: RedisServer, runbook: Path, args: tuple[str, ...]) -> None:
    port = server.port
    server.stop()
    result, elapsed = locks(runbook, port, *args)
    assert elapsed < MARGIN_S
    # With its only backend down, nothing can be judged: listing and clearing are both exit 3.
    assert result.exit_code == 3
    assert "cannot reach Redis at 127.0.0.1" in result.output


def test_redis_down_list_is_exit_3_in_every_format(server: RedisServer, runbook: Path) -> None:
    port = server.port
    server.stop()
    for fmt in ("json", "table", "markdown", "plain"):
        result, _ = locks(runbook, port, fmt=fmt)
        assert result.exit_code == 3, (fmt, result.output)


def test_wrong_redis_password_is_reported_without_it(server: RedisServer, runbook: Path) -> None:
    began = time.monotonic()
    result = run_cli(
        "locks",
        "-r",
        str(runbook),
        "-f",
        "json",
        env={"REDIS_URL": f"redis://:wrong-{PASSWORD}@127.0.0.1:{server.port}/0"},
    )
    assert time.monotonic() - began < MARGIN_S
    assert result.exit_code == 3
    assert PASSWORD not in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_redis_that_never_answers(runbook: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            sock.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(sock.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            result, elapsed = locks(runbook, sock.getsockname()[1])
        finally:
            stop.set()
            thread.join(2)
            for conn in accepted:
                conn.close()
    assert accepted
    assert elapsed < 5 + MARGIN_S
    assert result.exit_code == 3


def test_stale_key_is_cleared_while_the_server_is_up(server: RedisServer, runbook: Path) -> None:
    client = redis.Redis(port=server.port, password=PASSWORD)
    age(client, KEY, b"worker-3")
    result, _ = locks(runbook, server.port, "clear", "--all-stale", "--yes")
    assert result.exit_code == 0, result.output
    assert [c["name"] for c in json.loads(result.stdout)["cleared"]] == ["cleanup"]
    assert client.exists(KEY) == 0


class ChangeBeforeDelete:
    """A TCP proxy in front of Redis that lets a new run take the lock just before cronctl's delete arrives.

    When the client's EVAL (the compare-and-delete) passes through, the proxy first sets the key to a new value
    over its own connection, then forwards the EVAL: the change lands exactly between read and delete.
    """

    def __init__(self, upstream_port: int, new_value: bytes) -> None:
        self.upstream_port = upstream_port
        self.new_value = new_value
        self.changed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self.threads.append(thread)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        with src, dst:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if from_client and b"EVAL" in data.upper() and not self.changed.is_set():
                    redis.Redis(port=self.upstream_port, password=PASSWORD).set(KEY, self.new_value, ex=300)
                    self.changed.set()
                try:
                    dst.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.sock.close()


def test_key_changed_during_clear_is_never_deleted(server: RedisServer, runbook: Path) -> None:
    """A new run takes the lock between cronctl's read and its delete: the new lock survives, nothing is
    reported cleared."""
    client = redis.Redis(port=server.port, password=PASSWORD)
    age(client, KEY, b"worker-3")
    proxy = ChangeBeforeDelete(server.port, b"worker-new")
    try:
        result, elapsed = locks(runbook, proxy.port, "clear", "--all-stale", "--yes")
    finally:
        proxy.close()
    assert proxy.changed.is_set(), "cronctl never sent its compare-and-delete"
    assert elapsed < MARGIN_S
    assert client.get(KEY) == b"worker-new", "a lock taken after cronctl's read was deleted"
    assert client.ttl(KEY) > 0
    data = json.loads(result.stdout)
    assert data["cleared"] == [], data
    assert [s["name"] for s in data["skipped"]] == ["cleanup"]
    assert result.exit_code in (0, 1)
