"""The Vercel history source against a real local stand-in of Vercel's REST API (deployments + events)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronctl import redact
from cronctl.runbook.env import Environment
from cronctl.runbook.model import HistorySpec, JobSpec, Runbook
from cronctl.sources.external import source, vercel
from cronctl.sources.external.base import ExternalQuery, ExternalRead
from cronctl.sources.external.vercel import VercelSpec
from cronctl_sandbox.vercel_api import VercelAPI

TOKEN = "vcl_T0ken-for-tests-9f8e7d6c5b4a"
PROJECT = "sivera-alpha"
TEAM = "team_cronctlStandIn001"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
HOUR = NOW.replace(minute=0)
SYNC = "/api/cron/sync-campaigns"
REFRESH = "/api/cron/refresh-tokens"


def job(name: str, path: str, timeout: float = 300.0) -> JobSpec:
    return JobSpec(
        name=name,
        url=f"https://sivera.example.com{path}",
        schedule="0 * * * *",
        timeout=timeout,
        scheduler="vercel",
        history=HistorySpec(outside={"vercel": True}),
    )


JOBS = [job("sync-campaigns", SYNC), job("refresh-tokens", REFRESH)]


@pytest.fixture
def api() -> Iterator[VercelAPI]:
    with VercelAPI(TOKEN, project_name=PROJECT, team_id=TEAM) as server:
        yield server
    redact.clear_for_tests()


def read(
    api: VercelAPI,
    jobs: list[JobSpec] = JOBS,
    *,
    since: datetime | None = None,
    token: str | None = TOKEN,
    timeout: float = 5.0,
    limit: int = 100,
    **spec: str,
) -> ExternalRead:
    settings = {"project": PROJECT, "team": TEAM, "api_url": api.url, **spec}
    runbook = Runbook(
        name="seed-001",
        path=Path("runbooks/seed-001.toml"),
        jobs={j.name: j for j in jobs},
        vendors={"vercel": VercelSpec(**settings)},
    )
    env = Environment({} if token is None else {"VERCEL_TOKEN": token})
    query = ExternalQuery(
        runbook=runbook,
        env=env,
        jobs=jobs,
        since=since or NOW - timedelta(hours=6),
        now=NOW,
        timeout=timeout,
        limit=limit,
    )
    return source("vercel").read(query)


def one_line_without_token(read_result: ExternalRead, name: str) -> str:
    note = read_result.notes[name]
    assert note.message is not None
    assert "\n" not in note.message
    assert TOKEN not in note.message
    return note.message


def test_hourly_cron_invocations_become_runs_across_deployments(api: VercelAPI) -> None:
    old = api.add_deployment(NOW - timedelta(days=3))
    new = api.add_deployment(HOUR - timedelta(hours=2, minutes=30))
    for hours_ago in range(6):
        api.add_invocation(SYNC, HOUR - timedelta(hours=hours_ago), duration=1.5, logs=["synced 4 accounts"])
    api.add_invocation(REFRESH, HOUR - timedelta(hours=6) + timedelta(minutes=2), duration=0.2)

    result = read(api, since=HOUR - timedelta(hours=5, minutes=10))

    runs = result.runs["sync-campaigns"]
    assert [r.started_at for r in runs] == [HOUR - timedelta(hours=h) for h in range(6)]
    assert all(r.status == "succeeded" and r.http_status == 200 and r.source == "vercel" for r in runs)
    assert all(r.duration == pytest.approx(1.5) for r in runs)
    assert [r.detail["deployment_id"] for r in runs] == [new, new, new, old, old, old]
    assert all(r.detail["trigger"] == "cron" and r.detail["request_id"] == r.run_id for r in runs)
    assert result.runs["refresh-tokens"] == []  # its only run was before the window
    assert result.notes["sync-campaigns"].state == "ok" and result.notes["sync-campaigns"].message is None
    assert result.facts["sync-campaigns"]["fire_window_seconds"] == 60.0
    seen = api.requests
    assert result.requests == len(seen)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" and r.query["teamId"] == TEAM for r in seen)
    deployments = [r for r in seen if r.path == "/v6/deployments"]
    assert deployments and deployments[0].query["target"] == "production"
    events = [r for r in seen if r.path.endswith("/events")]
    assert {r.query["follow"] for r in events} == {"0"} and {r.query["direction"] for r in events} == {"backward"}


def test_a_401_streak_from_the_route_is_three_failed_runs(api: VercelAPI) -> None:
    api.add_deployment(NOW - timedelta(days=1))
    api.add_invocation(SYNC, HOUR - timedelta(hours=3), status=200)
    for hours_ago in range(3):
        api.add_invocation(SYNC, HOUR - timedelta(hours=hours_ago), status=401, duration=0.01)

    runs = read(api).runs["sync-campaigns"]

    assert [r.status for r in runs] == ["failed", "failed", "failed", "succeeded"]
    for run in runs[:3]:
        assert run.http_status == 401 and run.raw_status == "401"
        assert run.message is not None and "refused Vercel's cron request (401)" in run.message
        assert "CRON_SECRET" in run.message


def test_a_run_past_max_duration_failed(api: VercelAPI) -> None:
    api.add_deployment(NOW - timedelta(days=1))
    quick = job("sync-campaigns", SYNC, timeout=10.0)
    api.add_invocation(SYNC, HOUR - timedelta(hours=2), duration=3.0)
    api.add_invocation(SYNC, HOUR - timedelta(hours=1), duration=12.5)  # answered 200, but past maxDuration
    api.add_invocation(SYNC, HOUR, duration=10.0, timed_out=True)  # Vercel stopped it: 504

    runs = read(api, [quick]).runs["sync-campaigns"]

    stopped, overran, fine = runs
    assert fine.status == "succeeded"
    assert overran.status == "failed" and overran.http_status == 200
    assert overran.message == "took 12.5 s, past the route's maxDuration of 10 s"
    assert stopped.status == "failed" and stopped.http_status == 504
    assert stopped.message is not None and "maxDuration (10 s)" in stopped.message


def test_manual_requests_to_the_route_are_not_the_schedulers_runs(api: VercelAPI) -> None:
    api.add_deployment(NOW - timedelta(days=1))
    api.add_invocation(SYNC, HOUR - timedelta(hours=1), status=401)
    api.add_invocation(SYNC, HOUR - timedelta(minutes=20), user_agent="curl/8.5.0")  # seed 001's curl test
    api.add_invocation(SYNC, HOUR - timedelta(minutes=10), user_agent="PostmanRuntime/7.39.0")
    api.add_invocation(SYNC, HOUR - timedelta(minutes=5), user_agent=None)

    result = read(api)

    runs = result.runs["sync-campaigns"]
    assert [r.detail["trigger"] for r in runs] == ["unknown", "cron"]
    assert result.notes["sync-campaigns"].message == f"2 manual requests to {SYNC} left out"


def test_a_refused_token_is_one_line_without_the_token(api: VercelAPI) -> None:
    api.add_deployment(NOW - timedelta(days=1))
    wrong = "vcl_wrong-token-0000aaaa1111bbbb"
    result = read(api, token=wrong)
    line = one_line_without_token(result, "sync-campaigns")
    assert wrong not in line
    assert line.startswith("VERCEL_TOKEN was refused (403)")
    assert f"project {PROJECT} / team {TEAM}" in line
    assert result.notes["sync-campaigns"].state == "error"
    assert result.notes["refresh-tokens"].message == line
    refused = {"source": "vercel", "env": "VERCEL_TOKEN", "state": "refused"}
    assert result.facts["sync-campaigns"]["token"] == refused  # beside the plan's facts
    assert result.facts["sync-campaigns"]["vercel_plan"]

    api.fail(401)
    again = read(api)
    line = one_line_without_token(again, "sync-campaigns")
    assert line.startswith("VERCEL_TOKEN was refused (401)")
    assert again.facts["sync-campaigns"]["token"] == refused


def test_a_token_without_the_teams_scope_says_which_scope(api: VercelAPI) -> None:
    api.token_teams = set()
    api.add_deployment(NOW - timedelta(days=1))
    line = one_line_without_token(read(api), "sync-campaigns")
    assert f"VERCEL_TOKEN may not read project {PROJECT} / team {TEAM} (403)" in line
    assert f"scope of team {TEAM}" in line
    assert "token" not in read(api).facts["sync-campaigns"]  # a missing scope is not a refused token


def test_an_unknown_project_or_a_missing_team_is_not_found(api: VercelAPI) -> None:
    api.add_deployment(NOW - timedelta(days=1))
    line = one_line_without_token(read(api, project="sivera-beta"), "sync-campaigns")
    assert "Vercel project not found (404) for project sivera-beta / team" in line
    # A team's project read without its team is looked up in the token owner's personal account.
    line = one_line_without_token(read(api, team=""), "sync-campaigns")
    assert "not found (404)" in line and "(no team set)" in line


def test_rate_limited_says_when_to_retry(api: VercelAPI) -> None:
    api.add_deployment(NOW - timedelta(days=1))
    api.fail(429, retry_after=30)
    line = one_line_without_token(read(api), "sync-campaigns")
    assert re.fullmatch(r"Vercel rate-limited the read \(429\), retry after (29|30) s", line)


def test_a_silent_server_ends_within_the_deadline(api: VercelAPI) -> None:
    api.silent = True
    started = time.monotonic()
    result = read(api, timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    note = result.notes["sync-campaigns"]
    assert note.state == "timeout"
    assert note.message == "no complete answer from 127.0.0.1 within 0.5s"
    assert result.runs["sync-campaigns"] == []


def test_slow_pages_share_one_deadline(api: VercelAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vercel, "EVENTS_PAGE", 3)
    api.add_deployment(NOW - timedelta(days=1))
    for hours_ago in range(6):
        api.add_invocation(SYNC, HOUR - timedelta(hours=hours_ago))
    api.delay = 0.3  # each page alone is quick; together they outlast the deadline
    started = time.monotonic()
    result = read(api, timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert result.notes["sync-campaigns"].state == "timeout"


def test_events_and_deployments_are_paged(api: VercelAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vercel, "EVENTS_PAGE", 4)
    monkeypatch.setattr(vercel, "DEPLOYMENTS_PAGE", 1)
    for days in (3, 0):
        api.add_deployment(HOUR - timedelta(days=days, hours=3, minutes=30))
    api.add_deployment(HOUR - timedelta(hours=1, minutes=30), state="ERROR")  # never served
    for hours_ago in range(5):
        api.add_invocation(SYNC, HOUR - timedelta(hours=hours_ago), logs=["one", "two"])
        api.add_invocation(REFRESH, HOUR - timedelta(hours=hours_ago, minutes=-1))

    result = read(api)

    assert [r.started_at for r in result.runs["sync-campaigns"]] == [HOUR - timedelta(hours=h) for h in range(5)]
    assert len(result.runs["refresh-tokens"]) == 5
    pages = [r for r in api.requests if r.path == "/v6/deployments"]
    assert len(pages) == 2 and "until" in pages[1].query
    assert len([r for r in api.requests if r.path.endswith("/events")]) > 5


def test_the_limit_stops_the_read_early(api: VercelAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vercel, "EVENTS_PAGE", 3)
    api.add_deployment(NOW - timedelta(days=1))
    for hours_ago in range(6):
        api.add_invocation(SYNC, HOUR - timedelta(hours=hours_ago))
    result = read(api, [JOBS[0]], limit=1)
    assert [r.started_at for r in result.runs["sync-campaigns"]] == [HOUR]
    assert len([r for r in api.requests if r.path.endswith("/events")]) < 4


def test_no_token_no_url_and_hobby(api: VercelAPI) -> None:
    no_token = read(api, token=None)
    assert no_token.notes["sync-campaigns"].message == "VERCEL_TOKEN is not set: export it or add it to .env"
    assert no_token.facts["sync-campaigns"] == {"token": {"source": "vercel", "env": "VERCEL_TOKEN", "state": "unset"}}
    assert api.requests == []

    api.add_deployment(NOW - timedelta(days=1))
    sql_job = JobSpec(name="no-route", history=HistorySpec(outside={"vercel": True}))
    result = read(api, [sql_job, JOBS[0]], plan="hobby")
    assert result.notes["no-route"].state == "error"
    assert result.notes["sync-campaigns"].state == "ok"
    assert result.facts["sync-campaigns"] == {"vercel_plan": "hobby", "fire_window_seconds": 3600.0}


def test_no_production_deployment_is_said(api: VercelAPI) -> None:
    api.add_deployment(NOW - timedelta(days=1), target=None)  # a preview
    result = read(api)
    assert result.runs["sync-campaigns"] == []
    message = result.notes["sync-campaigns"].message
    assert message is not None and message.startswith(f"no production deployment of project {PROJECT}")


def test_a_read_cut_by_the_deadline_keeps_what_it_read(api: VercelAPI) -> None:
    older = api.add_deployment(NOW - timedelta(days=2))
    newer = api.add_deployment(HOUR - timedelta(hours=2, minutes=30))
    for hours_ago in range(4):
        api.add_invocation(SYNC, HOUR - timedelta(hours=hours_ago))
    api.answer_first = 2  # the deployment list and the newest deployment's events; then silence
    result = read(api, [JOBS[0]], timeout=0.5)
    note = result.notes["sync-campaigns"]
    assert note.state == "timeout"
    assert note.message == "no complete answer from 127.0.0.1 within 0.5s (read 1 of 2 production deployments)"
    runs = result.runs["sync-campaigns"]
    assert [r.detail["deployment_id"] for r in runs] == [newer, newer, newer]
    assert older not in {r.detail["deployment_id"] for r in runs}
