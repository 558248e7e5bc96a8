"""`cronctl trigger --dispatch --verify`: the workflow run the dispatch created judges the trigger.

Against the local stand-in for GitHub's REST API (2022-11-28 shapes, real sockets): the dispatch endpoint records
the dispatch and creates a `workflow_dispatch` run that completes after a delay with a set conclusion.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_runner import CliResult, run_cli
from cronctl_sandbox.github_api import GitHubApi

pytestmark = pytest.mark.slow  # most of these tests wait out a deadline

REPO = "acme/billing"
FILE = "invoices.yml"
# Built at run time: nothing token-shaped is committed, and each run has its own values to look for in output.
TOKEN = "test-" + secrets.token_hex(20)
WRONG = "test-" + secrets.token_hex(20)


def forms(value: str) -> set[str]:
    raw = value.encode()
    return {value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex()}


@pytest.fixture(autouse=True)
def _quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub is listed every 1, 2, 3, 5… s; the stand-in's runs end in tenths of a second."""
    from cronctl.sources import github_dispatch

    monkeypatch.setattr(github_dispatch, "POLL_INTERVALS", (0.05, 0.1, 0.2))


@pytest.fixture
def api() -> Iterator[GitHubApi]:
    with GitHubApi(token=TOKEN) as server:
        server.add_workflow(REPO, FILE, name="Generate invoices")
        yield server


