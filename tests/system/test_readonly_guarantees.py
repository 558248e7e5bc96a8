"""As a role that can only SELECT (inside default_transaction_read_only): every read command works, every
mutating command refuses with exit 4 and one line, and the database is byte-for-byte what it was before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cli_runner import CliResult, run_cli
from conftest import reset_database
from cronctl_sandbox import scenario

SOURCE = Path(__file__).resolve().parents[2] / "runbooks" / "demo.toml"
CLI_DIR = Path(__file__).resolve().parents[2] / "src" / "cronctl" / "cli"
SECRETS = {
    "DEMO_URL": "http://127.0.0.1:9",
    "DEMO_CRON_SECRET": "ro-cron-secret-0a1b2c3d4e",
    "DEMO_SERVICE_KEY": "ro-service-key-5f6a7b8c9d",
    "DEMO_WEBHOOK_SECRET": "whsec_cm8td2ViaG9vay1rZXktMDEy",
}


def present(module: str) -> bool:
    return (CLI_DIR / f"{module}.py").is_file()


def checksum(dsn: str) -> dict[str, str]:
    """md5 of every row (ordered) of every table in cron, public and net: what a change would show up in."""
    sums: dict[str, str] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('cron', 'public', 'net') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {}.{} t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            count, digest = conn.execute(query).fetchone()  # type: ignore[misc]
            sums[f"{schema}.{table}"] = f"{count}:{digest}"
        # Locks held as advisory locks and settings of jobs are state too.
        sums["pg_locks.advisory"] = str(
            conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
        )
    return sums


@pytest.fixture(scope="module")
def incident(pg_dsn: str) -> Iterator[str]:
    reset_database(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        scenario.load(conn, "demo", datetime.now(UTC))
    yield pg_dsn
    reset_database(pg_dsn)


@pytest.fixture
def ro(incident: str, read_only_role: str, tmp_path: Path) -> dict[str, str | None]:
    with psycopg.connect(read_only_role) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
    runbook = tmp_path / "demo.toml"  # a copy: nothing a command writes can reach the shipped runbook
    runbook.write_text(SOURCE.read_text())
    return {
        **SECRETS,
        "DATABASE_URL": read_only_role,
        "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl"),
        "CRONCTL_RUNBOOK": str(runbook),
    }


def cli(env: dict[str, str | None], *args: str, stdin: str | None = None) -> CliResult:
    result = run_cli(*args, env=env, input=stdin)
    assert "Traceback" not in result.output
    return result


READS: list[tuple[str, tuple[str, ...], set[int]]] = [
    ("jobs", ("jobs",), {0}),
    ("triage", ("triage",), {0, 1, 2, 3}),
    ("logs-run-log", ("logs", "sync-enrolments"), {0, 1}),
    ("logs-cron-runs", ("logs", "nightly-report"), {0, 1}),
    ("logs-pg-cron", ("logs", "dispatch-messages"), {0, 1}),
    ("pgcron-list", ("pgcron", "list"), {0, 1}),
    ("pgcron-history", ("pgcron", "history"), {0, 1}),
    ("pgcron-status", ("pgcron", "status"), {0, 1}),
    ("query-recent", ("query", "recent-runs"), {0}),
    ("query-param", ("query", "category-sample"), {0}),
    ("locks", ("locks",), {1}),
    ("locks-dry-run", ("locks", "clear", "--all-stale", "--dry-run"), {0, 1}),
    ("pgcron-dry-run", ("pgcron", "disable", "dispatch-messages", "--dry-run"), {0, 2, 4}),
    ("doctor", ("doctor", "--no-endpoints"), {0, 1, 2}),
    ("secrets-check", ("secrets", "check"), {0, 1}),
    # pg_cron's row-level security hides postgres' jobs from this role: a clear usage error, not a crash.
    ("init-dry-run", ("init", "--from-pgcron", "--dry-run"), {0, 2}),
]


def _reads() -> list[tuple[str, tuple[str, ...], set[int]]]:
    return [case for case in READS if present(case[1][0])]


@pytest.mark.parametrize(("label", "argv", "codes"), _reads(), ids=[c[0] for c in _reads()])
def test_read_command_works_as_a_select_only_role(
    incident: str, ro: dict[str, str | None], label: str, argv: tuple[str, ...], codes: set[int]
) -> None:
    before = checksum(incident)
    result = cli(ro, *argv, "-f", "json")
    assert result.exit_code in codes, (label, result.output[-2000:])
    assert result.exit_code != 4 or label == "pgcron-dry-run"
    if result.stdout:
        json.loads(result.stdout)
    else:
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.output
    assert checksum(incident) == before


def _stable(data: object) -> object:
    """Drop what changes between two runs a moment apart (ages, generation time)."""
    if isinstance(data, dict):
        return {k: _stable(v) for k, v in data.items() if "age" not in k and k != "generated_at"}
    if isinstance(data, list):
        return [_stable(v) for v in data]
    return data


def test_read_only_role_sees_the_same_locks_and_rows(incident: str, ro: dict[str, str | None]) -> None:
    su = {**ro, "DATABASE_URL": incident}
    for argv in (("locks",), ("query", "recent-runs"), ("logs", "sync-enrolments")):
        as_ro = json.loads(cli(ro, *argv, "-f", "json").stdout)
        as_su = json.loads(cli(su, *argv, "-f", "json").stdout)
        assert _stable(as_ro) == _stable(as_su), argv


def test_triage_as_read_only_role_still_judges_app_tables(ro: dict[str, str | None]) -> None:
    data = json.loads(cli(ro, "triage", "-f", "json").stdout)
    states = {job["name"]: job for job in data["jobs"]}
    assert states["sync-enrolments"]["state"] == "failing"  # run_log and job_lock are readable by SELECT
    assert "row-level security" in states["dispatch-messages"]["reason"]  # pg_cron hides postgres' jobs
    assert any(b["name"] == "pending-messages" and b["ok"] is False for b in data["backlog"])
    assert any(lock["stale"] and "sync-enrolments" in json.dumps(lock) for lock in data["locks"])


def test_run_log_hidden_by_row_level_security_is_said(ro: dict[str, str | None]) -> None:
    data = json.loads(cli(ro, "triage", "-f", "json").stdout)
    job = next(j for j in data["jobs"] if j["name"] == "nightly-report")
    assert job["state"] != "never_run" or "row-level security" in (job.get("reason") or "")


MUTATIONS: list[tuple[str, tuple[str, ...], str | None]] = [
    ("pgcron-enable", ("pgcron", "enable", "dispatch-messages", "--yes"), None),
    ("pgcron-disable", ("pgcron", "disable", "dispatch-messages", "--yes"), None),
    ("pgcron-unschedule", ("pgcron", "unschedule", "dispatch-messages", "--yes"), None),
    ("pgcron-reschedule", ("pgcron", "reschedule", "dispatch-messages", "*/2 * * * *", "--yes"), None),
    ("pgcron-run", ("pgcron", "run", "dispatch-messages", "--yes"), None),
    ("pgcron-purge-history", ("pgcron", "purge-history", "--older-than", "1m", "--yes"), None),
    ("locks-clear-all-stale", ("locks", "clear", "--all-stale", "--yes"), None),
    ("locks-clear-job", ("locks", "clear", "sync-enrolments", "--yes"), None),
    ("locks-clear-force", ("locks", "clear", "sync-enrolments", "--force", "--yes"), None),
    ("secrets-rotate", ("secrets", "rotate", "cron_secret", "--yes"), "ro-new-secret-value-77aa88bb\n"),
]


def _mutations() -> list[tuple[str, tuple[str, ...], str | None]]:
    return [case for case in MUTATIONS if present(case[1][0])]


@pytest.mark.parametrize("fmt", ["json", "table"])
@pytest.mark.parametrize(("label", "argv", "stdin"), _mutations(), ids=[c[0] for c in _mutations()])
def test_mutating_command_refuses_and_changes_nothing(
    incident: str, ro: dict[str, str | None], label: str, argv: tuple[str, ...], stdin: str | None, fmt: str
) -> None:
    before = checksum(incident)
    result = cli(ro, *argv, "-f", fmt, stdin=stdin)
    assert result.exit_code == 4, (label, result.output[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "read-only" in errors[0] or "permission" in errors[0]
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr  # at most the lock it tried, then why
    assert result.stdout == ""
    assert checksum(incident) == before, f"{label} changed the database as a read-only role"


def test_checksum_notices_a_change(incident: str) -> None:
    """The comparison above can fail: one changed row in one table is seen."""
    before = checksum(incident)
    with psycopg.connect(incident, autocommit=True) as conn:
        conn.execute("UPDATE job_lock SET locked_by = locked_by || '!' WHERE job_name = 'sync-enrolments'")
        try:
            assert checksum(incident) != before
        finally:
            conn.execute("UPDATE job_lock SET locked_by = rtrim(locked_by, '!') WHERE job_name = 'sync-enrolments'")
    assert checksum(incident) == before
