"""Database jobs: pg_cron jobs that run plain SQL have no endpoint, yet load, list, import and triage like any job."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.errors import RunbookError
from cronctl.init.pgcron import CronRow, draft_from_cron
from cronctl.init.writer import job_block
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox.jobserver import JobServer

PURGE_SQL = "DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days'"

SQL_RUNBOOK = """
[runbook]
name = "db-jobs"

[jobs.purge-old-rows]
description = "Delete old rows"
schedule = "* * * * *"
history = { pg_cron = "purge-old-rows" }

[jobs.refresh-stats]
schedule = "*/5 * * * *"
timeout = "10m"
history = { pg_cron = true }
"""


def _write(tmp_path: Path, text: str, name: str = "rb.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _schedule(dsn: str, name: str, schedule: str, command: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT cron.schedule(%s, %s, %s)", [name, schedule, command]).fetchone()
    assert row is not None
    return int(row[0])


def _runs(dsn: str, jobid: int, command: str, rows: list[tuple[str, str, int]]) -> None:
    """(status, return_message, minutes ago) rows, oldest first, written as pg_cron writes them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for status, message, ago in rows:
            conn.execute(
                "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,"
                " return_message, start_time, end_time)"
                " VALUES (%s, nextval('cron.runid_seq'), 1, current_database(), current_user, %s, %s, %s,"
                " date_trunc('minute', now()) - make_interval(mins => %s),"
                " date_trunc('minute', now()) - make_interval(mins => %s) + interval '1 second')",
                [jobid, command, status, message, ago, ago],
            )


# ---------------------------------------------------------------- loader


def test_loader_accepts_a_job_with_only_pg_cron_history(tmp_path: Path) -> None:
    runbook = load_runbook(_write(tmp_path, SQL_RUNBOOK))
    purge, stats = runbook.jobs["purge-old-rows"], runbook.jobs["refresh-stats"]
    assert purge.runs_sql and stats.runs_sql
    assert purge.url is None and purge.dispatch is None
    assert purge.history.pg_cron == "purge-old-rows" and stats.history.pg_cron == "refresh-stats"
    assert purge.scheduler == "pg_cron" and stats.scheduler == "pg_cron"
    assert stats.timeout == 600
    assert purge.required_env() == ()


def test_http_and_dispatch_jobs_do_not_run_sql(tmp_path: Path) -> None:
    text = """
[runbook]
name = "mixed"
[jobs.web]
url = "https://app.example/api/cron"
history = { pg_cron = true }
[jobs.wf]
dispatch = { repo = "acme/app", workflow = "run.yml" }
"""
    runbook = load_runbook(_write(tmp_path, text))
    assert not runbook.jobs["web"].runs_sql and not runbook.jobs["wf"].runs_sql


@pytest.mark.parametrize(
    ("job_text", "key", "reason"),
    [
        ('schedule = "0 3 * * *"', "url", "history.pg_cron"),
        ('schedule = "0 3 * * *"\nhistory = { pg_cron = false }', "url", "history.pg_cron"),
        ('history = { run_log = "runs" }', "url", "a job needs a url, a [dispatch] table"),
        ('history = { pg_cron = true }\nheaders = { "X-A" = "1" }', "headers", "describes an HTTP request"),
        ('history = { pg_cron = true }\nmethod = "GET"', "method", "has no url"),
        ('history = { pg_cron = true }\nauth = { kind = "bearer", secret_env = "T" }', "auth", "has no url"),
        ("history = { pg_cron = true }\nbody = { a = 1 }", "body", "has no url"),
        ('history = { pg_cron = true }\nscheduler = "vercel"', "scheduler", "cannot run SQL"),
    ],
)
def test_loader_rejects_a_job_with_nothing_to_fire(tmp_path: Path, job_text: str, key: str, reason: str) -> None:
    text = f'[runbook]\nname = "x"\n[run_logs.runs]\ntable = "runs"\n[jobs.purge]\n{job_text}\n'
    path = _write(tmp_path, text)
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: jobs.purge.{key}: "), message
    assert reason in message
    assert "\n" not in message


