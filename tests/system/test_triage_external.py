"""Triage, doctor and logs from history outside the database, against the real local stand-ins of GitHub's,
Vercel's and Supabase's APIs (real sockets), with no database configured: the seed 001 system (Next.js routes on
Vercel cron, no database), GitHub Actions workflows that GitHub stopped scheduling or whose ticks it dropped, a
token the vendor refuses, and the Edge Function side of a pg_net call.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_runner import CliResult, run_cli
from cronctl import redact
from cronctl_sandbox.github_api import GitHubApi
from cronctl_sandbox.supabase_api import SupabaseAPI
from cronctl_sandbox.vercel_api import VercelAPI

# Built at run time: nothing token-shaped is committed, and each run has its own value to look for in output.
VERCEL_TOKEN = "vcl_" + secrets.token_hex(16)
GITHUB_TOKEN = "test-" + secrets.token_hex(20)
SUPABASE_TOKEN = "sbp_" + secrets.token_hex(20)
PROJECT, TEAM = "sivera-alpha", "team_cronctlStandIn001"
REPO, WORKFLOW = "acme/ops", "nightly.yml"
NOW = datetime.now(UTC)
HOUR = timedelta(hours=1)

SEED_001 = """
[runbook]
name = "ads-platform"

[connection]
{connection}

[vercel]
project = "{project}"
team = "{team}"
api_url = "{api}"

[jobs.refresh-tokens]
schedule = "0 */6 * * *"
method = "GET"
url = "https://ads.example.com/api/cron/refresh-tokens"
timeout = "5m"
scheduler = "vercel"
history = {{ vercel = true }}

[jobs.sync-campaigns]
schedule = "0 * * * *"
method = "GET"
url = "https://ads.example.com/api/cron/sync-campaigns"
timeout = "5m"
scheduler = "vercel"
history = {{ vercel = true }}

[jobs.cleanup-expired-tokens]
schedule = "0 2 * * *"
method = "GET"
url = "https://ads.example.com/api/cron/cleanup-expired-tokens"
timeout = "1m"
scheduler = "vercel"
history = {{ vercel = true }}

[[failure_modes]]
symptom = "401 Unauthorized"
cause = "CRON_SECRET does not match the deployment's value"
action = "pull the deployed values (vercel env pull .env.local --force)"
severity = "crit"
group = "AUTH"
"""

GITHUB_RUNBOOK = """
[runbook]
name = "ops-workflows"

[connection]
database_url = "${{DATABASE_URL}}"

[jobs.nightly]
schedule = "{schedule}"
scheduler = "github"
dispatch = {{ repo = "{repo}", workflow = "{workflow}", api_url = "{api}" }}
history = {{ github = true }}

[jobs.nightly-report]
schedule = "{schedule}"
dispatch = {{ repo = "{repo}", workflow = "{workflow}", api_url = "{api}" }}
history = {{ github = true }}
"""


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # GitHub's ETags and local silences live in the state directory: one per test.
    monkeypatch.setenv("CRONCTL_STATE_DIR", str(tmp_path / "state"))
    yield
    redact.clear_for_tests()


@pytest.fixture
def vercel() -> Iterator[VercelAPI]:
    with VercelAPI(VERCEL_TOKEN, project_name=PROJECT, team_id=TEAM) as api:
        api.add_deployment(NOW - timedelta(days=3))
        yield api


@pytest.fixture
def github() -> Iterator[GitHubApi]:
    with GitHubApi(token=GITHUB_TOKEN) as api:
        api.add_workflow(REPO, WORKFLOW, name="Nightly sync")
        yield api


def slots(step: timedelta, back: timedelta, at: datetime | None = None) -> list[datetime]:
    """The schedule's slots in (at - back, at], newest first, for schedules aligned to midnight UTC."""
    at = at or NOW
    day = at.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    found = []
    slot = day
    while slot <= at:
        if slot > at - back:
            found.append(slot)
        slot += step
    return sorted(found, reverse=True)


