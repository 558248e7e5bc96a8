"""Failure groups from aggregated counts, and pg_net answers judged by a job's success rule. Pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cronctl.evaluate.triage import group_failures, net_judge
from cronctl.records import FailureCount, NetResponse, Run
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


def _net(body: object, status: int = 200) -> NetResponse:
    content = json.dumps(body)
    return NetResponse(id=1, created=T0, status_code=status, content=content, content_type="application/json")


def test_pg_net_answers_judged_by_the_rule() -> None:
    verdict = net_judge({"r": RULE}, 4096)
    assert verdict("r", _net({"success": False, "skipped": True, "reason": "payment key is not set"}))[0] == "skipped"
    assert verdict("r", _net({"success": False, "error": "gateway unreachable"})) == ("failed", "gateway unreachable")
    assert verdict("r", _net({"success": True})) == ("succeeded", None)
    assert verdict("r", _net({"error": "unauthorized"}, 401))[0] == "failed"
    # A job the runbook does not map is judged by pg_net's own rule: any 2xx.
    assert verdict("other", _net({"success": False}))[0] == "succeeded"
    timeout = NetResponse(id=2, created=T0, timed_out=True, error_msg="Timeout of 5000 ms reached")
    assert verdict("r", timeout) == ("failed", "Timeout of 5000 ms reached")
