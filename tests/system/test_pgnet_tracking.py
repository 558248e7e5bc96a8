"""`cronctl pgcron track install | status | uninstall` against the sandbox cluster, and the recording rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cli_runner import run_cli
from cronctl.evaluate.pgnet_tracking import judge_tracking
from cronctl.records import QueuedRequest, TrackedRequest
from cronctl.sources import pgnet_tracking as src
from cronctl_sandbox.fixtures import answer_queued, create_pg_net_tables, grant_pg_net_to_public

JOB_ROLE = "cronctl_job_owner"
JOB_PASSWORD = "job-owner-pw-5d1e"
URL = "http://127.0.0.1:9/functions/v1/notification-worker"


def write_runbook(tmp_path: Path) -> str:
    path = tmp_path / "runbook.toml"
    path.write_text(
        """
[runbook]
name = "billing"

[connection]
database_url = "${DATABASE_URL}"
statement_timeout = "5s"
connect_timeout = "2s"

[jobs.worker]
url = "https://example.invalid/functions/v1/notification-worker"
schedule = "* * * * *"
scheduler = "pg_cron"
"""
    )
    return str(path)


@pytest.fixture
def db(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        create_pg_net_tables(conn)
        grant_pg_net_to_public(conn)
        yield conn


@pytest.fixture
def rb(tmp_path: Path) -> str:
    return write_runbook(tmp_path)


@pytest.fixture
def env(clean_db: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": clean_db, "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")}


def track(rb: str, env: dict[str, str], *args: str, fmt: str = "json"):
    return run_cli("pgcron", "track", *args, "-r", rb, "-f", fmt, env=env)


def status(rb: str, env: dict[str, str]) -> tuple[int, dict]:
    res = track(rb, env, "status")
    return res.exit_code, json.loads(res.stdout)


def audit_records(env: dict[str, str]) -> list[dict]:
    path = Path(env["CRONCTL_AUDIT_FILE"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def objects(conn: psycopg.Connection) -> set[str]:
    """Every catalog object a test could leave behind in this database."""
    rows = conn.execute(
        """
        SELECT 'schema ' || nspname FROM pg_namespace
        UNION ALL SELECT 'relation ' || n.nspname || '.' || c.relname || ' ' || coalesce(c.relacl::text, '')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        UNION ALL SELECT 'function ' || p.oid::regprocedure::text || ' ' || coalesce(p.proacl::text, '') FROM pg_proc p
        UNION ALL SELECT 'trigger ' || tgname || ' on ' || tgrelid::regclass::text FROM pg_trigger
        UNION ALL SELECT 'type ' || oid::regtype::text FROM pg_type
        UNION ALL SELECT 'comment ' || classoid::regclass::text || ' ' || description FROM pg_description
        UNION ALL SELECT 'shared dependency ' || classid::regclass::text || ' ' || refobjid::text
                         || ' ' || deptype::text
          FROM pg_shdepend WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        UNION ALL SELECT 'default acl ' || defaclobjtype::text || ' ' || defaclacl::text FROM pg_default_acl
        """
    ).fetchall()
    return {r[0] for r in rows}


def ensure_job_role(conn: psycopg.Connection) -> None:
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [JOB_ROLE]).fetchone():
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(JOB_ROLE)))
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(JOB_ROLE), sql.Literal(JOB_PASSWORD)))


def post(conn: psycopg.Connection, url: str = URL) -> int:
    row = conn.execute("SELECT net.http_post(url := %s, body := '{}'::jsonb)", [url]).fetchone()
    assert row is not None
    return int(row[0])


# -- install / status / uninstall -------------------------------------------------------------------------------


def test_dry_run_prints_the_sql_changes_nothing_and_is_audited(db, rb, env) -> None:
    before = objects(db)
    res = track(rb, env, "install", "--dry-run")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["dry_run"] is True and data["result"] == "not run"
    text = "\n".join(data["sql"])
    for needed in (
        "CREATE TABLE IF NOT EXISTS cronctl.pgnet_request_log",
        "request_id bigint PRIMARY KEY",
        "ON cronctl.pgnet_request_log (queued_at)",
        "SECURITY DEFINER",
        "SET search_path = pg_catalog, pg_temp",
        "CREATE TRIGGER cronctl_track_requests",
        "AFTER INSERT ON net.http_request_queue",
        "REVOKE ALL ON FUNCTION cronctl.record_pgnet_request() FROM PUBLIC",
        "GRANT SELECT ON TABLE cronctl.pgnet_request_log TO PUBLIC",
    ):
        assert needed in text, needed
    assert objects(db) == before
    human = track(rb, env, "install", "--dry-run", fmt="plain")
    assert human.exit_code == 0 and "CREATE TRIGGER cronctl_track_requests" in human.stdout
    records = audit_records(env)
    assert [r["dry_run"] for r in records] == [True, True]
    assert records[0]["action"] == "pgcron.track.install" and records[0]["details"]["sql"] == data["sql"]


def test_install_needs_confirmation(db, rb, env) -> None:
    before = objects(db)
    res = track(rb, env, "install")
    assert res.exit_code == 5, res.output
    assert "nothing changed" in res.stderr or "--yes" in res.stderr
    assert objects(db) == before
    assert audit_records(env) == []


def test_install_status_uninstall_round_trip_leaves_nothing_behind(db, rb, env) -> None:
    before = objects(db)
    code, data = status(rb, env)
    assert (code, data["installed"], data["recording"], data["trigger"]) == (1, False, False, "missing")

    res = track(rb, env, "install", "--yes")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["trigger"] == "create"
    records = audit_records(env)
    assert [r["result"] for r in records] == ["sending", "ok"]  # the first one is written before the SQL is sent
    assert all(r["action"] == "pgcron.track.install" and not r["dry_run"] for r in records)

    code, data = status(rb, env)
    assert code == 0, data
    assert data["installed"] is True and data["trigger"] == "enabled" and data["rows"] == 0
    assert data["recording"] is None  # nothing queued yet: no evidence either way
    assert data["retention"] == 86400 and data["objects"]["security_definer"] is True
    assert data["objects"]["owner"] == "postgres" and data["readers"] == ["PUBLIC"]

    rid = post(db)
    code, data = status(rb, env)
    assert (code, data["recording"], data["rows"], data["newest_request_id"]) == (0, True, 1, rid)
    answer_queued(db, {rid: (200, '{"success": true}')})
    code, data = status(rb, env)
    assert (code, data["recording"], data["checked_request_id"]) == (0, True, rid)

    res = track(rb, env, "uninstall", "--yes")
    assert res.exit_code == 0, res.output
    assert "schema cronctl" in json.loads(res.stdout)["removes"]
    assert objects(db) == before
    assert post(db) == rid + 1  # pg_net keeps working without the trigger

    res = track(rb, env, "uninstall", "--yes")
    assert res.exit_code == 0 and json.loads(res.stdout)["result"] == "not installed; nothing to remove"


def test_install_is_idempotent_and_keeps_what_was_recorded(db, rb, env) -> None:
    assert track(rb, env, "install", "--yes").exit_code == 0
    rid = post(db)
    res = track(rb, env, "install", "--yes", "--retention", "48h")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["trigger"] == "keep"
    assert db.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'cronctl_track_requests'").fetchone() == (1,)
    assert db.execute("SELECT request_id FROM cronctl.pgnet_request_log").fetchall() == [(rid,)]
    code, data = status(rb, env)
    assert code == 0 and data["retention"] == 48 * 3600 and data["recording"] is True


def test_install_runs_in_one_transaction(db, rb, env) -> None:
    # A reader that does not exist is refused before anything is sent; a failure inside the transaction (here: a
    # table of the same name with other columns) leaves nothing half-installed.
    before = objects(db)
    res = track(rb, env, "install", "--yes", "--reader", "no_such_role")
    assert res.exit_code == 2 and "no_such_role" in res.stderr
    db.execute("CREATE SCHEMA cronctl")
    db.execute("CREATE TABLE cronctl.pgnet_request_log (something int)")
    with_table = objects(db)
    res = track(rb, env, "install", "--yes")
    assert res.exit_code == 3, res.output
    assert objects(db) == with_table
    assert [r["result"].split(":")[0] for r in audit_records(env)] == ["sending", "error"]
    db.execute("DROP SCHEMA cronctl CASCADE")
    assert objects(db) == before


def test_status_sees_a_trigger_an_extension_upgrade_dropped(db, rb, env) -> None:
    assert track(rb, env, "install", "--yes").exit_code == 0
    post(db)
    # What an upgrade that recreates pg_net's queue table does: the trigger goes with the old table.
    db.execute("DROP TABLE net.http_request_queue")
    create_pg_net_tables(db)
    grant_pg_net_to_public(db)
    code, data = status(rb, env)
    assert (code, data["installed"], data["recording"], data["trigger"]) == (1, False, False, "missing")
    assert "install" in data["reason"] and data["objects"]["table"] is True
    res = track(rb, env, "install", "--yes")
    assert res.exit_code == 0 and json.loads(res.stdout)["trigger"] == "create"
    rid = post(db)
    code, data = status(rb, env)
    assert (code, data["recording"], data["checked_request_id"]) == (0, True, rid)


def test_status_disabled_trigger_and_unrecorded_requests(db, rb, env) -> None:
    assert track(rb, env, "install", "--yes").exit_code == 0
    first = post(db)
    db.execute("ALTER TABLE net.http_request_queue DISABLE TRIGGER cronctl_track_requests")
    code, data = status(rb, env)
    assert (code, data["installed"], data["recording"], data["trigger"]) == (1, True, False, "disabled")
    second = post(db)
    db.execute("ALTER TABLE net.http_request_queue ENABLE TRIGGER cronctl_track_requests")
    # The trigger fires again, but the newest request pg_net knows of was queued while it did not.
    code, data = status(rb, env)
    assert (code, data["recording"], data["checked_request_id"]) == (1, False, second)
    assert f"after recorded request {first}" in data["reason"]
    third = post(db)
    code, data = status(rb, env)
    assert (code, data["recording"], data["checked_request_id"]) == (0, True, third)
    human = track(rb, env, "status", fmt="table")
    assert "recording" in human.stdout and "yes" in human.stdout


def test_reinstall_enables_a_disabled_trigger(db, rb, env) -> None:
    assert track(rb, env, "install", "--yes").exit_code == 0
    db.execute("ALTER TABLE net.http_request_queue DISABLE TRIGGER cronctl_track_requests")
    res = track(rb, env, "install", "--yes")
    assert res.exit_code == 0 and json.loads(res.stdout)["trigger"] == "enable"
    assert status(rb, env)[1]["trigger"] == "enabled"


def test_read_only_role_is_refused_with_exit_4(db, rb, env, read_only_role) -> None:
    before = objects(db)
    ro = {**env, "DATABASE_URL": read_only_role}
    res = track(rb, ro, "install", "--yes")
    assert res.exit_code == 4, res.output
    assert "read-only" in res.stderr and "nothing changed" in res.stderr
    assert objects(db) == before
    assert track(rb, ro, "install", "--dry-run").exit_code == 0  # a dry run changes nothing: allowed
    assert track(rb, env, "install", "--yes").exit_code == 0
    res = track(rb, ro, "uninstall", "--yes")
    assert res.exit_code == 4 and "read-only" in res.stderr
    # Reading is what a read-only role is for: status works and can see the log.
    rid = post(db)
    res = track(rb, ro, "status")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["role"] == "cronctl_ro" and data["recording"] is True and data["checked_request_id"] == rid


def test_role_without_privileges_is_refused_with_exit_4(db, rb, env, pg_cluster) -> None:
    ensure_job_role(db)
    user_env = {**env, "DATABASE_URL": pg_cluster.dsn(user=JOB_ROLE, password=JOB_PASSWORD)}
    res = track(rb, user_env, "install", "--yes")
    assert res.exit_code == 4, res.output
    assert "may not create schemas" in res.stderr and "nothing changed" in res.stderr
    dry = track(rb, user_env, "install", "--dry-run")
    assert dry.exit_code == 0 and any("would fail" in w for w in json.loads(dry.stdout)["warnings"])
    # Installed by the superuser, a role that does not own it cannot remove it either.
    assert track(rb, env, "install", "--yes").exit_code == 0
    res = track(rb, user_env, "uninstall", "--yes")
    assert res.exit_code == 4 and "does not own" in res.stderr
    assert status(rb, env)[1]["installed"] is True


def test_trigger_records_requests_a_non_owner_role_queues(db, rb, env, read_only_role, pg_cluster) -> None:
    ensure_job_role(db)
    assert track(rb, env, "install", "--yes", "--reader", "cronctl_ro").exit_code == 0
    with psycopg.connect(pg_cluster.dsn(user=JOB_ROLE, password=JOB_PASSWORD), autocommit=True) as job:
        # This role has no EXECUTE on the function and no USAGE on schema cronctl: the trigger still records.
        assert job.execute("SELECT has_schema_privilege('cronctl', 'USAGE')").fetchone() == (False,)
        pid = job.execute("SELECT pg_backend_pid()").fetchone()[0]
        rid = post(job, URL + "?job=1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            job.execute("INSERT INTO cronctl.pgnet_request_log VALUES (999, 1, now(), 'GET', 'x')")
    row = db.execute("SELECT request_id, backend_pid, method, url FROM cronctl.pgnet_request_log").fetchone()
    assert row == (rid, pid, "POST", URL + "?job=1")
    # Only the owner writes; the named reader reads; PUBLIC has nothing (default privileges were taken back too).
    privileges = db.execute(
        "SELECT grantee::regrole::text, privilege_type FROM pg_class, aclexplode(relacl)"
        " WHERE oid = 'cronctl.pgnet_request_log'::regclass AND grantee <> relowner"
    ).fetchall()
    assert privileges == [("cronctl_ro", "SELECT")]
    with psycopg.connect(read_only_role) as reader:
        rows = reader.execute(*src.tracking_query(datetime.now(UTC) - timedelta(minutes=5), 10)).fetchall()
    assert src.parse_tracking(rows) == [TrackedRequest(rid, pid, rows[0][2], "POST", URL + "?job=1")]


def test_retention_keeps_the_log_bounded(db, rb, env) -> None:
    assert track(rb, env, "install", "--yes").exit_code == 0
    db.execute(
        "INSERT INTO cronctl.pgnet_request_log"
        " SELECT 1000000 + g, 4242, now() - interval '25 hours' - g * interval '1 second', 'POST', 'http://old'"
        " FROM generate_series(1, 2500) g"
    )
    db.execute("INSERT INTO cronctl.pgnet_request_log VALUES (2000000, 4242, now() - interval '23 hours', 'POST', 'x')")
    # Ids 1..99 run no cleanup; id 100 deletes at most 1000 expired rows, oldest first.
    db.execute("SELECT net.http_post(%s, '{}'::jsonb) FROM generate_series(1, 99)", [URL])
    assert db.execute("SELECT count(*) FROM cronctl.pgnet_request_log").fetchone() == (2500 + 1 + 99,)
    post(db)
    old = "SELECT count(*), min(request_id) FROM cronctl.pgnet_request_log WHERE queued_at < now() - interval '24h'"
    assert db.execute(old).fetchone() == (1500, 1000001)  # the 1000 oldest (highest g) went first
    db.execute("SELECT net.http_post(%s, '{}'::jsonb) FROM generate_series(1, 200)", [URL])
    assert db.execute(old).fetchone() == (0, None)
    # Rows inside the retention stay: the 23-hour-old one and every new request.
    assert db.execute("SELECT count(*) FROM cronctl.pgnet_request_log").fetchone() == (1 + 300,)


def test_recording_conflicting_ids_keep_the_newest_queueing(db, rb, env) -> None:
    # pg_net reinstalled: its id sequence starts again. A stale row with the same id must not keep an old pid.
    assert track(rb, env, "install", "--yes").exit_code == 0
    db.execute("INSERT INTO cronctl.pgnet_request_log VALUES (1, 4242, now() - interval '2 hours', 'GET', 'old')")
    pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert post(db) == 1
    assert db.execute("SELECT backend_pid, url FROM cronctl.pgnet_request_log").fetchall() == [(pid, URL)]


def test_install_without_pg_net_is_exit_3(clean_db, rb, env) -> None:
    res = track(rb, env, "install", "--yes")
    assert res.exit_code == 3 and "pg_net is not installed" in res.stderr
    code, data = status(rb, env)
    assert (code, data["installed"], data["pg_net"]) == (1, False, False)


def test_bad_retention_is_a_usage_error(db, rb, env) -> None:
    assert track(rb, env, "install", "--retention", "soon", "--dry-run").exit_code == 2
    assert track(rb, env, "install", "--retention", "10m", "--dry-run").exit_code == 2


# -- source queries and parsers -------------------------------------------------------------------------------------


def test_installed_query_is_pipeline_safe_and_needs_no_schema_access(db, rb, env, read_only_role) -> None:
    db.execute("REVOKE USAGE ON SCHEMA net FROM cronctl_ro, PUBLIC")
    query, params = src.tracking_installed_query()
    with psycopg.connect(read_only_role) as ro:
        assert src.parse_tracking_installed(ro.execute(query, params).fetchall()) == src.TrackingInstalled(
            False, False, False
        )
    assert track(rb, env, "install", "--yes", "--reader", "cronctl_ro").exit_code == 0
    with psycopg.connect(read_only_role) as ro, ro.pipeline():
        cur_installed = ro.execute(query, params)
        cur_queue_tables = ro.execute("SELECT 1")
        installed = src.parse_tracking_installed(cur_installed.fetchall())
        cur_queue_tables.fetchall()
    assert installed == src.TrackingInstalled(True, True, True) and installed.usable
    db.execute("ALTER TABLE net.http_request_queue DISABLE TRIGGER cronctl_track_requests")
    with psycopg.connect(read_only_role) as ro:
        assert not src.parse_tracking_installed(ro.execute(query, params).fetchall()).usable


def test_tracking_and_queue_queries(db, rb, env) -> None:
    assert track(rb, env, "install", "--yes").exit_code == 0
    ids = [post(db, f"{URL}?n={n}") for n in range(3)]
    since = datetime.now(UTC) - timedelta(minutes=1)
    tracked = src.parse_tracking(db.execute(*src.tracking_query(since, 2)).fetchall())
    assert [t.request_id for t in tracked] == [ids[2], ids[1]]  # newest first, capped
    assert src.parse_tracking(db.execute(*src.tracking_query(since, 10, until=since)).fetchall()) == []
    by_id = src.parse_tracking(db.execute(*src.tracking_by_ids_query([ids[0], 999])).fetchall())
    assert [t.url for t in by_id] == [f"{URL}?n=0"]
    answer_queued(db, {ids[0]: (200, "{}")})
    queued = src.parse_queue(db.execute(*src.queue_query(10)).fetchall())
    assert queued == [
        QueuedRequest(ids[2], "POST", f"{URL}?n=2", 5000),
        QueuedRequest(ids[1], "POST", f"{URL}?n=1", 5000),
    ]
    with db.transaction():
        db.execute("SET LOCAL enable_seqscan = off")
        plan = db.execute("EXPLAIN " + psycopg.ClientCursor(db).mogrify(*src.tracking_query(since, 10))).fetchall()
    assert "pgnet_request_log_queued_at_idx" in "\n".join(r[0] for r in plan)


def test_comment_round_trip() -> None:
    at = datetime(2026, 11, 30, 3, 10, tzinfo=UTC)
    settings = src.TrackingSettings(86400, 100, 1000, at, "postgres")
    assert src.parse_comment(src.comment_text(settings)) == settings
    assert src.parse_comment(None) == src.TrackingSettings()
    assert src.parse_comment("someone else's comment {not json") == src.TrackingSettings()
    assert src.parse_comment('x {"retention_seconds": true, "installed_at": "yesterday"}') == src.TrackingSettings()


# -- the recording rule (pure) ------------------------------------------------------------------------------------

INSTALLED_AT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
CATALOG = src.TrackingCatalog(
    queue_present=True, responses_present=True, schema_present=True, table_present=True, function_present=True,
    trigger_present=True, trigger_mode="O", trigger_calls_function=True, function_owner="postgres",
    security_definer=True, settings=src.TrackingSettings(86400, 100, 1000, INSTALLED_AT, "postgres"),
    readers=("PUBLIC",), function_triggers=("cronctl_track_requests on net.http_request_queue",), other_objects=0,
    log_readable=True, queue_readable=True, responses_readable=True, can_trigger_queue=True, owns_queue=True,
    can_create=True, owns_function=True, owns_table=True, owns_schema=True, role="postgres", superuser=True,
    database="cronctl",
)  # fmt: skip
STATS = src.LogStats(rows=10, newest=INSTALLED_AT + timedelta(hours=1), newest_id=110)


def newest(queue: int | None = None, response: int | None = None, minutes: float = 60) -> src.PgNetNewest:
    return src.PgNetNewest(queue, response, INSTALLED_AT + timedelta(minutes=minutes) if response else None)


@pytest.mark.parametrize(
    ("catalog", "stats", "pgnet", "tracked", "expected"),
    [
        (CATALOG, STATS, newest(110), True, (True, True)),
        (CATALOG, STATS, newest(None, 110), None, (True, True)),  # answered, found by id comparison
        (CATALOG, STATS, newest(111), False, (True, False)),  # queued after a recorded request
        (CATALOG, src.LogStats(0, None, None), newest(None, 5, minutes=30), False, (True, False)),
        (CATALOG, src.LogStats(0, None, None), newest(None, 5, minutes=2), False, (True, None)),  # may predate
        (CATALOG, src.LogStats(0, None, None), newest(5), False, (True, None)),  # waiting: no time to compare
        (CATALOG, STATS, newest(), None, (True, None)),  # pg_net holds nothing
        (CATALOG, None, newest(110), None, (True, None)),  # log unreadable
        (CATALOG, STATS, None, None, (True, None)),  # pg_net unreadable
        (replace(CATALOG, trigger_mode="D"), STATS, newest(110), True, (True, False)),
        (replace(CATALOG, trigger_mode="R"), STATS, newest(110), True, (True, False)),
        (replace(CATALOG, trigger_mode="A"), STATS, newest(110), True, (True, True)),
        (replace(CATALOG, trigger_present=False, trigger_calls_function=False), STATS, None, None, (False, False)),
        (replace(CATALOG, trigger_calls_function=False), STATS, None, None, (False, False)),
        (replace(CATALOG, queue_present=False, trigger_present=False), None, None, None, (False, False)),
    ],
)
def test_recording_rule(catalog, stats, pgnet, tracked, expected) -> None:
    verdict = judge_tracking(catalog, stats, pgnet, tracked)
    assert (verdict.installed, verdict.recording) == expected, verdict.reason
    assert verdict.reason


def test_recording_rule_names_what_is_missing() -> None:
    nothing = replace(
        CATALOG, schema_present=False, table_present=False, function_present=False, trigger_present=False,
        trigger_calls_function=False,
    )  # fmt: skip
    assert judge_tracking(nothing, None, None, None).reason == "not installed: run `cronctl pgcron track install`"
    upgraded = replace(CATALOG, trigger_present=False, trigger_calls_function=False)
    assert "upgrade or reinstall of pg_net" in judge_tracking(upgraded, None, None, None).reason
    foreign = replace(CATALOG, trigger_calls_function=False)
    assert "calls another function" in judge_tracking(foreign, None, None, None).reason
    hidden = judge_tracking(CATALOG, None, newest(1), None)
    assert "GRANT SELECT ON cronctl.pgnet_request_log" in hidden.reason


INSTALLER = "cronctl_installer"


def test_a_non_superuser_installs_and_uninstalls_without_owning_pg_nets_table(db, rb, env, pg_cluster) -> None:
    # Supabase's `postgres` role: not a superuser, CREATE on the database, pg_net's tables through PUBLIC grants.
    role = sql.Identifier(INSTALLER)
    if not db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [INSTALLER]).fetchone():
        db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
    db.execute(sql.SQL("ALTER ROLE {} PASSWORD 'installer-pw-2c7a'").format(role))
    db.execute(sql.SQL("GRANT CREATE ON DATABASE cronctl TO {}").format(role))
    before = objects(db)
    user_env = {**env, "DATABASE_URL": pg_cluster.dsn(user=INSTALLER, password="installer-pw-2c7a")}
    res = track(rb, user_env, "install", "--yes")
    assert res.exit_code == 0, res.output
    owner = db.execute("SELECT proowner::regrole::text, prosecdef FROM pg_proc WHERE proname = 'record_pgnet_request'")
    assert owner.fetchone() == (INSTALLER, True)
    rid = post(db)  # queued by the superuser, recorded by the installer's definer function
    code, data = status(rb, user_env)
    assert (code, data["recording"], data["checked_request_id"], data["objects"]["owner"]) == (0, True, rid, INSTALLER)
    res = track(rb, user_env, "uninstall", "--yes")
    assert res.exit_code == 0, res.output
    assert objects(db) == before


def test_uninstall_keeps_a_schema_that_holds_other_objects(db, rb, env) -> None:
    assert track(rb, env, "install", "--yes").exit_code == 0
    db.execute("CREATE TABLE cronctl.notes (v int)")
    res = track(rb, env, "uninstall", "--dry-run")
    data = json.loads(res.stdout)
    assert res.exit_code == 0 and not any("DROP SCHEMA" in s for s in data["sql"])
    assert data["kept"] == "schema cronctl holds 1 other object(s)"
    assert track(rb, env, "uninstall", "--yes").exit_code == 0
    left = db.execute("SELECT relname FROM pg_class WHERE relnamespace = 'cronctl'::regnamespace").fetchall()
    assert left == [("notes",)]
    assert db.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'cronctl_track_requests'").fetchone() == (0,)
