"""Run-log tables under row-level security: a role the policies show nothing sees an empty table, and triage and
`cronctl logs` say that row-level security may hide the runs instead of judging the job never run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cli_runner import run_cli
from conftest import READ_ONLY_ROLE
from cronctl.runbook.model import RunLogSpec
from cronctl.sources import runlog

NOW = datetime.now(UTC).replace(microsecond=0)
OWNER_ROLE = "cronctl_rls_owner"
BYPASS_ROLE = "cronctl_rls_bypass"
SPEC = RunLogSpec(name="cron_runs", table="cron_runs", job_column="cron_name", order_column="started_at")

RUNBOOK = """
[runbook]
name = "rls"
[connection]
database_url = "${DATABASE_URL}"
statement_timeout = "5s"
connect_timeout = "5s"

[run_logs.cron_runs]
table = "cron_runs"
job_column = "cron_name"
message_column = "error_message"
order_column = "started_at"

[jobs.nightly-report]
schedule = "*/10 * * * *"
url = "http://127.0.0.1:9/api/cron/nightly-report"
scheduler = "vercel"
history = { run_log = "cron_runs" }
"""

TABLE = """
CREATE TABLE public.cron_runs (
  id bigserial PRIMARY KEY,
  cron_name text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  status text NOT NULL,
  error_message text
)
"""


@pytest.fixture
def su(clean_db: str) -> Iterator[psycopg.Connection[Any]]:
    """Superuser connection with seed 002's cron_runs holding a recent successful run of nightly-report."""
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(TABLE)
        conn.execute(
            "INSERT INTO cron_runs (cron_name, started_at, finished_at, status) VALUES (%s, %s, %s, 'success')",
            ["nightly-report", NOW - timedelta(minutes=3), NOW - timedelta(minutes=2)],
        )
        yield conn
        conn.execute("DROP TABLE IF EXISTS public.cron_runs")
        for role in (OWNER_ROLE, BYPASS_ROLE):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def rb(tmp_path: Path) -> str:
    path = tmp_path / "rls.toml"
    path.write_text(RUNBOOK)
    return str(path)


def enable_rls(conn: psycopg.Connection[Any]) -> None:
    conn.execute("ALTER TABLE public.cron_runs ENABLE ROW LEVEL SECURITY")  # as seed 002 does, no policy


def triage_job(rb: str, dsn: str) -> dict[str, Any]:
    result = run_cli("triage", "-r", rb, "-f", "json", env={"DATABASE_URL": dsn})
    assert "Traceback" not in result.output, result.output
    data = json.loads(result.stdout)
    job: dict[str, Any] = next(j for j in data["jobs"] if j["name"] == "nightly-report")
    return job


def logs(rb: str, dsn: str, fmt: str = "json") -> Any:
    result = run_cli("logs", "nightly-report", "-r", rb, "-f", fmt, env={"DATABASE_URL": dsn})
    assert "Traceback" not in result.output, result.output
    return result


