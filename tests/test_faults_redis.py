"""Redis faults against `cronctl locks`: a server that went down, one that never answers, a key that changes
between being judged stale and being cleared. Real `redis-server` processes (skipped when not installed)."""

from __future__ import annotations

import json
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
    result = run_cli("locks", *args, "-r", str(runbook), "-f", fmt,
                     env={"REDIS_URL": url(port), "CRONCTL_AUDIT_FILE": str(runbook.parent / "audit.jsonl")})
    elapsed = time.monotonic() - began
    assert "Traceback" not in result.output
    assert PASSWORD not in result.output
    return result, elapsed


def age(client: redis.Redis, key: str, value: bytes) -> None:
    """Store `value` without expiry and an idle time of an hour: a lock a crashed run left behind."""
    client.set(key, value)
    client.restore(key, 0, client.dump(key), replace=True, idletime=3600)


@pytest.mark.parametrize("args", [(), ("clear", "--all-stale", "--yes"), ("clear", "cleanup", "--yes")],
                         ids=["list", "clear-all-stale", "clear-one"])
def test_redis_down(server: RedisServer, runbook: Path, args: tuple[str, ...]) -> None:
    port = server.port
    server.stop()
    result, elapsed = locks(runbook, port, *args)
    assert elapsed < MARGIN_S
    assert result.exit_code in (3,) if not args else result.exit_code in (0, 1, 3)
    text = result.output
    assert "cannot reach Redis at 127.0.0.1" in text


def test_redis_down_list_is_exit_3_in_every_format(server: RedisServer, runbook: Path) -> None:
    port = server.port
    server.stop()
    for fmt in ("json", "table", "markdown", "plain"):
        result, _ = locks(runbook, port, fmt=fmt)
        assert result.exit_code == 3, (fmt, result.output)


def test_wrong_redis_password_is_reported_without_it(server: RedisServer, runbook: Path) -> None:
    began = time.monotonic()
    result = run_cli("locks", "-r", str(runbook), "-f", "json",
                     env={"REDIS_URL": f"redis://:wrong-{PASSWORD}@127.0.0.1:{server.port}/0"})
    assert time.monotonic() - began < MARGIN_S
    assert result.exit_code == 3
    assert PASSWORD not in result.output and "Traceback" not in result.output


def test_redis_that_never_answers(runbook: Path) -> None:
    import socket

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


def test_key_changed_during_clear_is_never_deleted(server: RedisServer, runbook: Path) -> None:
    """A new run takes the lock between cronctl's read and its delete: the new lock must survive."""
    client = redis.Redis(port=server.port, password=PASSWORD)
    changed_first = 0
    for attempt in range(5):
        age(client, KEY, b"worker-3")
        monitor_client = redis.Redis(port=server.port, password=PASSWORD)
        order: list[str] = []
        ready = threading.Event()

        def watch(mc: redis.Redis = monitor_client, order: list[str] = order, ready: threading.Event = ready,
                  attempt: int = attempt) -> None:
            writer = redis.Redis(port=server.port, password=PASSWORD)
            with mc.monitor() as monitor:
                ready.set()
                for event in monitor.listen():
                    command = event["command"].lower()
                    if command.startswith("get ") and KEY in command and "set" not in order:
                        writer.set(KEY, f"worker-new-{attempt}", ex=300)
                        order.append("set")
                    elif command.startswith("eval"):
                        order.append("eval")
                        return

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        assert ready.wait(5)
        time.sleep(0.05)
        result, _ = locks(runbook, server.port, "clear", "--all-stale", "--yes")
        thread.join(5)
        data = json.loads(result.stdout)
        value = client.get(KEY)
        assert value == f"worker-new-{attempt}".encode(), "a lock taken after the read was deleted"
        if order[:2] == ["set", "eval"]:
            changed_first += 1
            assert data["cleared"] == [], data
            assert result.exit_code in (0, 1)
        client.delete(KEY)
        if changed_first:
            break
    assert changed_first, "the change never landed between read and delete"
