"""Which workflow run a dispatch created, and the verdict that run gives the trigger (pure rules, fixed times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cronctl.records import SourceNote
from cronctl.runbook.model import DispatchSpec
from cronctl.services.trigger import workflow_verification
from cronctl.sources.external.github import to_run
from cronctl.sources.github_dispatch import (
    CLOCK_SKEW,
    Dispatched,
    Watch,
    WatchTarget,
    candidates,
    could_be_ours,
    dispatched,
    ref_name,
    refusal,
    run_details,
    workflow_names,
)

SENT = datetime(2025, 5, 1, 12, 30, 10, 400_000, tzinfo=UTC)
SINCE = datetime(2025, 5, 1, 12, 30, 10, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    run_id: int,
    created: datetime,
    *,
    event: str = "workflow_dispatch",
    branch: str = "main",
    actor: str = "octocat",
    status: str = "completed",
    conclusion: str | None = "success",
) -> dict[str, Any]:
    """The keys of a `workflow-run` object the rule and the mapping read."""
    return {
        "id": run_id,
        "name": "Generate invoices",
        "event": event,
        "status": status,
        "conclusion": conclusion,
        "created_at": stamp(created),
        "run_started_at": stamp(created),
        "updated_at": stamp(created + timedelta(minutes=1)),
        "head_branch": branch,
        "actor": {"login": actor},
        "run_number": run_id % 100,
        "run_attempt": 1,
        "html_url": f"https://github.com/acme/billing/actions/runs/{run_id}",
    }


# ---------------------------------------------------------------- when the dispatch happened (GitHub's clock)


def test_since_is_the_answers_date_less_the_exchange_in_whole_seconds() -> None:
    answered = {"date": "Thu, 01 May 2025 12:30:11 GMT"}
    sent = dispatched(SENT, 0.0, 0.25, answered, None)
    assert sent.server_time == datetime(2025, 5, 1, 12, 30, 11, tzinfo=UTC)
    assert sent.since == datetime(2025, 5, 1, 12, 30, 10, tzinfo=UTC)  # 12:30:10.75, floored
    # This host's clock may be off: GitHub's own Date decides, whatever the local send time says.
    assert dispatched(SENT - timedelta(minutes=5), 0.0, 0.25, answered, None).since == sent.since


def test_without_a_date_header_since_is_the_send_time_less_the_clock_skew() -> None:
    sent = dispatched(SENT, 0.0, 0.25, {}, None)
    assert sent.server_time is None
    assert sent.since == (SENT - CLOCK_SKEW).replace(microsecond=0)
    assert dispatched(SENT, 0.0, 0.1, {"date": "not a date"}, None).server_time is None


def test_run_details_take_the_id_and_the_page() -> None:
    answer = {"workflow_run_id": 42, "run_url": "https://api.github.com/x/42", "html_url": "https://github.com/x/42"}
    assert run_details(answer) == (42, "https://github.com/x/42")
    assert run_details({"workflow_run_id": 42, "run_url": "https://api.github.com/x/42"})[1].endswith("/42")
    for bad in (True, -1, 0, "42", None):
        assert run_details({"workflow_run_id": bad})[0] is None
    assert run_details(None) == (None, None)
    assert dispatched(SENT, 0.0, 0.1, {}, answer).run_id == 42


@pytest.mark.parametrize(
    ("ref", "name"), [("main", "main"), ("refs/heads/release/2", "release/2"), ("refs/tags/v1.2", "v1.2")]
)
def test_ref_name_is_what_github_shows_as_head_branch(ref: str, name: str) -> None:
    assert ref_name(ref) == name


# ---------------------------------------------------------------- the matching rule


def test_a_run_created_before_the_dispatch_is_never_ours() -> None:
    assert could_be_ours(run(1, SINCE), SINCE, "main")
    assert could_be_ours(run(1, SINCE + timedelta(seconds=4)), SINCE, "main")
    assert not could_be_ours(run(1, SINCE - timedelta(seconds=1)), SINCE, "main")
    # Still running, or re-run since: it was created before, so it is someone else's dispatch.
    assert not could_be_ours(run(1, SINCE - timedelta(seconds=1), status="in_progress", conclusion=None), SINCE, "main")


def test_only_workflow_dispatch_runs_on_the_dispatched_ref_by_the_tokens_user() -> None:
    later = SINCE + timedelta(seconds=2)
    assert not could_be_ours(run(1, later, event="schedule"), SINCE, "main")
    assert not could_be_ours(run(1, later, event="push"), SINCE, "main")
    assert not could_be_ours(run(1, later, branch="develop"), SINCE, "main")
    assert could_be_ours(run(1, later, branch="develop"), SINCE, None)
    assert could_be_ours(run(1, later, actor="OctoCat"), SINCE, "main", "octocat")  # logins ignore case
    assert not could_be_ours(run(1, later, actor="someone-else"), SINCE, "main", "octocat")
    assert could_be_ours(run(1, later, actor="someone-else"), SINCE, "main", None)  # actor unknown: not used
    assert not could_be_ours({**run(1, later), "created_at": None}, SINCE, "main")


def test_candidates_are_newest_first_each_once_and_never_a_claimed_run() -> None:
    runs = [
        run(10, SINCE - timedelta(seconds=3)),
        run(11, SINCE + timedelta(seconds=1)),
        run(12, SINCE + timedelta(seconds=5)),
        run(12, SINCE + timedelta(seconds=5)),
        run(13, SINCE + timedelta(seconds=6), event="schedule"),
        {"id": "14", "event": "workflow_dispatch", "created_at": stamp(SINCE), "head_branch": "main"},
    ]
    assert [r["id"] for r in candidates(runs, SINCE, "main")] == [12, 11]
    assert [r["id"] for r in candidates(runs, SINCE, "main", claimed={12})] == [11]
    assert candidates([], SINCE, "main") == []


# ---------------------------------------------------------------- the verdict the run gives the trigger

TARGET = WatchTarget(
    runs_url="https://api.github.com/repos/acme/billing/actions/workflows/invoices.yml/runs",
    user_url="https://api.github.com/user",
    repo="acme/billing",
    workflow="invoices.yml",
    branch="main",
    token_env="GITHUB_TOKEN",
    headers={},
)
SENT_RECORD = Dispatched(SENT, 0.0, 0.2, None, 7, None)


def watched(data: dict[str, Any] | None, **kw: Any) -> Watch:
    return Watch(since=SINCE, run=to_run("invoices", data) if data is not None else None, waited=3.0, **kw)


@pytest.mark.parametrize(
    ("conclusion", "verdict"),
    [
        ("success", "ok"),
        ("failure", "failed"),
        ("timed_out", "failed"),
        ("cancelled", "failed"),
        ("startup_failure", "failed"),
        ("skipped", "skipped"),
        ("action_required", "unverified"),
    ],
)
def test_a_completed_run_gives_its_conclusion_and_page(conclusion: str, verdict: str) -> None:
    result = workflow_verification(watched(run(7, SINCE, conclusion=conclusion)), TARGET, SENT_RECORD, 30)
    assert result.verdict == verdict and result.confirmed is (verdict == "ok")
    assert conclusion in result.reason and result.reason.endswith("https://github.com/acme/billing/actions/runs/7")
    assert result.run_url == "https://github.com/acme/billing/actions/runs/7"


@pytest.mark.parametrize("status", ["queued", "in_progress", "waiting"])
def test_a_run_still_going_at_the_deadline_is_unverified(status: str) -> None:
    result = workflow_verification(watched(run(7, SINCE, status=status, conclusion=None)), TARGET, SENT_RECORD, 30)
    assert result.verdict == "unverified" and not result.confirmed
    assert result.reason == "run 7 still in progress: https://github.com/acme/billing/actions/runs/7"


def test_no_run_several_runs_or_an_unreadable_listing_is_unverified() -> None:
    unnamed = Dispatched(SENT, 0.0, 0.2)
    none = workflow_verification(watched(None), TARGET, unnamed, 30)
    assert none.verdict == "unverified"
    assert none.reason == "no run of invoices.yml on main created since 2025-05-01T12:30:10Z appeared within 30s"
    named = workflow_verification(watched(None), TARGET, SENT_RECORD, 30)
    assert named.verdict == "unverified" and named.reason.startswith("run 7, which GitHub named, did not show")
    several = [r for r in (to_run("invoices", run(i, SINCE)) for i in (8, 9)) if r is not None]
    both = workflow_verification(watched(None, candidates=several), TARGET, unnamed, 30)
    assert both.verdict == "unverified" and "2 runs of invoices.yml on main" in both.reason and not both.confirmed
    limited = SourceNote("github", "error", "GitHub API rate limit reached; resets at 13:00Z")
    refused = workflow_verification(watched(None, note=limited), TARGET, unnamed, 30)
    assert refused.verdict == "unverified" and refused.reason == limited.message


def test_refusals_name_the_variable_and_workflow_names_come_from_the_url() -> None:
    spec = DispatchSpec(repo="acme/billing", workflow="invoices.yml", token_env="GH_DISPATCH")
    assert refusal(401, spec, "acme/billing", "invoices.yml") == "GitHub refused the token in $GH_DISPATCH"
    assert "$GH_DISPATCH" in (refusal(403, spec, "acme/billing", "invoices.yml") or "")
    assert "invoices.yml not found in acme/billing" in (refusal(404, spec, "acme/billing", "invoices.yml") or "")
    assert refusal(500, spec, "acme/billing", "invoices.yml") is None
    url = "https://ghe.example.com/api/v3/repos/acme/billing/actions/workflows/invoices%2Eyml/dispatches"
    assert workflow_names(url) == ("acme/billing", "invoices.yml")
    assert workflow_names("https://example.com/x") == ("the repository", "the workflow")
