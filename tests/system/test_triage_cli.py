"""`cronctl triage` end to end against the sandbox cluster and each system's incident scenario."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl_sandbox import scenario
from vendor_guard import no_vendor_api  # noqa: F401  (autouse: the seed runbooks read GitHub, Vercel, Supabase)

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
TOP_KEYS = {"status", "generated_at", "runbook", "jobs", "failures", "backlog", "locks", "findings"}
JOB_KEYS = {"name", "state", "last_run", "next_run", "consecutive_failures", "missed_runs", "durations"}


def _load(dsn: str, system: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        scenario.load(conn, system, datetime.now(UTC))


def _triage(dsn: str, runbook: Path, *args: str) -> tuple[int, dict, str]:
    result = run_cli("triage", "-r", str(runbook), "-f", "json", *args, env={"DATABASE_URL": dsn})
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_demo_incident(clean_db: str) -> None:
    _load(clean_db, "demo")
    code, data, _ = _triage(clean_db, RUNBOOKS / "demo.toml")
    assert set(data) >= TOP_KEYS
    assert data["status"] == "crit" and code == 2
    states = {j["name"]: j for j in data["jobs"]}
    for job in states.values():
        assert set(job) >= JOB_KEYS
    assert states["nightly-report"]["state"] == "missed"
    assert states["nightly-report"]["missed_runs"] >= 2
    assert states["dispatch-messages"]["state"] == "failing"
    groups = {g["group"]: g for g in data["failures"]}
    assert "AUTH" in groups and "dispatch-messages" in groups["AUTH"]["jobs"]
    backlog = {b["name"]: b for b in data["backlog"]}
    assert backlog["pending-messages"]["ok"] is False and backlog["pending-messages"]["value"] >= 1
    assert any(lock["stale"] and lock["name"] == "sync-enrolments" for lock in data["locks"])
    symptoms = {f["symptom"] for f in data["findings"]}
    assert "401 from dispatch-messages" in symptoms
    assert "No runs for longer than the schedule allows" in symptoms
    # reconcile-payments answers 200 but `skipped`: judged from the pg_net response body.
    assert states["reconcile-payments"]["last_run"]["status"] == "skipped"
    assert states["reconcile-payments"]["outcomes"].endswith("○")
    assert "200 but `skipped` from reconcile-payments" in symptoms
    assert data["round_trips"] <= 5


SEEDS = [
    ("messaging-dispatch", "messaging-dispatch.toml"),
    ("ads-platform-vercel", "ads-platform-vercel.toml"),
    ("metrics-collectors", "metrics-collectors.toml"),
    ("enrolment-sync", "enrolment-sync.toml"),
    ("billing-pgcron", "billing-pgcron.toml"),
]


@pytest.mark.parametrize(("system", "runbook"), SEEDS)
def test_every_seed_runbook_triages_its_scenario(clean_db: str, system: str, runbook: str) -> None:
    _load(clean_db, system)
    code, data, stderr = _triage(clean_db, RUNBOOKS / runbook)
    assert set(data) >= TOP_KEYS, stderr
    assert data["round_trips"] <= 5
    assert data["jobs"] and all(set(j) >= JOB_KEYS for j in data["jobs"])
    if system == "ads-platform-vercel":
        # Seed 001 keeps its history in Vercel's logs: no job state can be judged from here.
        assert data["status"] == "unknown" and code == 3
        assert {j["state"] for j in data["jobs"]} == {"unknown"}
    else:
        assert data["status"] in ("warn", "crit") and code in (1, 2)
        assert any(j["state"] not in ("unknown", "ok") for j in data["jobs"])


def test_the_seed_runbooks_reach_no_real_vendor(clean_db: str, no_vendor_api: list[str]) -> None:
    """As on a GitHub Actions runner, which exports GITHUB_REPOSITORY and GITHUB_TOKEN: billing-pgcron's GitHub
    history is read from the guard's closed port, never from api.github.com; and asking for that host fails."""
    _load(clean_db, "billing-pgcron")
    runner = {"DATABASE_URL": clean_db, "GITHUB_REPOSITORY": "acme/billing", "GITHUB_TOKEN": "runner-token-0001"}
    data = json.loads(run_cli("triage", "-r", str(RUNBOOKS / "billing-pgcron.toml"), "-f", "json", env=runner).stdout)
    notes = [s for j in data["jobs"] for s in j.get("sources", []) if s.get("source") == "github"]
    assert notes and all("127.0.0.1" in (s.get("message") or "") for s in notes), notes
    assert no_vendor_api == []
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("API.GitHub.com.", 443)
    assert no_vendor_api == ["api.github.com"]
    no_vendor_api.clear()  # the guard's own test: not a test that reached a vendor


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rb.toml"
    path.write_text(text)
    return path


