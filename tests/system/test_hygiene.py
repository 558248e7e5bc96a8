"""Hygiene checks (issue 16 item 6): job_run_details growth with no purge job, pg_net.ttl shorter than a job's
interval, cron.timezone differing from the runbook, a next run later than the runbook says. Pure rules with a fixed
`now`; then triage and doctor against the sandbox cluster (pg_cron 1.4.2: GMT, no cron.timezone)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.evaluate.hygiene import hygiene_checks, same_timezone
from cronctl.records import CronRow, HygieneFacts
from cronctl.runbook.model import HistorySpec, JobSpec

NOW = datetime(2026, 11, 30, 5, 41, 37, tzinfo=UTC)
TICK = JobSpec(name="tick", schedule="* * * * *", history=HistorySpec(pg_cron="tick"), scheduler="pg_cron")
DAILY_NET = JobSpec(name="daily-net", schedule="0 0 * * *", url="http://x/fn",
                    history=HistorySpec(pg_cron="daily-net", pg_net=True), scheduler="pg_cron")  # fmt: skip


def facts(**kw: Any) -> HygieneFacts:
    base: dict[str, Any] = {
        "role": "postgres",
        "cron_installed": True,
        "settings_visible": True,
        "cron_jobs": (CronRow("tick", "* * * * *", "SELECT 1", True),),
        "run_details_rows": 5000,
    }
    base.update(kw)
    return HygieneFacts(**base)


def by_id(checks: list[Any]) -> dict[str, Any]:
    return {c.id: c for c in checks}


# ---------------------------------------------------------------- pure


def test_a_one_second_job_without_a_purge_job_warns() -> None:
    rows = (CronRow("hot", "1 seconds", "SELECT 1", True),)
    check = by_id(hygiene_checks(facts(cron_jobs=rows), [], NOW))["run_details_purge"]
    assert check.verdict == "warn" and "86,400 rows a day" in check.detail and "hot" in check.detail
    assert "cron.schedule(" in check.fix and "job_run_details" in check.fix


def test_a_small_table_growing_slowly_is_fine_for_now() -> None:
    check = by_id(hygiene_checks(facts(), [], NOW))["run_details_purge"]
    assert check.verdict == "ok" and "fine for now" in check.detail and "1,440 rows a day" in check.detail


def test_a_big_table_warns_even_when_it_grows_slowly() -> None:
    check = by_id(hygiene_checks(facts(run_details_rows=4_200_000), [], NOW))["run_details_purge"]
    assert check.verdict == "warn" and "4,200,000 rows" in check.detail


@pytest.mark.parametrize(
    "command",
    [
        "DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days'",
        "delete   from cron.job_run_details where status = 'succeeded'",
        'DELETE FROM "cron"."job_run_details" WHERE end_time < now() - interval \'3 days\'',
        "TRUNCATE cron.job_run_details",
    ],
)
def test_a_purge_job_is_recognised(command: str) -> None:
    rows = (CronRow("hot", "1 seconds", "SELECT 1", True), CronRow("purge", "0 3 * * *", command, True))
    check = by_id(hygiene_checks(facts(cron_jobs=rows, run_details_rows=9_000_000), [], NOW))["run_details_purge"]
    assert check.verdict == "ok" and "purge" in check.detail


def test_an_inactive_purge_job_does_not_count() -> None:
    rows = (CronRow("hot", "1 seconds", "SELECT 1", True),
            CronRow("purge", "0 3 * * *", "DELETE FROM cron.job_run_details", False))  # fmt: skip
    assert by_id(hygiene_checks(facts(cron_jobs=rows), [], NOW))["run_details_purge"].verdict == "warn"


def test_log_run_off_writes_no_history() -> None:
    rows = (CronRow("hot", "1 seconds", "SELECT 1", True),)
    check = by_id(hygiene_checks(facts(cron_jobs=rows, log_run="off"), [], NOW))["run_details_purge"]
    assert check.verdict == "ok" and "cron.log_run" in check.detail


def test_a_role_that_sees_only_its_own_jobs_is_told_so() -> None:
    rows = (CronRow("hot", "1 seconds", "SELECT 1", True),)
    check = by_id(hygiene_checks(facts(cron_jobs=rows, sees_all_jobs=False, role="ro"), [], NOW))["run_details_purge"]
    assert check.verdict == "warn" and "sees only its own" in check.detail


def test_unreadable_cron_job_skips_what_needs_it() -> None:
    found = by_id(hygiene_checks(facts(cron_jobs=None, role="ro"), [TICK], NOW))
    assert found["run_details_purge"].verdict == "skipped" and found["next_run"].verdict == "skipped"


def test_pg_net_ttl_shorter_than_a_daily_job() -> None:
    rows = (CronRow("daily-net", "0 0 * * *", "SELECT net.http_post(url := 'http://x/fn')", True),)
    assumed = by_id(hygiene_checks(facts(cron_jobs=rows, pg_net_installed=True), [DAILY_NET], NOW))["pg_net_ttl"]
    assert assumed.verdict == "warn" and assumed.jobs == ("daily-net",) and "default 6 hours assumed" in assumed.detail
    assert "pg_net.ttl TO '25 hours'" in assumed.fix
    seen = facts(cron_jobs=rows, pg_net_installed=True, pg_net_ttl_seconds=2 * 86400.0, pg_net_ttl_text="2 days")
    ok = by_id(hygiene_checks(seen, [DAILY_NET], NOW))["pg_net_ttl"]
    assert ok.verdict == "ok" and "2 days" in ok.detail


def test_no_pg_net_job_no_ttl_check() -> None:
    assert "pg_net_ttl" not in by_id(hygiene_checks(facts(pg_net_installed=True), [TICK], NOW))


def test_every_minute_pg_net_job_is_covered_by_the_default_ttl() -> None:
    job = JobSpec(name="tick", schedule="* * * * *", url="http://x", history=HistorySpec(pg_cron="tick", pg_net=True))
    check = by_id(hygiene_checks(facts(pg_net_installed=True), [job], NOW))["pg_net_ttl"]
    assert check.verdict == "ok"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("UTC", "GMT", True), ("Etc/UTC", "UTC", True), ("UTC", "Asia/Seoul", False), ("Europe/London", "GMT", False),
     ("Asia/Seoul", "Asia/Tokyo", True), ("Asia/Seoul", "asia/seoul", True)],
)  # fmt: skip
def test_time_zones_compare_by_their_clock(a: str, b: str, same: bool) -> None:
    assert same_timezone(a, b, NOW) is same


def test_cron_timezone_differs_from_the_runbook() -> None:
    seoul = JobSpec(name="tick", schedule="0 2 * * *", timezone="Asia/Seoul", history=HistorySpec(pg_cron="tick"))
    found = by_id(hygiene_checks(facts(), [seoul], NOW))
    assert found["cron_timezone"].verdict == "warn" and "GMT" in found["cron_timezone"].detail
    assert found["cron_timezone"].jobs == ("tick",)
    assert by_id(hygiene_checks(facts(cron_timezone="Asia/Seoul"), [seoul], NOW))["cron_timezone"].verdict == "ok"
    hidden = by_id(hygiene_checks(facts(settings_visible=False, role="ro"), [seoul], NOW))["cron_timezone"]
    assert hidden.verdict == "skipped" and "GRANT pg_read_all_settings TO ro" in hidden.fix


def test_next_run_later_than_the_runbook_says() -> None:
    rows = (CronRow("tick", "*/15 * * * *", "SELECT 1", True),)
    check = by_id(hygiene_checks(facts(cron_jobs=rows), [TICK], NOW))["next_run"]
    # At 05:41:37 the runbook expects 05:42; cron.job's */15 fires at 05:45.
    assert check.verdict == "warn" and "2026-11-30T05:45:00Z" in check.detail and "05:42:00Z" in check.detail
    same = by_id(hygiene_checks(facts(), [TICK], NOW))["next_run"]
    assert same.verdict == "ok"
    earlier = JobSpec(name="tick", schedule="0 * * * *", history=HistorySpec(pg_cron="tick"))
    assert by_id(hygiene_checks(facts(), [earlier], NOW))["next_run"].verdict == "ok"  # sooner is not "further away"


def test_an_inactive_or_unscheduled_job_is_not_compared() -> None:
    rows = (CronRow("tick", "0 0 1 1 *", "SELECT 1", False),)
    assert by_id(hygiene_checks(facts(cron_jobs=rows), [TICK], NOW))["next_run"].verdict == "ok"


# ---------------------------------------------------------------- against the sandbox

RUNBOOK = """
[runbook]
name = "hygiene"

