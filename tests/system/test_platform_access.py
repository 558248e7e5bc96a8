"""What a restricted role can read: server facts never fail for lack of privileges, pg_cron's version is told
from the strongest evidence, and every unreadable fact is one line that names the missing GRANT.

Pure rules first (no database), then real roles on the sandbox cluster: a role without USAGE on schema net,
one without access to cron, a BYPASSRLS role and a plain non-superuser.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cli_runner import CliResult, run_cli
from cronctl.evaluate.doctor import DoctorFacts, build_checks, exit_code
from cronctl.grants import missing_grants, not_visible
from cronctl.records import ServerFacts
from cronctl.runbook.loader import load_runbook
from cronctl.sources import platform
from cronctl.sources.platform import supports
from cronctl_sandbox.cluster import PgCluster
from cronctl_sandbox.fixtures import create_pg_net_tables

SETTINGS_14 = {"cron.database_name": "postgres", "cron.max_running_jobs": "32"}
SETTINGS_15 = {**SETTINGS_14, "cron.timezone": "GMT"}
SETTINGS_16 = {**SETTINGS_15, "cron.launch_active_jobs": "on"}


def facts(**over: Any) -> ServerFacts:
    base: dict[str, Any] = dict(
        server_version="15.8",
        server_version_num=150008,
        role="triage_ro",
        superuser=False,
        database="postgres",
        cron_schema=True,
        pg_cron_extversion="1.6",
        net_schema=True,
        net_response_table=True,
        pg_net_extversion="0.20.0",
        preloaded=False,
        net_queue_table=True,
    )
    base.update(over)
    return ServerFacts(**base)


# -- pg_cron's feature level ------------------------------------------------------------------------------


def test_non_superuser_on_16_is_at_least_16_never_14_or_older() -> None:
    f = facts()  # cron.* settings are superuser-only: a plain role sees none of them
    assert not f.cron_settings_visible and f.cron_timezone is None
    assert f.pg_cron_version == "at least 1.6"
    assert supports(f, "seconds") is True and supports(f, "timezone") is True
    assert supports(f, "last_day_dollar") is True


def test_hidden_settings_on_old_extversion_cannot_tell() -> None:
    f = facts(pg_cron_extversion="1.4-1")
    assert f.pg_cron_version == "at least 1.4"
    assert supports(f, "seconds") is None and supports(f, "last_day_dollar") is None
    # pg_cron 1.6.0 still reported extversion 1.5 (fixed in 1.6.1): a lower bound, nothing more.
    f = facts(pg_cron_extversion="1.5")
    assert supports(f, "seconds") is True and supports(f, "last_day_dollar") is None


def test_visible_settings_pin_the_level() -> None:
    old = facts(superuser=True, pg_cron_extversion="1.4-1", cron_settings=SETTINGS_14)
    assert old.cron_settings_visible and old.pg_cron_version == "1.4 or older"
    assert supports(old, "seconds") is False and supports(old, "timezone") is False
    five = facts(superuser=True, pg_cron_extversion="1.4-1", cron_settings=SETTINGS_15)
    assert five.pg_cron_version == "1.5+" and five.cron_timezone == "GMT"
    assert supports(five, "seconds") is True and supports(five, "last_day_dollar") is False
    six = facts(superuser=True, pg_cron_extversion="1.5", cron_settings=SETTINGS_16)
    assert six.pg_cron_version == "1.6+" and supports(six, "last_day_dollar") is True


def test_extversion_outranks_settings_that_say_less() -> None:
    # Settings without cron.timezone but extversion 1.5: take the stronger evidence, never refuse.
    f = facts(superuser=True, pg_cron_extversion="1.5", cron_settings=SETTINGS_14)
    assert f.pg_cron_level == (1, 5) and supports(f, "seconds") is True
    assert f.pg_cron_version != "1.4 or older"


def test_unknown_feature_and_no_evidence() -> None:
    with pytest.raises(KeyError):
        supports(facts(), "L")
    f = facts(cron_schema=False, pg_cron_extversion=None)
    assert f.pg_cron_version is None and supports(f, "seconds") is None


# -- grants -----------------------------------------------------------------------------------------------


def test_missing_grants_are_exact_statements() -> None:
    f = facts(net_usage=False, net_response_select=False)
    assert missing_grants(f, needs_net=True, needs_cron=False) == [
        "GRANT USAGE ON SCHEMA net TO triage_ro",
        "GRANT SELECT ON net._http_response TO triage_ro",
    ]
    assert missing_grants(f, needs_net=False, needs_cron=True) == []
    assert not f.net_response_readable and f.net_queue_readable is False  # no USAGE: the queue is hidden too
    assert not_visible(f, "net._http_response") == (
        "not visible to role triage_ro: needs GRANT USAGE ON SCHEMA net TO triage_ro; "
        "GRANT SELECT ON net._http_response TO triage_ro"
    )
    assert not_visible(f, "net.http_request_queue") == (
        "not visible to role triage_ro: needs GRANT USAGE ON SCHEMA net TO triage_ro"
    )


def test_missing_grants_for_cron_and_settings() -> None:
    f = facts(role="Ops Reader", cron_usage=False, cron_run_details_select=False)
    assert missing_grants(f, needs_net=True, needs_cron=True) == [
        'GRANT USAGE ON SCHEMA cron TO "Ops Reader"',
        'GRANT SELECT ON cron.job_run_details TO "Ops Reader"',
    ]
    assert not f.cron_readable and not f.cron_job_readable
    assert (
        not_visible(f, "cron settings")
        == 'not visible to role Ops Reader: needs GRANT pg_read_all_settings TO "Ops Reader"'
    )
    assert not_visible(facts(), "cron") == ""


def test_superuser_and_missing_objects_need_no_grant() -> None:
    su = facts(superuser=True, net_usage=False, cron_usage=False)
    assert missing_grants(su, needs_net=True, needs_cron=True) == []
    absent = facts(net_schema=False, net_response_table=False, net_queue_table=False, net_usage=False)
    assert missing_grants(absent, needs_net=True, needs_cron=False) == []


def test_sees_all_rows() -> None:
    assert facts(superuser=True).sees_all_rows
    assert facts(bypassrls=True).sees_all_rows
    assert not facts().sees_all_rows


# -- doctor rules without a database ----------------------------------------------------------------------

CRON_ONLY = """
[runbook]
name = "sweeper"

