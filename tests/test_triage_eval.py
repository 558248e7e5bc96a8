"""Failure groups from aggregated counts, and pg_net answers judged by a job's success rule. Pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cronctl.evaluate.pgnet_link import NetResponse
from cronctl.evaluate.triage import FailureCount, group_failures, judge_net_run
from cronctl.records import Run
from cronctl.runbook.model import SuccessRule

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
RULE = SuccessRule(status=(200,), require=("success == true",), skipped=("skipped == true",))


def test_counts_are_weighted_and_merged_with_single_runs() -> None:
    counts = [
        FailureCount(("a",), "pg_cron", "connection failed", 250, T0, T0 + timedelta(hours=9)),
        FailureCount(("b",), "pg_cron", "connection lost", 50, T0 - timedelta(hours=1), T0 + timedelta(hours=2)),
        FailureCount(("(unlinked pg_net)",), "pg_net", "HTTP 401", 7, T0, T0, http_status=401),
    ]
    single = Run("c", "health", "failed", finished_at=T0 + timedelta(hours=10), message="could not connect")
    groups, newest = group_failures([single], (), counts)
    assert [(g.group, g.count) for g in groups] == [("DB_CONNECTION", 301), ("AUTH", 7)]
    db = groups[0]
    assert db.jobs == ["a", "b", "c"]
    assert db.first_seen == T0 - timedelta(hours=1) and db.last_seen == T0 + timedelta(hours=10)
    assert db.sample == "c: could not connect"
    assert newest[("a", "DB_CONNECTION")].finished_at == T0 + timedelta(hours=9)
    assert newest[("(unlinked pg_net)", "AUTH")].http_status == 401


def _net(body: object, status: int = 200) -> tuple[Run, NetResponse]:
    content = json.dumps(body)
    response = NetResponse(id=1, created=T0, status_code=status, content=content, content_type="application/json")
    run = Run("r", "pg_net", response.outcome, finished_at=T0, run_id="1", http_status=status,
              message=response.message)  # fmt: skip
    return run, response


def test_pg_net_answers_judged_by_the_rule() -> None:
    run, response = _net({"success": False, "skipped": True, "reason": "payment key is not set"})
    judged = judge_net_run(RULE, run, response, 4096)
    assert judged.status == "skipped" and judged.detail["verdict"] == "skipped"
    run, response = _net({"success": False, "error": "gateway unreachable"})
    judged = judge_net_run(RULE, run, response, 4096)
    assert judged.status == "failed" and judged.message == "gateway unreachable"
    run, response = _net({"success": True})
    assert judge_net_run(RULE, run, response, 4096) is run
    run, response = _net({"error": "unauthorized"}, 401)
    assert judge_net_run(RULE, run, response, 4096) is run  # already failed: counted by the pg_net aggregate
    run, response = _net({"success": True})
    assert judge_net_run(RULE, run, None, 4096) is run