def seed_001(tmp_path: Path, api: VercelAPI, connection: str = 'database_url = "${DATABASE_URL}"') -> Path:
    path = tmp_path / "ads-platform.toml"
    path.write_text(SEED_001.format(connection=connection, project=PROJECT, team=TEAM, api=api.url))
    return path


def github_runbook(tmp_path: Path, api: GitHubApi, schedule: str = "0 * * * *") -> Path:
    path = tmp_path / "ops.toml"
    path.write_text(GITHUB_RUNBOOK.format(schedule=schedule, repo=REPO, workflow=WORKFLOW, api=api.url))
    return path


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's clock is read when it starts: triage judges at the real time, shortly after."""
    global NOW
    NOW = datetime.now(UTC)


def cli(*args: str, **env: str | None) -> CliResult:
    """The CLI with no database configured (DATABASE_URL unset) unless `env` says otherwise."""
    return run_cli(*args, env={"DATABASE_URL": None, "REDIS_URL": None, **env})


def triage(path: Path, *args: str, **env: str | None) -> tuple[int, dict[str, Any], CliResult]:
    result = cli("triage", "-r", str(path), "-f", "json", *args, **env)
    assert result.stdout, result.stderr  # a report, never a one-line error
    return result.exit_code, json.loads(result.stdout), result


def jobs_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in data["jobs"]}


def fill_seed_001(api: VercelAPI, *, refresh_status: int = 200) -> None:
    """Every slot of the last day answered: sync-campaigns hourly, refresh-tokens every 6 h, cleanup at 02:00."""
    for slot in slots(HOUR, timedelta(hours=8)):
        api.add_invocation("/api/cron/sync-campaigns", slot + timedelta(seconds=2), duration=3.0)
    for slot in slots(6 * HOUR, timedelta(hours=20)):
        api.add_invocation("/api/cron/refresh-tokens", slot + timedelta(seconds=1), status=refresh_status)
    for midnight in slots(24 * HOUR, timedelta(hours=48), at=NOW - 2 * HOUR):  # "0 2 * * *": 02:00 each day
        api.add_invocation("/api/cron/cleanup-expired-tokens", midnight + 2 * HOUR + timedelta(seconds=3), duration=1.5)
    # Someone's curl to the same route is not a run of the scheduler's.
    api.add_invocation("/api/cron/sync-campaigns", NOW - timedelta(minutes=20), user_agent="curl/8.5.0", status=500)


# ---------------------------------------------------------------- seed 001: Vercel cron, no database


def test_seed_001_triages_from_vercel_invocations_without_a_database(tmp_path: Path, vercel: VercelAPI) -> None:
    fill_seed_001(vercel, refresh_status=401)
    code, data, result = triage(seed_001(tmp_path, vercel), VERCEL_TOKEN=VERCEL_TOKEN)

    jobs = jobs_of(data)
    assert jobs["sync-campaigns"]["state"] == "ok", jobs["sync-campaigns"]["reason"]
    assert jobs["cleanup-expired-tokens"]["state"] == "ok", jobs["cleanup-expired-tokens"]["reason"]
    refresh = jobs["refresh-tokens"]
    assert refresh["state"] == "failing" and refresh["consecutive_failures"] >= 3, refresh["reason"]
    assert "refused Vercel's cron request (401)" in refresh["reason"]
    assert all(s["source"] == "vercel" and s["state"] == "ok" for job in jobs.values() for s in job["sources"])
    # The 401 streak groups as AUTH and matches the runbook's own mode for it; the manual curl is no run.
    (auth,) = data["failures"]
    assert auth["group"] == "AUTH" and auth["jobs"] == ["refresh-tokens"] and auth["count"] >= 3
    assert any(f["kind"] == "runbook" and f["symptom"] == "401 Unauthorized" for f in data["findings"])
    # One note says the database was not read, and why; nothing else speaks of it.
    assert data["sources"] == [{"source": "database", "state": "skipped", "message": data["sources"][0]["message"]}]
    assert data["sources"][0]["message"].startswith("not configured — skipped, no job judged here reads it:")
    assert "local state file" in data["sources"][0]["message"]
    assert data["round_trips"] == 0 and data["pg_net"] is None and data["hygiene"] == []
    assert data["status"] == "crit" and code == 2
    assert "DATABASE_URL" not in result.stderr and VERCEL_TOKEN not in result.stdout + result.stderr

    text = cli("triage", "-r", str(seed_001(tmp_path, vercel)), VERCEL_TOKEN=VERCEL_TOKEN, COLUMNS="80")
    assert text.exit_code == 2
    assert text.stdout.count("database: not configured — skipped") == 1


