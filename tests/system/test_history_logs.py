"""`cronctl logs`: every history source, merged; each source failing on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from test_pgcron_sources import add_run, schedule

from cli_runner import run_cli
from cronctl.evaluate.attribution import attribute
from cronctl.evaluate.health import merge_runs
from cronctl.evaluate.pgnet_link import net_timeout, target_function
from cronctl.evaluate.triage import net_judge
from cronctl.records import NetResponse, Run
from cronctl_sandbox.jobserver import JobServer, Route, health_check, health_payload

NOW = datetime.now(UTC).replace(microsecond=0)
FORMATS = ("table", "json", "markdown", "plain")
NET_CMD = (
    "SELECT net.http_post(url := 'https://p.supabase.co/functions/v1/{fn}', "
    "headers := '{{}}'::jsonb, timeout_milliseconds := 15000)"
)
NET_TABLES = """
CREATE SCHEMA net;
CREATE TABLE net.http_request_queue(id bigserial, method text, url text, headers jsonb, body bytea,
                                    timeout_milliseconds int);
CREATE TABLE net._http_response(id bigint, status_code int, content_type text, headers jsonb, content text,
                                timed_out bool, error_msg text, created timestamptz not null default now());
"""


def runbook(tmp_path: Path, body: str) -> str:
    path = tmp_path / "rb.toml"
    path.write_text(
        '[runbook]\nname = "t"\n[connection]\ndatabase_url = "${DATABASE_URL}"\nstatement_timeout = "2s"\n'
        'connect_timeout = "2s"\n' + body
    )
    return str(path)


WORKER = """
[jobs.worker]
url = "https://p.supabase.co/functions/v1/notification-worker"
scheduler = "pg_cron"
[jobs.worker.history]
pg_cron = "notification-worker"
pg_net = true
"""


@pytest.fixture
def db(clean_db: str) -> psycopg.Connection:
    with psycopg.connect(clean_db, autocommit=True) as c:
        yield c


def response(
    db,
    rid: int,
    created: datetime,
    status: int | None,
    *,
    timed_out: bool | None = False,
    error: str | None = None,
    content: str | None = None,
) -> None:
    db.execute(
        "INSERT INTO net._http_response (id, status_code, content, timed_out, error_msg, created)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        [rid, status, content, timed_out, error, created],
    )


def logs(rb: str, dsn: str, *args: str, fmt: str = "json"):
    return run_cli("logs", *args, "-r", rb, "-f", fmt, env={"DATABASE_URL": dsn})


def test_pg_cron_and_pg_net_outcomes(db, clean_db, tmp_path) -> None:
    db.execute(NET_TABLES)
    jobid = schedule(db, "notification-worker", NET_CMD.format(fn="notification-worker"))
    t1, t2 = NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)
    add_run(db, jobid, "succeeded", t1, seconds=0.05)
    add_run(db, jobid, "succeeded", t2, seconds=0.05)
    response(db, 1, t1 + timedelta(seconds=1), 401, content='{"error":"unauthorized"}')
    response(db, 2, t2 + timedelta(seconds=15.5), None, timed_out=True, error="Timeout of 15000 ms reached")
    rb = runbook(tmp_path, WORKER)
    res = logs(rb, clean_db, "worker")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["function"] == "notification-worker"
    by_source = {}
    for run in data["runs"]:
        by_source.setdefault(run["source"], []).append(run)
    assert [r["status"] for r in by_source["pg_cron"]] == ["succeeded", "succeeded"]
    net = by_source["pg_net"]
    assert [(r["http_status"], r["status"]) for r in net] == [(None, "failed"), (401, "failed")]
    # Each run's window holds only its own answer: linked by inference, one outcome per pg_cron run.
    assert "Timeout" in net[0]["message"] and [r["attribution"] for r in net] == ["inferred", "inferred"]
    assert [r["detail"]["pg_cron_runid"] for r in net] == [r["run_id"] for r in by_source["pg_cron"]]
    assert data["ambiguous_answers"] == []
    assert {s["source"]: s["state"] for s in data["sources"]} == {"pg_cron": "ok", "pg_net": "ok"}
    for fmt in FORMATS:
        out = logs(rb, clean_db, "worker", fmt=fmt)
        assert out.exit_code == 0 and "401" in out.stdout
    failed = json.loads(logs(rb, clean_db, "worker", "--failed").stdout)
    assert {r["source"] for r in failed["runs"]} == {"pg_net"}


def test_shared_window_is_ambiguous(db, clean_db, tmp_path) -> None:
    db.execute(NET_TABLES)
    a = schedule(db, "notification-worker", NET_CMD.format(fn="notification-worker"))
    b = schedule(db, "reconcile", NET_CMD.format(fn="reconcile"))
    add_run(db, a, "succeeded", NOW - timedelta(seconds=30))
    add_run(db, b, "succeeded", NOW - timedelta(seconds=29))
    response(db, 9, NOW - timedelta(seconds=28), 500)
    rb = runbook(tmp_path, WORKER)
    data = json.loads(logs(rb, clean_db, "worker").stdout)
    net = [r for r in data["runs"] if r["source"] == "pg_net"]
    # The 500 could be either co-firing job's: this job's run is unverified, never ok and never failed,
    # and the answer itself is listed apart, not as one of the job's runs.
    assert len(net) == 1 and net[0]["attribution"] == "ambiguous" and net[0]["status"] == "unverified"
    assert net[0]["http_status"] is None and "reconcile" in net[0]["message"]
    (answer,) = data["ambiguous_answers"]
    assert answer["response_id"] == 9 and answer["http_status"] == 500
    assert answer["candidates"] == ["notification-worker", "reconcile"]
    assert "ambiguous" in logs(rb, clean_db, "worker", fmt="plain").stdout


def test_missing_net_schema_says_not_installed(db, clean_db, tmp_path) -> None:
    jobid = schedule(db, "notification-worker")
    add_run(db, jobid, "failed", None, message='ERROR:  schema "net" does not exist', pid=None)
    rb = runbook(tmp_path, WORKER)
    res = logs(rb, clean_db, "worker")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    states = {s["source"]: s["state"] for s in data["sources"]}
    assert states == {"pg_cron": "ok", "pg_net": "not_installed"}
    assert data["runs"][0]["started_at"] is None and data["runs"][0]["status"] == "failed"
    assert "not installed" in logs(rb, clean_db, "worker", fmt="plain").stdout


RUN_LOGS = """
[run_logs.cron_runs]
table = "cron_runs"
job_column = "cron_name"
message_column = "error_message"
records_column = "records_count"
order_column = "started_at"