[connection]
database_url = "${DATABASE_URL}"
connect_timeout = "3s"

[jobs.sweep]
schedule = "*/5 * * * *"
scheduler = "pg_cron"
history = { pg_cron = "sweep" }
"""

WITH_PG_NET = (
    CRON_ONLY
    + """
[jobs.dispatch]
schedule = "* * * * *"
scheduler = "pg_cron"
url = "https://example.invalid/functions/v1/dispatch"
history = { pg_cron = "dispatch", pg_net = true }
"""
)

VERCEL_ONLY = """
[runbook]
name = "reports"

[connection]
database_url = "${DATABASE_URL}"
connect_timeout = "3s"

[secrets_table]
schema = "app"
table = "cron_secrets"

[run_logs.cron_runs]
schema = "app"
table = "cron_runs"
job_column = "cron_name"
message_column = "error_message"

[jobs.report]
schedule = "0 2 * * *"
method = "GET"
url = "https://example.invalid/api/cron/report"
scheduler = "vercel"
history = { run_log = "cron_runs" }
"""


def write(tmp_path: Path, text: str, name: str = "runbook.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_doctor_rule_net_needed_only_by_pg_net_jobs(tmp_path: Path) -> None:
    server = facts(cron_settings={}, net_usage=False)
    no_net = build_checks(
        DoctorFacts(runbook=load_runbook(write(tmp_path, CRON_ONLY)), server=server, database_attempted=True)
    )
    by_id = {c.id: c for c in no_net}
    assert by_id["access:net"].status == "skip"
    assert all(c.status != "fail" for c in no_net), [c for c in no_net if c.status == "fail"]
    with_net = build_checks(DoctorFacts(runbook=load_runbook(write(tmp_path, WITH_PG_NET, "b.toml")), server=server))
    net = {c.id: c for c in with_net}["access:net"]
    assert net.status == "fail" and "dispatch" in net.detail
    assert net.fix == "GRANT USAGE ON SCHEMA net TO triage_ro;"
    assert exit_code(with_net) == 2


def test_doctor_rule_bypassrls_is_not_warned(tmp_path: Path) -> None:
    server = facts(bypassrls=True)
    checks = {
        c.id: c
        for c in build_checks(
            DoctorFacts(runbook=load_runbook(write(tmp_path, CRON_ONLY)), server=server, database_attempted=True)
        )
    }
    assert checks["role"].status == "pass" and "BYPASSRLS" in checks["role"].detail
    assert "1.4 or older" not in checks["pg_cron"].detail and "at least 1.6" in checks["pg_cron"].detail


# -- real roles on the sandbox cluster --------------------------------------------------------------------


def make_role(
    pg_cluster: PgCluster,
    admin_dsn: str,
    name: str,
    *,
    grants: tuple[str, ...] = (),
    attributes: str = "",
    read_only: bool = True,
) -> str:
    """A LOGIN role with exactly `grants` (beyond PUBLIC's); returns its DSN."""
    password = secrets.token_urlsafe(12)
    role = sql.Identifier(name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password)))
        conn.execute(sql.SQL("ALTER ROLE {} " + (attributes or "NOBYPASSRLS")).format(role))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = {}").format(
            role, sql.SQL("on" if read_only else "off")))  # fmt: skip
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA cron FROM {}").format(role))
        for statement in grants:
            conn.execute(sql.SQL(statement).format(role=role))
    return pg_cluster.dsn(user=name, password=password)


