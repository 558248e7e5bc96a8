"""The pure half of the Supabase history source: log rows -> invocations (+ shutdowns) -> runs, SQL, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cronctl.runbook.model import HistorySpec, JobSpec
from cronctl.sources.external.supabase import (
    WINDOW,
    ApiError,
    SupabaseSpec,
    attach,
    build_sql,
    error_words,
    explain,
    parse_rows,
    parse_time,
    shutdown_reason,
    window_runs,
    windows,
)

T0 = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
JOB = JobSpec(
    name="scheduled-dispatcher",
    url="https://ref.supabase.co/functions/v1/scheduled-dispatcher",
    timeout=30.0,
    history=HistorySpec(outside={"supabase": "scheduled-dispatcher"}),
)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def edge(
    execution: str, end: datetime, status: int | str = 200, ms: float | str = 300, agent: str = "pg_net/0.20.0"
) -> dict[str, Any]:
    return {
        "id": f"edge-{execution}",
        "timestamp": stamp(end),
        "source": "function_edge_logs",
        "event_message": f"POST | {status} | https://ref.supabase.co/functions/v1/scheduled-dispatcher",
        "function_id": "fn-1",
        "execution_id": execution,
        "deployment_id": "ref_fn-1_7",
        "version": "7",
        "status_code": str(status),
        "execution_time_ms": str(ms),
        "method": "POST",
        "pathname": "/scheduled-dispatcher",
        "user_agent": agent,
        "event_type": "",
    }


def fn_log(execution: str, at: datetime, event_type: str, message: str) -> dict[str, Any]:
    return {
        "id": f"{event_type}-{execution}-{at.timestamp()}",
        "timestamp": stamp(at),
        "source": "function_logs",
        "event_message": message,
        "function_id": "fn-1",
        "execution_id": execution,
        "deployment_id": "ref_fn-1_7",
        "version": "7",
        "status_code": "",
        "execution_time_ms": "",
        "method": "",
        "pathname": "",
        "user_agent": "",
        "event_type": event_type,
    }


def runs_of(rows: list[dict[str, Any]]) -> list[Any]:
    invocations, shutdowns, exceptions = parse_rows(rows)
    attach(invocations, shutdowns, exceptions)
    return window_runs(JOB, invocations, T0 - timedelta(hours=1), T0 + timedelta(hours=1), 100)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T08:00:00.250000", T0 + timedelta(milliseconds=250)),
        ("2026-12-01 08:00:00.250000", T0 + timedelta(milliseconds=250)),
        ("2026-12-01T08:00:00Z", T0),
        (int(T0.timestamp() * 1_000_000), T0),
        (int(T0.timestamp() * 1000), T0),
        ("", None),
        ("yesterday", None),
        (True, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("shutdown (reason: EarlyDrop)", "EarlyDrop"),
        ("Shutdown reason: EarlyDrop", "EarlyDrop"),
        ("shutdown (reason: CPUTime)", "CPUTime"),
        ("shutdown (reason: CPU time limit reached)", "CPUTime"),
        ("wall clock time limit reached", "WallClockTime"),
        ("shutdown (reason: Memory)", "Memory"),
        ("shutdown (reason: TerminationRequested)", "TerminationRequested"),
        ("shutdown (reason: EventLoopCompleted)", "EventLoopCompleted"),
        ("shutdown", None),
    ],
)
def test_shutdown_reason(message: str, reason: str | None) -> None:
    assert shutdown_reason(message) == reason


def test_a_2xx_answer_succeeded_with_its_execution_time() -> None:
    end = T0 + timedelta(seconds=5)
    rows = [
        edge("e1", end, ms=1500),
        fn_log("e1", end + timedelta(milliseconds=40), "Shutdown", "shutdown (reason: EventLoopCompleted)"),
    ]
    [run] = runs_of(rows)
    assert run.status == "succeeded" and run.source == "supabase"
    assert run.http_status == 200 and run.raw_status == "200"
    assert run.finished_at == end and run.duration == pytest.approx(1.5)
    assert run.run_id == "e1"
    assert run.detail["execution_id"] == "e1" and run.detail["deployment_id"] == "ref_fn-1_7"
    assert run.detail["shutdown_reason"] == "EventLoopCompleted"
    assert run.detail["trigger"] == "pg_net"
    assert run.message is None


def test_401s_from_the_function_fail_and_say_why() -> None:
    rows = [edge(f"e{i}", T0 + timedelta(minutes=i), status=401, ms=4) for i in range(3)]
    runs = runs_of(rows)
    assert [r.status for r in runs] == ["failed"] * 3
    assert all(r.http_status == 401 and "refused the caller" in (r.message or "") for r in runs)


def test_early_drop_before_a_failed_answer_is_a_failure_naming_it() -> None:
    end = T0 + timedelta(seconds=15)
    rows = [
        edge("e1", end, status=500, ms=15000),
        fn_log("e1", end - timedelta(milliseconds=2), "UncaughtException", "Error: Failed to fetch messages"),
        fn_log("e1", end + timedelta(milliseconds=5), "Shutdown", "shutdown (reason: EarlyDrop)"),
    ]
    [run] = runs_of(rows)
    assert run.status == "failed"
    assert run.detail["shutdown_reason"] == "EarlyDrop"
    assert run.message is not None
    assert "EarlyDrop" in run.message and "Failed to fetch messages" in run.message


def test_early_drop_after_a_2xx_answer_is_reported_not_judged() -> None:
    end = T0 + timedelta(seconds=2)
    rows = [edge("e1", end), fn_log("e1", end + timedelta(seconds=3), "Shutdown", "shutdown (reason: EarlyDrop)")]
    [run] = runs_of(rows)
    assert run.status == "succeeded"
    assert run.detail["shutdown_reason"] == "EarlyDrop"
    assert run.message is not None and "EarlyDrop" in run.message and "waitUntil" in run.message


@pytest.mark.parametrize("reason", ["WallClockTime", "CPUTime", "Memory"])
def test_a_worker_stopped_by_a_limit_failed_even_after_a_2xx(reason: str) -> None:
    end = T0 + timedelta(seconds=2)
    rows = [edge("e1", end), fn_log("e1", end + timedelta(seconds=1), "Shutdown", f"shutdown (reason: {reason})")]
    [run] = runs_of(rows)
    assert run.status == "failed"
    assert run.message is not None and reason in run.message


def test_a_shutdown_goes_to_the_last_invocation_of_its_execution_before_it() -> None:
    rows = [
        edge("w1", T0 + timedelta(seconds=1)),
        edge("w1", T0 + timedelta(seconds=20)),
        fn_log("w1", T0 + timedelta(seconds=21), "Shutdown", "shutdown (reason: CPUTime)"),
    ]
    runs = runs_of(rows)
    assert [r.status for r in runs] == ["failed", "succeeded"]


def test_a_shutdown_without_an_invocation_is_an_orphan_not_a_run() -> None:
    invocations, shutdowns, exceptions = parse_rows(
        [edge("e1", T0), fn_log("e9", T0 + timedelta(seconds=9), "Shutdown", "shutdown (reason: EarlyDrop)")]
    )
    orphans = attach(invocations, shutdowns, exceptions)
    assert [o.execution_id for o in orphans] == ["e9"]
    assert invocations[0].shutdown_reason is None


def test_546_and_unknown_status() -> None:
    [limit] = runs_of([edge("e1", T0, status=546)])
    assert limit.status == "failed" and "resource limit" in (limit.message or "")
    [unknown] = runs_of([edge("e2", T0, status="")])
    assert unknown.status == "unknown"


def test_a_run_longer_than_the_jobs_timeout_is_noted() -> None:
    [run] = runs_of([edge("e1", T0, ms=42_000)])
    assert run.status == "succeeded"
    assert run.message is not None and "42.0 s" in run.message


def test_window_runs_filters_by_start_and_sorts_newest_first() -> None:
    rows = [edge(f"e{i}", T0 + timedelta(minutes=i)) for i in range(5)]
    rows.append(edge("old", T0 - timedelta(days=2)))
    invocations, _, _ = parse_rows(rows)
    runs = window_runs(JOB, invocations, T0, T0 + timedelta(hours=1), 3)
    assert [r.run_id for r in runs] == ["e4", "e3", "e2"]


def test_windows_cut_long_ranges_below_24_hours_newest_first() -> None:
    parts = windows(T0 - timedelta(hours=50), T0)
    assert parts[0][1] == T0 and parts[-1][0] == T0 - timedelta(hours=50)
    assert all(end - start <= WINDOW for start, end in parts)
    assert all(parts[i][0] == parts[i + 1][1] for i in range(len(parts) - 1))
    assert windows(T0, T0) == []


def test_build_sql_filters_by_function_id_and_pages_by_timestamp() -> None:
    sql = build_sql("0e947f5c-74d4-4025-9198-01e6a4cea367", "scheduled-dispatcher", T0 + timedelta(microseconds=5))
    assert "from logs" in sql
    assert "log_attributes['function_id'] = '0e947f5c-74d4-4025-9198-01e6a4cea367'" in sql
    assert "timestamp < toDateTime64('2026-12-01 08:00:00.000005', 6, 'UTC')" in sql
    assert "order by timestamp desc" in sql and sql.rstrip().endswith("limit 1000")
    assert "select *" not in sql and "count(*)" not in sql


def test_build_sql_by_path_and_refuses_odd_identifiers() -> None:
    sql = build_sql(None, "payment-reconcile")
    assert "log_attributes['request.pathname'] in ('/payment-reconcile', '/functions/v1/payment-reconcile')" in sql
    with pytest.raises(ValueError):
        build_sql("x' or 1=1 --", "payment-reconcile")
    with pytest.raises(ValueError):
        build_sql(None, "a'b")


SPEC = SupabaseSpec(project_ref="abcdefghijklmnopqrst")


def test_error_lines_name_the_variable_and_the_scope() -> None:
    ref, slug = "abcdefghijklmnopqrst", "scheduled-dispatcher"
    assert explain(ApiError(401, "Unauthorized"), SPEC, ref, slug).startswith("SUPABASE_ACCESS_TOKEN was refused (401)")
    logs = explain(ApiError(403, what="logs"), SPEC, ref, slug)
    assert "analytics:read" in logs and "analytics_logs_read" in logs
    assert "edge_functions_read" in explain(ApiError(403, what="function"), SPEC, ref, slug)
    assert "Edge Function scheduled-dispatcher not found in project" in explain(
        ApiError(404, what="function"), SPEC, ref, slug
    )
    assert explain(ApiError(429, retry_after=30), SPEC, ref, slug).endswith("(429), retry after 30 s")


def test_error_words_reads_the_management_api_shapes() -> None:
    assert error_words(json.dumps({"message": "Function not found"}).encode()) == "Function not found"
    assert (
        error_words(json.dumps({"error": 'Table "edge_logs" does not exist.'}).encode())
        == 'Table "edge_logs" does not exist.'
    )
    assert error_words(json.dumps({"error": {"message": "bad sql"}}).encode()) == "bad sql"
