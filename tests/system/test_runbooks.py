"""Every runbook in runbooks/ loads, lists its jobs, and its incident scenario loads into the sandbox."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.runbook.env import references
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox import scenario
from cronctl_sandbox.fixtures import create_pg_net_tables, drop_pg_net

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
ENV_EXAMPLE = RUNBOOKS.parent / ".env.example"

EXPECTED_JOBS = {
    "messaging-dispatch": ["scheduled-dispatcher", "payment-reconcile", "refresh-fallback-quotas"],
    "ads-platform-vercel": ["refresh-tokens", "sync-campaigns", "cleanup-expired-tokens"],
    "metrics-collectors": ["collect-daily", "collect-mixpanel", "collect-benchmarks", "sync-notion"],
    "enrolment-sync": ["enrolment-sync"],
    "billing-pgcron": [
        "generate-t5-invoices",
        "run-escalation-orchestration",
        "schedule-create-zoom",
        "generate-monthly-invoices",
        "escalate-overdue-bookings",
        "notification-worker",
    ],
    "demo": ["dispatch-messages", "reconcile-payments", "refresh-quotas", "sync-enrolments", "nightly-report"],
}
NOW = datetime(2026, 3, 4, 10, 17, 30, tzinfo=UTC)


def test_every_runbook_file_is_covered() -> None:
    assert sorted(p.stem for p in RUNBOOKS.glob("*.toml")) == sorted(EXPECTED_JOBS)
    assert sorted(scenario.SYSTEMS) == sorted(EXPECTED_JOBS)


@pytest.mark.parametrize("name", sorted(EXPECTED_JOBS))
def test_runbook_loads_with_its_name_and_database_url(name: str) -> None:
    runbook = load_runbook(RUNBOOKS / f"{name}.toml")
    assert runbook.name == name
    assert runbook.connection.database_url == "${DATABASE_URL}"
    assert list(runbook.jobs) == EXPECTED_JOBS[name]
    for job in runbook.jobs.values():
        assert job.description, f"{name}/{job.name} has no description"
        assert job.schedule, f"{name}/{job.name} has no schedule"


@pytest.mark.parametrize("name", sorted(EXPECTED_JOBS))
def test_jobs_command_lists_exactly_the_registry(name: str) -> None:
    result = run_cli("jobs", "-r", str(RUNBOOKS / f"{name}.toml"), "-f", "json", env={"DATABASE_URL": None})
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [job["name"] for job in data["jobs"]] == EXPECTED_JOBS[name]
    assert data["runbook"] == name


@pytest.mark.parametrize("name", sorted(EXPECTED_JOBS))
def test_every_profile_loads(name: str) -> None:
    runbook = load_runbook(RUNBOOKS / f"{name}.toml")
    for profile in runbook.profiles:
        assert load_runbook(RUNBOOKS / f"{name}.toml", profile).profile == profile


def test_env_example_names_every_variable_the_runbooks_use() -> None:
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    used: set[str] = set()
    for path in RUNBOOKS.glob("*.toml"):
        text = path.read_text()
        used.update(references(text))
        runbook = load_runbook(path)
        for job in runbook.jobs.values():
            used.update(job.required_env())
        for health in runbook.health.values():
            used.update(health.auth.env_vars())
    missing = used - documented
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_seed_specifics() -> None:
    messaging = load_runbook(RUNBOOKS / "messaging-dispatch.toml")
    dispatcher = messaging.jobs["scheduled-dispatcher"]
    assert (dispatcher.auth.kind, dispatcher.auth.header, dispatcher.auth.secret_env) == (
        "header",
        "X-Cron-Secret",
        "CRON_SECRET",
    )
    assert dispatcher.history.pg_cron == "scheduled-dispatcher" and dispatcher.history.pg_net
    assert "TOSSPAYMENTS_SECRET_KEY" in messaging.jobs["payment-reconcile"].env
    assert messaging.jobs["payment-reconcile"].success.skipped
    assert len(messaging.failure_modes) >= 5
    assert messaging.exit_condition.consecutive_ok == 3

    ads = load_runbook(RUNBOOKS / "ads-platform-vercel.toml")
    lock = ads.jobs["refresh-tokens"].lock
    assert lock is not None and (lock.backend, lock.key) == ("redis", "cron:refresh-tokens:lock")
    assert {job.method for job in ads.jobs.values()} == {"GET"}
    assert [job.timeout for job in ads.jobs.values()] == [300.0, 300.0, 60.0]

    enrolment = load_runbook(RUNBOOKS / "enrolment-sync.toml")
    job = enrolment.jobs["enrolment-sync"]
    assert job.body == {
        "category_id": 303,
        "trigger_type": "SCHEDULER",
        "max_categories": 1,
        "max_users_per_course": 500,
    }
    assert job.trigger_type_field == "trigger_type"
    assert enrolment.queries["category-sample"].defaults == {"category_id": 303}
    assert set(enrolment.queries) >= {
        "recent-runs",
        "failed-runs",
        "failure-groups",
        "alerts-24h",
        "unresolved-high-alerts",
        "category-sample",
        "locks",
    }

    billing = load_runbook(RUNBOOKS / "billing-pgcron.toml")
    worker = billing.jobs["notification-worker"]
    assert worker.body == {"limit": 5, "runs": 1}
    assert worker.auth.apikey_env == "SUPABASE_SERVICE_ROLE_KEY"
    assert worker.dispatch is not None and worker.dispatch.workflow == "run-worker-queue.yaml"
    assert billing.secrets_table is not None and billing.secrets_table.table == "cron_secrets"
    assert all(j.dispatch is not None and j.url for j in billing.jobs.values())


# ---------------------------------------------------------------- scenarios in the sandbox


def _count(conn: psycopg.Connection, sql: str, *params: object) -> int:
    row = conn.execute(sql, list(params)).fetchone()
    assert row is not None
    return int(row[0])


def _runs_of(conn: psycopg.Connection, job: str, upto: int) -> list[tuple[str, str | None, object]]:
    """The loaded runs of a job, oldest first: runids up to `upto` (the live scheduler may add runs later)."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT d.status, d.return_message, d.start_time FROM cron.job_run_details d"
            " JOIN cron.job j USING (jobid) WHERE j.jobname = %s AND d.runid <= %s ORDER BY d.runid",
            [job, upto],
        ).fetchall()
    ]