def doctor(runbook: Path, dsn: str) -> tuple[CliResult, dict[str, dict[str, Any]]]:
    result = run_cli("doctor", "-r", str(runbook), "-f", "json", "--no-endpoints", env={"DATABASE_URL": dsn})
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)
    assert data["exit_code"] == result.exit_code
    return result, {c["id"]: c for c in data["checks"]}


def status(runbook: Path, dsn: str, fmt: str = "json") -> CliResult:
    result = run_cli("pgcron", "status", "-r", str(runbook), "-f", fmt, env={"DATABASE_URL": dsn})
    assert "Traceback" not in result.output
    return result


def schedule_job(admin_dsn: str, name: str, command: str = "SELECT 1") -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT cron.schedule(%s, '*/5 * * * *', %s)", [name, command])


@pytest.fixture
def with_net(clean_db: str) -> str:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        create_pg_net_tables(conn)
    return clean_db


def test_facts_query_never_fails_for_a_role_without_net_or_cron(pg_cluster: PgCluster, with_net: str) -> None:
    dsn = make_role(pg_cluster, with_net, "cronctl_nothing")
    with psycopg.connect(dsn, autocommit=True) as conn:
        f = platform.fetch_facts(conn)
        assert f.net_schema and f.net_response_table and f.net_queue_table
        assert not f.net_usage and not f.net_response_readable and not f.net_queue_readable
        assert f.cron_schema and not f.cron_usage and not f.cron_readable
        assert not f.superuser and not f.bypassrls and not f.sees_all_rows
        assert not f.cron_settings_visible and f.pg_cron_version == "at least 1.4"
        assert supports(f, "seconds") is None
        # pg_cron grants SELECT on its tables to PUBLIC; only USAGE on the schema is missing.
        assert missing_grants(f, needs_net=False, needs_cron=True) == ["GRANT USAGE ON SCHEMA cron TO cronctl_nothing"]
        size = platform.fetch_run_details_size(conn)  # from the catalog: no privilege needed
        assert size.total_bytes > 0 and size.max_runid is None
    with psycopg.connect(with_net, autocommit=True) as conn:
        su = platform.fetch_facts(conn)
        assert su.superuser and su.sees_all_rows and su.net_response_readable and su.cron_readable
        assert su.pg_cron_version == "1.4 or older" and supports(su, "seconds") is False


