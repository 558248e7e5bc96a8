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


# ---------------------------------------------------------------- secrets rotate: the record comes first

ROTATE_RUNBOOK = """
[runbook]
name = "rotate-interrupt"

[connection]
database_url = "${DATABASE_URL}"
statement_timeout = "20s"

[secrets_table]
table = "cron_secrets"

[jobs.nightly]
url = "http://127.0.0.1:9/nightly"
auth = { kind = "bearer", secret_env = "CRON_SECRET" }
"""
NEW_VALUE = "rotate-interrupt-new-value-5d2e9b71c4"
# The rotate function takes its time, so the change is on the wire while the test interrupts it.
SLOW_ROTATE = """
CREATE TABLE public.cron_secrets (key text PRIMARY KEY, value text NOT NULL, description text,
                                  updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO public.cron_secrets (key, value) VALUES ('cron_secret', 'placeholder_cron_secret');
CREATE FUNCTION public.rotate_cron_secret(p_key text, p_value text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  PERFORM pg_sleep(15);
  UPDATE public.cron_secrets SET value = p_value, updated_at = now() WHERE key = p_key;
END;
$$;
"""


def _wait_for_rotation(dsn: str, proc: subprocess.Popen[str]) -> None:
    import psycopg

    until = time.monotonic() + 20
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cronctl' AND state = 'active'"
                " AND query LIKE '%rotate_cron_secret%'"
            ).fetchone()
            if row and row[0]:
                return
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < until, "the rotation never reached the database"
            time.sleep(0.02)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_rotation_leaves_its_begun_record(clean_db: str, tmp_path: Path, signum: int, code: int) -> None:
    import psycopg

    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(SLOW_ROTATE)
    rb = tmp_path / "rotate.toml"
    rb.write_text(ROTATE_RUNBOOK)
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, "DATABASE_URL": clean_db, "CRONCTL_AUDIT_FILE": str(audit), "NO_COLOR": "1"}
    value = tmp_path / "value.txt"  # the new value comes on stdin, as `pbpaste | cronctl secrets rotate` sends it
    value.write_text(NEW_VALUE + "\n")
    with value.open() as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronctl", "secrets", "rotate", "cron_secret", "-r", str(rb), "--yes"],
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        _wait_for_rotation(clean_db, proc)
        # The change is on the wire: its pending record must already be in the file.
        [pending] = [json.loads(line) for line in audit.read_text().splitlines()]
        assert (pending["action"], pending["result"], pending["phase"]) == ("secrets.rotate", "pending", "begin")
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err and NEW_VALUE not in err
    begun, done = (json.loads(line) for line in audit.read_text().splitlines())
    assert begun["audit_id"] == done["audit_id"] and done["phase"] == "complete"
    assert done["result"] == "interrupted" and done["target"] == "cron_secret"
    assert NEW_VALUE not in audit.read_text()