class Dispatch:
    """Runs `cronctl trigger` for one dispatch job; every call checks that no form of a token was written."""

    def __init__(self, tmp_path: Path, api: GitHubApi) -> None:
        self.tmp_path = tmp_path
        self.api = api
        self.audit = tmp_path / "audit.jsonl"
        self.runbook = tmp_path / "rb.toml"
        self.write_runbook()

    def write_runbook(self, timeout: str = "10", ref: str = "main") -> None:
        self.runbook.write_text(
            f"""[runbook]
name = "billing"

[jobs.invoices]
timeout = {timeout}

[jobs.invoices.dispatch]
repo = "{REPO}"
workflow = "{FILE}"
ref = "{ref}"
api_url = "${{GITHUB_API_URL}}"
inputs = {{ mode = "full" }}
""",
            encoding="utf-8",
        )

    def __call__(self, *args: str, token: str = TOKEN) -> CliResult:
        env = {
            "GITHUB_API_URL": self.api.url,
            "GITHUB_TOKEN": token,
            "CRONCTL_AUDIT_FILE": str(self.audit),
            "CRONCTL_STATE_DIR": str(self.tmp_path / "state"),
        }
        result = run_cli("trigger", "invoices", "-r", str(self.runbook), *args, env=env)
        audit = self.audit.read_text(encoding="utf-8") if self.audit.exists() else ""
        for value in (TOKEN, WRONG):
            for form in forms(value):
                for where, text in (("stdout", result.stdout), ("stderr", result.stderr), ("audit", audit)):
                    assert form not in text, f"a form of a token appeared in {where}"
        return result

    def json(self, *args: str, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
        result = self(*args, "-f", "json", token=token)
        assert result.stdout.strip(), result.stderr
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def dispatch(tmp_path: Path, api: GitHubApi) -> Dispatch:
    return Dispatch(tmp_path, api)


def listings(api: GitHubApi) -> list[Any]:
    return [r for r in api.requests if r.method == "GET" and r.path.endswith("/runs")]


def page(run_id: int) -> str:
    return f"https://github.com/{REPO}/actions/runs/{run_id}"


# ---------------------------------------------------------------- the run's conclusion is the verdict


def test_dispatch_and_verify_success_is_ok(dispatch: Dispatch, api: GitHubApi) -> None:
    api.dispatch_runs("success", delay=0.4, queued_for=0.1)
    code, data = dispatch.json("--dispatch", "--verify", "--yes")

    assert code == 0, data
    (sent,) = api.dispatches
    assert sent.ref == "main" and sent.inputs == {"mode": "full"} and sent.return_run_details
    assert data["verdict"] == "ok" and data["status_code"] == 200
    assert data["reason"] == f"workflow run {sent.run_id} concluded success: {page(sent.run_id)}"
    verify = data["verify"]
    assert verify["confirmed"] is True and verify["verdict"] == "ok" and verify["run_url"] == page(sent.run_id)
    assert verify["newest_run"]["run_id"] == str(sent.run_id) and verify["newest_run"]["source"] == "github"
    assert data["run_url"] == page(sent.run_id)
    # Each listing asks for this dispatch's runs only, with GitHub's headers and the token.
    seen = listings(api)
    assert seen, api.requests
    for request in seen:
        assert request.query["event"] == ["workflow_dispatch"]
        assert request.query["created"][0].startswith(">=")
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["x-github-api-version"] == "2022-11-28"
    since = datetime.fromisoformat(seen[0].query["created"][0][2:].replace("Z", "+00:00"))
    assert since <= sent.at and sent.at - since < timedelta(seconds=3)
    # Listed until the run ended, then no more.
    assert len(seen) <= 6
    assert api.dispatches and all(r.status in (200, 304) for r in seen)


@pytest.mark.parametrize("conclusion", ["failure", "timed_out", "cancelled", "startup_failure"])
def test_dispatch_and_verify_failure_shows_the_conclusion_and_the_url(
    dispatch: Dispatch, api: GitHubApi, conclusion: str
) -> None:
    api.dispatch_runs(conclusion, delay=0.3)
    code, data = dispatch.json("--dispatch", "--verify", "--yes")

    (sent,) = api.dispatches
    assert code == 1
    assert data["verdict"] == "failed" and data["verify"]["verdict"] == "failed"
    assert data["reason"] == f"workflow run {sent.run_id} concluded {conclusion}: {page(sent.run_id)}"
    assert data["verify"]["newest_run"]["raw_status"] == conclusion

    human = dispatch("--dispatch", "--verify", "--yes")
    assert human.exit_code == 1
    assert f"concluded {conclusion}: https://github.com/{REPO}/actions/runs/" in human.stdout


# ---------------------------------------------------------------- which run is the dispatch's


@pytest.mark.parametrize("run_details", [True, False], ids=["run-id-answered", "204-matched"])
def test_a_run_created_just_before_the_dispatch_is_never_taken_as_ours(
    dispatch: Dispatch, api: GitHubApi, run_details: bool
) -> None:
    now = datetime.now(UTC)
    # Someone dispatched the same workflow on the same branch seconds earlier: one run still going, one succeeded.
    api.add_run(REPO, FILE, created_at=now - timedelta(seconds=3), event="workflow_dispatch", status="in_progress",
                conclusion=None)  # fmt: skip
    api.add_run(REPO, FILE, created_at=now - timedelta(seconds=20), event="workflow_dispatch", conclusion="success")
    api.add_run(REPO, FILE, created_at=now - timedelta(seconds=2), event="schedule", conclusion="success")
    api.dispatch_runs("failure", delay=0.3, run_details=run_details)

    code, data = dispatch.json("--dispatch", "--verify", "--yes")

    (sent,) = api.dispatches
    assert data["status_code"] == (200 if run_details else 204)
    assert code == 1 and data["verdict"] == "failed", data["reason"]
    assert data["verify"]["newest_run"]["run_id"] == str(sent.run_id)
    assert data["reason"] == f"workflow run {sent.run_id} concluded failure: {page(sent.run_id)}"
    if not run_details:  # matched: on the dispatched branch, and GET /user was asked for the token's login
        assert all(r.query["branch"] == ["main"] for r in listings(api))
        assert any(r.path == "/user" for r in api.requests)


def test_a_204_dispatch_waits_for_its_run_to_appear(dispatch: Dispatch, api: GitHubApi) -> None:
    api.dispatch_runs("success", delay=1.2, appears_after=0.8, run_details=False)
    code, data = dispatch.json("--dispatch", "--verify", "--yes")

    (sent,) = api.dispatches
    assert code == 0, data["reason"]
    assert data["verify"]["newest_run"]["run_id"] == str(sent.run_id)


def test_two_runs_created_since_the_dispatch_are_not_told_apart(dispatch: Dispatch, api: GitHubApi) -> None:
    # Without a run id, a run another dispatch created at the same moment could be this one's: no verdict.
    api.add_run(REPO, FILE, created_at=datetime.now(UTC) + timedelta(seconds=1), event="workflow_dispatch",
                conclusion="success")  # fmt: skip
    api.dispatch_runs("success", delay=0.2, run_details=False)
    code, data = dispatch.json("--dispatch", "--verify", "--yes")

    assert code == 1 and data["verdict"] == "unverified"
    assert "2 runs of invoices.yml on main were created since the dispatch" in data["reason"]
    assert len(data["verify"]["candidates"]) == 2 and data["verify"]["newest_run"] is None


def test_until_ok_counts_workflow_runs_that_concluded_success(dispatch: Dispatch, api: GitHubApi) -> None:
    api.dispatch_runs("success", delay=0.2)
    code, data = dispatch.json("--dispatch", "--verify", "--yes", "--until-ok", "2", "--interval", "0s")

    assert code == 0, data["reason"]
    assert len(api.dispatches) == 2 and data["consecutive_ok"] == 2
    ids = [run["verify"]["newest_run"]["run_id"] for run in data["runs"]]
    assert ids == [str(d.run_id) for d in api.dispatches]  # each run judged by its own workflow run


@pytest.mark.parametrize("status", [422, 400])
def test_a_github_that_does_not_know_return_run_details_gets_the_dispatch_once_more_without_it(
    dispatch: Dispatch, api: GitHubApi, status: int
) -> None:
    """A GitHub Enterprise Server that predates the parameter refuses the body naming it, before dispatching
    anything: the same dispatch goes again without it, and its run is matched by listing, as for a 204."""
    api.dispatch_runs("success", delay=0.3, rejects_run_details=status)
    code, data = dispatch.json("--dispatch", "--verify", "--yes")

    assert code == 0, data["reason"]
    assert [(r.method, r.status) for r in api.requests if r.method == "POST"] == [("POST", status), ("POST", 204)]
    (sent,) = api.dispatches  # the refused body dispatched nothing
    assert not sent.return_run_details and sent.inputs == {"mode": "full"}
    assert data["status_code"] == 204 and data["verify"]["newest_run"]["run_id"] == str(sent.run_id)
    refused, plain = data["attempts"]
    assert refused["status_code"] == status and "return_run_details" in refused["note"]
    assert plain["status_code"] == 204 and plain["note"] is None
    assert all(r.query["branch"] == ["main"] for r in listings(api))  # matched as for a 204
    audit = [json.loads(line) for line in dispatch.audit.read_text(encoding="utf-8").splitlines()]
    assert sorted({e["details"]["attempt"] for e in audit if "details" in e}) == [1, 2]


def test_the_dispatch_is_sent_again_once_and_only_for_that_refusal(dispatch: Dispatch, api: GitHubApi) -> None:
    dispatch.write_runbook(ref="")  # GitHub's own 422: "ref" wasn't supplied
    code, data = dispatch.json("--dispatch", "--yes")
    assert code == 1 and data["status_code"] == 422 and len(data["attempts"]) == 1  # not about the parameter

    api.dispatch_runs("success", rejects_run_details=422)
    code, data = dispatch.json("--dispatch", "--yes")
    # Refused without the parameter too: that refusal is GitHub's answer, not sent a third time.
    assert code == 1 and [a["status_code"] for a in data["attempts"]] == [422, 422]
    assert "ref" in data["reason"] and api.dispatches == []


# ---------------------------------------------------------------- no verdict without the run's outcome


def test_a_run_still_in_progress_at_the_deadline_is_unverified(dispatch: Dispatch, api: GitHubApi) -> None:
    api.dispatch_runs(None, queued_for=0.2)  # never completes
    start = time.monotonic()
    code, data = dispatch.json("--dispatch", "--verify", "--yes", "--timeout", "1s")
    took = time.monotonic() - start

    (sent,) = api.dispatches
    assert code == 1 and data["verdict"] == "unverified" and data["verify"]["confirmed"] is False
    assert data["reason"] == f"run {sent.run_id} still in progress: {page(sent.run_id)}"
    assert data["verify"]["newest_run"]["status"] == "running"
    assert 0.95 <= took < 3.0

    human = dispatch("--dispatch", "--verify", "--yes", "--timeout", "0.5s")
    assert human.exit_code == 1 and "still in progress: https://github.com/" in human.stdout
    assert "a longer --timeout waits longer" in human.stdout


def test_no_run_appearing_by_the_deadline_is_unverified(dispatch: Dispatch, api: GitHubApi) -> None:
    api.dispatch_runs("success", appears_after=30, run_details=False)
    code, data = dispatch.json("--dispatch", "--verify", "--yes", "--timeout", "0.5s")

    assert code == 1 and data["verdict"] == "unverified"
    assert data["reason"].startswith("no run of invoices.yml on main created since ")
    assert data["reason"].endswith("appeared within 0.5s")


# ---------------------------------------------------------------- refusals and dry runs


def test_a_refused_token_is_one_line_without_the_token(dispatch: Dispatch, api: GitHubApi) -> None:
    code, data = dispatch.json("--dispatch", "--verify", "--yes", token=WRONG)

    assert code == 1 and data["verdict"] == "failed" and data["failure_group"] == "AUTH"
    assert data["reason"] == "HTTP 401: Bad credentials — GitHub refused the token in $GITHUB_TOKEN"
    assert "\n" not in data["verify"]["reason"] and "$GITHUB_TOKEN" in data["verify"]["reason"]
    assert [(r.method, r.status) for r in api.requests] == [("POST", 401)]  # nothing to wait for
    assert api.dispatches == []

    human = dispatch("--dispatch", "--verify", "--yes", token=WRONG)
    lines = [line for line in human.stdout.splitlines() if "refused the token" in line]
    assert human.exit_code == 1 and lines and all("$GITHUB_TOKEN" in line for line in lines)


def test_dry_run_shows_the_request_with_the_variable_and_sends_nothing(dispatch: Dispatch, api: GitHubApi) -> None:
    result = dispatch("--dispatch", "--verify", "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert 'Authorization: Bearer $GITHUB_TOKEN"' in result.stdout
    assert f"/repos/{REPO}/actions/workflows/{FILE}/dispatches" in result.stdout
    assert '"return_run_details":true' in result.stdout
    assert api.requests == [] and api.dispatches == []
