"""Database faults with real server processes: every command ends in time, with one line and its exit code.

Covers: a server that is down before a command starts, a server killed while a triage runs, a table held
ACCESS EXCLUSIVE by another session, a role at its connection limit, a wrong password and TLS required by the
client but not offered by the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from cli_runner import CliResult, run_cli
from cronctl_sandbox.cluster import PgCluster

CONNECT_TIMEOUT_S = 2.0
STATEMENT_TIMEOUT_S = 0.5
# Python start-up, imports and rendering on a busy 2-core CI machine.
MARGIN_S = 4.0
LIMITED_ROLE = "cronctl_limited"
LIMITED_PASSWORD = "limited-pw-7f3c1a9e"
DOCUMENTED = {0, 1, 2, 3, 4, 5}

RUNBOOK = f"""
[runbook]
name = "faults"

[connection]
database_url = "${{DATABASE_URL}}"
statement_timeout = "{STATEMENT_TIMEOUT_S}s"
connect_timeout = "{CONNECT_TIMEOUT_S}s"

[run_logs.runs]
table = "run_log"
message_column = "error_message"
statuses = {{ succeeded = ["SUCCESS"], failed = ["FAILED"], running = ["RUNNING"] }}

[lock_tables.job_lock]
table = "job_lock"

[secrets_table]
table = "cron_secrets"

[jobs.tick]
url = "http://127.0.0.1:9/tick"
schedule = "* * * * *"
history = {{ pg_cron = true }}

[jobs.sync]
url = "http://127.0.0.1:9/sync"
schedule = "*/5 * * * *"
history = {{ run_log = "runs" }}
lock = {{ backend = "table", table = "job_lock", key = "sync" }}

[backlogs.pending]
sql = "SELECT count(*) AS value FROM pending"
job = "tick"

[queries.pending]
sql = "select id from pending order by id"
"""

SCHEMA = """
CREATE TABLE run_log (id bigserial PRIMARY KEY, status text, error_message text,
                      started_at timestamptz, finished_at timestamptz);
INSERT INTO run_log (status, started_at, finished_at) VALUES ('SUCCESS', now() - interval '3 minutes', now());
CREATE TABLE job_lock (job_name text PRIMARY KEY, locked_by text, locked_at timestamptz,
                       lock_expires_at timestamptz);