def test_cli_names_file_and_key_for_a_job_without_url(tmp_path: Path) -> None:
    path = _write(tmp_path, '[runbook]\nname = "x"\n[jobs.purge]\nschedule = "0 3 * * *"\n')
    result = run_cli("jobs", "-r", str(path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}: jobs.purge.url" in lines[0] and "history.pg_cron" in lines[0]


# ---------------------------------------------------------------- cronctl jobs


def test_jobs_lists_a_database_job(tmp_path: Path) -> None:
    text = SQL_RUNBOOK + '\n[jobs.web]\nurl = "https://app.example/api/cron"\nmethod = "GET"\n'
    path = _write(tmp_path, text)
    result = run_cli("jobs", "-r", str(path), "-f", "json")
    assert result.exit_code == 0, result.output
    jobs = {j["name"]: j for j in json.loads(result.stdout)["jobs"]}
    purge = jobs["purge-old-rows"]
    assert (purge["kind"], purge["method"], purge["url"], purge["auth"]) == ("sql", None, None, "-")
    assert purge["scheduler"] == "pg_cron" and purge["schedule"] == "* * * * *"
    assert (jobs["web"]["kind"], jobs["web"]["method"], jobs["web"]["auth"]) == ("http", "GET", "none")

    table = run_cli("jobs", "-r", str(path), "-f", "plain")
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if "purge-old-rows" in line)
    assert "SQL (pg_cron)" in row and "POST" not in row
    web = next(line for line in table.stdout.splitlines() if line.lstrip().startswith("web"))
    assert "GET https://app.example/api/cron" in web


# ---------------------------------------------------------------- cronctl trigger


@pytest.mark.parametrize("extra", [(), ("--dry-run",), ("--yes", "--dispatch"), ("--yes", "-f", "json")])
def test_trigger_refuses_a_database_job_in_one_line(tmp_path: Path, extra: tuple[str, ...]) -> None:
    path = _write(tmp_path, SQL_RUNBOOK)
    result = run_cli("trigger", "purge-old-rows", "-r", str(path), *extra)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "purge-old-rows runs SQL inside the database; use `cronctl pgcron run purge-old-rows`" in lines[0]


def test_trigger_sends_nothing_when_one_of_several_jobs_is_sql(tmp_path: Path) -> None:
    with JobServer() as server:
        text = SQL_RUNBOOK + f'\n[jobs.web]\nmethod = "GET"\nurl = "{server.url}/api/cron"\nconfirm = false\n'
        path = _write(tmp_path, text)
        result = run_cli("trigger", "web", "refresh-stats", "-r", str(path), "--yes",
                         env={"CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")})  # fmt: skip
        assert result.exit_code == 2
        assert "refresh-stats runs SQL inside the database" in result.stderr
        assert server.requests == []
        # The HTTP job alone still goes out, so the refusal above is what kept the server quiet.
        alone = run_cli("trigger", "web", "-r", str(path), "--yes",
                        env={"CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")})  # fmt: skip
        assert alone.stdout and len(server.requests) == 1, alone.output


# ---------------------------------------------------------------- cronctl init --from-pgcron


def test_draft_of_a_sql_command_is_a_database_job() -> None:
    draft = draft_from_cron(CronRow(4, "purge-old-rows", "0 3 * * *", f"  {PURGE_SQL}\n"))
    assert draft.runs_sql and draft.url is None and draft.pg_cron == "purge-old-rows" and draft.todos == []
    block, commented = job_block(draft)
    assert not commented
    assert 'history = { pg_cron = "purge-old-rows" }' in block
    assert "method" not in block and "pg_net" not in block
    assert "cronctl pgcron run purge-old-rows" in block


def test_draft_of_an_unnamed_sql_job_stays_commented_out() -> None:
    draft = draft_from_cron(CronRow(9, None, "0 3 * * *", "SELECT 1"))
    block, commented = job_block(draft)
    assert commented and "\n[jobs." not in block
    assert any("no jobname" in todo for todo in draft.todos)


def test_draft_of_an_http_call_with_an_unread_url_is_not_a_sql_job() -> None:
    command = "SELECT net.http_post(url := (SELECT base FROM cfg) || '/x')"
    draft = draft_from_cron(CronRow(5, "odd", "0 * * * *", command))
    assert not draft.runs_sql
    _, commented = job_block(draft)
    assert commented


