"""`cronctl pgcron ...` end to end against the sandbox cluster."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from test_pgcron_sources import YEARLY, add_run, schedule

from cli_runner import run_cli

FORMATS = ("table", "json", "markdown", "plain")
NOW = datetime.now(UTC).replace(microsecond=0)


def write_runbook(tmp_path: Path, extra: str = "", timeout: str = "2s") -> str:
    path = tmp_path / "runbook.toml"
    path.write_text(
        f"""
[runbook]
name = "billing"

[connection]
database_url = "${{DATABASE_URL}}"
statement_timeout = "{timeout}"
connect_timeout = "2s"

[jobs.worker]
url = "https://example.invalid/functions/v1/notification-worker"
schedule = "*/5 * * * *"
scheduler = "pg_cron"

[jobs.worker.history]
pg_cron = "notification-worker"
{extra}
"""
    )
    return str(path)


@pytest.fixture
def db(clean_db: str) -> psycopg.Connection:
    with psycopg.connect(clean_db, autocommit=True) as c:
        yield c


@pytest.fixture
def env(clean_db: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": clean_db, "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")}


def cli(rb: str, env: dict[str, str], *args: str, fmt: str = "json"):
    return run_cli("pgcron", *args, "-r", rb, "-f", fmt, env=env)


def seed_jobs(db: psycopg.Connection) -> int:
    jobid = schedule(db, "notification-worker", "SELECT 41 + 1")
    other = schedule(db, "cleanup")
    add_run(db, jobid, "succeeded", NOW - timedelta(minutes=10))
    add_run(db, jobid, "failed", NOW - timedelta(minutes=5), message='ERROR:  schema "net" does not exist')
    add_run(db, other, "running", NOW)
    return jobid


def test_list_all_formats(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    jobid = seed_jobs(db)
    for fmt in FORMATS:
        res = cli(rb, env, "list", fmt=fmt)
        assert res.exit_code == 0, res.output
        assert "notification-worker" in res.stdout
    data = json.loads(cli(rb, env, "list").stdout)
    jobs = {j["jobname"]: j for j in data["jobs"]}
    w = jobs["notification-worker"]
    assert set(w) >= {
        "jobid",
        "jobname",
        "schedule",
        "schedule_text",
        "active",
        "database",
        "username",
        "last_run",
        "next_run",
        "running_now",
        "command",
    }
    assert w["jobid"] == jobid and w["last_run"]["status"] == "failed" and w["running_now"] is False
    assert w["schedule_text"] and w["next_run"]
    assert jobs["cleanup"]["running_now"] is True
    assert data["superuser"] is True


def test_history_one_job_and_all(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    seed_jobs(db)
    data = json.loads(cli(rb, env, "history", "worker").stdout)  # runbook name -> pg_cron jobname
    assert [r["raw_status"] for r in data["runs"]] == ["failed", "succeeded"]
    data = json.loads(cli(rb, env, "history", "notification-worker", "--failed").stdout)
    assert [r["status"] for r in data["runs"]] == ["failed"]
    data = json.loads(cli(rb, env, "history").stdout)
    assert len(data["runs"]) == 3
    for fmt in FORMATS:
        assert cli(rb, env, "history", "cleanup", fmt=fmt).exit_code == 0


def test_unknown_job_one_line_exit_2(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    seed_jobs(db)
    res = cli(rb, env, "history", "notification-workr")
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0
    assert "notification-worker" in res.stderr  # suggestion


def test_status_all_formats(db, env, tmp_path, pg_cluster) -> None:
    pg_cluster.wait_for_scheduler()
    rb = write_runbook(tmp_path)
    jobid = seed_jobs(db)
    add_run(db, jobid, "starting", NOW - timedelta(hours=2), pid=999_998)
    for fmt in FORMATS:
        res = cli(rb, env, "status", fmt=fmt)
        assert res.exit_code == 0, res.output
    data = json.loads(cli(rb, env, "status").stdout)
    assert data["scheduler"]["alive"] is True
    assert data["pg_cron"]["installed"] is True and data["pg_cron"]["version"] == "1.4 or older"
    assert data["pg_cron"]["settings"]["database_name"] == "cronctl"
    assert data["pg_net"]["installed"] is False
    assert sorted(r["detail"]["job_pid"] for r in data["stuck_runs"]) == [4242, 999_998]  # cleanup + worker
    assert data["job_run_details"]["total_bytes"] > 0


def test_status_missing_cron_schema(pg_cluster, env, tmp_path) -> None:
    with psycopg.connect(pg_cluster.superuser_dsn, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'nocron'").fetchone():
            c.execute("CREATE DATABASE nocron")
    rb = write_runbook(tmp_path)
    env = {**env, "DATABASE_URL": pg_cluster.dsn(dbname="nocron")}
    res = cli(rb, env, "status")
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    assert data["pg_cron"]["installed"] is False
    assert any("not installed" in c for c in data["critical"])
    res = cli(rb, env, "list")
    assert res.exit_code == 3 and "not installed" in res.stderr


def audit_lines(env: dict[str, str]) -> list[dict]:
    path = Path(env["CRONCTL_AUDIT_FILE"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def job_row(db, name: str) -> tuple:
    return db.execute("SELECT active, schedule FROM cron.job WHERE jobname = %s", [name]).fetchone()


def test_disable_enable_dry_run_confirm_and_audit(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    jobid = seed_jobs(db)
    res = cli(rb, env, "disable", "worker", "--dry-run")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sql"] == [f"SELECT cron.alter_job(job_id := {jobid}, active := false)"]
    assert job_row(db, "notification-worker")[0] is True
    res = cli(rb, env, "disable", "worker")  # no terminal, no --yes
    assert res.exit_code == 5 and job_row(db, "notification-worker")[0] is True
    res = cli(rb, env, "disable", "worker", "--yes", fmt="plain")
    assert res.exit_code == 0, res.output
    assert job_row(db, "notification-worker")[0] is False
    res = cli(rb, env, "enable", str(jobid), "--yes")
    assert res.exit_code == 0 and job_row(db, "notification-worker")[0] is True
    records = audit_lines(env)
    # Each change is recorded before it is sent (pending), then completed with its result under the same id.
    assert [(r["action"], r["dry_run"], r["result"]) for r in records] == [
        ("pgcron.disable", True, "dry-run"),
        ("pgcron.disable", False, "pending"),
        ("pgcron.disable", False, "ok"),
        ("pgcron.enable", False, "pending"),
        ("pgcron.enable", False, "ok"),
    ]
    assert records[1]["audit_id"] == records[2]["audit_id"] and records[1]["phase"] == "begin"


def test_reschedule_validates_first(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    seed_jobs(db)
    res = cli(rb, env, "reschedule", "worker", "99 * * * *", "--yes")
    assert res.exit_code == 2 and job_row(db, "notification-worker")[1] == YEARLY
    res = cli(rb, env, "reschedule", "worker", "30 seconds", "--yes")  # pg_cron 1.5+ syntax on 1.4
    assert res.exit_code == 2 and "1.5" in res.stderr and job_row(db, "notification-worker")[1] == YEARLY
    res = cli(rb, env, "reschedule", "worker", "*/7 * * * *", "--yes")
    assert res.exit_code == 0, res.output
    assert job_row(db, "notification-worker")[1] == "*/7 * * * *"
    assert json.loads(res.stdout)["old_schedule"] == YEARLY


def test_unschedule(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    seed_jobs(db)
    assert cli(rb, env, "unschedule", "cleanup", "--dry-run", fmt="markdown").exit_code == 0
    assert job_row(db, "cleanup") is not None
    res = cli(rb, env, "unschedule", "cleanup", "--yes")
    assert res.exit_code == 0 and job_row(db, "cleanup") is None


def test_run_executes_the_jobs_command(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    db.execute("CREATE TABLE fired (at timestamptz DEFAULT now())")
    schedule(db, "notification-worker", "INSERT INTO fired DEFAULT VALUES RETURNING 7")
    res = cli(rb, env, "run", "worker", "--dry-run")
    assert json.loads(res.stdout)["sql"] == ["INSERT INTO fired DEFAULT VALUES RETURNING 7"]
    assert db.execute("SELECT count(*) FROM fired").fetchone()[0] == 0
    res = cli(rb, env, "run", "worker", "--yes")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["returned"] == [7]
    assert db.execute("SELECT count(*) FROM fired").fetchone()[0] == 1


def test_purge_history_batches(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    jobid = schedule(db, "notification-worker")
    db.execute(
        "INSERT INTO cron.job_run_details (jobid, status, start_time) "
        "SELECT %s, 'succeeded', now() - make_interval(hours => 500 - g) FROM generate_series(1, 500) g",
        [jobid],
    )
    res = cli(rb, env, "purge-history", "--older-than", "7d", "--dry-run", "--batch-size", "100")
    data = json.loads(res.stdout)
    assert res.exit_code == 0 and data["estimated_rows"] == 500 - 168 and data["batches"] == 4
    assert db.execute("SELECT count(*) FROM cron.job_run_details").fetchone()[0] == 500
    res = cli(rb, env, "purge-history", "--older-than", "7d", "--yes", "--batch-size", "100")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["deleted_rows"] == 332
    oldest = db.execute("SELECT min(start_time) FROM cron.job_run_details").fetchone()[0]
    assert oldest >= datetime.now(UTC) - timedelta(days=7, minutes=5)


def test_read_only_role_reads_but_cannot_change(db, env, tmp_path, read_only_role) -> None:
    rb = write_runbook(tmp_path)
    seed_jobs(db)
    ro = {**env, "DATABASE_URL": read_only_role}
    res = cli(rb, ro, "list")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["superuser"] is False and data["jobs"] == []  # RLS hides postgres' jobs
    assert "row-level security" in cli(rb, ro, "list", fmt="plain").stdout
    for args in (
        ["disable", "worker"],
        ["enable", "worker"],
        ["unschedule", "worker"],
        ["reschedule", "worker", "*/5 * * * *"],
        ["run", "worker"],
        ["purge-history", "--older-than", "1d"],
    ):
        res = cli(rb, ro, *args, "--yes")
        assert res.exit_code == 4, (args, res.output)
        assert "read-only" in res.stderr and res.stderr.strip().count("\n") == 0
    assert job_row(db, "notification-worker") == (True, YEARLY)
    assert db.execute("SELECT count(*) FROM cron.job_run_details").fetchone()[0] == 3


def test_unreachable_database_fails_fast(env, tmp_path) -> None:
    rb = write_runbook(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    began = time.monotonic()
    res = cli(rb, {**env, "DATABASE_URL": f"postgresql://u:p@127.0.0.1:{port}/x"}, "list")
    assert res.exit_code == 3 and time.monotonic() - began < 5
    assert "cannot connect" in res.stderr and res.stderr.strip().count("\n") == 0
    assert ":p@" not in res.stderr


@pytest.mark.slow
def test_statement_timeout_on_locked_table(db, env, tmp_path) -> None:
    rb = write_runbook(tmp_path, timeout="1s")
    seed_jobs(db)
    release = threading.Event()
    locked = threading.Event()

    def hold() -> None:
        with psycopg.connect(env["DATABASE_URL"]) as c:
            c.execute("LOCK TABLE cron.job_run_details IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(15)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert locked.wait(10)
        began = time.monotonic()
        res = cli(rb, env, "history", "worker")
        assert res.exit_code == 3, res.output
        assert time.monotonic() - began < 5
        assert res.stderr.strip().count("\n") == 0 and ("timeout" in res.stderr or "lock" in res.stderr)
    finally:
        release.set()
        t.join()
