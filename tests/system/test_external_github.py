"""GitHub Actions history against a local stand-in for GitHub's REST API (2022-11-28 shapes), real sockets."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronctl.runbook.env import Environment
from cronctl.runbook.model import DispatchSpec, HistorySpec, JobSpec, Runbook
from cronctl.sources.external import source
from cronctl.sources.external.base import ExternalQuery, ExternalRead
from cronctl_sandbox.github_api import GitHubApi

NOW = datetime(2025, 5, 1, 12, 30, tzinfo=UTC)
REPO = "acme/ops"
FILE = "nightly.yml"
# Built at run time: nothing token-shaped is committed, and each run has its own value to look for in output.
TOKEN = "test-" + secrets.token_hex(20)


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("CRONCTL_STATE_DIR", str(state))
    return state


@pytest.fixture
def api() -> Iterator[GitHubApi]:
    with GitHubApi(token=TOKEN) as server:
        server.add_workflow(REPO, FILE, name="Nightly sync")
        yield server


def job(name: str, api_url: str, workflow: str = FILE, repo: str = REPO, token_env: str = "GITHUB_TOKEN") -> JobSpec:
    dispatch = DispatchSpec(repo=repo, workflow=workflow, api_url=api_url, token_env=token_env)
    return JobSpec(name=name, schedule="0 * * * *", dispatch=dispatch, history=HistorySpec(outside={"github": True}))


def read(
    *jobs: JobSpec,
    env: dict[str, str] | None = None,
    since: datetime = NOW - timedelta(days=1),
    timeout: float = 5.0,
    limit: int = 100,
) -> ExternalRead:
    runbook = Runbook(name="github-test", path=Path("github-test.toml"), jobs={j.name: j for j in jobs})
    environment = Environment({"GITHUB_TOKEN": TOKEN} if env is None else env)
    query = ExternalQuery(
        runbook=runbook, env=environment, jobs=list(jobs), since=since, now=NOW, timeout=timeout, limit=limit
    )
    return source("github").read(query)


def everything(out: ExternalRead) -> str:
    """Every text the read produced, for leak checks."""
    runs = [run.to_json() for runs in out.runs.values() for run in runs]
    return repr((out.notes, out.facts, runs))


def test_schedule_and_dispatch_runs_map_to_statuses(api: GitHubApi) -> None:
    hour = timedelta(hours=1)
    api.add_run(REPO, FILE, created_at=NOW - 9 * hour, conclusion="success")
    api.add_run(REPO, FILE, created_at=NOW - 8 * hour, conclusion="failure")
    api.add_run(REPO, FILE, created_at=NOW - 7 * hour, conclusion="timed_out")
    api.add_run(REPO, FILE, created_at=NOW - 6 * hour, conclusion="cancelled")
    api.add_run(REPO, FILE, created_at=NOW - 5 * hour, conclusion="startup_failure")
    api.add_run(REPO, FILE, created_at=NOW - 4 * hour, conclusion="skipped")
    api.add_run(REPO, FILE, created_at=NOW - 3 * hour, conclusion="action_required")
    api.add_run(
        REPO,
        FILE,
        created_at=NOW - 2 * hour,
        event="workflow_dispatch",
        run_started_at=NOW - 90 * timedelta(minutes=1),
        run_attempt=2,
        display_title="Manual rerun",
    )
    api.add_run(REPO, FILE, created_at=NOW - hour, event="push", conclusion="failure")  # not a scheduled run
    api.add_run(REPO, FILE, created_at=NOW - timedelta(minutes=2), status="in_progress", conclusion=None)
    api.add_run(REPO, FILE, created_at=NOW - timedelta(days=3), conclusion="failure")  # before the window

    out = read(job("nightly", api.url))

    assert out.notes["nightly"].state == "ok"
    runs = out.runs["nightly"]
    seen = [(r.status, r.raw_status, r.detail["event"]) for r in runs]
    assert seen == [
        ("running", "in_progress", "schedule"),
        ("succeeded", "success", "workflow_dispatch"),
        ("unknown", "action_required", "schedule"),
        ("skipped", "skipped", "schedule"),
        ("failed", "startup_failure", "schedule"),
        ("failed", "cancelled", "schedule"),
        ("failed", "timed_out", "schedule"),
        ("failed", "failure", "schedule"),
        ("succeeded", "success", "schedule"),
    ]
    assert all(r.source == "github" and r.job == "nightly" for r in runs)
    running, manual = runs[0], runs[1]
    assert running.finished_at is None
    # A re-run stays at the slot it was made for (created_at): the attempt's times would move an old slot's
    # outcome ahead of newer runs.
    assert manual.started_at == NOW - timedelta(minutes=120) and manual.finished_at is None
    assert manual.message == "Manual rerun (attempt 2)"
    assert manual.detail["html_url"].startswith("https://github.com/acme/ops/actions/runs/")
    assert manual.detail["run_number"] == 8 and manual.detail["head_branch"] == "main"
    assert runs[6].message == "Nightly sync — timed out"
    assert out.facts["nightly"] == {
        "workflow_state": "active",
        "workflow_url": "https://github.com/acme/ops/blob/main/.github/workflows/nightly.yml",
        "workflow_path": ".github/workflows/nightly.yml",
        "workflow_name": "Nightly sync",
    }
    # One workflow GET and one listing per event, each with GitHub's headers and the window's filter.
    assert out.requests == 3
    first, *listings = api.requests
    assert first.path == "/repos/acme/ops/actions/workflows/nightly.yml"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["accept"] == "application/vnd.github+json"
    assert first.headers["x-github-api-version"] == "2022-11-28"
    assert [q.query["event"] for q in listings] == [["schedule"], ["workflow_dispatch"]]
    assert all(q.query["per_page"] == ["100"] and q.query["created"] == [">=2025-04-30T12:00:00Z"] for q in listings)


def test_the_limit_and_the_until_bound_apply_per_job(api: GitHubApi) -> None:
    for minutes in range(10, 200, 10):
        api.add_run(REPO, FILE, created_at=NOW - timedelta(minutes=minutes))
    runbook_job = job("nightly", api.url)
    runbook = Runbook(name="t", path=Path("t.toml"), jobs={"nightly": runbook_job})
    until = NOW - timedelta(minutes=55)
    query = ExternalQuery(
        runbook=runbook,
        env=Environment({"GITHUB_TOKEN": TOKEN}),
        jobs=[runbook_job],
        since=NOW - timedelta(hours=2),
        now=NOW,
        until=until,
        limit=3,
    )
    runs = source("github").read(query).runs["nightly"]
    assert [r.started_at for r in runs] == [NOW - timedelta(minutes=m) for m in (60, 70, 80)]
    assert api.requests[1].query["created"] == ["2025-05-01T10:00:00Z..2025-05-01T12:00:00Z"]


def test_pagination_follows_the_link_header_across_three_pages(api: GitHubApi) -> None:
    for n in range(250):
        api.add_run(REPO, FILE, created_at=NOW - timedelta(minutes=2 * n + 1))

    out = read(job("nightly", api.url), limit=250)

    assert out.notes["nightly"].state == "ok"
    runs = out.runs["nightly"]
    assert len(runs) == 250 and len({r.run_id for r in runs}) == 250
    assert runs[0].started_at == NOW - timedelta(minutes=1)
    assert runs[-1].started_at == NOW - timedelta(minutes=499)
    schedule_pages = [q for q in api.requests if q.path.endswith("/runs") and "page" in q.query]
    # Pages 2 and 3 come from the Link header, whose URLs use GitHub's /repositories/{id}/... form.
    assert [q.query["page"] for q in schedule_pages] == [["2"], ["3"]]
    assert all(q.path.startswith("/repositories/") for q in schedule_pages)
    assert out.requests == 5  # the workflow, three schedule pages, one workflow_dispatch page


def test_pagination_stops_once_the_limit_is_reached(api: GitHubApi) -> None:
    for n in range(250):
        api.add_run(REPO, FILE, created_at=NOW - timedelta(minutes=2 * n + 1))
    out = read(job("nightly", api.url), limit=120)
    assert len(out.runs["nightly"]) == 120
    assert out.requests == 4  # two schedule pages hold 120 runs; the third is not asked for


def test_a_second_read_gets_304_and_uses_the_kept_answer(api: GitHubApi, _state_dir: Path) -> None:
    api.add_run(REPO, FILE, created_at=NOW - timedelta(hours=2), conclusion="failure")
    api.add_run(REPO, FILE, created_at=NOW - timedelta(hours=1))
    first = read(job("nightly", api.url))
    used = api.used()
    api.clear_requests()

    second = read(job("nightly", api.url))

    assert [r.status for r in api.requests] == [304, 304, 304]
    assert all("if-none-match" in r.headers for r in api.requests)
    assert api.used() == used  # a 304 does not count against the rate limit
    assert second.notes["nightly"].state == "ok"
    assert [r.to_json() for r in second.runs["nightly"]] == [r.to_json() for r in first.runs["nightly"]]
    assert second.facts == first.facts
    kept = list((_state_dir / "github").glob("*.json"))
    assert len(kept) == 3 and all(p.stat().st_mode & 0o077 == 0 for p in kept)
    assert not any(TOKEN in p.read_text() for p in kept)

    # A new run changes the listing's ETag: that listing is read again, the unchanged ones are not.
    api.add_run(REPO, FILE, created_at=NOW - timedelta(minutes=5), event="workflow_dispatch")
    api.clear_requests()
    third = read(job("nightly", api.url))
    assert [r.status for r in api.requests] == [304, 304, 200]
    assert [r.detail["event"] for r in third.runs["nightly"]] == ["workflow_dispatch", "schedule", "schedule"]


def test_an_unreadable_kept_answer_is_asked_for_again(api: GitHubApi, _state_dir: Path) -> None:
    api.add_run(REPO, FILE, created_at=NOW - timedelta(hours=1))
    read(job("nightly", api.url))
    for kept in (_state_dir / "github").glob("*.json"):
        data = json.loads(kept.read_text())
        data["body"] = {"workflow_runs": "not a list", "state": 7}
        kept.write_text(json.dumps(data))
    api.clear_requests()

    out = read(job("nightly", api.url))

    assert [r.status for r in api.requests] == [200, 200, 200]
    assert not any("if-none-match" in r.headers for r in api.requests)
    assert [r.status for r in out.runs["nightly"]] == ["succeeded"]


def test_a_workflow_disabled_for_inactivity_is_a_fact(api: GitHubApi) -> None:
    api.add_run(REPO, FILE, created_at=NOW - timedelta(hours=3))
    api.set_workflow_state(REPO, FILE, "disabled_inactivity")

    out = read(job("nightly", api.url))

    assert out.facts["nightly"]["workflow_state"] == "disabled_inactivity"
    assert out.facts["nightly"]["workflow_path"] == ".github/workflows/nightly.yml"
    assert out.notes["nightly"].state == "ok"
    assert [r.status for r in out.runs["nightly"]] == ["succeeded"]  # the history before it was disabled


def test_jobs_on_the_same_workflow_share_one_read(api: GitHubApi) -> None:
    api.add_run(REPO, FILE, created_at=NOW - timedelta(hours=1))
    out = read(job("a", api.url), job("b", api.url, workflow=".github/workflows/nightly.yml"))
    assert out.requests == 3
    assert [r.job for r in out.runs["a"]] == ["a"] and [r.job for r in out.runs["b"]] == ["b"]
    assert out.facts["a"] == out.facts["b"]


def test_a_renamed_repository_is_followed_on_the_same_host_only(api: GitHubApi) -> None:
    api.add_run(REPO, FILE, created_at=NOW - timedelta(hours=1))
    api.rename(REPO, "acme/operations")

    out = read(job("nightly", api.url))

    assert out.notes["nightly"].state == "ok" and [r.status for r in out.runs["nightly"]] == ["succeeded"]
    assert [r.status for r in api.requests] == [301, 200, 301, 200, 301, 200]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    assert api.requests[1].path.startswith("/repositories/") and out.requests == 6

    with GitHubApi(token=TOKEN) as other:
        other_url = other.url
        api.rename("acme/operations", "acme/ops-elsewhere", elsewhere=other_url)
        api.clear_requests()
        out = read(job("nightly", api.url, repo="acme/operations"))
        assert other.requests == []  # the token is never sent to another host
    assert out.notes["nightly"].state == "error" and "nightly" not in out.runs
    assert out.notes["nightly"].message == (
        f"GitHub API redirected acme/operations to {other_url}/repositories/100000/actions/workflows/nightly.yml "
        "(HTTP 301); not followed"
    )


def test_a_refused_token_is_one_line_and_never_shown(api: GitHubApi) -> None:
    wrong = "test-" + secrets.token_hex(20)
    out = read(job("a", api.url), job("b", api.url, workflow="other.yml"), env={"GITHUB_TOKEN": wrong})

    for name in ("a", "b"):
        assert out.notes[name].state == "error"
        assert out.notes[name].message == "GitHub token in $GITHUB_TOKEN was refused (401): Bad credentials"
        assert name not in out.runs
    assert out.requests == 1  # the second job is not asked for with a token already refused
    assert wrong not in everything(out) and TOKEN not in everything(out)
    # Said as a fact too, for triage's one finding (evaluate.snapshot), not only in the note's words.
    for name in ("a", "b"):
        assert out.facts[name] == {"token": {"source": "github", "env": "GITHUB_TOKEN", "state": "refused"}}


def test_a_token_without_actions_read_is_told_which_permission(api: GitHubApi) -> None:
    api.forbid(REPO)
    out = read(job("nightly", api.url))
    note = out.notes["nightly"]
    assert note.state == "error"
    assert note.message == (
        "GitHub token in $GITHUB_TOKEN lacks the `actions: read` permission (fine-grained) / `repo` scope "
        "(classic) for acme/ops (403: Resource not accessible by personal access token)"
    )
    assert TOKEN not in everything(out)
    assert "token" not in out.facts.get("nightly", {})  # a missing permission is not a refused token


def test_an_unknown_workflow_is_not_found(api: GitHubApi) -> None:
    out = read(job("nightly", api.url, workflow="missing.yml"), job("other", api.url, repo="acme/gone"))
    assert out.notes["nightly"].message == (
        "workflow missing.yml not found in acme/ops (or the token in $GITHUB_TOKEN cannot see the repository)"
    )
    assert out.notes["other"].message == (
        "workflow nightly.yml not found in acme/gone (or the token in $GITHUB_TOKEN cannot see the repository)"
    )
    assert "nightly" not in out.facts and TOKEN not in everything(out)


@pytest.mark.parametrize("status", [403, 429])
def test_an_exhausted_rate_limit_stops_the_read(api: GitHubApi, status: int) -> None:
    reset = datetime(2025, 5, 1, 13, 7, 30, tzinfo=UTC)
    api.exhaust_rate_limit(status=status, reset_at=reset)

    out = read(job("a", api.url), job("b", api.url, workflow="other.yml"))

    for name in ("a", "b"):
        assert out.notes[name].state == "error"
        assert out.notes[name].message == "GitHub API rate limit reached; resets at 13:07Z"
    assert out.requests == 1  # nothing more is asked once the limit is reached
    assert TOKEN not in everything(out)


def test_a_secondary_rate_limit_waits_for_retry_after(api: GitHubApi) -> None:
    api.secondary_rate_limit(retry_after=120)
    before = datetime.now(UTC)
    out = read(job("nightly", api.url))
    message = out.notes["nightly"].message or ""
    assert message.startswith("GitHub API rate limit reached; resets at ")
    expected = {f"{before + timedelta(seconds=120 + s):%H:%M}Z" for s in (0, 60)}
    assert message.rsplit(" ", 1)[-1] in expected


def test_the_last_request_the_limit_allows_ends_the_read_for_later_jobs() -> None:
    with GitHubApi(token=TOKEN, rate_limit=3) as api:
        api.add_workflow(REPO, FILE)
        api.add_workflow(REPO, "other.yml")
        api.add_run(REPO, FILE, created_at=NOW - timedelta(hours=1))
        out = read(job("a", api.url), job("b", api.url, workflow="other.yml"))
        assert out.notes["a"].state == "ok" and len(out.runs["a"]) == 1
        assert (out.notes["b"].message or "").startswith("GitHub API rate limit reached; resets at ")
        assert out.requests == 3 and api.used() == 3


def test_a_public_repository_is_read_without_a_token() -> None:
    with GitHubApi(token=TOKEN) as api:
        api.add_workflow("octo/public", FILE, private=False)
        api.add_workflow("octo/private", FILE, private=True)
        api.add_run("octo/public", FILE, created_at=NOW - timedelta(hours=1))
        out = read(job("pub", api.url, repo="octo/public"), job("priv", api.url, repo="octo/private"), env={})
        assert "authorization" not in api.requests[0].headers
        assert api.used("anonymous") == 3 + 1

    assert out.notes["pub"].state == "ok"
    assert out.notes["pub"].message == (
        "read without a token ($GITHUB_TOKEN is not set): public repositories only, 60 requests an hour"
    )
    assert [r.status for r in out.runs["pub"]] == ["succeeded"]
    assert out.notes["priv"].message == (
        "workflow nightly.yml not found in octo/private (or the repository is private: set $GITHUB_TOKEN)"
    )


def test_a_server_that_never_answers_ends_within_the_deadline(api: GitHubApi) -> None:
    api.hang = True
    started = time.monotonic()
    out = read(job("a", api.url), job("b", api.url, workflow="other.yml"), timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    for name in ("a", "b"):
        assert out.notes[name].state == "timeout"
        assert out.notes[name].message == f"GitHub API at {api.url[7:]} gave no complete answer within 0.5s"
        assert name not in out.runs


def test_one_deadline_covers_every_page(api: GitHubApi) -> None:
    for n in range(250):
        api.add_run(REPO, FILE, created_at=NOW - timedelta(minutes=2 * n + 1))
    api.delay = 0.2  # each answer is quick; the three pages are not
    started = time.monotonic()
    out = read(job("nightly", api.url), timeout=0.5, limit=250)
    assert time.monotonic() - started < 1.8
    assert out.notes["nightly"].state == "timeout"
    assert "nightly" not in out.runs  # a partial history is not passed off as the whole
    assert out.facts["nightly"]["workflow_state"] == "active"  # what was read in time still counts


def test_an_unreachable_api_is_one_line() -> None:
    with GitHubApi(token=TOKEN) as api:
        url = api.url  # the port is closed once the server stops
    out = read(job("nightly", url))
    note = out.notes["nightly"]
    assert note.state == "error"
    assert note.message is not None and note.message.startswith(f"GitHub API at {url[7:]} could not be read: ")
    assert "\n" not in note.message


def test_a_bad_dispatch_table_is_a_note_not_an_exception(api: GitHubApi) -> None:
    out = read(job("bad", api.url, repo="no-slash"), job("unset", api.url, repo="${OPS_REPO}"), job("ok", api.url))
    assert out.notes["bad"].message == "job bad: dispatch.repo 'no-slash' is not 'owner/name'"
    assert out.notes["unset"].state == "error" and "OPS_REPO" in (out.notes["unset"].message or "")
    assert out.notes["ok"].state == "ok"