def test_a_healthy_vercel_system_exits_zero_and_an_empty_url_means_no_database(
    tmp_path: Path, vercel: VercelAPI
) -> None:
    fill_seed_001(vercel)
    path = seed_001(tmp_path, vercel, connection='database_url = ""')
    code, data, _ = triage(path, VERCEL_TOKEN=VERCEL_TOKEN, DATABASE_URL="postgresql://never-used@127.0.0.1:1/x")
    assert {j["name"]: j["state"] for j in data["jobs"]} == {
        "refresh-tokens": "ok",
        "sync-campaigns": "ok",
        "cleanup-expired-tokens": "ok",
    }
    assert data["status"] == "ok" and code == 0
    assert data["sources"][0]["state"] == "skipped"
    # Configured but unreachable, while nothing needs it: the same one note, as an error; the verdicts stand.
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    code, data, _ = triage(seed_001(tmp_path, vercel), VERCEL_TOKEN=VERCEL_TOKEN, DATABASE_URL=unreachable)
    (note,) = data["sources"]
    assert note["state"] == "error" and "cannot connect" in note["message"] and "skipped" in note["message"]
    assert data["status"] == "ok" and code == 0


def test_a_job_that_needs_the_database_keeps_the_clear_error(tmp_path: Path, vercel: VercelAPI) -> None:
    path = seed_001(tmp_path, vercel)
    path.write_text(path.read_text() + '\n[jobs.purge]\nschedule = "0 3 * * *"\nhistory = { pg_cron = "purge" }\n')
    result = cli("triage", "-r", str(path), VERCEL_TOKEN=VERCEL_TOKEN)
    assert result.exit_code == 3 and not result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert "DATABASE_URL is not set" in line and "needed for pg_cron history (purge)" in line
    # The jobs that need nothing from it still triage on their own.
    code, data, _ = triage(path, "--job", "sync-campaigns", VERCEL_TOKEN=VERCEL_TOKEN)
    assert code != 3 and [j["name"] for j in data["jobs"]] == ["sync-campaigns"]


def test_a_refused_vercel_token_is_one_finding_naming_the_variable(tmp_path: Path, vercel: VercelAPI) -> None:
    fill_seed_001(vercel)
    code, data, result = triage(seed_001(tmp_path, vercel), VERCEL_TOKEN="vcl_revoked-" + secrets.token_hex(8))

    assert {j["state"] for j in data["jobs"]} == {"unknown"}
    causes = [f for f in data["findings"] if f["kind"] == "root_cause"]
    (refused,) = causes
    assert refused["id"] == "vendor_token_refused" and "VERCEL_TOKEN" in refused["symptom"]
    assert sorted(refused["jobs"]) == ["cleanup-expired-tokens", "refresh-tokens", "sync-campaigns"]
    assert "cronctl doctor" in refused["commands"]
    # One reason for the three jobs, not three unknown jobs.
    assert not any(r.endswith(" unknown") for r in data["reasons"]), data["reasons"]
    assert any("refused the token in VERCEL_TOKEN" in r for r in data["reasons"])
    assert code == 3 and data["status"] == "unknown"  # nothing is visible: the snapshot knows no verdict
    assert "vcl_revoked-" not in result.stdout + result.stderr


