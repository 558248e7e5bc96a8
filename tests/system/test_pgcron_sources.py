"""pg_cron and platform sources against a real pg_cron cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cronctl.sources import pgcron, platform

YEARLY = "0 0 1 1 *"  # never fires during a test


def schedule(conn: psycopg.Connection, name: str, command: str = "SELECT 1") -> int:
    row = conn.execute("SELECT cron.schedule(%s, %s, %s)", [name, YEARLY, command]).fetchone()
    assert row is not None
    return int(row[0])


def add_run(
    conn: psycopg.Connection,
    jobid: int,
    status: str,
    start: datetime | None,
    *,
    seconds: float = 1.0,
    message: str | None = None,
    pid: int | None = 4242,
    runid: int | None = None,
) -> int:
    end = start + timedelta(seconds=seconds) if start is not None and status in ("succeeded", "failed") else None
    cols = "jobid, job_pid, database, username, command, status, return_message, start_time, end_time"
    vals = [jobid, pid, "cronctl", "postgres", "SELECT 1", status, message, start, end]
    if runid is not None:
        cols += ", runid"
        vals.append(runid)
    row = conn.execute(
        f"INSERT INTO cron.job_run_details ({cols}) VALUES ({', '.join(['%s'] * len(vals))}) RETURNING runid",
        vals,
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def conn(clean_db: str) -> psycopg.Connection:
    with psycopg.connect(clean_db, autocommit=True) as c:
        yield c


NOW = datetime.now(UTC).replace(microsecond=0)


def test_recent_runs_newest_first_and_normalised(conn: psycopg.Connection) -> None:
    a = schedule(conn, "job-a")
    b = schedule(conn, "job-b")
    statuses = ["succeeded", "failed", "starting", "connecting", "sending", "running"]
    for i, status in enumerate(statuses):
        message = "ERROR:  boom" if status == "failed" else None
        add_run(conn, a, status, NOW - timedelta(minutes=10 - i), message=message)
    add_run(conn, a, "failed", None, message="connection failed", pid=None)  # 1.4.x early failure
    add_run(conn, b, "succeeded", NOW)
    runs = pgcron.fetch_recent_runs(conn, ["job-a", str(b)], 20)
    assert set(runs) == {"job-a", "job-b"}
    got = runs["job-a"]
    assert [r.raw_status for r in got] == ["failed", *reversed(statuses)]
    assert [r.status for r in got] == ["failed", "running", "running", "running", "running", "failed", "succeeded"]
    early = got[0]
    assert early.started_at is None and early.message == "connection failed" and early.duration is None
    assert early.detail["jobid"] == a and early.detail["command"] == "SELECT 1"
    assert got[-1].duration == 1.0
    assert len(pgcron.fetch_recent_runs(conn, ["job-a"], 3)["job-a"]) == 3
    failed = pgcron.fetch_recent_runs(conn, ["job-a"], 10, failed_only=True)["job-a"]
    assert [r.message for r in failed] == ["connection failed", "ERROR:  boom"]


def test_recent_runs_window_bounds_the_walk(conn: psycopg.Connection) -> None:
    a = schedule(conn, "rare")
    b = schedule(conn, "busy")
    add_run(conn, a, "succeeded", NOW - timedelta(days=3))
    conn.execute(
        "INSERT INTO cron.job_run_details (jobid, status, start_time) "
        "SELECT %s, 'succeeded', now() FROM generate_series(1, 500)",
        [b],
    )
    assert "rare" in pgcron.fetch_recent_runs(conn, ["rare"], 5, window=None)
    assert "rare" not in pgcron.fetch_recent_runs(conn, ["rare"], 5, window=100)


def test_recent_runs_plan_walks_runid_primary_key(conn: psycopg.Connection) -> None:
    a = schedule(conn, "job-a")
    conn.execute(
        "INSERT INTO cron.job_run_details (jobid, status, start_time) "
        "SELECT %s, 'succeeded', now() FROM generate_series(1, 20000)",
        [a],
    )
    conn.execute("ANALYZE cron.job_run_details")
    query, params = pgcron.recent_runs_query(["job-a"], 10)
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, params).fetchall())
    assert "Index Scan Backward using job_run_details_pkey" in plan, plan
    assert "Sort" not in plan.split("Limit")[1].split("->  Index")[0], plan
    list_query, list_params = pgcron.list_jobs_query()
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + list_query, list_params).fetchall())
    assert "Index Scan Backward using job_run_details_pkey" in plan, plan


def test_list_jobs_last_run_and_running_now(conn: psycopg.Connection) -> None:
    a = schedule(conn, "job-a", "SELECT net.http_post(url := 'https://x.supabase.co/functions/v1/worker')")
    schedule(conn, "never")
    add_run(conn, a, "succeeded", NOW - timedelta(minutes=2))
    add_run(conn, a, "running", NOW)
    jobs = {j.name: j for j in pgcron.fetch_jobs(conn)}
    assert jobs["job-a"].running_now and jobs["job-a"].last_run is not None
    assert jobs["job-a"].last_run.started_at == NOW
    assert jobs["never"].last_run is None and not jobs["never"].running_now
    assert jobs["never"].active is True


def test_platform_facts_scheduler_size_and_stuck(conn: psycopg.Connection, pg_cluster) -> None:
    pg_cluster.wait_for_scheduler()
    a = schedule(conn, "job-a")
    add_run(conn, a, "running", NOW - timedelta(hours=1), pid=999_999)  # no such backend
    own_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    add_run(conn, a, "running", NOW, pid=own_pid)  # live backend: not stuck
    facts = platform.fetch_facts(conn)
    assert facts.pg_cron_installed and facts.superuser and facts.role == "postgres"
    assert facts.pg_cron_version == "1.4 or older"  # Debian bookworm ships 1.4.2
    assert facts.setting("cron.database_name") == "cronctl"
    assert facts.setting("cron.max_running_jobs") is not None
    assert not facts.net_schema
    sched = platform.fetch_scheduler(conn)
    assert sched.alive and sched.pid == pg_cluster.scheduler_pid()
    size = platform.fetch_run_details_size(conn)
    assert size.total_bytes > 0 and size.max_runid is not None
    stuck = platform.fetch_stuck_runs(conn)
    assert [r.detail["job_pid"] for r in stuck] == [999_999]


def test_version_told_by_settings() -> None:
    base = dict(
        server_version="15",
        server_version_num=150000,
        role="r",
        superuser=True,
        database="d",
        cron_schema=True,
        pg_cron_extversion="1.4-1",
        net_schema=False,
        net_response_table=False,
        pg_net_extversion=None,
        preloaded=True,
    )
    assert platform.ServerFacts(**base, cron_settings={"cron.timezone": "GMT"}).pg_cron_version == "1.5+"
    six = {"cron.timezone": "GMT", "cron.launch_active_jobs": "on"}
    assert platform.ServerFacts(**base, cron_settings=six).pg_cron_version == "1.6+"


def test_purge_plan_finds_cutoff_by_runid(conn: psycopg.Connection) -> None:
    a = schedule(conn, "job-a")
    conn.execute(
        "INSERT INTO cron.job_run_details (jobid, status, start_time) "
        "SELECT %s, 'succeeded', now() - make_interval(hours => 1000 - g) FROM generate_series(1, 1000) g",
        [a],
    )
    cutoff = datetime.now(UTC) - timedelta(hours=100)
    plan = pgcron.plan_purge(conn, cutoff)
    expected = conn.execute("SELECT min(runid) FROM cron.job_run_details WHERE start_time >= %s", [cutoff]).fetchone()[
        0
    ]
    assert plan.cutoff_runid == expected
    assert plan.estimated_rows == 900
    batches = pgcron.purge_batches(plan, 250)
    assert len(batches) == 4 and batches[-1][1] == expected
