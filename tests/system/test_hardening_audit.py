"""An interrupted trigger still leaves an audit record: `pending` before the request is sent, then `interrupted`.

A real `cronctl` subprocess fires at a real local server that holds every request for 30 s; once the server has
read the whole request, the test sends SIGINT or SIGTERM. The process must end at once (exit 130 / 143), and the
audit file must hold, for every request that went out, its `pending` record and an `interrupted` completion.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile_server import HostileServer

SECRET = "audit-interrupt-secret-7c1f0a93"


@pytest.fixture
def slow() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def _runbook(tmp_path: Path, base: str, jobs: int) -> Path:
    text = '[runbook]\nname = "interrupt"\n'
    for index in range(jobs):
        text += f"""
[jobs.slow{index}]
method = "POST"
url = "{base}/slow-ok/{index}"
timeout = "25s"
confirm = false
auth = {{ kind = "bearer", secret_env = "CRON_SECRET" }}
"""
    path = tmp_path / "interrupt.toml"
    path.write_text(text)
    return path


def _start(tmp_path: Path, rb: Path, jobs: int) -> tuple[subprocess.Popen[str], Path]:
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, "CRON_SECRET": SECRET, "CRONCTL_AUDIT_FILE": str(audit), "NO_COLOR": "1"}
    names = [f"slow{i}" for i in range(jobs)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronctl", "trigger", *names, "-r", str(rb), "--yes", "-f", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, audit


def _wait_for_requests(server: HostileServer, count: int, proc: subprocess.Popen[str]) -> None:
    until = time.monotonic() + 20
    while len(server.requests) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < until, "the requests never reached the server"
        time.sleep(0.02)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("jobs", [1, 3])
def test_interrupted_trigger_leaves_pending_and_interrupted_records(
    slow: HostileServer, tmp_path: Path, signum: int, code: int, jobs: int
) -> None:
    rb = _runbook(tmp_path, slow.url, jobs)
    proc, audit = _start(tmp_path, rb, jobs)
    try:
        _wait_for_requests(slow, jobs, proc)
        # The request is on the wire: the pending record must already be in the file.
        pending = [json.loads(line) for line in audit.read_text().splitlines()]
        assert len(pending) == jobs and {r["result"] for r in pending} == {"pending"}
        began = time.monotonic()
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert elapsed < 2.0, f"took {elapsed:.2f}s to stop after the signal"
    assert "Traceback" not in err and SECRET not in err
    assert f"interrupted by {signal.Signals(signum).name}" in err
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    begun = {r["audit_id"]: r for r in records if r["phase"] == "begin"}
    done = {r["audit_id"]: r for r in records if r["phase"] == "complete"}
    assert len(begun) == jobs and set(done) == set(begun), records
    for audit_id, record in done.items():
        assert record["result"] == "interrupted", record
        assert record["target"] == begun[audit_id]["target"]
        assert record["details"]["request_id"] == begun[audit_id]["details"]["request_id"]
    assert SECRET not in audit.read_text()


def test_an_unwritable_audit_file_stops_the_request_before_it_is_sent(slow: HostileServer, tmp_path: Path) -> None:
    rb = _runbook(tmp_path, slow.url, 1)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = {**os.environ, "CRON_SECRET": SECRET, "CRONCTL_AUDIT_FILE": str(blocker / "audit.jsonl")}
    result = subprocess.run(
        [sys.executable, "-m", "cronctl", "trigger", "slow0", "-r", str(rb), "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3, result.stderr
    assert "cannot write audit record" in result.stderr
    assert slow.requests == []
