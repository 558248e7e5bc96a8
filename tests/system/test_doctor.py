"""`cronctl doctor` against healthy and broken sandboxes; the checklist logic itself without a database."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.evaluate.doctor import Check, DoctorFacts, build_checks, exit_code
from cronctl_sandbox.cluster import PgCluster
from cronctl_sandbox.fixtures import create_pg_net_tables
from cronctl_sandbox.jobserver import JobServer, Route

RUNBOOK = """
[runbook]
name = "doctor-test"

[connection]
database_url = "${DATABASE_URL}"
connect_timeout = "3s"

[secrets_table]
table = "cron_secrets"

[run_logs.cron_runs]
table = "cron_runs"
job_column = "cron_name"
message_column = "error_message"

[lock_tables.job_lock]
table = "job_lock"

[jobs.dispatch]
schedule = "* * * * *"
url = "${APP_URL}/functions/v1/dispatch"
auth = { kind = "bearer", secret_env = "APP_CRON_SECRET" }
history = { pg_cron = true, pg_net = true }

[jobs.report]
schedule = "0 2 * * *"
method = "GET"
url = "${APP_URL}/api/cron/report"
auth = { kind = "bearer", secret_env = "APP_CRON_SECRET" }
history = { run_log = "cron_runs" }
scheduler = "vercel"
"""


def build_schema(dsn: str, *, pg_net: bool = True, placeholder: bool = False) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if pg_net:
            create_pg_net_tables(conn)
        conn.execute(
            "CREATE TABLE public.cron_runs (id bigserial PRIMARY KEY, cron_name text, started_at timestamptz, "
            "finished_at timestamptz, status text, error_message text)"
        )
        conn.execute(
            "CREATE TABLE public.job_lock (job_name text PRIMARY KEY, locked_by text, locked_at timestamptz, "
            "lock_expires_at timestamptz)"
        )
        conn.execute(
            "CREATE TABLE public.cron_secrets (key text PRIMARY KEY, value text NOT NULL, description text, "
            "updated_at timestamptz NOT NULL DEFAULT now())"
        )
        value = "placeholder_service_role_key" if placeholder else secrets.token_urlsafe(32)
        conn.execute("INSERT INTO public.cron_secrets (key, value) VALUES ('service_role_key', %s)", [value])
        conn.execute("SELECT cron.schedule('dispatch', '* * * * *', 'SELECT 1')")


@pytest.fixture
def server() -> Iterator[JobServer]:
    with JobServer([Route("POST", "/functions/v1/dispatch", auth="bearer", secret="x" * 32)]) as srv:
        yield srv


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    path = tmp_path / "doctor.toml"
    path.write_text(RUNBOOK)
    return path


def doctor(runbook: Path, env: dict[str, str | None], *args: str) -> tuple[int, dict[str, Check]]:
    result = run_cli("doctor", "-r", str(runbook), "-f", "json", *args, env=env)
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)
    checks = {c["id"]: Check(c["id"], c["name"], c["status"], c["detail"], c["fix"] or "") for c in data["checks"]}
    assert data["exit_code"] == result.exit_code
    return result.exit_code, checks


def test_healthy_setup_passes(clean_db: str, runbook: Path, server: JobServer) -> None:
    build_schema(clean_db)
    secret = secrets.token_urlsafe(32)
    env = {"DATABASE_URL": clean_db, "APP_URL": server.url, "APP_CRON_SECRET": secret}
    code, checks = doctor(runbook, env)
    # Without request tracking, pg_net answers of co-firing jobs cannot be linked: doctor says how to fix it.
    tracking = checks["pg_net_tracking"]
    assert tracking.status == "warn" and tracking.fix == "cronctl pgcron track install"
    assert run_cli("pgcron", "track", "install", "--yes", "-r", str(runbook), env=env).exit_code == 0
    code, checks = doctor(runbook, env)
    assert code == 0, [c for c in checks.values() if c.status != "pass"]
    assert checks["pg_net_tracking"].status == "pass"
    assert checks["pg_cron"].status == "pass" and "1.4" in checks["pg_cron"].detail
    assert checks["scheduler"].status == "pass"
    assert checks["pg_net"].status == "pass"
    assert checks["table:run_logs.cron_runs"].status == "pass"
    assert checks["secrets_table"].status == "pass"
    assert checks[f"endpoint:{server.url}/functions/v1/dispatch"].status == "pass"
    preview = checks["env:APP_CRON_SECRET"].detail
    assert secret not in preview and secret[:5] not in preview and "(43 chars)" in preview
    assert all(r.headers.get("Authorization") is None for r in server.requests)


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "plain"])
def test_every_format_keeps_the_exit_code(clean_db: str, runbook: Path, server: JobServer, fmt: str) -> None:
    build_schema(clean_db, placeholder=True)
    secret = secrets.token_urlsafe(32)
    env = {"DATABASE_URL": clean_db, "APP_URL": server.url, "APP_CRON_SECRET": secret}
    result = run_cli("doctor", "-r", str(runbook), "-f", fmt, env=env)
    assert result.exit_code == 2
    assert "secrets table" in result.stdout
    assert secret not in result.output


def test_no_pg_cron_in_second_database(pg_cluster: PgCluster, pg_dsn: str, runbook: Path) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'no_cron'").fetchone():
            conn.execute("CREATE DATABASE no_cron")
    dsn = pg_cluster.dsn(dbname="no_cron")
    code, checks = doctor(runbook, {"DATABASE_URL": dsn, "APP_URL": "http://127.0.0.1:9", "APP_CRON_SECRET": "s"},
                          "--no-endpoints")  # fmt: skip
    assert code == 2
    assert checks["pg_cron"].status == "fail"
    assert "cron.database_name" in checks["pg_cron"].detail
    assert "point DATABASE_URL at database" in checks["pg_cron"].fix
    assert checks["table:run_logs.cron_runs"].status == "fail"


def test_no_pg_net(clean_db: str, runbook: Path) -> None:
    build_schema(clean_db, pg_net=False)
    env = {"DATABASE_URL": clean_db, "APP_URL": "http://127.0.0.1:9", "APP_CRON_SECRET": secrets.token_urlsafe(32)}
    code, checks = doctor(runbook, env, "--no-endpoints")
    assert code == 2
    assert checks["pg_net"].status == "fail"
    assert 'schema "net" does not exist' in checks["pg_net"].detail
    assert "CREATE EXTENSION IF NOT EXISTS pg_net" in checks["pg_net"].fix


def test_read_only_role_warns(clean_db: str, read_only_role: str, runbook: Path, server: JobServer) -> None:
    build_schema(clean_db)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public, cron, net TO cronctl_ro")
    env = {"DATABASE_URL": read_only_role, "APP_URL": server.url, "APP_CRON_SECRET": secrets.token_urlsafe(32)}
    code, checks = doctor(runbook, env)
    assert code == 1, [c for c in checks.values() if c.status != "pass"]
    assert checks["role"].status == "warn"
    assert "row-level security" in checks["role"].detail
    assert "read-only role" in checks["role"].detail


def test_placeholders_and_missing_env(clean_db: str, runbook: Path, server: JobServer) -> None:
    build_schema(clean_db, placeholder=True)
    code, checks = doctor(runbook, {"DATABASE_URL": clean_db, "APP_URL": server.url, "APP_CRON_SECRET": None})
    assert code == 2
    assert checks["secrets_table"].status == "fail" and "service_role_key" in checks["secrets_table"].detail
    assert checks["env:APP_CRON_SECRET"].status == "fail"
    assert "dispatch, report" in checks["env:APP_CRON_SECRET"].detail


def test_weak_secret_and_unreachable_database(runbook: Path) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/x", "APP_URL": "http://127.0.0.1:9",
           "APP_CRON_SECRET": "short-secret"}  # fmt: skip
    code, checks = doctor(runbook, env, "--no-endpoints")
    assert code == 2
    assert checks["database"].status == "fail"
    assert checks["secret:APP_CRON_SECRET"].status == "fail"
    assert "at least 16" in checks["secret:APP_CRON_SECRET"].detail


def test_invalid_runbook_is_a_failed_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[runbook]\nname = "x"\n[jobs.a]\nurl = "ftp://x"\n')
    code, checks = doctor(bad, {"DATABASE_URL": None}, "--no-endpoints")
    assert code == 2
    assert checks["runbook"].status == "fail" and "jobs.a.url" in checks["runbook"].detail


def test_unreachable_endpoint_fails(runbook: Path) -> None:
    env = {"DATABASE_URL": None, "APP_URL": "http://127.0.0.1:9", "APP_CRON_SECRET": secrets.token_urlsafe(32)}
    code, checks = doctor(runbook, env, "--timeout", "2s")
    assert code == 2
    assert checks["endpoint:http://127.0.0.1:9/functions/v1/dispatch"].status == "fail"


def test_exit_code_rule() -> None:
    assert exit_code([Check("a", "a", "pass", "")]) == 0
    assert exit_code([Check("a", "a", "pass", ""), Check("b", "b", "warn", "")]) == 1
    assert exit_code([Check("a", "a", "warn", ""), Check("b", "b", "fail", "")]) == 2
    checks = build_checks(DoctorFacts(runbook_error="runbook not found: x.toml"))
    assert checks[0].status == "fail" and "cronctl init" in checks[0].fix
