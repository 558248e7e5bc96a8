"""A server with `cron.log_run = off`: pg_cron runs the jobs but writes no run log, so a job judged from that log
alone is `unknown` with one root cause saying why, never `ok` on old rows and never `missed` on absent ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl_sandbox.cluster import PgCluster

RUNBOOK = """
[runbook]
name = "log-run-off"

[jobs.refresh-stats]
schedule = "* * * * *"
history = { pg_cron = true }

[jobs.nightly]
schedule = "0 3 * * *"
history = { pg_cron = true }
"""


@pytest.fixture(scope="module")
def unlogged() -> Iterator[PgCluster]:
    with PgCluster.start(settings={"cron.log_run": "off"}) as cluster:
        yield cluster


def _triage(cluster: PgCluster, tmp_path: Path, *extra: str) -> tuple[dict, int]:  # type: ignore[type-arg]
    path = tmp_path / "rb.toml"
    path.write_text(RUNBOOK)
    result = run_cli("triage", "-r", str(path), "-f", "json", *extra, env={"DATABASE_URL": cluster.superuser_dsn})
    assert result.stdout, result.stderr
    return json.loads(result.stdout), result.exit_code


def test_jobs_judged_from_an_unwritten_run_log_are_unknown_with_one_cause(unlogged: PgCluster, tmp_path: Path) -> None:
    with psycopg.connect(unlogged.superuser_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM cron.job")
        conn.execute("DELETE FROM cron.job_run_details")
        ids = {
            name: conn.execute("SELECT cron.schedule(%s, %s, 'SELECT 1')", [name, schedule]).fetchone()[0]  # type: ignore[index]
            for name, schedule in (("refresh-stats", "* * * * *"), ("nightly", "0 3 * * *"))
        }
        # A run from before the setting was turned off, an hour ago: it says nothing about the runs since.
        conn.execute(
            "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,"
            " return_message, start_time, end_time) VALUES (%s, 7001, 1, current_database(), current_user,"
            " 'SELECT 1', 'succeeded', 'SELECT 1', now() - interval '1 hour', now() - interval '1 hour')",
            [ids["refresh-stats"]],
        )
    data, code = _triage(unlogged, tmp_path)
    jobs = {j["name"]: j for j in data["jobs"]}
    assert {j["state"] for j in jobs.values()} == {"unknown"}, jobs
    assert all("cron.log_run = off" in j["reason"] for j in jobs.values()), jobs
    causes = [f for f in data["findings"] if f["id"] == "pg_cron_log_run_off"]
    assert len(causes) == 1 and set(causes[0]["jobs"]) == {"refresh-stats", "nightly"}, data["findings"]
    assert "ALTER SYSTEM SET cron.log_run = on" in causes[0]["action"]
    assert not [f for f in data["findings"] if f["id"] not in ("pg_cron_log_run_off",) and f["kind"] == "root_cause"]
    assert data["status"] != "ok" and code != 0

    # The setting is a present-tense fact: a past time is judged from the rows there are.
    with psycopg.connect(unlogged.superuser_dsn, autocommit=True) as conn:
        at = conn.execute("SELECT to_char(now() - interval '59 minutes', 'YYYY-MM-DD\"T\"HH24:MI:SSZ')").fetchone()
    assert at is not None
    past, _ = _triage(unlogged, tmp_path, "--at", at[0], "--job", "refresh-stats")
    assert not [f for f in past["findings"] if f["id"] == "pg_cron_log_run_off"], past["findings"]
    assert past["jobs"][0]["state"] == "ok", past["jobs"]