[run_logs.run_log]
table = "run_log"
message_column = "error_message"
records_column = "total_records"
extra_columns = { trigger = "trigger_type" }
[run_logs.run_log.statuses]
succeeded = ["SUCCESS"]
failed = ["FAILED"]

[jobs.collect-daily]
url = "https://app.example.com/api/cron/collect-daily"
[jobs.collect-daily.history]
run_log = "cron_runs"

[jobs.enrolment-sync]
url = "http://127.0.0.1:18080/jobs/enrolment-sync"
[jobs.enrolment-sync.history]
run_log = "run_log"
"""


def test_run_log_tables_both_shapes(db, clean_db, tmp_path) -> None:
    db.execute("""
        CREATE TABLE cron_runs (id uuid DEFAULT gen_random_uuid() PRIMARY KEY, cron_name text NOT NULL,
          started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, status text NOT NULL,
          records_count int DEFAULT 0, error_message text);
        CREATE TABLE run_log (id bigserial PRIMARY KEY, trigger_type text, status text, total_records int,
          changed_records int, created_alerts int, error_message text, started_at timestamptz,
          finished_at timestamptz, updated_at timestamptz);
    """)
    db.execute(
        "INSERT INTO cron_runs (cron_name, started_at, finished_at, status, records_count, error_message) VALUES"
        " ('collect-daily', %(a)s, %(a)s + interval '3 s', 'success', 12, NULL),"
        " ('collect-daily', %(b)s, NULL, 'running', 0, NULL),"
        " ('collect-mixpanel', %(b)s, NULL, 'error', 0, 'boom')",
        {"a": NOW - timedelta(hours=1), "b": NOW},
    )
    db.execute(
        "INSERT INTO run_log (trigger_type, status, total_records, error_message, started_at, finished_at) VALUES"
        " ('SCHEDULER', 'FAILED', 0, 'Meta API 429', %(a)s, %(a)s + interval '1 s'),"
        " ('MANUAL', 'SUCCESS', 40, NULL, %(b)s, %(b)s + interval '2 s')",
        {"a": NOW - timedelta(hours=2), "b": NOW - timedelta(hours=1)},
    )
    rb = runbook(tmp_path, RUN_LOGS)
    data = json.loads(logs(rb, clean_db, "collect-daily").stdout)
    assert [(r["status"], r["records"]) for r in data["runs"]] == [("running", 0), ("succeeded", 12)]
    assert data["runs"][0]["source"] == "run_log:cron_runs"
    data = json.loads(logs(rb, clean_db, "enrolment-sync").stdout)
    assert [(r["status"], r["raw_status"]) for r in data["runs"]] == [("succeeded", "SUCCESS"), ("failed", "FAILED")]
    assert data["runs"][0]["detail"]["trigger"] == "MANUAL"
    data = json.loads(logs(rb, clean_db, "enrolment-sync", "--failed").stdout)
    assert [r["message"] for r in data["runs"]] == ["Meta API 429"]
    # A mapped column that does not exist: one line naming it.
    bad = runbook(
        tmp_path,
        RUN_LOGS.replace(
            'message_column = "error_message"\nrecords_column = "records_count"',
            'message_column = "err_msg"\nrecords_column = "records_count"',
        ),
    )
    res = logs(bad, clean_db, "collect-daily")
    assert res.exit_code == 3 and "err_msg" in res.stderr and "message_column" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    db.execute("DROP TABLE cron_runs")
    res = logs(rb, clean_db, "collect-daily")
    assert res.exit_code == 3 and "public.cron_runs does not exist" in res.stderr


def test_health_endpoint_source_and_failing_alongside(db, clean_db, tmp_path) -> None:
    checks = {"collect-daily": health_check(NOW - timedelta(hours=3), "error", ok=False)}
    route = Route(
        "GET",
        "/api/cron/health",
        auth="bearer",
        secret="s3cret-token",
        responses=health_payload(checks, missing=["collect-daily"]),
    )
    with JobServer([route]) as server:
        body = (
            RUN_LOGS.replace(
                '[jobs.collect-daily.history]\nrun_log = "cron_runs"',
                '[jobs.collect-daily.history]\nrun_log = "cron_runs"\nhealth = "app"',
            )
            + f"""
