"""Run-log rows (seed 002's `cron_runs`, seed 003's `run_log`) come back newest first by time, then by the id in its
own type: id 1000 is newer than id 999 (never ordered as text). `partial` stays `partial` with its message, and
row-level-security notes are only given to roles that do not bypass it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cli_runner import run_cli
from cronctl.runbook.model import RunLogSpec
from cronctl.sources import runlog

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
IDS = list(range(995, 1013))  # 995 … 1012: the newest ids have one digit more
BYPASS_ROLE = "cronctl_order_bypass"

RUN_LOG = RunLogSpec(
    name="run_log",
    table="run_log",
    message_column="error_message",
    records_column="total_records",
    statuses={"RUNNING": "running", "SUCCESS": "succeeded", "FAILED": "failed", "PARTIAL": "partial"},
)
CRON_RUNS = RunLogSpec(
    name="cron_runs",
    table="cron_runs",
    job_column="cron_name",
    message_column="error_message",
    records_column="records_count",
    order_column="started_at",
    statuses={"running": "running", "success": "succeeded", "error": "failed", "partial": "partial"},
)


@pytest.fixture
def conn(clean_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(clean_db, autocommit=True) as c:
        yield c
        c.execute("DROP TABLE IF EXISTS public.run_log, public.cron_runs")
        c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(BYPASS_ROLE)))


def _run_log(conn: psycopg.Connection[Any], id_type: str, ids: list[int], *, same_start: bool = False) -> None:
    """Seed 003's run_log with the given ids (bigint, text or numeric), one hourly run per id, oldest first."""
    conn.execute(
        f"CREATE TABLE public.run_log (id {id_type} PRIMARY KEY, trigger_type text NOT NULL, status text NOT NULL,"
        " total_records integer, error_message text, started_at timestamptz NOT NULL, finished_at timestamptz)"
    )
    rows = []
    for i, rid in enumerate(ids):
        started = T0 if same_start else T0 + timedelta(hours=i)
        rows.append((str(rid), "SCHEDULER", "SUCCESS", 178, None, started, started + timedelta(seconds=48)))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.run_log (id, trigger_type, status, total_records, error_message, started_at,"
            f" finished_at) VALUES (%s::{id_type}, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def _ids(runs: list[Any]) -> list[str]:
    return [r.run_id for r in runs]


@pytest.mark.parametrize("id_type", ["bigint", "integer", "numeric", "text"])
def test_newest_run_log_rows_first_past_id_999(conn: psycopg.Connection[Any], id_type: str) -> None:
    _run_log(conn, id_type, IDS)
    runs = runlog.fetch_recent_runs(conn, RUN_LOG, ["*"], 5)["*"]
    assert _ids(runs) == ["1012", "1011", "1010", "1009", "1008"]
    assert runs[0].started_at == T0 + timedelta(hours=len(IDS) - 1)


def test_numeric_ids_break_ties_as_numbers(conn: psycopg.Connection[Any]) -> None:
    """Rows that started in the same instant: the numeric id decides, 1012 before 999."""
    _run_log(conn, "bigint", IDS, same_start=True)
    runs = runlog.fetch_recent_runs(conn, RUN_LOG, ["*"], len(IDS))["*"]
    assert _ids(runs) == [str(i) for i in reversed(IDS)]


def test_text_ids_are_ordered_by_time_not_by_text(conn: psycopg.Connection[Any]) -> None:
    """A text id column holding numbers: the start time orders them (text would put '999' above '1012')."""
    _run_log(conn, "text", list(reversed(IDS)))  # ids and time disagree: the oldest row has id 1012
    runs = runlog.fetch_recent_runs(conn, RUN_LOG, ["*"], 3)["*"]
    assert _ids(runs) == ["995", "996", "997"]


def test_uuid_ids_ordered_by_started_per_job(conn: psycopg.Connection[Any]) -> None:
    """Seed 002: random UUID ids, walked through (cron_name, started_at DESC)."""
    conn.execute(
        "CREATE TABLE public.cron_runs (id uuid DEFAULT gen_random_uuid() PRIMARY KEY, cron_name text NOT NULL,"
        " started_at timestamptz NOT NULL, finished_at timestamptz, status text NOT NULL, records_count int,"
        " error_message text)"
    )
    conn.execute("CREATE INDEX ON public.cron_runs (cron_name, started_at DESC)")
    for i in range(len(IDS)):
        for name in ("collect-daily", "collect-mixpanel"):
            conn.execute(
                "INSERT INTO public.cron_runs (cron_name, started_at, finished_at, status, records_count)"
                " VALUES (%s, %s, %s, 'success', 10)",
                [name, T0 + timedelta(days=i), T0 + timedelta(days=i, seconds=95)],
            )
    runs = runlog.fetch_recent_runs(conn, CRON_RUNS, ["collect-mixpanel", "collect-daily"], 4)
    for name in ("collect-daily", "collect-mixpanel"):
        starts = [r.started_at for r in runs[name]]
        assert starts == [T0 + timedelta(days=len(IDS) - 1 - k) for k in range(4)], name


@pytest.mark.parametrize("spec_statuses", [True, False], ids=["mapped", "defaults"])
def test_partial_is_partial_with_its_message(conn: psycopg.Connection[Any], spec_statuses: bool) -> None:
    """Seed 002: 'retries failed → that account is skipped, the whole run status = partial'."""
    conn.execute(
        "CREATE TABLE public.cron_runs (id uuid DEFAULT gen_random_uuid() PRIMARY KEY, cron_name text NOT NULL,"
        " started_at timestamptz NOT NULL, finished_at timestamptz, status text NOT NULL, records_count int,"
        " error_message text)"
    )
    message = "Meta API 429 Too Many Requests for act_1029 after 2 retries; account skipped"
    conn.execute(
        "INSERT INTO public.cron_runs (cron_name, started_at, finished_at, status, records_count, error_message)"
        " VALUES ('collect-daily', %s, %s, 'partial', 1210, %s)",
        [T0, T0 + timedelta(seconds=140), message],
    )
    spec = CRON_RUNS if spec_statuses else replace(CRON_RUNS, statuses={})
    (run,) = runlog.fetch_recent_runs(conn, spec, ["collect-daily"], 5)["collect-daily"]
    assert (run.status, run.raw_status, run.message, run.records) == ("partial", "partial", message, 1210)


def test_status_mapping_ignores_case_and_blanks() -> None:
    assert runlog.normalise(RUN_LOG, "PARTIAL") == "partial"
    assert runlog.normalise(RUN_LOG, "partial ") == "partial"
    assert runlog.normalise(RUN_LOG, "Success") == "succeeded"
    assert runlog.normalise(RUN_LOG, "FAILED") == "failed"


def test_parse_runs_keeps_the_query_order_and_ignores_sort_columns() -> None:
    started = [T0 + timedelta(hours=h) for h in (3, 2, 1)]
    rows = [
        ("*", str(rid), s, None, "SUCCESS", None, 1, None, s, rid, rid)
        for rid, s in zip((1000, 999, 998), started, strict=True)
    ]
    runs = runlog.parse_runs(RUN_LOG, rows)["*"]
    assert _ids(runs) == ["1000", "999", "998"]


RUNBOOK = """
[runbook]
name = "order"
[connection]
database_url = "${DATABASE_URL}"
statement_timeout = "5s"
connect_timeout = "5s"

[run_logs.run_log]
table = "run_log"
message_column = "error_message"
statuses = { running = ["RUNNING"], succeeded = ["SUCCESS"], failed = ["FAILED"], partial = ["PARTIAL"] }

[jobs.enrolment-sync]
schedule = "0 * * * *"
url = "http://127.0.0.1:9/jobs/enrolment-sync"
scheduler = "external"
history = { run_log = "run_log" }
"""


def _triage_job(tmp_path: Path, dsn: str) -> dict[str, Any]:
    path = tmp_path / "order.toml"
    path.write_text(RUNBOOK)
    result = run_cli("triage", "-r", str(path), "-f", "json", env={"DATABASE_URL": dsn})
    assert result.stdout and "Traceback" not in result.output, result.output
    data = json.loads(result.stdout)
    job: dict[str, Any] = next(j for j in data["jobs"] if j["name"] == "enrolment-sync")
    return job


def _sources_text(job: dict[str, Any]) -> str:
    return json.dumps(job["sources"]) + (job.get("reason") or "")


def test_no_rls_note_for_bypassrls_or_superuser(
    conn: psycopg.Connection[Any], clean_db: str, read_only_role: str, pg_cluster: Any, tmp_path: Path
) -> None:
    """RLS on, no policy: the read-only role is told its runs may be hidden; a BYPASSRLS role and a superuser,
    who see every row, are not (and neither is any role once rows are visible)."""
    _run_log(conn, "bigint", [])
    conn.execute("ALTER TABLE public.run_log ENABLE ROW LEVEL SECURITY")
    conn.execute("GRANT SELECT ON public.run_log TO cronctl_ro")
    role = sql.Identifier(BYPASS_ROLE)
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN BYPASSRLS PASSWORD 'order-test'").format(role))
    conn.execute(sql.SQL("GRANT SELECT ON public.run_log TO {}").format(role))
    bypass_dsn = pg_cluster.dsn(user=BYPASS_ROLE, password="order-test")

    hidden = _triage_job(tmp_path, read_only_role)
    assert "row-level security" in _sources_text(hidden), hidden
    for dsn in (bypass_dsn, clean_db):
        job = _triage_job(tmp_path, dsn)
        assert job["state"] == "never_run", job
        assert "row-level security" not in _sources_text(job), job

    with conn.cursor() as cur:  # the role's own answer agrees: the bypassing roles are never named
        for who in (BYPASS_ROLE, None):
            if who:
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(who)))
            query, params = runlog.columns_query(RUN_LOG)
            assert runlog.rls_hides_from(cur.execute(query, params).fetchall()) is None
            cur.execute("RESET ROLE")
