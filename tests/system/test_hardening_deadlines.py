"""One deadline per HTTP exchange, for every command that talks HTTP; every user-named file read is bounded.

The hostile server (`hostile_server.py`) is a real socket server on 127.0.0.1. Its worst case sends the status line
and headers one byte every 50 ms without end: httpx's own read timeout restarts on every byte and never fires,
so only a whole-exchange deadline ends it. Each command must end within its timeout + 1 s.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_runner import CliResult, run_cli
from cronctl import userfiles
from cronctl.records import PreparedRequest
from cronctl.sources.http_trigger import make_client, send_once
from hostile_server import HostileServer

pytestmark = pytest.mark.slow  # most of these tests wait out a deadline

TIMEOUT_S = 0.5
SLACK_S = 1.0
SECRET = "deadline-secret-0b9e2c41"
FAULTS = ("drip-head", "drip-body", "silent", "reset")


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def _runbook(tmp_path: Path, base: str, fault: str) -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(f"""
[runbook]
name = "hostile"

[connection]
database_url = "${{DATABASE_URL}}"
statement_timeout = "2s"
connect_timeout = "2s"

[jobs.fn]
method = "POST"
url = "{base}/{fault}/fn"
timeout = "{TIMEOUT_S}s"
auth = {{ kind = "bearer", secret_env = "CRON_SECRET" }}
success = {{ status = [200], require = ["success == true"] }}
[jobs.fn.history]
health = "app"

[health.app]
url = "{base}/{fault}/health"
timeout = "{TIMEOUT_S}s"
auth = {{ kind = "bearer", secret_env = "CRON_SECRET" }}
""")
    return path


def _timed(*args: str, env: dict[str, str | None]) -> tuple[CliResult, float]:
    began = time.monotonic()
    result = run_cli(*args, env=env)
    elapsed = time.monotonic() - began
    assert "Traceback" not in result.output, result.output
    assert SECRET not in result.output
    return result, elapsed


def _env(tmp_path: Path, dsn: str = "postgresql://u:p@127.0.0.1:1/x") -> dict[str, str | None]:
    return {"CRON_SECRET": SECRET, "DATABASE_URL": dsn, "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")}


@pytest.fixture(autouse=True, scope="module")
def _warm() -> None:
    # Import the command modules once, so the timings below measure the exchange and not Python's imports.
    run_cli("--help")
    import httpx  # noqa: F401
    import psycopg  # noqa: F401


def test_send_once_gives_up_on_a_trickled_status_line_at_its_deadline(hostile: HostileServer) -> None:
    url = f"{hostile.url}/drip-head/x"
    request = PreparedRequest("j", "GET", url, {}, None, TIMEOUT_S, "rid", url, {})
    client = make_client(tls=False)
    try:
        began = time.monotonic()
        attempt = send_once(client, request)
        elapsed = time.monotonic() - began
    finally:
        client.close()
    assert attempt.answer.error_kind == "timeout", attempt.answer
    assert TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_S + SLACK_S, elapsed  # the drip never ends: late is wrong


@pytest.mark.parametrize("fault", FAULTS)
def test_trigger_ends_within_its_timeout(hostile: HostileServer, tmp_path: Path, fault: str) -> None:
    rb = _runbook(tmp_path, hostile.url, fault)
    result, elapsed = _timed("trigger", "fn", "-r", str(rb), "--yes", "-f", "json", env=_env(tmp_path))
    assert elapsed < TIMEOUT_S + SLACK_S, f"{fault}: {elapsed:.2f}s"
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "error", data
    if fault != "reset":
        assert data["failure_group"] == "TIMEOUT", data


def test_trigger_reads_a_huge_answer_bounded(hostile: HostileServer, tmp_path: Path) -> None:
    rb = _runbook(tmp_path, hostile.url, "huge")
    result, elapsed = _timed("trigger", "fn", "-r", str(rb), "--yes", "-f", "json", env=_env(tmp_path))
    assert elapsed < TIMEOUT_S + SLACK_S
    data = json.loads(result.stdout)
    assert data["response_truncated"] is True and data["verdict"] == "failed"


@pytest.mark.parametrize("fault", [*FAULTS, "huge"])
def test_logs_health_source_ends_within_its_timeout(hostile: HostileServer, tmp_path: Path, fault: str) -> None:
    rb = _runbook(tmp_path, hostile.url, fault)
    result, elapsed = _timed("logs", "fn", "-r", str(rb), "-f", "json", env=_env(tmp_path))
    assert elapsed < TIMEOUT_S + SLACK_S, f"{fault}: {elapsed:.2f}s"
    assert result.exit_code == 3, result.output
    assert len(result.stderr.strip().splitlines()) <= 2  # one error line (and perhaps a hint)


@pytest.mark.parametrize("fault", ["drip-head", "drip-body", "silent"])
def test_triage_health_source_ends_within_its_timeout(
    hostile: HostileServer, clean_db: str, tmp_path: Path, fault: str
) -> None:
    rb = _runbook(tmp_path, hostile.url, fault)
    result, elapsed = _timed("triage", "-r", str(rb), "-f", "json", env=_env(tmp_path, clean_db))
    assert elapsed < TIMEOUT_S + SLACK_S, f"{fault}: {elapsed:.2f}s"
    assert result.stdout, result.output
    json.loads(result.stdout)
    assert f"within {TIMEOUT_S:g}s" in result.stdout


@pytest.mark.parametrize("fault", ["drip-head", "silent"])
def test_doctor_endpoint_probe_ends_within_its_timeout(hostile: HostileServer, tmp_path: Path, fault: str) -> None:
    rb = _runbook(tmp_path, hostile.url, fault)
    result, elapsed = _timed("doctor", "-r", str(rb), "--timeout", f"{TIMEOUT_S}s", "-f", "json", env=_env(tmp_path))
    assert elapsed < TIMEOUT_S + SLACK_S, f"{fault}: {elapsed:.2f}s"
    json.loads(result.stdout)
    assert hostile.requests  # the probe did reach the server


def test_data_from_dev_zero_is_refused_quickly(tmp_path: Path) -> None:
    began = time.monotonic()
    result = run_cli("trigger", "--url", "http://127.0.0.1:9/x", "--data", "@/dev/zero", "--dry-run")
    assert time.monotonic() - began < 2
    assert result.exit_code == 2, result.output
    assert "larger than" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_data_from_a_fifo_nobody_writes_to_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userfiles, "READ_TIMEOUT", 0.5)  # the bound itself (5 s) is not what is tested
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    began = time.monotonic()
    result = run_cli("trigger", "--url", "http://127.0.0.1:9/x", "--data", f"@{fifo}", "--dry-run")
    assert time.monotonic() - began < 0.5 + SLACK_S
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no end of data within 0.5s" in result.stderr, result.stderr


@pytest.mark.parametrize("option", ["-r", "--env-file"])
def test_runbook_and_env_file_from_dev_zero_are_refused(tmp_path: Path, option: str) -> None:
    rb = _runbook(tmp_path, "http://127.0.0.1:9", "ok")
    args = ["jobs", "-r", "/dev/zero"] if option == "-r" else ["jobs", "-r", str(rb), "--env-file", "/dev/zero"]
    began = time.monotonic()
    result = run_cli(*args)
    assert time.monotonic() - began < 3
    assert result.exit_code == 2, result.output
    assert "larger than" in result.stderr and "Traceback" not in result.output