[health.app]
url = "{server.url}/api/cron/health"
auth = {{ kind = "bearer", secret_env = "CRON_SECRET" }}
"""
        )
        rb = runbook(tmp_path, body)
        res = run_cli(
            "logs",
            "collect-daily",
            "-r",
            rb,
            "-f",
            "json",
            env={"DATABASE_URL": clean_db, "CRON_SECRET": "s3cret-token"},
        )
        assert res.exit_code == 0, res.output
        data = json.loads(res.stdout)
        states = {s["source"]: s["state"] for s in data["sources"]}
        assert states == {"run_log:cron_runs": "error", "health": "ok"}  # no cron_runs table here
        (run,) = data["runs"]
        assert run["source"] == "health" and run["status"] == "failed" and run["detail"]["missing"] is True
        assert "s3cret-token" not in res.output
        res = run_cli(
            "logs", "collect-daily", "-r", rb, "-f", "json", env={"DATABASE_URL": clean_db, "CRON_SECRET": "wrong"}
        )
        assert res.exit_code == 3 and "401" in res.stderr  # every source failed: one line


def test_missing_cron_schema_and_unknown_job(pg_cluster, tmp_path) -> None:
    with psycopg.connect(pg_cluster.superuser_dsn, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'nocron'").fetchone():
            c.execute("CREATE DATABASE nocron")
    rb = runbook(tmp_path, WORKER)
    res = logs(rb, pg_cluster.dsn(dbname="nocron"), "worker")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [s["state"] for s in data["sources"]] == ["not_installed", "not_installed"]
    res = logs(rb, pg_cluster.dsn(dbname="nocron"), "wroker")
    assert res.exit_code == 2 and "worker" in res.stderr


# -- pure parts ---------------------------------------------------------------------------------------------


def run(job: str, start: datetime | None, rid: int, source: str = "pg_cron") -> Run:
    return Run(job=job, source=source, status="succeeded", started_at=start, run_id=str(rid))


def test_attribution_windows_and_ambiguity() -> None:
    t = NOW
    runs = {
        "a": [run("a", t, 1), run("a", t + timedelta(minutes=1), 2)],
        "b": [run("b", t + timedelta(minutes=1), 3)],
    }
    responses = [
        NetResponse(1, t + timedelta(seconds=0.3), 200),  # only a's first run
        NetResponse(2, t + timedelta(minutes=1, seconds=0.3), 500),  # a's second and b's run share one batch
        NetResponse(3, t + timedelta(minutes=5), 200),  # nobody's
    ]
    result = attribute(runs, responses, {"a": 5.0, "b": 5.0}, t + timedelta(minutes=10), net_judge({}, 4096))
    assert result.answers[("a", "1")].attribution == "inferred" and result.answers[("a", "1")].status == "succeeded"
    second, third = result.answers[("a", "2")], result.answers[("b", "3")]
    assert second.attribution == third.attribution == "ambiguous" and set(second.candidates) == {"a", "b"}
    assert [r.id for r in result.unlinked] == [3]


def test_command_parsing() -> None:
    cmd = NET_CMD.format(fn="notification-worker")
    assert target_function(cmd) == "notification-worker"
    assert net_timeout(cmd) == 15.0 and net_timeout("SELECT 1") == 5.0
    assert target_function("select net.http_get(url := 'https://x.io/hook')") == "https://x.io/hook"
    assert target_function("VACUUM") is None


def test_merge_places_null_times_by_neighbours() -> None:
    pg = [run("j", NOW, 3), run("j", None, 2), run("j", NOW - timedelta(minutes=10), 1)]
    log = [run("j", NOW - timedelta(minutes=5), 9, "run_log:x")]
    merged = merge_runs([pg, log])
    assert [r.run_id for r in merged] == ["3", "2", "9", "1"]
    only_null = merge_runs([[run("j", None, 1)], log])
    assert [r.run_id for r in only_null] == ["9", "1"]