INSERT INTO job_lock VALUES ('sync', 'worker-1', now() - interval '2 hours', now() - interval '1 hour');
CREATE TABLE pending (id int);
INSERT INTO pending VALUES (1), (2);
CREATE TABLE cron_secrets (key text PRIMARY KEY, value text, description text, updated_at timestamptz);
INSERT INTO cron_secrets VALUES ('cron_secret', 'placeholder', 'x', now());
SELECT cron.schedule('tick', '* * * * *', 'SELECT 1');
"""

# Commands that need the database, with the exit codes their documentation allows when it cannot be reached.
DB_COMMANDS: list[tuple[str, tuple[str, ...], set[int]]] = [
    ("triage", ("triage",), {3}),
    ("logs", ("logs", "sync"), {3}),
    ("pgcron-list", ("pgcron", "list"), {3}),
    ("pgcron-disable", ("pgcron", "disable", "tick", "--yes"), {3}),
    ("locks", ("locks",), {3}),
    ("query", ("query", "pending"), {3}),
]
# doctor reports an unreachable database as a failed check (exit 2); secrets check as needing attention (1).
REPORTING_COMMANDS: list[tuple[str, tuple[str, ...], set[int]]] = [
    ("doctor", ("doctor", "--no-endpoints"), {2}),
    ("secrets-check", ("secrets", "check"), {1}),
]


def _present(module: str) -> bool:
    return (Path(__file__).resolve().parents[2] / "src" / "cronctl" / "cli" / f"{module}.py").is_file()


def _commands() -> list[tuple[str, tuple[str, ...], set[int]]]:
    cases = list(DB_COMMANDS)
    cases += [case for case in REPORTING_COMMANDS if _present(case[1][0])]
    return cases


def one_line(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def timed(*args: str, env: dict[str, str | None]) -> tuple[CliResult, float]:
    began = time.monotonic()
    result = run_cli(*args, env=env)
    return result, time.monotonic() - began


def with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@pytest.fixture
def runbook(tmp_path: Path) -> str:
    path = tmp_path / "faults.toml"
    path.write_text(RUNBOOK)
    return str(path)


@pytest.fixture
def data_db(clean_db: str) -> str:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return clean_db


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[PgCluster]:
    """A second cluster this module may stop and kill without disturbing the shared one."""
    cluster = PgCluster.start()
    try:
        with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield cluster
    finally:
        cluster.stop()


# ---------------------------------------------------------------- connection-level faults


def _fault_dsn(kind: str, cluster: PgCluster, dsn: str) -> str:
    if kind == "wrong-password":
        return with_password(dsn, "not-the-password-41c9")
    if kind == "tls-required":
        return dsn + "?sslmode=require"
    if kind == "connection-limit":
        with psycopg.connect(dsn, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [LIMITED_ROLE]).fetchone():
                conn.execute(f"CREATE ROLE {LIMITED_ROLE} LOGIN PASSWORD '{LIMITED_PASSWORD}' CONNECTION LIMIT 0")
        return cluster.dsn(user=LIMITED_ROLE, password=LIMITED_PASSWORD)
    raise AssertionError(kind)


FAULT_WORDS = {
    "wrong-password": "password authentication failed",
    "tls-required": "SSL",
    "connection-limit": "too many connections",
}


@pytest.mark.parametrize("fault", sorted(FAULT_WORDS))
@pytest.mark.parametrize(("label", "args", "codes"), _commands(), ids=[c[0] for c in _commands()])
def test_connection_fault_is_one_line_and_fast(
    pg_cluster: PgCluster,
    data_db: str,
    runbook: str,
    fault: str,
    label: str,
    args: tuple[str, ...],
    codes: set[int],
) -> None:
    dsn = _fault_dsn(fault, pg_cluster, data_db)
    result, elapsed = timed(*args, "-r", runbook, "-f", "json", env={"DATABASE_URL": dsn})
    assert elapsed < CONNECT_TIMEOUT_S + MARGIN_S
    assert result.exit_code in codes, (label, result.output)
    if result.stdout:
        json.loads(result.stdout)
    assert "Traceback" not in result.output
    assert FAULT_WORDS[fault] in result.output
    for secret in ("not-the-password-41c9", LIMITED_PASSWORD, pg_cluster.password):
        assert secret not in result.output
    if label in {c[0] for c in DB_COMMANDS} and label != "locks":
        assert result.stdout == ""
        one_line(result)


def test_connection_fault_leaves_the_job_unchanged(pg_cluster: PgCluster, data_db: str, runbook: str) -> None:
    dsn = _fault_dsn("connection-limit", pg_cluster, data_db)
    result = run_cli("pgcron", "disable", "tick", "--yes", "-r", runbook, env={"DATABASE_URL": dsn})
    assert result.exit_code == 3
    with psycopg.connect(data_db) as conn:
        assert conn.execute("SELECT active FROM cron.job WHERE jobname = 'tick'").fetchone() == (True,)


def test_triage_json_for_an_unreachable_database_is_exit_3(pg_cluster: PgCluster, data_db: str, runbook: str) -> None:
    dsn = _fault_dsn("wrong-password", pg_cluster, data_db)
    result, elapsed = timed("triage", "-r", runbook, "-f", "json", env={"DATABASE_URL": dsn})
    assert result.exit_code == 3 and elapsed < CONNECT_TIMEOUT_S + MARGIN_S
    assert result.stdout == ""  # no half-written JSON for a monitor to misread
    assert one_line(result).startswith("error: cannot connect to database")


# ---------------------------------------------------------------- a server that is down, or dies mid-run


def _cli_process(args: list[str], dsn: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"DATABASE_URL": dsn, "NO_COLOR": "1", "CRONCTL_AUDIT_FILE": os.devnull})
    return subprocess.Popen(
        [sys.executable, "-m", "cronctl", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_server_down_before_the_command(private_cluster: PgCluster, runbook: str) -> None:
    private_cluster.kill()
    try:
        for args in (["triage"], ["logs", "sync"], ["locks"], ["pgcron", "list"]):
            result, elapsed = timed(*args, "-r", runbook, env={"DATABASE_URL": private_cluster.superuser_dsn})
            assert elapsed < CONNECT_TIMEOUT_S + MARGIN_S, args
            assert result.exit_code == 3, (args, result.output)
            assert "Traceback" not in result.output
            assert "cannot connect" in result.output or "could not be read" in result.output
            assert private_cluster.password not in result.output
    finally:
        private_cluster.restart()


def _kill_during_triage(cluster: PgCluster, tmp_path: Path) -> tuple[subprocess.Popen[str], str, str, float, float]:
    """Start a triage whose backlog check sleeps on the server, kill the server mid-check, wait for the end."""
    slow = tmp_path / "slow.toml"
    slow.write_text(
        RUNBOOK.replace(f'statement_timeout = "{STATEMENT_TIMEOUT_S}s"', 'statement_timeout = "20s"').replace(
            "SELECT count(*) AS value FROM pending", "SELECT count(*) AS value FROM pending, pg_sleep(15)"
        )
    )
    dsn = cluster.superuser_dsn
    try:
        began = time.monotonic()
        proc = _cli_process(["triage", "-r", str(slow), "-f", "json"], dsn)
        with psycopg.connect(dsn, autocommit=True) as watcher:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = 'cronctl' AND query LIKE '%pg_sleep%'"
                ).fetchone()
                if row:
                    break
                time.sleep(0.05)
            else:
                proc.kill()
                pytest.fail("triage never reached its slow check")
        killed_at = time.monotonic()
        cluster.kill()
        stdout, stderr = proc.communicate(timeout=CONNECT_TIMEOUT_S + MARGIN_S + 5)
        ended = time.monotonic()
    finally:
        cluster.restart()
    return proc, stdout, stderr, ended - killed_at, ended - began


def test_server_killed_during_a_triage_ends_promptly_with_exit_3(private_cluster: PgCluster, tmp_path: Path) -> None:
    proc, stdout, stderr, after_kill, total = _kill_during_triage(private_cluster, tmp_path)
    assert after_kill < CONNECT_TIMEOUT_S + MARGIN_S, "triage hung after the server died"
    assert total < 20, "triage waited for the statement instead of noticing the dead server"
    assert proc.returncode == 3, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert private_cluster.password not in stdout + stderr
    if stdout.strip():
        assert json.loads(stdout)["status"] == "unknown"


def test_server_killed_during_a_triage_says_so_in_one_line(private_cluster: PgCluster, tmp_path: Path) -> None:
    proc, _stdout, stderr, _, _ = _kill_during_triage(private_cluster, tmp_path)
    assert proc.returncode == 3
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "internal error" not in lines[0], stderr


# ---------------------------------------------------------------- a table locked by another session


class TableLock:
    """Holds ACCESS EXCLUSIVE on a table from another session until released."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with psycopg.connect(self.dsn) as conn:
            conn.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
            self.locked.set()
            self.release.wait(30)

    def __enter__(self) -> TableLock:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