def test_role_without_net_usage_on_runbook_without_pg_net(pg_cluster: PgCluster, with_net: str, tmp_path: Path) -> None:
    pg_cluster.wait_for_scheduler()
    schedule_job(with_net, "sweep")
    dsn = make_role(pg_cluster, with_net, "cronctl_nonet", grants=("GRANT USAGE ON SCHEMA cron TO {role}",))
    runbook = write(tmp_path, CRON_ONLY)
    result, checks = doctor(runbook, dsn)
    assert result.exit_code == 1, [c for c in checks.values() if c["status"] != "pass"]  # RLS warning only
    assert checks["access:net"]["status"] == "skip"
    assert checks["access:cron"]["status"] == "pass"
    assert checks["role"]["status"] == "warn" and "row-level security" in checks["role"]["detail"]
    assert "1.4 or older" not in result.stdout and "at least 1.4" in checks["pg_cron"]["detail"]
    settings = checks["cron_settings"]  # one line, informative: the version comes from extversion
    assert settings["status"] == "skip" and settings["fix"] == "GRANT pg_read_all_settings TO cronctl_nonet;"
    res = status(runbook, dsn)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["pg_cron"]["version"] == "at least 1.4" and data["errors"] == {}
    plain = status(runbook, dsn, "plain")
    assert plain.exit_code == 0 and "1.4 or older" not in plain.output


def test_role_without_net_usage_on_runbook_with_pg_net(pg_cluster: PgCluster, with_net: str, tmp_path: Path) -> None:
    pg_cluster.wait_for_scheduler()
    schedule_job(with_net, "sweep")
    dsn = make_role(pg_cluster, with_net, "cronctl_nonet", grants=("GRANT USAGE ON SCHEMA cron TO {role}",))
    result, checks = doctor(write(tmp_path, WITH_PG_NET), dsn)
    assert result.exit_code == 2
    failed = [c for c in checks.values() if c["status"] == "fail"]
    assert [c["id"] for c in failed] == ["access:net"]  # one line for the one unreadable thing
    net = checks["access:net"]
    assert "net._http_response" in net["detail"] and "dispatch" in net["detail"]
    assert net["fix"] == (
        "GRANT USAGE ON SCHEMA net TO cronctl_nonet; GRANT SELECT ON net._http_response TO cronctl_nonet; "
        "GRANT SELECT ON net.http_request_queue TO cronctl_nonet;"
    )
    # Read at 80 columns, the fix is printed whole (table cells are trimmed).
    table = run_cli("doctor", "-r", str(tmp_path / "runbook.toml"), "--no-endpoints",
                    env={"DATABASE_URL": dsn, "COLUMNS": "80"})  # fmt: skip
    assert f"fix pg_net answers: {net['fix']}" in " ".join(table.stdout.split())
    # Applying the fix makes the check pass: the statements are exact.
    with psycopg.connect(with_net, autocommit=True) as conn:
        for statement in net["fix"].rstrip(";").split("; "):
            conn.execute(statement)
    result, checks = doctor(write(tmp_path, WITH_PG_NET), dsn)
    assert checks["access:net"]["status"] == "pass" and result.exit_code == 1


def test_role_without_cron_access(pg_cluster: PgCluster, with_net: str, tmp_path: Path) -> None:
    pg_cluster.wait_for_scheduler()
    schedule_job(with_net, "sweep")
    dsn = make_role(pg_cluster, with_net, "cronctl_nocron")
    runbook = write(tmp_path, CRON_ONLY)
    result, checks = doctor(runbook, dsn)
    assert result.exit_code == 2
    cron = checks["access:cron"]
    assert cron["status"] == "fail" and "cron.job, cron.job_run_details" in cron["detail"]
    assert "sweep" in cron["detail"] and cron["fix"] == "GRANT USAGE ON SCHEMA cron TO cronctl_nocron;"
    assert [c["id"] for c in checks.values() if c["status"] == "fail"] == ["access:cron"]
    assert checks["scheduler"]["status"] in ("pass", "warn")  # the liveness check is unchanged
    res = status(runbook, dsn)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["errors"] == {
        "stuck runs": "not visible to role cronctl_nocron: needs GRANT USAGE ON SCHEMA cron TO cronctl_nocron"
    }
    assert data["job_run_details"]["total_bytes"] > 0  # the catalog still tells the size
    plain = status(runbook, dsn, "plain").output
    assert sum("not visible" in line for line in plain.splitlines()) == 1, plain
    assert "1.4 or older" not in plain