def test_an_unreachable_vercel_api_is_one_finding_for_its_jobs(tmp_path: Path, vercel: VercelAPI) -> None:
    path = seed_001(tmp_path, vercel)
    path.write_text(path.read_text().replace(vercel.url, "http://127.0.0.1:1"))  # nothing listens there
    code, data, _ = triage(path, VERCEL_TOKEN=VERCEL_TOKEN)

    assert {j["state"] for j in data["jobs"]} == {"unknown"}
    (outage,) = [f for f in data["findings"] if f["kind"] == "root_cause"]
    assert outage["id"] == "vendor_api_unreachable" and "vercel API" in outage["symptom"], outage
    assert sorted(outage["jobs"]) == ["cleanup-expired-tokens", "refresh-tokens", "sync-campaigns"]
    assert "Connection refused" in outage["cause"] and "cronctl doctor" in outage["commands"]
    assert not any(r.endswith(" unknown") for r in data["reasons"]), data["reasons"]
    assert code == 3 and data["status"] == "unknown"
    # One job reading the source: its failure is its own reason, not a platform finding.
    code, data, _ = triage(path, "--job", "sync-campaigns", VERCEL_TOKEN=VERCEL_TOKEN)
    assert not [f for f in data["findings"] if f["kind"] == "root_cause"], data["findings"]
    assert "Connection refused" in json.dumps(data["jobs"][0])


def test_a_job_reading_two_vendors_names_each_unusable_token(tmp_path: Path, github: GitHubApi) -> None:
    path = github_runbook(tmp_path, github)
    text = path.read_text().replace("history = { github = true }", 'history = { github = true, supabase = "nightly" }')
    path.write_text(text + '\n[supabase]\nproject_ref = "abcdefghijklmnopqrst"\napi_url = "http://127.0.0.1:1"\n')
    wrong = "test-wrong-" + secrets.token_hex(6)
    _code, data, _ = triage(path, DATABASE_URL="", GITHUB_TOKEN=wrong, SUPABASE_ACCESS_TOKEN=None)

    tokens = {(f["id"], f["symptom"].split(":")[0]) for f in data["findings"] if f["kind"] == "root_cause"}
    assert tokens == {
        ("vendor_token_refused", "the github API refused the token in GITHUB_TOKEN"),
        ("vendor_token_missing", "SUPABASE_ACCESS_TOKEN is not set"),
    }, tokens


# ---------------------------------------------------------------- GitHub Actions


def test_a_workflow_disabled_for_inactivity_is_one_root_cause_with_the_gh_command(
    tmp_path: Path, github: GitHubApi
) -> None:
    for slot in slots(HOUR, timedelta(hours=12))[3:]:  # GitHub stopped scheduling it three hours ago
        github.add_run(REPO, WORKFLOW, created_at=slot + timedelta(minutes=4))
    github.set_workflow_state(REPO, WORKFLOW, "disabled_inactivity")
    path = github_runbook(tmp_path, github)
    code, data, _ = triage(path, GITHUB_TOKEN=GITHUB_TOKEN)

    (cause,) = [f for f in data["findings"] if f["kind"] == "root_cause"]
    assert cause["id"] == "workflow_disabled" and cause["severity"] == "crit"
    assert sorted(cause["jobs"]) == ["nightly", "nightly-report"]
    assert "60 days" in cause["cause"]
    assert f"gh workflow enable {WORKFLOW} -R {REPO}" in cause["commands"]
    assert f"https://github.com/{REPO}/actions/workflows/{WORKFLOW}" in cause["evidence"]
    jobs = jobs_of(data)
    for name in ("nightly", "nightly-report"):
        assert jobs[name]["state"] == "missed", jobs[name]["reason"]
        assert "explained by root cause workflow_disabled" in jobs[name]["reason"]
    # One reason: the cause, not each missed job.
    assert not any(r.endswith(" missed") for r in data["reasons"]), data["reasons"]
    assert data["status"] == "crit" and code == 2

    # A postmortem does not judge the past by today's workflow state.
    at = (NOW - 2 * HOUR).strftime("%Y-%m-%dT%H:%MZ")
    _, past, _ = triage(path, "--at", at, GITHUB_TOKEN=GITHUB_TOKEN)
    assert not [f for f in past["findings"] if f["kind"] == "root_cause"]