def test_locked_run_log_degrades_one_job_of_the_triage(data_db: str, runbook: str) -> None:
    with TableLock(data_db, "run_log"):
        result, elapsed = timed("triage", "-r", runbook, "-f", "json", env={"DATABASE_URL": data_db})
    assert elapsed < 3 * STATEMENT_TIMEOUT_S + MARGIN_S
    assert "Traceback" not in result.output
    assert result.exit_code in (1, 2, 3), result.output
    data = json.loads(result.stdout)
    jobs = {job["name"]: job for job in data["jobs"]}
    assert set(jobs) == {"tick", "sync"}
    assert jobs["sync"]["state"] == "unknown"
    assert jobs["tick"]["state"] != "unknown"  # the other source still answered
    assert {b["name"] for b in data["backlog"]} == {"pending"}
    assert "timeout" in json.dumps(data).lower() or "lock" in json.dumps(data).lower()


def test_locked_backlog_table_is_reported_and_the_rest_present(data_db: str, runbook: str) -> None:
    with TableLock(data_db, "pending"):
        result, elapsed = timed("triage", "-r", runbook, "-f", "json", env={"DATABASE_URL": data_db})
    assert elapsed < 3 * STATEMENT_TIMEOUT_S + MARGIN_S
    data = json.loads(result.stdout)
    backlog = {b["name"]: b for b in data["backlog"]}
    assert backlog["pending"].get("error"), backlog
    assert {job["name"] for job in data["jobs"]} == {"tick", "sync"}
    assert result.exit_code in (1, 2, 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("table", "args"),
    [("run_log", ("logs", "sync")), ("pending", ("query", "pending")), ("cron.job", ("pgcron", "list"))],
    ids=["logs", "query", "pgcron-list"],
)
def test_locked_table_ends_a_read_command_within_its_timeout(
    data_db: str, runbook: str, table: str, args: tuple[str, ...]
) -> None:
    with TableLock(data_db, table):
        result, elapsed = timed(*args, "-r", runbook, env={"DATABASE_URL": data_db})
    assert elapsed < 2 * STATEMENT_TIMEOUT_S + MARGIN_S
    assert result.exit_code == 3, result.output
    line = one_line(result)
    assert "timeout" in line or "lock" in line


def test_locked_lock_table_makes_clear_wait_no_longer_than_its_timeout(
    data_db: str, runbook: str, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    with TableLock(data_db, "job_lock"):
        result, elapsed = timed(
            "locks",
            "clear",
            "--all-stale",
            "--yes",
            "-r",
            runbook,
            env={"DATABASE_URL": data_db, "CRONCTL_AUDIT_FILE": str(audit)},
        )
    assert elapsed < 2 * STATEMENT_TIMEOUT_S + MARGIN_S
    assert "Traceback" not in result.output
    with psycopg.connect(data_db) as conn:
        assert conn.execute("SELECT count(*) FROM job_lock").fetchone() == (1,)
    assert not audit.exists() or "ok" not in audit.read_text()


def test_locks_clear_with_unreachable_backends_is_exit_3(runbook: str) -> None:
    result = run_cli(
        "locks", "clear", "--all-stale", "--yes", "-r", runbook, env={"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"}
    )
    assert result.exit_code == 3, result.output