def _schedule(dsn: str, name: str, schedule: str = "* * * * *", command: str = "SELECT 1") -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return int(conn.execute("SELECT cron.schedule(%s, %s, %s)", [name, schedule, command]).fetchone()[0])


def _runs(dsn: str, jobid: int, rows: list[tuple[str, str, int]]) -> None:
    """(status, return_message, minutes ago) rows, oldest first, as pg_cron writes them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for status, message, ago in rows:
            conn.execute(
                "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,"
                " return_message, start_time, end_time)"
                " VALUES (%s, nextval('cron.runid_seq'), 1, current_database(), current_user, 'SELECT 1', %s, %s,"
                " date_trunc('minute', now()) - make_interval(mins => %s),"
                " date_trunc('minute', now()) - make_interval(mins => %s) + interval '1 second')",
                [jobid, status, message, ago, ago],
            )


GROUP_MESSAGES = {
    "AUTH": "unauthorized",
    "HTTP_409": "status 409 conflict",
    "HTTP_429": "HTTP 429 Too Many Requests",
    "HTTP_4XX": "HTTP 404 not found",
    "HTTP_5XX": "HTTP 503 unavailable",
    "REDIRECT": "HTTP 307 temporary redirect",
    "TIMEOUT": "Timeout of 5000 ms reached",
    "LOCK_CONFLICT": "could not obtain lock on row",
    "PG_NET_MISSING": 'ERROR:  schema "net" does not exist',
    "DB_CONNECTION": "connection failed",
    "STARTUP_TIMEOUT": "job startup timeout",
    "SERVER_RESTARTED": "server restarted",
    "OTHER": "ERROR:  division by zero",
}

PG_CRON_RUNBOOK = """
[runbook]
name = "t"
[connection]
statement_timeout = "1s"
[jobs.g]
schedule = "* * * * *"
url = "http://127.0.0.1:9/g"
history = { pg_cron = true }
scheduler = "pg_cron"
[jobs.h]
schedule = "* * * * *"
url = "http://127.0.0.1:9/h"
history = { pg_cron = true }
scheduler = "pg_cron"
"""


def test_each_failure_group_is_seen(clean_db: str, tmp_path: Path) -> None:
    jobid = _schedule(clean_db, "g")
    _runs(clean_db, jobid, [("failed", m, 40 - i) for i, m in enumerate(GROUP_MESSAGES.values())])
    _runs(clean_db, _schedule(clean_db, "h"), [("succeeded", "1 row", 0)])
    _code, data, _ = _triage(clean_db, _write(tmp_path, PG_CRON_RUNBOOK))
    groups = {g["group"]: g for g in data["failures"]}
    assert set(groups) == set(GROUP_MESSAGES)
    assert all(g["count"] == 1 and g["jobs"] == ["g"] and g["sample"] for g in groups.values())
    states = {j["name"]: j["state"] for j in data["jobs"]}
    assert states["h"] in ("ok", "late") and states["g"] == "missed"


def test_ok_exit_zero_and_job_filter(clean_db: str, tmp_path: Path) -> None:
    _runs(clean_db, _schedule(clean_db, "g"), [("succeeded", "1 row", 2), ("succeeded", "1 row", 0)])
    _runs(clean_db, _schedule(clean_db, "h"), [("failed", "connection failed", 0)])
    path = _write(tmp_path, PG_CRON_RUNBOOK)
    code, data, _ = _triage(clean_db, path, "--job", "g")
    assert [j["name"] for j in data["jobs"]] == ["g"]
    assert data["status"] == "ok" and code == 0, data["reasons"]
    assert data["failures"] == []
    code, data, _ = _triage(clean_db, path)
    assert data["status"] == "crit" and code == 2
    assert {g["group"] for g in data["failures"]} == {"DB_CONNECTION"}


def test_a_due_run_within_grace_is_no_problem(clean_db: str, tmp_path: Path) -> None:
    _runs(clean_db, _schedule(clean_db, "g", "*/5 * * * *"), [("succeeded", "1 row", 9)])
    text = PG_CRON_RUNBOOK.split("[jobs.h]")[0].replace('"* * * * *"', '"*/5 * * * *"') + 'grace = "10m"\n'
    code, data, _ = _triage(clean_db, _write(tmp_path, text), "--job", "g")
    # A slot at least 4 minutes old has no run, but every slot since the last run is within the 10-minute grace:
    # it reads "due", and (as in Healthchecks) raises nothing.
    job = data["jobs"][0]
    assert job["state"] == "ok" and "within grace" in job["reason"], job["reason"]
    assert data["status"] == "ok" and code == 0


def test_unknown_exit_three(clean_db: str, tmp_path: Path) -> None:
    path = _write(tmp_path, PG_CRON_RUNBOOK)
    closed = "postgresql://nobody@127.0.0.1:1/none"
    result = run_cli("triage", "-r", str(path), env={"DATABASE_URL": closed})
    assert result.exit_code == 3 and "cannot connect" in result.stderr
    result = run_cli("triage", "-r", str(path), "--since", "soon", env={"DATABASE_URL": clean_db})
    assert result.exit_code == 3 and "--since" in result.stderr
    result = run_cli("triage", "-r", str(path), "--job", "nope", env={"DATABASE_URL": clean_db})
    assert result.exit_code == 3
    bad = tmp_path / "bad.toml"
    bad.write_text("[jobs.x]\nschedule = 5\n")
    assert run_cli("triage", "-r", str(bad), env={"DATABASE_URL": clean_db}).exit_code == 3


def test_timed_out_backlog_check_leaves_the_rest(clean_db: str, tmp_path: Path) -> None:
    _runs(clean_db, _schedule(clean_db, "g"), [("succeeded", "1 row", 0)])
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE busy (v int); CREATE TABLE calm (v int); INSERT INTO calm VALUES (1), (2)")
    text = (
        PG_CRON_RUNBOOK.split("[jobs.h]")[0]
        + """