def _load(dsn: str, system: str, now: datetime = NOW) -> tuple[psycopg.Connection, int]:
    """Load a scenario; returns the connection and the last runid the scenario wrote."""
    conn = psycopg.connect(dsn, autocommit=True)
    scenario.load(conn, system, now)
    return conn, _count(conn, "SELECT coalesce(max(runid), 0) FROM cron.job_run_details")


@pytest.mark.parametrize("name", sorted(EXPECTED_JOBS))
def test_scenario_loads_twice_and_its_jobs_match_the_runbook(clean_db: str, name: str) -> None:
    runbook = load_runbook(RUNBOOKS / f"{name}.toml")
    _load(clean_db, name)[0].close()
    conn, _ = _load(clean_db, name)
    with conn:
        scheduled = {r[0] for r in conn.execute("SELECT jobname FROM cron.job").fetchall()}
        expected = {job.history.pg_cron for job in runbook.jobs.values() if job.history.pg_cron}
        assert scheduled == expected
        for spec in runbook.run_logs.values():
            assert _count(conn, f"SELECT count(*) FROM {spec.schema}.{spec.table}") > 0
        for lock_table in runbook.lock_tables.values():
            assert _count(conn, f"SELECT count(*) FROM {lock_table.schema}.{lock_table.table}") == 2
        for backlog in runbook.backlogs.values():
            value = conn.execute(backlog.sql).fetchone()
            assert value is not None
        for query in runbook.queries.values():
            conn.execute(query.sql, query.defaults or None).fetchall()
        if runbook.secrets_table is not None:
            assert _count(conn, "SELECT count(*) FROM public.cron_secrets WHERE value LIKE 'placeholder%%'") >= 1