[jobs.tick]
schedule = "* * * * *"
history = { pg_cron = "tick" }

[jobs.nightly]
schedule = "0 2 * * *"
timezone = "Asia/Seoul"
history = { pg_cron = "nightly" }

[jobs.daily-net]
schedule = "0 0 * * *"
url = "http://127.0.0.1:9/functions/v1/daily"
history = { pg_cron = "daily-net", pg_net = true }
"""


def _schedule(conn: Any, name: str, schedule: str, command: str = "SELECT 1") -> None:
    conn.execute(
        "INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, active, jobname)"
        " VALUES (%s, %s, 'localhost', inet_server_port(), current_database(), current_user, true, %s)",
        [schedule, command, name],
    )


@pytest.fixture
def hygiene_db(clean_db: str, tmp_path: Path) -> Any:
    from cronctl_sandbox.fixtures import create_pg_net_tables

    with psycopg.connect(clean_db, autocommit=True) as conn:
        create_pg_net_tables(conn)
        _schedule(conn, "tick", "* * * * *")
        _schedule(conn, "nightly", "0 0 1 1 *")  # once a year: further away than the runbook's daily 02:00
        _schedule(
            conn, "daily-net", "0 0 * * *", "SELECT net.http_post(url := 'http://127.0.0.1:9/functions/v1/daily')"
        )
        for i in range(7):  # eight every-minute jobs in all: 11,520 rows a day
            _schedule(conn, f"busy-{i}", "* * * * *")
    path = tmp_path / "hygiene.toml"
    path.write_text(RUNBOOK)
    yield clean_db, str(path)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET pg_net.ttl', current_database()); END $$")


def test_triage_shows_hygiene_without_changing_its_status(hygiene_db: Any, tmp_path: Path) -> None:
    dsn, runbook = hygiene_db
    env = {"DATABASE_URL": dsn, "CRONCTL_STATE_DIR": str(tmp_path / "state")}
    result = run_cli("triage", "-r", runbook, "-f", "json", env=env)
    data = json.loads(result.stdout)
    found = {c["id"]: c for c in data["hygiene"]}
    assert found["run_details_purge"]["verdict"] == "warn" and "11,5" in found["run_details_purge"]["detail"]
    assert found["pg_net_ttl"]["verdict"] == "warn" and found["pg_net_ttl"]["jobs"] == ["daily-net"]
    assert found["cron_timezone"]["verdict"] == "warn" and found["cron_timezone"]["jobs"] == ["nightly"]
    assert found["next_run"]["verdict"] == "warn" and found["next_run"]["jobs"] == ["nightly"]
    assert not any("hygiene" in r or "pg_net.ttl" in r or "purge" in r for r in data["reasons"])
    human = run_cli("triage", "-r", runbook, env=env)
    assert "Hygiene" in human.stdout and result.exit_code == human.exit_code

    # A purge job and a longer pg_net.ttl: those two checks pass.
    with psycopg.connect(dsn, autocommit=True) as conn:
        _schedule(conn, "purge-history", "17 3 * * *",
                  "DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days'")  # fmt: skip
        conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET pg_net.ttl = %L', current_database(),"
                     " '2 days'); END $$")  # fmt: skip
    again = {c["id"]: c for c in json.loads(run_cli("triage", "-r", runbook, "-f", "json", env=env).stdout)["hygiene"]}
    assert again["run_details_purge"]["verdict"] == "ok" and "purge-history" in again["run_details_purge"]["detail"]
    assert again["pg_net_ttl"]["verdict"] == "ok" and "2 days" in again["pg_net_ttl"]["detail"]


def test_triage_at_a_past_time_reads_no_hygiene(hygiene_db: Any) -> None:
    dsn, runbook = hygiene_db
    past = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    data = json.loads(run_cli("triage", "-r", runbook, "-f", "json", "--at", past, env={"DATABASE_URL": dsn}).stdout)
    assert data["hygiene"] == []


def test_doctor_lists_the_same_checks_as_warnings(hygiene_db: Any) -> None:
    dsn, runbook = hygiene_db
    result = run_cli("doctor", "-r", runbook, "-f", "json", "--no-endpoints", env={"DATABASE_URL": dsn})
    data = json.loads(result.stdout)
    checks = {c["id"]: c for c in data["checks"] if c["id"].startswith("hygiene:")}
    assert {k: c["status"] for k, c in checks.items()} == {
        "hygiene:run_details_purge": "warn",
        "hygiene:pg_net_ttl": "warn",
        "hygiene:cron_timezone": "warn",
        "hygiene:next_run": "warn",
        "hygiene:cron_credentials": "pass",  # no token typed into these commands
    }
    assert checks["hygiene:pg_net_ttl"]["fix"] and result.exit_code >= 1
    assert checks["hygiene:cron_credentials"]["name"] == "no credentials in cron.job commands"  # not its bare id


def test_a_read_only_role_gets_what_it_can_see(hygiene_db: Any, read_only_role: str) -> None:
    _, runbook = hygiene_db
    data = json.loads(run_cli("triage", "-r", runbook, "-f", "json", env={"DATABASE_URL": read_only_role}).stdout)
    found = {c["id"]: c for c in data["hygiene"]}
    # cron.* settings are superuser-only: the time zone cannot be compared; cron.job shows only its own rows.
    assert found["cron_timezone"]["verdict"] == "skipped" and "pg_read_all_settings" in found["cron_timezone"]["fix"]
    assert found["run_details_purge"]["verdict"] in ("ok", "warn", "skipped")