def test_a_dropped_github_tick_is_missed_only_past_thirty_minutes(tmp_path: Path, github: GitHubApi) -> None:
    base = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    for hours in (3, 2, 1):  # the hourly runs at 06:00..08:00 (GitHub late by minutes), then 09:00 dropped
        github.add_run(REPO, WORKFLOW, created_at=base - hours * HOUR + timedelta(minutes=7))
    path = github_runbook(tmp_path, github)

    def judged(minutes: int) -> dict[str, Any]:
        at = (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%MZ")
        _, data, _ = triage(path, "--at", at, "--job", "nightly", GITHUB_TOKEN=GITHUB_TOKEN)
        return data["jobs"][0]

    inside = judged(25)
    assert inside["state"] == "ok" and "within grace 30m" in inside["reason"], inside["reason"]
    assert inside["grace_seconds"] == 1800
    past = judged(40)
    assert past["state"] == "missed" and past["missed_runs"] == 1, past["reason"]


def test_a_failed_workflow_run_is_failing(tmp_path: Path, github: GitHubApi) -> None:
    for slot in [s for s in slots(HOUR, timedelta(hours=4)) if s < NOW - timedelta(minutes=3)]:
        github.add_run(REPO, WORKFLOW, created_at=slot + timedelta(minutes=1), conclusion="success")
    github.add_run(REPO, WORKFLOW, created_at=NOW - timedelta(minutes=1), conclusion="timed_out")
    _, data, _ = triage(github_runbook(tmp_path, github), "--job", "nightly", GITHUB_TOKEN=GITHUB_TOKEN)
    job = data["jobs"][0]
    assert job["state"] == "failing" and "timed out" in job["reason"], job["reason"]
    assert [g["group"] for g in data["failures"]] == ["TIMEOUT"]


def test_a_refused_github_token_is_one_finding(tmp_path: Path, github: GitHubApi) -> None:
    _, data, _ = triage(github_runbook(tmp_path, github), GITHUB_TOKEN="test-wrong-" + secrets.token_hex(6))
    (cause,) = [f for f in data["findings"] if f["kind"] == "root_cause"]
    assert cause["id"] == "vendor_token_refused" and "GITHUB_TOKEN" in cause["symptom"]
    assert sorted(cause["jobs"]) == ["nightly", "nightly-report"]


def test_logs_shows_github_runs_without_a_database(tmp_path: Path, github: GitHubApi) -> None:
    github.add_run(REPO, WORKFLOW, created_at=NOW - 2 * HOUR, conclusion="failure")
    github.add_run(REPO, WORKFLOW, created_at=NOW - HOUR, event="workflow_dispatch", display_title="by hand")
    path = github_runbook(tmp_path, github)
    result = cli("logs", "nightly", "-r", str(path), GITHUB_TOKEN=GITHUB_TOKEN, COLUMNS="120")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "│ github" in line]
    assert len(rows) == 2 and "failed" in rows[1] and "succeeded" in rows[0]
    data = json.loads(cli("logs", "nightly", "-r", str(path), "-f", "json", GITHUB_TOKEN=GITHUB_TOKEN).stdout)
    assert [(r["source"], r["status"]) for r in data["runs"]] == [("github", "succeeded"), ("github", "failed")]
    assert data["sources"] == [{"source": "github", "state": "ok", "message": None, "runs": 2}]

    # A job that also reads pg_cron: the database's error is one note, GitHub's runs still show.
    first, rest = path.read_text().split("[jobs.nightly-report]")
    path.write_text(
        first.replace("{ github = true }", '{ github = true, pg_cron = "nightly" }') + "[jobs.nightly-report]" + rest
    )
    data = json.loads(cli("logs", "nightly", "-r", str(path), "-f", "json", GITHUB_TOKEN=GITHUB_TOKEN).stdout)
    assert [s["source"] for s in data["sources"]] == ["database", "github"]
    assert "DATABASE_URL is not set" in data["sources"][0]["message"]
    assert len(data["runs"]) == 2


