"""The Supabase history source against a real local stand-in of the Management API (functions + unified logs)."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cronctl import redact
from cronctl.runbook.env import Environment
from cronctl.runbook.model import HistorySpec, JobSpec, Runbook
from cronctl.sources.external import source, supabase
from cronctl.sources.external.base import ExternalQuery, ExternalRead
from cronctl.sources.external.supabase import SupabaseSpec
from cronctl_sandbox.supabase_api import SupabaseAPI

# The stand-ins speak plain HTTP: a client without a verifying TLS context does not load the CA bundle (20 ms).
http_get = functools.partial(httpx.get, verify=False)

TOKEN = "sbp_7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e5b2d4f6a"
REF = "qwertyuiopasdfghjklz"
NOW = datetime.now(UTC).replace(microsecond=0)
DISPATCH = "scheduled-dispatcher"
RECONCILE = "payment-reconcile"


def job(name: str, timeout: float = 30.0) -> JobSpec:
    return JobSpec(
        name=name,
        url=f"https://{REF}.supabase.co/functions/v1/{name}",
        schedule="* * * * *",
        timeout=timeout,
        scheduler="pg_cron",
        history=HistorySpec(outside={"supabase": name}),
    )


JOBS = [job(DISPATCH), job(RECONCILE, 60.0)]


@pytest.fixture
def api() -> Iterator[SupabaseAPI]:
    with SupabaseAPI(TOKEN, project_ref=REF) as server:
        yield server
    redact.clear_for_tests()


def read(
    api: SupabaseAPI,
    jobs: list[JobSpec] = JOBS,
    *,
    since: datetime | None = None,
    token: str | None = TOKEN,
    timeout: float = 5.0,
    limit: int = 100,
    ref: str = REF,
) -> ExternalRead:
    runbook = Runbook(
        name="seed-000",
        path=Path("runbooks/seed-000.toml"),
        jobs={j.name: j for j in jobs},
        vendors={"supabase": SupabaseSpec(project_ref=ref, api_url=api.url)},
    )
    env = Environment({} if token is None else {"SUPABASE_ACCESS_TOKEN": token})
    query = ExternalQuery(
        runbook=runbook,
        env=env,
        jobs=jobs,
        since=since or NOW - timedelta(hours=1),
        now=NOW,
        timeout=timeout,
        limit=limit,
    )
    return source("supabase").read(query)


def line_of(result: ExternalRead, name: str) -> str:
    message = result.notes[name].message
    assert message is not None and "\n" not in message and TOKEN not in message
    return message


def log_queries(api: SupabaseAPI) -> list[dict[str, str]]:
    return [r.query for r in api.requests if r.path.endswith("/analytics/endpoints/logs")]


def test_invocations_become_runs_with_status_time_and_ids(api: SupabaseAPI) -> None:
    for minutes_ago in range(1, 6):
        api.add_invocation(DISPATCH, NOW - timedelta(minutes=minutes_ago), execution_time=0.8, logs=["processed: 0"])
    api.add_invocation(RECONCILE, NOW - timedelta(minutes=30), execution_time=4.2, user_agent="curl/8.5.0")
    api.add_invocation("other-function", NOW - timedelta(minutes=2))

    result = read(api)

    runs = result.runs[DISPATCH]
    assert len(runs) == 5
    assert [r.started_at for r in runs] == sorted((r.started_at for r in runs), reverse=True)
    assert all(r.status == "succeeded" and r.http_status == 200 and r.source == "supabase" for r in runs)
    assert all(r.duration == pytest.approx(0.8) for r in runs)
    assert all(r.detail["shutdown_reason"] == "EventLoopCompleted" and r.detail["trigger"] == "pg_net" for r in runs)
    assert len({r.detail["execution_id"] for r in runs}) == 5
    [reconcile] = result.runs[RECONCILE]
    assert reconcile.detail["trigger"] == "other" and reconcile.duration == pytest.approx(4.2)
    assert result.notes[DISPATCH].state == "ok" and result.notes[DISPATCH].message is None
    queries = log_queries(api)
    assert len(queries) == 2  # one per function: an hour fits one request
    assert all("from logs" in q["sql"] and "function_id" in q["sql"] for q in queries)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)


def test_a_401_streak_from_the_function(api: SupabaseAPI) -> None:
    api.add_invocation(DISPATCH, NOW - timedelta(minutes=4))
    for minutes_ago in range(1, 4):
        api.add_invocation(DISPATCH, NOW - timedelta(minutes=minutes_ago), status=401, execution_time=0.004)
    runs = read(api, [JOBS[0]]).runs[DISPATCH]
    assert [r.status for r in runs] == ["failed", "failed", "failed", "succeeded"]
    assert all("refused the caller (401)" in (r.message or "") for r in runs[:3])


def test_early_drop_cutting_an_invocation_is_a_failure(api: SupabaseAPI) -> None:
    # Seed 004: a worker dropped at ~15 s, the function answering 500 on the way out.
    api.add_invocation(
        DISPATCH,
        NOW - timedelta(minutes=3),
        status=500,
        execution_time=15.0,
        shutdown="EarlyDrop",
        shutdown_message="Shutdown reason: EarlyDrop",
        exception="Error: Failed to fetch messages",
    )
    api.add_invocation(DISPATCH, NOW - timedelta(minutes=2), shutdown="EarlyDrop")  # healthy: answered, then retired
    api.add_invocation(DISPATCH, NOW - timedelta(minutes=1), logged=False, shutdown="EarlyDrop")  # no answer at all

    result = read(api, [JOBS[0]])

    healthy, cut = result.runs[DISPATCH]
    assert cut.status == "failed" and cut.http_status == 500
    assert cut.detail["shutdown_reason"] == "EarlyDrop"
    assert cut.message is not None and "EarlyDrop" in cut.message and "Failed to fetch messages" in cut.message
    assert healthy.status == "succeeded" and healthy.detail["shutdown_reason"] == "EarlyDrop"
    assert line_of(result, DISPATCH) == "1 worker shutdown (EarlyDrop) with no invocation logged in the window"


def test_a_worker_stopped_by_its_cpu_limit_failed(api: SupabaseAPI) -> None:
    api.add_invocation(
        DISPATCH,
        NOW - timedelta(minutes=1),
        shutdown="CPUTime",
        shutdown_message="shutdown (reason: CPU time limit reached)",
    )
    [run] = read(api, [JOBS[0]]).runs[DISPATCH]
    assert run.status == "failed" and run.detail["shutdown_reason"] == "CPUTime"


def test_a_refused_token_is_one_line_for_every_function(api: SupabaseAPI) -> None:
    wrong = "sbp_0000000000000000000000000000000000000000"
    result = read(api, token=wrong)
    for name in (DISPATCH, RECONCILE):
        line = line_of(result, name)
        assert wrong not in line
        assert line.startswith("SUPABASE_ACCESS_TOKEN was refused (401)")
        assert result.notes[name].state == "error"
        # Said as a fact too, beside the function's: the later function, never asked, is refused as well.
        assert result.facts[name]["token"] == {"source": "supabase", "env": "SUPABASE_ACCESS_TOKEN", "state": "refused"}
        assert result.facts[name]["supabase_function"]
    assert len(api.requests) == 1  # the first refusal ends the read


def test_a_token_without_the_logs_scope_names_it(api: SupabaseAPI) -> None:
    api.scopes = {"edge_functions:read"}
    api.add_invocation(DISPATCH, NOW - timedelta(minutes=1))
    line = line_of(read(api, [JOBS[0]]), DISPATCH)
    assert f"may not read project {REF}'s logs (403)" in line
    assert "analytics:read" in line and "analytics_logs_read" in line
    assert "token" not in read(api, [JOBS[0]]).facts[DISPATCH]  # a missing scope is not a refused token


def test_a_token_without_the_functions_scope_matches_by_path(api: SupabaseAPI) -> None:
    api.scopes = {"analytics:read"}
    api.add_invocation(DISPATCH, NOW - timedelta(minutes=2), status=401)
    api.add_invocation(RECONCILE, NOW - timedelta(minutes=1))
    result = read(api, [JOBS[0]])
    [run] = result.runs[DISPATCH]
    assert run.http_status == 401 and run.status == "failed"
    assert "edge_functions_read" in line_of(result, DISPATCH)
    assert result.notes[DISPATCH].state == "ok"


def test_an_unknown_function_or_project_is_not_found(api: SupabaseAPI) -> None:
    api.add_invocation(DISPATCH, NOW - timedelta(minutes=1))
    result = read(api)
    assert result.notes[DISPATCH].state == "ok"
    assert line_of(result, RECONCILE).startswith(f"Edge Function {RECONCILE} not found in project {REF} (404)")
    other = read(api, [JOBS[0]], ref="zzzzzzzzzzzzzzzzzzzz")
    assert "not found in project zzzzzzzzzzzzzzzzzzzz (404)" in line_of(other, DISPATCH)


def test_rate_limited_says_when_to_retry(api: SupabaseAPI) -> None:
    api.add_function(DISPATCH)
    api.fail(429, retry_after=30, prefix=f"/v1/projects/{REF}/analytics")
    line = line_of(read(api, [JOBS[0]]), DISPATCH)
    assert re.fullmatch(r"the Supabase Management API rate-limited the read \(429\), retry after 30 s", line)


def test_a_silent_server_ends_within_the_deadline(api: SupabaseAPI) -> None:
    api.silent = True
    started = time.monotonic()
    result = read(api, timeout=0.5)
    assert time.monotonic() - started < 2.5
    for name in (DISPATCH, RECONCILE):
        assert result.notes[name].state == "timeout"
        assert line_of(result, name) == "no complete answer from 127.0.0.1 within 0.5s"


def test_a_long_window_is_read_in_pieces_of_at_most_24_hours(api: SupabaseAPI) -> None:
    for hours_ago in (1, 30, 49):
        api.add_invocation(DISPATCH, NOW - timedelta(hours=hours_ago))
    api.add_invocation(DISPATCH, NOW - timedelta(hours=60))  # before the window
    result = read(api, [JOBS[0]], since=NOW - timedelta(hours=50))
    assert [r.started_at for r in result.runs[DISPATCH]] == [NOW - timedelta(hours=h) for h in (1, 30, 49)]
    queries = log_queries(api)
    assert len(queries) == 3
    for q in queries:
        start = datetime.fromisoformat(q["iso_timestamp_start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(q["iso_timestamp_end"].replace("Z", "+00:00"))
        assert timedelta(0) < end - start <= timedelta(hours=24)


def test_pages_within_a_window_are_followed(api: SupabaseAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supabase, "PAGE_ROWS", 4)
    for minutes_ago in range(1, 8):
        api.add_invocation(DISPATCH, NOW - timedelta(minutes=minutes_ago))
    runs = read(api, [JOBS[0]]).runs[DISPATCH]
    assert len(runs) == 7 and len({r.run_id for r in runs}) == 7
    pages = log_queries(api)
    assert len(pages) >= 3 and "toDateTime64" in pages[-1]["sql"]


def test_the_stand_in_refuses_what_the_logs_endpoint_refuses(api: SupabaseAPI) -> None:
    base = f"{api.url}/v1/projects/{REF}/analytics/endpoints/logs"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    start, end = (NOW - timedelta(hours=1)).isoformat(), NOW.isoformat()
    old = http_get(
        base, params={"sql": "select id from function_edge_logs", "iso_timestamp_start": start}, headers=auth
    )
    assert old.json() == {"result": [], "error": 'Table "function_edge_logs" does not exist.'}
    star = http_get(base, params={"sql": "select * from logs"}, headers=auth)
    assert "select *" in star.json()["error"]
    wide = http_get(
        base,
        params={
            "sql": "select id from logs",
            "iso_timestamp_start": (NOW - timedelta(hours=30)).isoformat(),
            "iso_timestamp_end": end,
        },
        headers=auth,
    )
    assert wide.status_code == 400
    gone = http_get(base + ".all", headers=auth)
    assert gone.status_code == 404
    assert parse_qs(urlsplit(str(old.request.url)).query)["sql"] == ["select id from function_edge_logs"]


def test_no_token_no_request(api: SupabaseAPI) -> None:
    result = read(api, token=None)
    assert line_of(result, DISPATCH) == "SUPABASE_ACCESS_TOKEN is not set: export it or add it to .env"
    assert result.facts[DISPATCH] == {"token": {"source": "supabase", "env": "SUPABASE_ACCESS_TOKEN", "state": "unset"}}
    assert api.requests == []


def test_a_read_cut_by_the_deadline_keeps_what_it_read(api: SupabaseAPI) -> None:
    for hours_ago in (1, 30):
        api.add_invocation(DISPATCH, NOW - timedelta(hours=hours_ago))
    api.answer_first = 2  # the function lookup and the newest 24 hours; then silence
    started = time.monotonic()
    result = read(api, JOBS, since=NOW - timedelta(hours=40), timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert [r.started_at for r in result.runs[DISPATCH]] == [NOW - timedelta(hours=1)]
    for name in (DISPATCH, RECONCILE):
        assert result.notes[name].state == "timeout"
    assert result.runs[RECONCILE] == []