def run_log_source(data: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = next(s for s in data["sources"] if s["source"] == "run_log:cron_runs")
    return source


def test_triage_says_rls_may_hide_the_runs(
    su: psycopg.Connection[Any], clean_db: str, rb: str, read_only_role: str
) -> None:
    enable_rls(su)
    job = triage_job(rb, read_only_role)
    assert job["state"] == "unknown", job
    assert "row-level security" in job["reason"] and READ_ONLY_ROLE in job["reason"], job["reason"]
    assert "public.cron_runs" in job["reason"]
    assert "row-level security" in (run_log_source(job)["message"] or "")
    # The table's owner (the superuser here) sees the run: judged from it, nothing said about RLS.
    as_owner = triage_job(rb, clean_db)
    assert as_owner["state"] not in ("unknown", "never_run"), as_owner  # judged from its run (ok, or late)
    assert as_owner["last_run"]["source"] == "run_log:cron_runs"
    assert "row-level security" not in as_owner["reason"]
    assert run_log_source(as_owner)["message"] is None


def test_triage_without_rls_still_says_never_run(su: psycopg.Connection[Any], rb: str, read_only_role: str) -> None:
    su.execute("DELETE FROM cron_runs")
    job = triage_job(rb, read_only_role)
    assert job["state"] == "never_run", job
    assert "row-level security" not in job["reason"]
    enable_rls(su)  # the same empty table, now behind row-level security: no longer known to be never run
    job = triage_job(rb, read_only_role)
    assert job["state"] == "unknown" and "row-level security" in job["reason"], job


def test_a_policy_that_shows_the_rows_needs_no_note(su: psycopg.Connection[Any], rb: str, read_only_role: str) -> None:
    enable_rls(su)
    su.execute(
        sql.SQL("CREATE POLICY read_all ON public.cron_runs FOR SELECT TO {} USING (true)").format(
            sql.Identifier(READ_ONLY_ROLE)
        )
    )
    job = triage_job(rb, read_only_role)
    assert job["state"] not in ("unknown", "never_run"), job
    assert job["last_run"]["source"] == "run_log:cron_runs"
    assert run_log_source(job)["message"] is None
    data = json.loads(logs(rb, read_only_role).stdout)
    assert len(data["runs"]) == 1 and run_log_source(data)["message"] is None


def test_logs_says_rls_may_hide_the_runs(
    su: psycopg.Connection[Any], clean_db: str, rb: str, read_only_role: str
) -> None:
    enable_rls(su)
    result = logs(rb, read_only_role)
    data = json.loads(result.stdout)
    assert data["runs"] == []
    source = run_log_source(data)
    assert source["state"] == "ok" and source["runs"] == 0
    assert "row-level security" in source["message"] and READ_ONLY_ROLE in source["message"]
    as_owner = json.loads(logs(rb, clean_db).stdout)
    assert len(as_owner["runs"]) == 1 and run_log_source(as_owner)["message"] is None


def _hides_from(conn: psycopg.Connection[Any]) -> str | None:
    query, params = runlog.columns_query(SPEC)
    return runlog.rls_hides_from(conn.execute(query, params).fetchall())


def _server_says(conn: psycopg.Connection[Any]) -> bool:
    """PostgreSQL's own answer: is row-level security applied to this table for the current role."""
    row = conn.execute("SELECT row_security_active('public.cron_runs')").fetchone()
    assert row is not None
    return bool(row[0])


def test_who_bypasses_rls_matches_the_server(su: psycopg.Connection[Any]) -> None:
    for role, attrs in ((OWNER_ROLE, "NOLOGIN"), (BYPASS_ROLE, "NOLOGIN BYPASSRLS")):
        su.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        su.execute(sql.SQL("CREATE ROLE {} " + attrs).format(sql.Identifier(role)))
        su.execute(sql.SQL("GRANT SELECT ON public.cron_runs TO {}").format(sql.Identifier(role)))
    su.execute(sql.SQL("ALTER TABLE public.cron_runs OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
    su.execute(sql.SQL("GRANT SELECT ON public.cron_runs TO {}").format(sql.Identifier(READ_ONLY_ROLE)))

    def case(role: str | None) -> tuple[str | None, bool]:
        if role is not None:
            su.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        try:
            return _hides_from(su), _server_says(su)
        finally:
            su.execute("RESET ROLE")

    roles = (None, OWNER_ROLE, BYPASS_ROLE, READ_ONLY_ROLE)
    # Row-level security off: nobody's rows are hidden.
    assert [case(r) for r in roles] == [(None, False)] * 4
    su.execute("ALTER TABLE public.cron_runs ENABLE ROW LEVEL SECURITY")
    assert [case(r) for r in roles] == [(None, False), (None, False), (None, False), (READ_ONLY_ROLE, True)]
    # FORCE subjects the owner too; superusers and BYPASSRLS roles still bypass it.
    su.execute("ALTER TABLE public.cron_runs FORCE ROW LEVEL SECURITY")
    assert [case(r) for r in roles] == [(None, False), (OWNER_ROLE, True), (None, False), (READ_ONLY_ROLE, True)]


def test_missing_table_is_still_missing(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        assert _hides_from(conn) is None
        query, params = runlog.columns_query(SPEC)
        with pytest.raises(Exception, match="does not exist"):
            runlog.check_columns(SPEC, conn.execute(query, params).fetchall())


def test_a_hidden_history_is_not_shown_as_never_run(su: psycopg.Connection[Any], rb: str, read_only_role: str) -> None:
    enable_rls(su)
    result = run_cli("triage", "-r", rb, "-f", "plain", env={"DATABASE_URL": read_only_role, "COLUMNS": "200"})
    line = next(row for row in result.stdout.splitlines() if row.startswith("nightly-report"))
    assert "unknown" in line and "never" not in line, line