# ---------------------------------------------------------------- Supabase: the function's side


def test_an_early_drop_after_an_error_answer_is_failing_with_the_reason(tmp_path: Path) -> None:
    with SupabaseAPI(SUPABASE_TOKEN) as api:
        for slot in slots(timedelta(minutes=5), timedelta(minutes=30))[1:]:
            api.add_invocation("send-reminders", slot + timedelta(seconds=1))
        api.add_invocation(
            "send-reminders", NOW - timedelta(minutes=1), status=500, execution_time=2.0, shutdown="EarlyDrop"
        )
        path = tmp_path / "reminders.toml"
        path.write_text(
            f'[runbook]\nname = "reminders"\n[supabase]\nproject_ref = "{api.project_ref}"\napi_url = "{api.url}"\n'
            '[jobs.send-reminders]\nschedule = "*/5 * * * *"\nhistory = { supabase = true }\n'
            f'url = "https://{api.project_ref}.supabase.co/functions/v1/send-reminders"\n'
        )
        _, data, _ = triage(path, SUPABASE_ACCESS_TOKEN=SUPABASE_TOKEN)
    job = data["jobs"][0]
    assert job["state"] == "failing", job["reason"]
    assert "HTTP 500" in job["reason"] and "EarlyDrop" in job["reason"]


# ---------------------------------------------------------------- doctor


def test_doctor_passes_the_database_as_not_needed_and_checks_the_vendor_token(
    tmp_path: Path, vercel: VercelAPI
) -> None:
    path = seed_001(tmp_path, vercel)

    def doctor(**env: str | None) -> tuple[int, dict[str, dict[str, Any]], str]:
        result = cli("doctor", "-r", str(path), "--no-endpoints", "-f", "json", **env)
        checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
        return result.exit_code, checks, result.stdout + result.stderr

    code, checks, out = doctor(VERCEL_TOKEN=VERCEL_TOKEN)
    assert checks["database"]["status"] == "skip" and "not needed by this runbook" in checks["database"]["detail"]
    assert "env:DATABASE_URL" not in checks
    assert checks["token:vercel:VERCEL_TOKEN"]["status"] == "pass"
    assert checks["api:vercel:VERCEL_TOKEN"]["status"] == "pass"
    assert code == 0 and VERCEL_TOKEN not in out and VERCEL_TOKEN[:8] not in out

    code, checks, out = doctor(VERCEL_TOKEN="vcl_revoked-" + secrets.token_hex(8))
    assert checks["api:vercel:VERCEL_TOKEN"]["status"] == "fail"
    assert checks["api:vercel:VERCEL_TOKEN"]["detail"].startswith("token refused: VERCEL_TOKEN was refused")
    assert code == 2 and "vcl_revoked-" not in out

    code, checks, _ = doctor(VERCEL_TOKEN=None)
    assert checks["token:vercel:VERCEL_TOKEN"]["status"] == "fail" and "api:vercel:VERCEL_TOKEN" not in checks
    assert code == 2


def test_doctor_checks_the_github_token_against_the_api(tmp_path: Path, github: GitHubApi) -> None:
    path = github_runbook(tmp_path, github)
    result = cli("doctor", "-r", str(path), "--no-endpoints", "-f", "json", GITHUB_TOKEN="test-wrong-token")
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["database"]["status"] == "skip"
    assert checks["api:github:GITHUB_TOKEN"]["status"] == "fail"
    assert "token refused" in checks["api:github:GITHUB_TOKEN"]["detail"]
    result = cli("doctor", "-r", str(path), "--no-endpoints", "-f", "json", GITHUB_TOKEN=GITHUB_TOKEN)
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["api:github:GITHUB_TOKEN"]["status"] == "pass"
