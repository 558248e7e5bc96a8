"""How GitHub workflow runs become Runs, and the small parsers around the GitHub API (pure, fixed times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cronctl.evaluate.classify import classify
from cronctl.sources.external import github
from cronctl_sandbox.github_api import CONCLUSIONS, RUN_STATUSES

T0 = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)


def api_run(**changes: Any) -> dict[str, Any]:
    """The keys of a `workflow-run` object that the mapping reads, as GitHub sends them."""
    run: dict[str, Any] = {
        "id": 30433642,
        "name": "Nightly sync",
        "display_title": "Nightly sync",
        "event": "schedule",
        "status": "completed",
        "conclusion": "success",
        "created_at": "2025-05-01T03:00:00Z",
        "run_started_at": "2025-05-01T03:04:10Z",
        "updated_at": "2025-05-01T03:06:40Z",
        "html_url": "https://github.com/acme/ops/actions/runs/30433642",
        "run_number": 562,
        "run_attempt": 1,
        "head_branch": "main",
    }
    run.update(changes)
    return run


@pytest.mark.parametrize(
    ("status", "conclusion", "expected"),
    [
        ("completed", "success", "succeeded"),
        ("completed", "failure", "failed"),
        ("completed", "timed_out", "failed"),
        ("completed", "startup_failure", "failed"),
        # A cancelled run is not a known good outcome: the job's work did not finish.
        ("completed", "cancelled", "failed"),
        ("completed", "skipped", "skipped"),
        ("completed", "neutral", "skipped"),
        ("completed", "action_required", "unknown"),
        ("completed", "stale", "unknown"),
        ("completed", None, "unknown"),
        ("completed", "something_new", "unknown"),
        ("queued", None, "running"),
        ("in_progress", None, "running"),
        ("waiting", None, "running"),
        ("requested", None, "running"),
        ("pending", None, "running"),
        (None, None, "unknown"),
        ("exploded", None, "unknown"),
    ],
)
def test_status_and_conclusion_give_one_status(status: str | None, conclusion: str | None, expected: str) -> None:
    assert github.run_status(status, conclusion) == expected


def test_every_documented_status_and_conclusion_is_mapped() -> None:
    # Only a run waiting for someone (action_required) or given up (stale) has no outcome either way.
    for conclusion in CONCLUSIONS:
        mapped = github.run_status("completed", conclusion)
        assert (mapped == "unknown") == (conclusion in ("action_required", "stale")), conclusion
    for status in RUN_STATUSES:
        assert github.run_status(status, None) == ("unknown" if status == "completed" else "running")


def test_a_completed_run_becomes_a_run() -> None:
    run = github.to_run("nightly", api_run())
    assert run is not None
    assert run.job == "nightly" and run.source == "github"
    assert run.status == "succeeded" and run.raw_status == "success"
    assert run.started_at == T0 + timedelta(minutes=4, seconds=10)  # run_started_at, not created_at
    assert run.finished_at == T0 + timedelta(minutes=6, seconds=40)
    assert run.duration == 150
    assert run.run_id == "30433642"
    assert run.message == "Nightly sync"
    assert run.http_status is None
    assert run.detail == {
        "event": "schedule",
        "html_url": "https://github.com/acme/ops/actions/runs/30433642",
        "run_number": 562,
        "head_branch": "main",
        "run_attempt": 1,
    }


def test_a_run_in_progress_has_no_end_and_keeps_its_status_as_raw_status() -> None:
    run = github.to_run("nightly", api_run(status="in_progress", conclusion=None))
    assert run is not None
    assert (run.status, run.raw_status, run.finished_at) == ("running", "in_progress", None)
    queued = github.to_run("nightly", api_run(status="queued", conclusion=None))
    assert queued is not None and queued.message == "Nightly sync — queued"


def test_without_run_started_at_the_creation_time_is_the_start() -> None:
    run = github.to_run("nightly", api_run(run_started_at=None))
    assert run is not None and run.started_at == T0


def test_an_update_before_the_start_is_not_an_end() -> None:
    run = github.to_run("nightly", api_run(updated_at="2025-05-01T02:00:00Z"))
    assert run is not None and run.finished_at is None


@pytest.mark.parametrize(
    ("conclusion", "message", "group"),
    [
        ("failure", "Nightly sync — failed", "OTHER"),
        ("timed_out", "Nightly sync — timed out", "TIMEOUT"),
        ("cancelled", "Nightly sync — cancelled", "OTHER"),
        ("startup_failure", "Nightly sync — startup failure (the workflow could not start)", "OTHER"),
    ],
)
def test_a_failed_run_says_what_went_wrong(conclusion: str, message: str, group: str) -> None:
    run = github.to_run("nightly", api_run(conclusion=conclusion))
    assert run is not None and run.message == message
    assert classify(run.message, run.http_status) == group


def test_a_rerun_names_its_attempt() -> None:
    run = github.to_run("nightly", api_run(run_attempt=3, conclusion="failure"))
    assert run is not None and run.message == "Nightly sync — failed (attempt 3)"
    untitled = github.to_run("nightly", api_run(run_attempt=2, display_title=None, name=None))
    assert untitled is not None and untitled.message == "attempt 2"


@pytest.mark.parametrize(
    "broken",
    [
        {"id": None},
        {"id": "30433642"},
        {"id": True},
        {"run_started_at": None, "created_at": None},
        {"run_started_at": "yesterday", "created_at": "soon"},
    ],
)
def test_a_run_without_id_or_time_is_left_out(broken: dict[str, Any]) -> None:
    assert github.to_run("nightly", api_run(**broken)) is None


def test_runs_in_the_window_newest_first_once_each_at_most_limit() -> None:
    raw = [
        api_run(id=1, run_started_at="2025-05-01T01:00:00Z"),
        api_run(id=2, run_started_at="2025-05-01T03:00:00Z"),
        api_run(id=3, run_started_at="2025-05-01T02:00:00Z"),
        api_run(id=2, run_started_at="2025-05-01T03:00:00Z"),  # the same run from the other listing
        api_run(id=4, run_started_at="2025-05-01T05:00:00Z"),  # after `until`
        api_run(id=5, run_started_at="2025-04-30T23:00:00Z"),  # before `since`
        {"id": 6},
    ]
    since, until = datetime(2025, 5, 1, 0, 0, tzinfo=UTC), datetime(2025, 5, 1, 4, 0, tzinfo=UTC)
    runs = github.runs_in_window("nightly", raw, since, until, limit=10)
    assert [r.run_id for r in runs] == ["2", "3", "1"]
    assert [r.run_id for r in github.runs_in_window("nightly", raw, since, until, limit=2)] == ["2", "3"]
    assert github.runs_in_window("nightly", raw, since, until, limit=0) == []


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (datetime(2025, 5, 1, 3, 47, 12, tzinfo=UTC), None, ">=2025-05-01T03:00:00Z"),
        (datetime(2025, 5, 1, 3, 0, tzinfo=UTC), None, ">=2025-05-01T03:00:00Z"),
        (
            datetime(2025, 5, 1, 3, 47, tzinfo=UTC),
            datetime(2025, 5, 1, 9, 1, tzinfo=UTC),
            "2025-05-01T03:00:00Z..2025-05-01T10:00:00Z",
        ),
        (
            datetime(2025, 5, 1, 12, 47, tzinfo=UTC).astimezone(),  # any offset: GitHub's filter is in UTC
            datetime(2025, 5, 1, 14, 0, tzinfo=UTC),
            "2025-05-01T12:00:00Z..2025-05-01T14:00:00Z",
        ),
    ],
)
def test_the_created_filter_uses_whole_hours(since: datetime, until: datetime | None, expected: str) -> None:
    assert github.created_filter(since, until) == expected


def test_the_next_page_comes_from_the_link_header() -> None:
    link = (
        '<https://api.github.com/repositories/1296269/actions/workflows/159038/runs?per_page=100&page=1>; rel="prev", '
        '<https://api.github.com/repositories/1296269/actions/workflows/159038/runs?per_page=100&page=3>; rel="next", '
        '<https://api.github.com/repositories/1296269/actions/workflows/159038/runs?per_page=100&page=5>; rel="last"'
    )
    assert github.next_link(link) == (
        "https://api.github.com/repositories/1296269/actions/workflows/159038/runs?per_page=100&page=3"
    )
    assert github.next_link('<https://api.github.com/x?page=1>; rel="first"') is None
    assert github.next_link(None) is None
    assert github.next_link("") is None


def test_when_the_rate_limit_resets() -> None:
    now = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    reset = int(datetime(2025, 5, 1, 12, 42, tzinfo=UTC).timestamp())
    assert github.rate_limit_reset({"retry-after": "90", "x-ratelimit-reset": str(reset)}, now) == now + timedelta(
        seconds=90
    )
    assert github.rate_limit_reset({"x-ratelimit-reset": str(reset)}, now) == datetime(2025, 5, 1, 12, 42, tzinfo=UTC)
    assert github.rate_limit_reset({}, now) == now + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("status", "headers", "message", "limited"),
    [
        (403, {"x-ratelimit-remaining": "0"}, "API rate limit exceeded for user ID 1.", True),
        (429, {"x-ratelimit-remaining": "0"}, "", True),
        (403, {"retry-after": "60", "x-ratelimit-remaining": "4990"}, "You have exceeded a secondary rate limit", True),
        (403, {"x-ratelimit-remaining": "4990"}, "You have exceeded a secondary rate limit.", True),
        (403, {"x-ratelimit-remaining": "4990"}, "Resource not accessible by personal access token", False),
        (404, {"x-ratelimit-remaining": "0"}, "Not Found", False),
    ],
)
def test_a_rate_limit_is_told_apart_from_a_permission_problem(
    status: int, headers: dict[str, str], message: str, limited: bool
) -> None:
    assert github.is_rate_limited(status, headers, message) is limited


def test_the_source_is_registered_under_its_history_key() -> None:
    assert github.SOURCE.name == "github"
    assert github.API_VERSION == "2022-11-28" and github.ACCEPT == "application/vnd.github+json"


def test_a_re_run_stays_at_the_slot_it_was_made_for() -> None:
    """Re-running 01:00's run at 04:00 must not make it the newest outcome, ahead of 03:00's failure."""
    rerun = github.to_run(
        "nightly",
        api_run(created_at="2025-05-01T01:00:00Z", run_started_at="2025-05-01T04:00:00Z", run_attempt=2,
                updated_at="2025-05-01T04:02:00Z"),
    )  # fmt: skip
    assert rerun is not None and rerun.started_at == datetime(2025, 5, 1, 1, 0, tzinfo=UTC)
    assert rerun.finished_at is None and rerun.status == "succeeded"
    first = github.to_run("nightly", api_run())
    assert first is not None and first.started_at == datetime(2025, 5, 1, 3, 4, 10, tzinfo=UTC)
