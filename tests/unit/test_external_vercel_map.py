"""The pure half of the Vercel history source: deployment events -> invocations -> runs, and its error lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cronctl import redact
from cronctl.runbook.model import HistorySpec, JobSpec
from cronctl.sources.external.vercel import (
    ApiError,
    VercelSpec,
    collect_invocations,
    error_words,
    explain,
    job_runs,
    parse_events,
    retry_after,
    route_matches,
    to_run,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PATH = "/api/cron/sync-campaigns"
JOB = JobSpec(
    name="sync-campaigns",
    url=f"https://app.example.com{PATH}",
    timeout=10.0,
    history=HistorySpec(outside={"vercel": True}),
)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def request_events(
    rid: str,
    start: datetime,
    *,
    status: int = 200,
    duration_ms: float | None = 400.0,
    agent: str | None = "vercel-cron/1.0",
    path: str = PATH,
    extra: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    proxy: dict[str, Any] = {"timestamp": ms(start), "method": "GET", "host": "app.example.com", "path": path}
    proxy |= {"statusCode": status, "vercelId": f"iad1::{rid}", "lambdaRegion": "iad1"}
    if agent is not None:
        proxy["userAgent"] = [agent]
    base = {"deploymentId": "dpl_1", "requestId": rid, "serial": "1"}
    events = [
        {
            "type": "stdout",
            "created": ms(start),
            "payload": {**base, "id": f"{rid}-0", "date": ms(start), "text": f"GET {path}", "proxy": proxy},
        }
    ]
    at = ms(start)
    for index, (kind, text) in enumerate(extra, 1):
        at += 10
        events.append(
            {"type": kind, "created": at, "payload": {**base, "id": f"{rid}-{index}", "date": at, "text": text}}
        )
    if duration_ms is not None:
        end = ms(start) + int(duration_ms)
        report = f"REPORT RequestId: {rid}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {int(duration_ms)} ms"
        events.append(
            {"type": "report", "created": end, "payload": {**base, "id": f"{rid}-r", "date": end, "text": report}}
        )
    return events


def only(events: list[dict[str, Any]]) -> Any:
    found = collect_invocations(events)
    assert len(found) == 1
    return found[0]


def test_parse_events_accepts_a_json_array_and_a_stream() -> None:
    events = request_events("r1", T0)
    assert parse_events(json.dumps(events).encode()) == events
    assert parse_events("\n".join(json.dumps(e) for e in events).encode()) == events
    assert parse_events(b"") == []
    with pytest.raises(ValueError):
        parse_events(b"<html>oops</html>")


def test_a_request_is_assembled_from_its_events_in_any_order() -> None:
    events = request_events("r1", T0, duration_ms=1234.5, extra=[("stdout", "synced 12 campaigns")])
    inv = only(list(reversed(events)))
    assert inv.request_id == "r1"
    assert inv.started_at == T0
    assert inv.duration == pytest.approx(1.2345)
    assert inv.status == 200
    assert inv.trigger == "cron"
    assert inv.deployment_id == "dpl_1"


def test_build_events_without_a_request_are_skipped() -> None:
    build = {
        "type": "stdout",
        "created": ms(T0),
        "payload": {
            "deploymentId": "dpl_1",
            "id": "b1",
            "date": ms(T0),
            "text": "Build Completed",
            "info": {"type": "build"},
        },
    }
    alias = {"type": "alias-assigned", "deploymentId": "dpl_1", "date": ms(T0), "alias": ["x"]}
    assert collect_invocations([build, alias]) == []


def test_without_a_report_the_last_event_ends_the_request() -> None:
    events = request_events("r1", T0, duration_ms=None, extra=[("stdout", "a"), ("stdout", "b")])
    assert only(events).duration == pytest.approx(0.02)


def test_a_lone_proxy_line_has_no_duration() -> None:
    assert only(request_events("r1", T0, duration_ms=None)).finished_at is None


@pytest.mark.parametrize(
    ("agent", "trigger"),
    [("vercel-cron/1.0", "cron"), ("Vercel-Cron/1.0", "cron"), ("curl/8.5.0", "manual"), (None, "unknown")],
)
def test_trigger_comes_from_the_user_agent(agent: str | None, trigger: str) -> None:
    assert only(request_events("r1", T0, agent=agent)).trigger == trigger


def test_route_matching_ignores_query_and_trailing_slash() -> None:
    inv = only(request_events("r1", T0, path=PATH + "/?source=cron"))
    assert route_matches(inv, PATH)
    assert not route_matches(inv, "/api/cron/refresh-tokens")


def test_2xx_within_max_duration_succeeded() -> None:
    run = to_run(JOB, only(request_events("r1", T0, duration_ms=2500)))
    assert run.status == "succeeded"
    assert run.source == "vercel"
    assert run.http_status == 200 and run.raw_status == "200"
    assert run.message is None
    assert run.detail["deployment_id"] == "dpl_1" and run.detail["request_id"] == "r1"
    assert run.detail["trigger"] == "cron"
    assert run.run_id == "r1"
    assert run.finished_at == T0 + timedelta(milliseconds=2500)


def test_2xx_past_max_duration_failed() -> None:
    run = to_run(JOB, only(request_events("r1", T0, duration_ms=12_400)))
    assert run.status == "failed"
    assert run.message is not None and "maxDuration" in run.message and "12.4" in run.message


def test_a_function_stopped_at_max_duration_failed() -> None:
    events = request_events(
        "r1",
        T0,
        status=504,
        duration_ms=10_010,
        extra=[("stderr", "Vercel Runtime Timeout Error: Task timed out after 10 seconds")],
    )
    run = to_run(JOB, only(events))
    assert run.status == "failed" and run.http_status == 504
    assert (
        run.message is not None and "maxDuration (10 s)" in run.message and "FUNCTION_INVOCATION_TIMEOUT" in run.message
    )


@pytest.mark.parametrize("code", [401, 403])
def test_the_route_refusing_the_cron_request_failed(code: int) -> None:
    run = to_run(JOB, only(request_events("r1", T0, status=code, duration_ms=12)))
    assert run.status == "failed" and run.http_status == code
    assert run.message is not None and "refused" in run.message and "CRON_SECRET" in run.message


def test_a_redirect_is_a_failure_not_followed() -> None:
    run = to_run(JOB, only(request_events("r1", T0, status=307)))
    assert run.status == "failed"
    assert run.message is not None and "redirect" in run.message


def test_a_server_error_keeps_the_functions_last_error_line() -> None:
    events = request_events("r1", T0, status=500, extra=[("stderr", "Error: connect ECONNREFUSED 10.0.0.5:5432")])
    run = to_run(JOB, only(events))
    assert run.status == "failed"
    assert run.message == "HTTP 500: Error: connect ECONNREFUSED 10.0.0.5:5432"


def test_no_status_code_is_unknown_not_a_verdict() -> None:
    events = request_events("r1", T0)
    del events[0]["payload"]["proxy"]["statusCode"]
    assert to_run(JOB, only(events)).status == "unknown"


def test_a_secret_in_a_log_line_is_masked() -> None:
    secret = "sk_live_abcdef0123456789XYZ"
    redact.register(secret)
    try:
        events = request_events("r1", T0, status=500, extra=[("stderr", f"bad key {secret}")])
        run = to_run(JOB, only(events))
        assert run.message is not None and secret not in run.message
    finally:
        redact.clear_for_tests()


def test_job_runs_keeps_cron_and_unknown_counts_manual_and_sorts_newest_first() -> None:
    events: list[dict[str, Any]] = []
    for hour in range(4):
        events += request_events(f"c{hour}", T0 + timedelta(hours=hour))
    events += request_events("m1", T0 + timedelta(minutes=30), agent="curl/8.5.0")
    events += request_events("u1", T0 + timedelta(minutes=45), agent=None)
    events += request_events("o1", T0 + timedelta(minutes=50), path="/api/cron/other")
    events += request_events("old", T0 - timedelta(days=1))
    runs, manual = job_runs(
        JOB, PATH, collect_invocations(events), T0 - timedelta(minutes=1), T0 + timedelta(hours=5), 100
    )
    assert [r.run_id for r in runs] == ["c3", "c2", "c1", "u1", "c0"]
    assert manual == 1
    assert next(r for r in runs if r.run_id == "u1").detail["trigger"] == "unknown"
    limited, _ = job_runs(JOB, PATH, collect_invocations(events), T0 - timedelta(minutes=1), T0 + timedelta(hours=5), 2)
    assert [r.run_id for r in limited] == ["c3", "c2"]


SPEC = VercelSpec(project="sivera-alpha", team="team_abc")


def test_401_names_the_variable_project_and_team() -> None:
    line = explain(ApiError(401, "unauthorized: Authentication required"), SPEC, "sivera-alpha", "team_abc")
    assert line.startswith("VERCEL_TOKEN was refused (401)")
    assert "project sivera-alpha / team team_abc" in line


def test_403_with_an_invalid_token_is_a_refused_token() -> None:
    line = explain(ApiError(403, "forbidden: Not authorized: invalidToken"), SPEC, "sivera-alpha", "team_abc")
    assert line.startswith("VERCEL_TOKEN was refused (403)")


def test_403_says_which_scope_is_missing() -> None:
    line = explain(ApiError(403, "forbidden: Not authorized"), SPEC, "sivera-alpha", "team_abc")
    assert "VERCEL_TOKEN may not read project sivera-alpha / team team_abc (403)" in line
    assert "scope of team team_abc" in line


def test_404_and_429_lines() -> None:
    assert "project not found (404)" in explain(ApiError(404, what="project"), SPEC, "p", None)
    assert "(no team set)" in explain(ApiError(404, what="project"), SPEC, "p", None)
    assert (
        explain(ApiError(429, retry_after=42.4), SPEC, "p", None)
        == "Vercel rate-limited the read (429), retry after 42 s"
    )


def test_retry_after_reads_seconds_dates_and_reset_stamps() -> None:
    now = 1_800_000_000.0
    assert retry_after({"retry-after": "30"}, now) == 30
    assert retry_after({"x-ratelimit-reset": str(int(now) + 55)}, now) == pytest.approx(55)
    assert retry_after({"retry-after": "Wed, 15 Jan 2027 08:00:30 GMT"}, 1_800_000_000.0) is not None
    assert retry_after({}, now) is None


def test_error_words_reads_vercels_error_shape() -> None:
    body = json.dumps({"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": True}}).encode()
    assert error_words(body) == "forbidden: Not authorized: invalidToken"
    assert error_words(b"upstream timeout\n\n") == "upstream timeout"


def test_a_request_without_a_user_agent_is_no_outcome_of_the_scheduler() -> None:
    """Vercel's cron cannot be told from someone's curl without the user agent: unverified, never ok."""
    run = to_run(JOB, only(request_events("r1", T0, agent=None)))
    assert run.detail["trigger"] == "unknown"
    assert run.status == "unverified" and "trigger unknown" in (run.message or "") and "200" in (run.message or "")