[backlogs.busy]
sql = "SELECT count(*) AS value FROM busy"
[backlogs.calm]
sql = "SELECT count(*) AS value FROM calm"
warn = 5
"""
    )
    path = _write(tmp_path, text)
    holder = psycopg.connect(clean_db)
    try:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        code, data, _ = _triage(clean_db, path)
    finally:
        holder.rollback()
        holder.close()
    backlog = {b["name"]: b for b in data["backlog"]}
    assert backlog["busy"]["ok"] is None and "timeout" in backlog["busy"]["error"]
    assert backlog["calm"]["value"] == 2 and backlog["calm"]["ok"] is True and backlog["calm"]["error"] is None
    assert data["jobs"][0]["last_run"] is not None  # the checks after the timed-out one still answered
    assert data["status"] == "warn" and code == 1


def test_absent_cron_schema(pg_cluster, clean_db: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'nocron'").fetchone():
            conn.execute("CREATE DATABASE nocron")
    dsn = pg_cluster.dsn(dbname="nocron")
    code, data, _ = _triage(dsn, _write(tmp_path, PG_CRON_RUNBOOK))
    assert {j["state"] for j in data["jobs"]} == {"unknown"}
    assert "not installed" in data["jobs"][0]["reason"]
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["pg_cron"]["verdict"] == "crit"
    assert code == 2


NET_RUNBOOK = """
[runbook]
name = "net"
[jobs.q]
schedule = "* * * * *"
url = "http://127.0.0.1:9/q"
history = { pg_cron = true, pg_net = true }
scheduler = "pg_cron"
[[failure_modes]]
symptom = "schema net does not exist"
cause = "pg_net is not enabled"
action = "CREATE EXTENSION pg_net"
severity = "crit"
group = "PG_NET_MISSING"
"""


def test_absent_net_schema(clean_db: str, tmp_path: Path) -> None:
    jobid = _schedule(clean_db, "q", command="SELECT net.http_post(url := 'http://x/functions/v1/q')")
    _runs(clean_db, jobid, [("failed", 'ERROR:  schema "net" does not exist', i) for i in (2, 1, 0)])
    code, data, _ = _triage(clean_db, _write(tmp_path, NET_RUNBOOK))
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["pg_net"]["verdict"] == "crit"
    assert data["jobs"][0]["state"] == "failing" and data["jobs"][0]["consecutive_failures"] == 3
    assert [g["group"] for g in data["failures"]] == ["PG_NET_MISSING"]
    # One root cause first (pg_net missing, explaining the job), then the runbook's own mode that matches.
    first, *rest = data["findings"]
    assert first["kind"] == "root_cause" and first["id"] == "pg_net_missing" and first["jobs"] == ["q"]
    assert [f["action"] for f in rest] == ["CREATE EXTENSION pg_net"] and rest[0]["kind"] == "runbook"
    sources = {s["source"]: s["state"] for s in data["jobs"][0]["sources"]}
    assert sources == {"pg_cron": "ok", "pg_net": "not_installed"}
    assert code == 2


def test_markdown_for_the_incident_channel(clean_db: str) -> None:
    _load(clean_db, "demo")
    result = run_cli("triage", "-r", str(RUNBOOKS / "demo.toml"), "-f", "markdown", env={"DATABASE_URL": clean_db})
    assert result.exit_code == 2
    out = result.stdout
    assert out.startswith("## triage: demo") and "**✗ CRITICAL:" in out
    # Issue 14: what to do first comes first, and one paste is one chat message.
    assert out.index("### Findings") < out.index("### Jobs that need attention")
    assert len(out) <= 4000
    assert "| nightly-report" in out and "✗ missed" in out
    assert "`cronctl locks clear sync-enrolments`" in out
    full = run_cli("triage", "-r", str(RUNBOOKS / "demo.toml"), "-f", "markdown", "--full",
                   env={"DATABASE_URL": clean_db}).stdout  # fmt: skip
    for title in ("### Findings", "### Jobs that need attention", "### Failures", "### Backlog", "### Locks",
                  "### Jobs that are ok", "### Durations"):  # fmt: skip
        assert title in full


def test_watch_ends_when_the_exit_condition_holds(clean_db: str, tmp_path: Path) -> None:
    _runs(clean_db, _schedule(clean_db, "g"), [("succeeded", "1 row", i) for i in (2, 1, 0)])
    path = _write(tmp_path, PG_CRON_RUNBOOK.split("[jobs.h]")[0] + "[exit_condition]\nconsecutive_ok = 3\n")
    result = run_cli("triage", "-r", str(path), "--watch", "--interval", "0.2", "--max-rounds", "5", "-f", "json",
                     env={"DATABASE_URL": clean_db})  # fmt: skip
    data = json.loads(result.stdout)
    assert data["status"] == "ok" and result.exit_code == 0


def _window_bounds(dsn: str, jobid: int) -> tuple[datetime, datetime]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT min(end_time), max(end_time) FROM cron.job_run_details"
            " WHERE jobid = %s AND status = 'failed' AND start_time >= now() - interval '24 hours'",
            [jobid],
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_failure_groups_cover_the_whole_window(clean_db: str, tmp_path: Path) -> None:
    # 300 failures over 10 hours: three times the newest runs read per job, so only the window scan sees them all.
    jobid, other = _schedule(clean_db, "g"), _schedule(clean_db, "h")
    rows = [(jobid, "failed", "ERROR:  division by zero", 30 * 60 + i) for i in (2, 1)]  # before the window
    rows += [(jobid, "failed", "connection failed", 600 - 2 * i) for i in range(300)]
    rows += [(other, "succeeded", "1 row", i) for i in range(700)]
    with psycopg.connect(clean_db, autocommit=True) as conn:  # runids grow with time, as pg_cron takes them
        conn.cursor().executemany(
            "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,"
            " return_message, start_time, end_time)"
            " VALUES (%s, nextval('cron.runid_seq'), 1, current_database(), current_user, 'SELECT 1', %s, %s,"
            " date_trunc('minute', now()) - make_interval(mins => %s),"
            " date_trunc('minute', now()) - make_interval(mins => %s) + interval '1 second')",
            [(job, status, message, ago, ago) for job, status, message, ago in sorted(rows, key=lambda r: -r[3])],
        )
    _code, data, _ = _triage(clean_db, _write(tmp_path, PG_CRON_RUNBOOK))
    groups = {g["group"]: g for g in data["failures"]}
    assert set(groups) == {"DB_CONNECTION"}
    group = groups["DB_CONNECTION"]
    assert group["count"] == 300 and group["jobs"] == ["g"]
    first, last = _window_bounds(clean_db, jobid)
    assert datetime.fromisoformat(group["first_seen"]) == first
    assert datetime.fromisoformat(group["last_seen"]) == last
    assert last - first == timedelta(minutes=598)
    assert data["round_trips"] <= 5
    # A narrower window counts fewer: the last hour holds 30 of them.
    _code, data, _ = _triage(clean_db, _write(tmp_path, PG_CRON_RUNBOOK), "--since", "61m")
    assert [(g["group"], g["count"]) for g in data["failures"]] == [("DB_CONNECTION", 30)]


RUN_LOG_RUNBOOK = """
[runbook]
name = "rl"
[run_logs.runs]
table = "job_runs"
job_column = "job"
message_column = "error"
[run_logs.stamped]
table = "stamped_runs"
message_column = "error"
order_column = "started_at"
[jobs.a]
schedule = "* * * * *"
url = "http://127.0.0.1:9/a"
history = { run_log = "runs" }
[jobs.b]
schedule = "* * * * *"
url = "http://127.0.0.1:9/b"
history = { run_log = "stamped" }
"""


def test_run_log_failure_groups_cover_the_whole_window(clean_db: str, tmp_path: Path) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for table, job in (("job_runs", "job text,"), ("stamped_runs", "")):
            conn.execute(
                f"CREATE TABLE {table} (id bigserial PRIMARY KEY, {job} status text, error text,"
                " started_at timestamptz, finished_at timestamptz)"
            )
            conn.execute(f"CREATE INDEX ON {table} (started_at)")
            job_value = "'a'," if job else ""
            minutes = "date_trunc('minute', now()) - make_interval(mins => m)"
            conn.execute(
                f"INSERT INTO {table} ({job.split()[0] + ',' if job else ''} status, error, started_at, finished_at)"
                f" SELECT {job_value} CASE WHEN m % 2 = 0 THEN 'error' ELSE 'success' END,"
                f" CASE WHEN m % 2 = 0 THEN 'HTTP 503 unavailable' END, {minutes}, {minutes} + interval '5 s'"
                " FROM generate_series(2000, 0, -1) m"
            )
    _code, data, stderr = _triage(clean_db, _write(tmp_path, RUN_LOG_RUNBOOK))
    groups = {g["group"]: g for g in data["failures"]}
    assert set(groups) == {"HTTP_5XX"}, stderr
    # Minutes 0 .. 1439 ago are in the 24 h window; every other one failed, for each of the two jobs.
    assert groups["HTTP_5XX"]["count"] == 2 * 720 and groups["HTTP_5XX"]["jobs"] == ["a", "b"]
    assert not [c for c in data["checks"] if c["verdict"] == "error"]


SKIP_RUNBOOK = """
[runbook]
name = "skip"
[jobs.reconcile]
schedule = "* * * * *"
url = "http://127.0.0.1:9/functions/v1/reconcile"
history = { pg_cron = true, pg_net = true }
scheduler = "pg_cron"
success = { status = [200], require = ["success == true"], skipped = ["skipped == true"] }
[[failure_modes]]
symptom = "200 but skipped from reconcile"
cause = "The payment key is not set"
action = "Set the key"
severity = "warn"
job = "reconcile"
verdict = "skipped"
"""


def test_pg_net_answers_judged_by_the_success_rule(clean_db: str, tmp_path: Path) -> None:
    """A 200 saying `skipped` is skipped and matches its failure mode; a 200 breaking `require` is a failure."""
    from cronctl_sandbox.fixtures import create_pg_net_tables

    command = "SELECT net.http_post(url := 'http://x/functions/v1/reconcile', timeout_milliseconds := 5000)"
    jobid = _schedule(clean_db, "reconcile", command=command)
    bodies = (
        [{"success": True}] * 3
        + [{"success": False, "error": "gateway unreachable"}] * 2
        + [{"success": False, "skipped": True, "reason": "payment key is not set"}]
    )
    _runs(clean_db, jobid, [("succeeded", "1 row", len(bodies) - i) for i in range(len(bodies))])
    with psycopg.connect(clean_db, autocommit=True) as conn:
        create_pg_net_tables(conn)
        for i, body in enumerate(bodies):
            conn.execute(
                "INSERT INTO net._http_response (id, status_code, content_type, content, timed_out, created)"
                " VALUES (%s, 200, 'application/json', %s, false,"
                " date_trunc('minute', now()) - make_interval(mins => %s) + interval '2 s')",
                [i + 1, json.dumps(body), len(bodies) - i],
            )
    _code, data, stderr = _triage(clean_db, _write(tmp_path, SKIP_RUNBOOK))
    job = data["jobs"][0]
    assert job["outcomes"].endswith("✓✓✓✗✗○"), (job, stderr)
    assert job["last_run"]["status"] == "skipped" and job["last_run"]["source"] == "pg_net"
    assert [(g["group"], g["count"], g["jobs"]) for g in data["failures"]] == [("OTHER", 2, ["reconcile"])]
    assert "gateway unreachable" in data["failures"][0]["sample"]
    assert [(f["symptom"], f["job"]) for f in data["findings"]] == [("200 but skipped from reconcile", "reconcile")]
    assert "verdict skipped" in data["findings"][0]["evidence"]


def test_a_locked_table_costs_one_statement_timeout_per_triage(clean_db: str, tmp_path: Path) -> None:
    """Four checks read a table held ACCESS EXCLUSIVE: together they wait about one statement timeout (1 s),
    not four, and each says it timed out while the other checks answer."""
    import time

    _runs(clean_db, _schedule(clean_db, "g"), [("succeeded", "1 row", 0)])
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE busy (v int)")
    checks = "".join(f'\n[backlogs.busy{i}]\nsql = "SELECT count(*) AS value FROM busy"\n' for i in range(4))
    path = _write(tmp_path, PG_CRON_RUNBOOK.split("[jobs.h]")[0] + checks)
    holder = psycopg.connect(clean_db)
    try:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        _code, data, _ = _triage(clean_db, path)
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    backlog = {b["name"]: b for b in data["backlog"]}
    assert all("timeout" in (backlog[f"busy{i}"]["error"] or "") for i in range(4)), backlog
    assert data["jobs"][0]["last_run"] is not None
    assert elapsed < 4.0, f"four locked checks took {elapsed:.1f}s: each waited a whole statement timeout"
