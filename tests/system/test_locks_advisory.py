"""Advisory locks: read from pg_locks + pg_stat_activity of the sandbox PostgreSQL, never deleted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli

RUNBOOK = """
[runbook]
name = "reports"

[jobs.report-builder]
url = "http://127.0.0.1:9/jobs/report-builder"
timeout = "1s"
[jobs.report-builder.lock]
backend = "advisory"
key = "{big}"

[jobs.pair-lock]
url = "http://127.0.0.1:9/jobs/pair-lock"
timeout = "1h"
[jobs.pair-lock.lock]
backend = "advisory"
key = "7:-9"
"""
BIG_KEY = 2**40 + 12345


@pytest.fixture
def runbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRONCTL_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    path = tmp_path / "runbook.toml"
    path.write_text(RUNBOOK.replace("{big}", str(BIG_KEY)))
    return path


def locks_json(runbook: Path, dsn: str, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = run_cli("locks", *args, "-r", str(runbook), "-f", "json", env={"DATABASE_URL": dsn})
    data = json.loads(result.stdout)
    return result.exit_code, {item["name"]: item for item in data["locks"]}


def alive(dsn: str, pid: int) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() is not None


@pytest.mark.slow
def test_idle_in_transaction_holder_reported_with_pid_and_terminated(runbook: Path, clean_db: str) -> None:
    holder = psycopg.connect(clean_db, application_name="report-worker")
    pair = psycopg.connect(clean_db, autocommit=True, application_name="pair-worker")
    try:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [BIG_KEY])  # transaction stays open, idle
        pair.execute("SELECT pg_advisory_lock(7, -9)")
        holder_pid = holder.info.backend_pid
        time.sleep(1.5)  # longer than report-builder's 1s timeout

        code, locks = locks_json(runbook, clean_db)
        assert code == 1
        stale = locks["report-builder"]
        assert stale["pid"] == holder_pid
        assert stale["state"] == "stale"
        assert f"pid {holder_pid} (report-worker)" in str(stale["reason"])
        assert "idle in transaction" in str(stale["reason"])
        assert stale["terminate_sql"] == f"SELECT pg_terminate_backend({holder_pid});"
        assert locks["pair-lock"]["state"] == "held"
        assert locks["pair-lock"]["pid"] == pair.info.backend_pid

        # Without --terminate nothing is touched; the exact command is shown instead.
        result = run_cli(
            "locks", "clear", "--all-stale", "--yes", "-r", str(runbook), "-f", "json", env={"DATABASE_URL": clean_db}
        )
        assert result.exit_code == 1
        skipped = json.loads(result.stdout)["skipped"]
        assert f"pg_terminate_backend({holder_pid})" in skipped[0]["reason"]
        assert alive(clean_db, holder_pid)

        result = run_cli(
            "locks",
            "clear",
            "report-builder",
            "--terminate",
            "--dry-run",
            "-r",
            str(runbook),
            "-f",
            "json",
            env={"DATABASE_URL": clean_db},
        )
        assert json.loads(result.stdout)["would_clear"][0]["statement"] == (
            f"SELECT pg_terminate_backend({holder_pid});"
        )

        result = run_cli(
            "locks",
            "clear",
            "report-builder",
            "--terminate",
            "--yes",
            "-r",
            str(runbook),
            "-f",
            "json",
            env={"DATABASE_URL": clean_db},
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["cleared"][0]["action"] == f"terminated pid {holder_pid}"
        deadline = time.monotonic() + 5  # termination is asynchronous
        while alive(clean_db, holder_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(clean_db, holder_pid)
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")
        code, locks = locks_json(runbook, clean_db)
        assert code == 0
        assert set(locks) == {"pair-lock"}
    finally:
        holder.close()
        pair.close()


def test_terminate_skips_when_the_session_no_longer_holds_it(runbook: Path, clean_db: str) -> None:
    from datetime import UTC, datetime

    from cronctl.runbook.loader import load_runbook
    from cronctl.sources.locks.advisory import advisory_jobs, read_advisory, terminate_holder

    book = load_runbook(runbook)
    with psycopg.connect(clean_db, autocommit=True) as holder, psycopg.connect(clean_db, autocommit=True) as me:
        holder.execute("SELECT pg_advisory_lock(%s)", [BIG_KEY])
        seen = read_advisory(me, advisory_jobs(book))
        assert [lock.detail["pid"] for lock in seen] == [holder.info.backend_pid]
        assert seen[0].acquired_at is not None and seen[0].acquired_at <= datetime.now(UTC)
        holder.execute("SELECT pg_advisory_unlock(%s)", [BIG_KEY])
        assert terminate_holder(me, seen[0]) is False
        assert holder.execute("SELECT 1").fetchone() == (1,)