def test_role_without_cron_on_runbook_without_pg_cron(pg_cluster: PgCluster, with_net: str, tmp_path: Path) -> None:
    pg_cluster.wait_for_scheduler()
    with psycopg.connect(with_net, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app")
        conn.execute(
            "CREATE TABLE app.cron_runs (id bigserial PRIMARY KEY, cron_name text, started_at timestamptz, "
            "finished_at timestamptz, status text, error_message text)"
        )
        conn.execute(
            "CREATE TABLE app.cron_secrets (key text PRIMARY KEY, value text NOT NULL, description text, "
            "updated_at timestamptz NOT NULL DEFAULT now())"
        )
    dsn = make_role(pg_cluster, with_net, "cronctl_nocron")
    result, checks = doctor(write(tmp_path, VERCEL_ONLY), dsn)
    assert checks["access:cron"]["status"] == "skip" and checks["access:net"]["status"] == "skip"
    assert checks["role"]["status"] == "pass"
    table = checks["table:run_logs.cron_runs"]
    assert table["status"] == "fail" and "not visible to role cronctl_nocron" in table["detail"]
    assert (
        table["fix"] == "GRANT USAGE ON SCHEMA app TO cronctl_nocron; GRANT SELECT ON app.cron_runs TO cronctl_nocron;"
    )
    failed = [c["id"] for c in checks.values() if c["status"] == "fail"]
    assert sorted(failed) == ["table:run_logs.cron_runs", "table:secrets_table"]  # one line per unreadable table
    assert checks["secrets_table"]["status"] == "skip"  # the table check already names the grant
    assert result.exit_code == 2


def test_bypassrls_role_is_not_warned_about_rls(pg_cluster: PgCluster, with_net: str, tmp_path: Path) -> None:
    pg_cluster.wait_for_scheduler()
    schedule_job(with_net, "sweep")
    dsn = make_role(
        pg_cluster,
        with_net,
        "cronctl_bypass",
        grants=("GRANT USAGE ON SCHEMA cron, net TO {role}", "GRANT SELECT ON ALL TABLES IN SCHEMA net TO {role}"),
        attributes="BYPASSRLS",
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        f = platform.fetch_facts(conn)
        assert f.bypassrls and f.sees_all_rows and not f.superuser
        assert conn.execute("SELECT count(*) FROM cron.job").fetchone()[0] == 1  # sees postgres' job
    result, checks = doctor(write(tmp_path, WITH_PG_NET), dsn)
    # The only warning is the advice to install request tracking (pg_net answers of co-firing jobs).
    warned = [c["id"] for c in checks.values() if c["status"] not in ("pass", "skip")]
    assert warned == ["pg_net_tracking"] and result.exit_code == 1, warned
    assert checks["role"]["status"] == "pass" and "BYPASSRLS" in checks["role"]["detail"]
    assert checks["access:net"]["status"] == "pass" and checks["access:cron"]["status"] == "pass"


def test_non_superuser_seconds_reschedule_is_not_refused(pg_cluster: PgCluster, clean_db: str, tmp_path: Path) -> None:
    dsn = make_role(
        pg_cluster,
        clean_db,
        "cronctl_owner",
        grants=("GRANT USAGE ON SCHEMA cron TO {role}",),
        read_only=False,
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT cron.schedule('sweep', '*/5 * * * *', 'SELECT 1')")
    runbook = write(tmp_path, CRON_ONLY)
    env = {"DATABASE_URL": dsn, "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")}
    res = run_cli("pgcron", "reschedule", "sweep", "30 seconds", "--dry-run", "-r", str(runbook), "-f", "json",
                  env=env)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "cannot be confirmed" in res.stderr and "1.5" in res.stderr
    assert "this server runs pg_cron" not in res.stderr
    assert "1.4 or older" not in res.output
    assert json.loads(res.stdout)["sql"]
    # The superuser sees the settings: on this 1.4 server the evidence says too old, and it is refused.
    env["DATABASE_URL"] = clean_db
    res = run_cli("pgcron", "reschedule", "sweep", "30 seconds", "--dry-run", "-r", str(runbook), env=env)
    assert res.exit_code == 2 and "needs pg_cron 1.5+" in res.stderr