def test_init_writes_sql_jobs_that_load_and_list(clean_db: str, tmp_path: Path) -> None:
    _schedule(clean_db, "purge-old-rows", "0 3 * * *", PURGE_SQL)
    _schedule(clean_db, "refresh-stats", "*/10 * * * *", "CALL refresh_stats()")
    _schedule(clean_db, "ping", "* * * * *", "SELECT net.http_get(url := 'https://app.example/ping')")
    out = tmp_path / "db.toml"
    result = run_cli("init", "--from-pgcron", "-o", str(out), "-f", "json", env={"DATABASE_URL": clean_db})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["added"]) == ["ping", "purge-old-rows", "refresh-stats"]
    assert report["commented"] == []

    runbook = load_runbook(out)
    purge, stats = runbook.jobs["purge-old-rows"], runbook.jobs["refresh-stats"]
    assert purge.runs_sql and stats.runs_sql and not runbook.jobs["ping"].runs_sql
    assert (purge.schedule, purge.history.pg_cron, purge.scheduler) == ("0 3 * * *", "purge-old-rows", "pg_cron")
    assert purge.description == PURGE_SQL
    assert stats.description == "CALL refresh_stats()" and stats.schedule == "*/10 * * * *"
    assert purge.timeout == 30.0

    listed = run_cli("jobs", "-r", str(out), "-f", "json")
    assert listed.exit_code == 0, listed.output
    kinds = {j["name"]: j["kind"] for j in json.loads(listed.stdout)["jobs"]}
    assert kinds == {"purge-old-rows": "sql", "refresh-stats": "sql", "ping": "http"}

    refused = run_cli("trigger", "refresh-stats", "-r", str(out), env={"DATABASE_URL": clean_db})
    assert refused.exit_code == 2 and "cronctl pgcron run refresh-stats" in refused.stderr

    dry = run_cli("pgcron", "run", "refresh-stats", "-r", str(out), "--dry-run", "-f", "json",
                  env={"DATABASE_URL": clean_db})  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "CALL refresh_stats()" in dry.stdout


# ---------------------------------------------------------------- cronctl triage


def test_triage_judges_a_failing_sql_job(clean_db: str, tmp_path: Path) -> None:
    failing = "SELECT purge_old_rows()"
    fine = "CALL refresh_stats()"
    purge_id = _schedule(clean_db, "purge-old-rows", "* * * * *", failing)
    stats_id = _schedule(clean_db, "refresh-stats", "* * * * *", fine)
    error = "ERROR:  function purge_old_rows() does not exist"
    _runs(clean_db, purge_id, failing, [("succeeded", "1 row", 3), ("failed", error, 2), ("failed", error, 1),
                                        ("failed", error, 0)])  # fmt: skip
    _runs(clean_db, stats_id, fine, [("succeeded", "CALL", 2), ("succeeded", "CALL", 1), ("succeeded", "CALL", 0)])
    text = SQL_RUNBOOK.replace('schedule = "*/5 * * * *"', 'schedule = "* * * * *"')
    path = _write(tmp_path, text)

    result = run_cli("triage", "-r", str(path), "-f", "json", env={"DATABASE_URL": clean_db})
    assert result.stdout, result.stderr
    data = json.loads(result.stdout)
    jobs = {j["name"]: j for j in data["jobs"]}
    assert jobs["purge-old-rows"]["state"] == "failing", jobs["purge-old-rows"]
    assert jobs["purge-old-rows"]["consecutive_failures"] == 3
    assert jobs["refresh-stats"]["state"] == "ok", jobs["refresh-stats"]
    assert data["status"] == "crit" and result.exit_code == 2
    groups = [g for g in data["failures"] if "purge-old-rows" in g["jobs"]]
    assert groups and sum(g["count"] for g in groups) == 3
    assert any("purge_old_rows() does not exist" in g["sample"] for g in groups)
    assert all("refresh-stats" not in g["jobs"] for g in data["failures"])

    only_ok = run_cli("triage", "-r", str(path), "--job", "refresh-stats", "-f", "json",
                      env={"DATABASE_URL": clean_db})  # fmt: skip
    assert json.loads(only_ok.stdout)["status"] == "ok" and only_ok.exit_code == 0, only_ok.stdout


def test_init_description_of_a_sql_job_carries_no_token_literal() -> None:
    from cronctl.init.pgcron import CronRow, draft_from_cron

    token = "sk_live_" + "x9" * 12
    row = CronRow(
        jobid=7,
        jobname="rotate",
        schedule="0 * * * *",
        command=f"SELECT set_config('app.key', '{token}', false)",
        active=True,
    )
    draft = draft_from_cron(row)
    assert draft.runs_sql
    assert token not in draft.description