def test_messaging_dispatch_incident(clean_db: str) -> None:
    conn, last = _load(clean_db, "messaging-dispatch")
    with conn:
        assert len(_runs_of(conn, "scheduled-dispatcher", last)) == 90
        assert _count(conn, "SELECT count(*) FROM net._http_response WHERE status_code = 401") == 40
        assert (
            _count(conn, "SELECT count(*) FROM cron.job WHERE jobname = 'refresh-fallback-quotas' AND NOT active") == 1
        )
        overdue = conn.execute(
            "SELECT count(*) FROM messages WHERE scheduled_status = 'pending' AND scheduled_at < %s", [NOW]
        ).fetchone()
        assert overdue == (37,)
        assert (
            _count(
                conn,
                "SELECT count(*) FROM dt_purchases WHERE status = 'pending' AND created_at < %s - interval '2 hours'",
                NOW,
            )
            == 3
        )
        assert (
            _count(
                conn,
                "SELECT count(*) FROM dt_purchases WHERE status = 'pending'"
                " AND created_at < %s - interval '45 minutes'",
                NOW,
            )
            == 7
        )


def test_billing_incident(clean_db: str) -> None:
    conn, last = _load(clean_db, "billing-pgcron")
    with conn:
        t5 = _runs_of(conn, "generate-t5-invoices", last)
        assert [r[1] for r in t5[:2]] == ['ERROR:  schema "net" does not exist'] * 2
        escalation = _runs_of(conn, "run-escalation-orchestration", last)
        assert escalation[-1] == ("failed", "job startup timeout", None)
        zoom = _runs_of(conn, "schedule-create-zoom", last)
        assert zoom[-1][0] == "running"
        stuck_pid = conn.execute(
            "SELECT job_pid FROM cron.job_run_details WHERE status = 'running' AND runid <= %s",
            [last],
        ).fetchone()
        assert stuck_pid is not None
        assert _count(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", stuck_pid[0]) == 0
        assert _count(conn, "SELECT count(*) FROM net._http_response WHERE status_code = 401") == 30
        assert _count(conn, "SELECT count(*) FROM net._http_response WHERE timed_out") == 10
        placeholders = {
            r[0]
            for r in conn.execute("SELECT key FROM cron_secrets WHERE starts_with(value, 'placeholder')").fetchall()
        }
        assert placeholders == {"cron_secret", "scheduler_secret_token"}
        command = conn.execute("SELECT command FROM cron.job WHERE jobname = 'notification-worker'").fetchone()
        assert command is not None and "timeout_milliseconds := 60000" in command[0]
        # The jobs' own commands run against the stub: the request is queued like pg_net queues it.
        request_id = conn.execute(command[0]).fetchone()
        assert request_id is not None
        queued = conn.execute(
            "SELECT method, url, headers->>'apikey' IS NOT NULL, convert_from(body, 'UTF8')::jsonb,"
            " timeout_milliseconds FROM net.http_request_queue WHERE id = %s",
            [request_id[0]],
        ).fetchone()
        assert queued == (
            "POST",
            "https://abcdefghijklmnop.supabase.co/functions/v1/notification-worker",
            True,
            {"limit": 5, "runs": 1},
            60000,
        )


def test_rotate_cron_secret_updates_the_value(clean_db: str) -> None:
    conn, _last = _load(clean_db, "billing-pgcron")
    with conn:
        conn.execute("SELECT public.rotate_cron_secret('cron_secret', 'a-real-secret')")
        assert conn.execute("SELECT public.get_secret('cron_secret')").fetchone() == ("a-real-secret",)


def test_enrolment_incident(clean_db: str) -> None:
    conn, _last = _load(clean_db, "enrolment-sync")
    with conn:
        groups = dict(
            conn.execute(load_runbook(RUNBOOKS / "enrolment-sync.toml").queries["failure-groups"].sql).fetchall()
        )
        assert groups == {"LOCK_CONFLICT": 4, "HTTP_409": 1, "HTTP_5XX": 1, "TIMEOUT": 1}
        stale = conn.execute(
            "SELECT lock_expires_at < %s FROM job_lock WHERE job_name = 'enrolment-sync'", [NOW]
        ).fetchone()
        live = conn.execute(
            "SELECT lock_expires_at > %s FROM job_lock WHERE job_name <> 'enrolment-sync'", [NOW]
        ).fetchone()
        assert stale == (True,) and live == (True,)
        assert _count(conn, "SELECT count(*) FROM alert WHERE NOT resolved AND severity = 'high'") == 3


def test_metrics_incident(clean_db: str) -> None:
    conn, _last = _load(clean_db, "metrics-collectors")
    with conn:
        latest = dict(
            conn.execute(
                "SELECT DISTINCT ON (cron_name) cron_name, status FROM cron_runs ORDER BY cron_name, started_at DESC"
            ).fetchall()
        )
        assert latest == {
            "collect-daily": "error",
            "collect-mixpanel": "success",
            "collect-benchmarks": "success",
            "sync-notion": "running",
        }
        last_mixpanel = conn.execute(
            "SELECT max(started_at) FROM cron_runs WHERE cron_name = 'collect-mixpanel'"
        ).fetchone()
        assert last_mixpanel is not None and NOW - last_mixpanel[0] > timedelta(days=2)


def test_demo_incident(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        scenario.load_demo(conn, NOW)
        assert _count(conn, "SELECT count(*) FROM net._http_response WHERE status_code = 401") == 25
        assert (
            _count(conn, "SELECT count(*) FROM messages WHERE scheduled_status = 'pending' AND scheduled_at < %s", NOW)
            == 42
        )
        last_report = conn.execute(
            "SELECT max(started_at) FROM cron_runs WHERE cron_name = 'nightly-report'"
        ).fetchone()
        assert last_report is not None and NOW - last_report[0] > timedelta(days=3)
        stale = conn.execute("SELECT lock_expires_at FROM job_lock WHERE job_name = 'sync-enrolments'").fetchone()
        assert stale is not None and stale[0] < NOW
        assert conn.execute("SELECT value FROM cron_secrets WHERE key = 'cron_secret'").fetchone() == (
            "placeholder-set-me",
        )


def test_pg_net_fixture_matches_pg_net_columns(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        create_pg_net_tables(conn)
        create_pg_net_tables(conn)  # idempotent
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'net' ORDER BY table_name, ordinal_position"
        ).fetchall()
        assert columns == [
            ("_http_response", "id", "bigint"),
            ("_http_response", "status_code", "integer"),
            ("_http_response", "content_type", "text"),
            ("_http_response", "headers", "jsonb"),
            ("_http_response", "content", "text"),
            ("_http_response", "timed_out", "boolean"),
            ("_http_response", "error_msg", "text"),
            ("_http_response", "created", "timestamp with time zone"),
            ("http_request_queue", "id", "bigint"),
            ("http_request_queue", "method", "text"),
            ("http_request_queue", "url", "text"),
            ("http_request_queue", "headers", "jsonb"),
            ("http_request_queue", "body", "bytea"),
            ("http_request_queue", "timeout_milliseconds", "integer"),
        ]
        get_id = conn.execute("SELECT net.http_get(url := 'http://x.test/a', params := '{\"q\": \"1\"}')").fetchone()
        assert get_id is not None
        assert conn.execute(
            "SELECT method, url, body, timeout_milliseconds FROM net.http_request_queue WHERE id = %s", [get_id[0]]
        ).fetchone() == ("GET", "http://x.test/a?q=1", None, 5000)
        drop_pg_net(conn)
        assert _count(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'net'") == 0


def test_unknown_system_is_rejected(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn, pytest.raises(KeyError, match="no scenario"):
        scenario.load(conn, "nope", NOW)
