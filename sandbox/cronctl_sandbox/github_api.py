"""A local stand-in for GitHub's REST API: the Actions endpoints cronctl reads a workflow's history from, and the
workflow-dispatch endpoint `cronctl trigger --dispatch` fires a workflow with.

Shapes follow GitHub's published description of REST API version 2022-11-28 (github/rest-api-description,
`descriptions/api.github.com/api.github.com.2022-11-28.yaml`, and docs.github.com/rest/actions):

- `GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}` ("Get a workflow", operationId
  actions/get-workflow) answers a `workflow` object: id, node_id, name, path, state (`active`, `deleted`,
  `disabled_fork`, `disabled_inactivity`, `disabled_manually`), created_at, updated_at, url, html_url, badge_url.
- `GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs` ("List workflow runs for a workflow",
  actions/list-workflow-runs) answers `{"total_count", "workflow_runs": [workflow-run, ...]}` newest first, with
  the query parameters `event`, `status` (a status or a conclusion), `branch`, `created` (search syntax:
  `>=T`, `>T`, `<=T`, `<T`, `A..B`, `A..*`, `*..B`, or a date), `per_page` (default 30, max 100) and `page`,
  and a `Link` header (`rel="next"`, `"last"`, `"first"`, `"prev"`) whose URLs use the `/repositories/{id}/...`
  form, as api.github.com's do. `workflow_id` is the numeric id or the file name.
- `POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches` ("Create a workflow dispatch event",
  actions/create-workflow-dispatch) takes `{"ref", "inputs", "return_run_details"}` and answers 204 without a
  body, or 200 with a `workflow-dispatch-response` (`workflow_run_id`, `run_url`, `html_url`) when
  `return_run_details` is true. Each accepted dispatch is recorded (`dispatches`) and creates a `workflow_dispatch`
  run, `queued`, then `in_progress`, then `completed` with the conclusion `dispatch_runs` sets, after its delay.
  Told to (`dispatch_runs(rejects_run_details=422)`), it is a GitHub Enterprise Server that does not know
  `return_run_details`: a body carrying it is refused (422 or 400, naming it) and nothing is dispatched.

Like api.github.com it checks `Authorization: Bearer <token>` (or `token <token>`): a wrong token is 401 "Bad
credentials"; no token reads public repositories only (a private one is 404, as GitHub hides it); a forbidden
repository is 403 "Resource not accessible by personal access token"; a renamed repository's old name is 301 to
its `/repositories/{id}/...` URL. Every answer carries an `ETag` and the
`x-ratelimit-*` headers; `If-None-Match` with the current ETag is 304 without a body and does not count against
the rate limit. The primary limit can be exhausted (403 or 429 with `x-ratelimit-remaining: 0`), a secondary
limit sets `retry-after`, and the server can be told to delay or never answer.

Only the standard library is imported.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from cronctl_sandbox.local_server import LocalServer

__all__ = ["API_VERSIONS", "WORKFLOW_STATES", "GitHubApi", "GitHubDispatch", "GitHubRequest"]

API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
WORKFLOW_STATES = ("active", "deleted", "disabled_fork", "disabled_inactivity", "disabled_manually")
RUN_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "stale",
    "startup_failure",
)
_DOCS = "https://docs.github.com/rest"
_RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass(frozen=True)
class GitHubRequest:
    """A request as the stand-in saw it and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    status: int


@dataclass(frozen=True)
class GitHubDispatch:
    """A workflow dispatch the stand-in accepted, and the run it created."""

    repo: str
    workflow: str  # the file name
    ref: str
    inputs: dict[str, Any]
    return_run_details: bool
    run_id: int
    at: datetime


@dataclass
class _DispatchPlan:
    """What the runs that dispatches create do: when they start and end, and how."""

    conclusion: str | None = "success"  # None: the run never completes
    delay: float = 0.5  # seconds from the dispatch to `completed`
    queued_for: float = 0.0  # seconds `queued` before `in_progress`
    appears_after: float = 0.0  # seconds before the run shows in the listings (created_at stays the dispatch time)
    run_details: bool = True  # False: answer 204 even to `return_run_details` (a GitHub that predates it)
    rejects_run_details: int | None = None  # 422 or 400: refuse a body carrying `return_run_details`, naming it


@dataclass
class _Workflow:
    id: int
    file: str
    name: str
    state: str
    runs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    private: bool
    forbidden: bool = False
    workflows: dict[str, _Workflow] = field(default_factory=dict)  # file name -> workflow

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class _Answer:
    status: int
    document: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    counts: bool = True  # against the rate limit


def _sha(number: int) -> str:
    """A stable 40-hex-digit commit id for a run."""
    return hashlib.sha256(str(number).encode()).hexdigest()[:40]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str, user_id: int) -> dict[str, Any]:
    """A `simple-user` object."""
    base = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": f"MDQ6VXNlcj{user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": "User",
        "site_admin": False,
    }


def _repository(repo: _Repo) -> dict[str, Any]:
    """A `minimal-repository` object (the keys a workflow run carries)."""
    api = f"https://api.github.com/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": f"MDEwOlJlcG9zaXRvcnk{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": _user(repo.owner, 1),
        "html_url": f"https://github.com/{repo.full_name}",
        "description": None,
        "fork": False,
        "url": api,
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "commits_url": f"{api}/commits{{/sha}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "deployments_url": f"{api}/deployments",
        "events_url": f"{api}/events",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "releases_url": f"{api}/releases{{/id}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "tags_url": f"{api}/tags",
        "trees_url": f"{api}/git/trees{{/sha}}",
    }


def _parse_moment(text: str, end_of_day: bool = False) -> datetime:
    """A search-syntax date or date-time (`2024-05-01`, `2024-05-01T10:00:00Z`, `...+00:00`)."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return moment + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else moment
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _created_matcher(expression: str) -> Callable[[datetime], bool]:
    """A predicate for the `created` qualifier; ValueError when the expression does not parse."""
    expr = expression.strip()
    if ".." in expr:
        low, _, high = expr.partition("..")
        start = None if low.strip() == "*" else _parse_moment(low)
        end = None if high.strip() == "*" else _parse_moment(high, end_of_day=True)
        return lambda t: (start is None or t >= start) and (end is None or t <= end)
    compare: dict[str, Callable[[datetime, datetime], bool]] = {
        ">=": lambda t, b: t >= b,
        "<=": lambda t, b: t <= b,
        ">": lambda t, b: t > b,
        "<": lambda t, b: t < b,
    }
    for op, test in compare.items():
        if expr.startswith(op):
            bound = _parse_moment(expr[len(op) :], end_of_day=op in ("<=", ">"))
            return lambda t: test(t, bound)
    start = _parse_moment(expr)
    end = _parse_moment(expr, end_of_day=True) if len(expr) == 10 else start
    return lambda t: start <= t <= end


class GitHubApi(LocalServer):
    """A threaded HTTP server on 127.0.0.1 answering like api.github.com. Use as a context manager.

    `token` is the one token it accepts. Tests set repositories, workflows, runs and faults through the methods
    below; all of them are thread-safe.
    """

    name = "github-api"

    def __init__(self, token: str | None = None, *, rate_limit: int = 5000, anonymous_rate_limit: int = 60) -> None:
        super().__init__()
        self.token = token
        self._lock = threading.Lock()
        self._repos: dict[str, _Repo] = {}
        self._moved: dict[str, _Repo] = {}  # old full name -> renamed repository
        self._moved_to: str | None = None
        self._requests: list[GitHubRequest] = []
        self._next_id = 7_000_000_000
        self._limits = {"token": rate_limit, "anonymous": anonymous_rate_limit}
        self._used = {"token": 0, "anonymous": 0}
        self._reset_at = int(time.time()) + 3600
        self._exhausted_status: int | None = None
        self._retry_after: int | None = None
        self.delay = 0.0  # seconds before each answer
        self.hang = False  # accept, read the request, never answer
        self._dispatch_plan = _DispatchPlan()
        self._dispatches: list[GitHubDispatch] = []

    # what the API knows

    def add_workflow(
        self,
        repo: str,
        file: str,
        *,
        name: str | None = None,
        state: str = "active",
        private: bool = True,
        workflow_id: int | None = None,
    ) -> int:
        """Create the repository (if new) and a workflow `.github/workflows/<file>`; returns the workflow id."""
        if state not in WORKFLOW_STATES:
            raise ValueError(f"unknown workflow state {state!r}; expected one of {WORKFLOW_STATES}")
        owner, _, repo_name = repo.partition("/")
        with self._lock:
            known = self._repos.get(repo)
            if known is None:
                known = _Repo(id=100_000 + len(self._repos), owner=owner, name=repo_name, private=private)
                self._repos[repo] = known
            known.private = private
            wid = workflow_id if workflow_id is not None else 160_000 + len(known.workflows)
            known.workflows[file] = _Workflow(id=wid, file=file, name=name or file.rsplit(".", 1)[0], state=state)
            return wid

    def set_workflow_state(self, repo: str, file: str, state: str) -> None:
        if state not in WORKFLOW_STATES:
            raise ValueError(f"unknown workflow state {state!r}")
        with self._lock:
            self._repos[repo].workflows[file].state = state

    def rename(self, repo: str, new_name: str, *, elsewhere: str | None = None) -> None:
        """Rename a repository: its old name answers 301 to the `/repositories/{id}/...` URL, as GitHub does
        (on the base URL `elsewhere` instead of this server's, to test that a client stays on its host)."""
        owner, _, name = new_name.partition("/")
        with self._lock:
            self._moved_to = elsewhere
            known = self._repos.pop(repo)
            known.owner, known.name = owner, name
            self._repos[new_name] = known
            self._moved[repo] = known

    def forbid(self, repo: str, forbidden: bool = True) -> None:
        """The token may see the repository but not its Actions (a fine-grained token without `actions: read`)."""
        with self._lock:
            self._repos[repo].forbidden = forbidden

    def add_run(
        self,
        repo: str,
        file: str,
        *,
        created_at: datetime,
        event: str = "schedule",
        status: str = "completed",
        conclusion: str | None = "success",
        run_started_at: datetime | None = None,
        updated_at: datetime | None = None,
        run_attempt: int = 1,
        display_title: str | None = None,
        head_branch: str = "main",
    ) -> int:
        """Record one workflow run; returns its id. `conclusion` is null while the run is not completed."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        if conclusion is not None and conclusion not in CONCLUSIONS:
            raise ValueError(f"unknown conclusion {conclusion!r}")
        with self._lock:
            known = self._repos[repo]
            workflow = known.workflows[file]
            self._next_id += 1
            run_id = self._next_id
            number = len(workflow.runs) + 1
            started = run_started_at or created_at
            updated = updated_at or (started + timedelta(minutes=1) if status == "completed" else started)
            workflow.runs.append(
                self._run_document(
                    known,
                    workflow,
                    run_id=run_id,
                    number=number,
                    event=event,
                    status=status,
                    conclusion=conclusion if status == "completed" else None,
                    created=created_at,
                    started=started,
                    updated=updated,
                    attempt=run_attempt,
                    title=display_title or workflow.name,
                    branch=head_branch,
                )
            )
            return run_id

    def clear_runs(self, repo: str, file: str) -> None:
        with self._lock:
            self._repos[repo].workflows[file].runs.clear()

    # workflow dispatch

    def dispatch_runs(
        self,
        conclusion: str | None = "success",
        *,
        delay: float = 0.5,
        queued_for: float = 0.0,
        appears_after: float = 0.0,
        run_details: bool = True,
        rejects_run_details: int | None = None,
    ) -> None:
        """How the runs that later dispatches create behave: `queued` for `queued_for` seconds, then `in_progress`,
        then `completed` with `conclusion` `delay` seconds after the dispatch (never, when `conclusion` is None).
        `appears_after` holds a run out of the listings that long; `run_details=False` answers every dispatch 204;
        `rejects_run_details` (422 or 400) refuses, with that status, every body that carries the parameter."""
        if conclusion is not None and conclusion not in CONCLUSIONS:
            raise ValueError(f"unknown conclusion {conclusion!r}")
        if rejects_run_details not in (None, 400, 422):
            raise ValueError(f"a refusal of return_run_details is 422 or 400, not {rejects_run_details}")
        with self._lock:
            self._dispatch_plan = _DispatchPlan(
                conclusion, delay, queued_for, appears_after, run_details, rejects_run_details
            )

    @property
    def dispatches(self) -> list[GitHubDispatch]:
        with self._lock:
            return list(self._dispatches)

    def _dispatch(self, path: str, identity: str, body: bytes) -> _Answer:
        """`POST .../actions/workflows/{workflow_id}/dispatches`; called with the lock held."""
        parts = [p for p in path.split("/") if p]
        if len(parts) != 7 or parts[0] != "repos" or parts[3:5] != ["actions", "workflows"] or parts[6] != "dispatches":
            return _not_found()
        if identity == "anonymous":
            return _Answer(401, {"message": "Requires authentication", "documentation_url": _DOCS, "status": "401"})
        repo = self._repos.get(f"{parts[1]}/{parts[2]}")
        workflow = (
            None
            if repo is None
            else next((w for w in repo.workflows.values() if parts[5] in (w.file, str(w.id))), None)
        )
        if repo is None or workflow is None:
            return _not_found()
        if repo.forbidden:
            return _Answer(
                403,
                {
                    "message": "Resource not accessible by personal access token",
                    "documentation_url": f"{_DOCS}/actions/workflows#create-a-workflow-dispatch-event",
                    "status": "403",
                },
            )
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _Answer(400, {"message": "Problems parsing JSON", "documentation_url": _DOCS, "status": "400"})
        plan = self._dispatch_plan
        refused = plan.rejects_run_details
        if refused is not None and isinstance(data, dict) and "return_run_details" in data:
            # An Enterprise Server that predates the parameter validates the body against its older schema.
            message = 'Invalid request.\n\n"return_run_details" is not a permitted key.'
            return _Answer(refused, {"message": message, "documentation_url": _DOCS, "status": str(refused)})
        problem = _dispatch_problem(data)
        if problem is not None:
            return _Answer(422, {"message": problem, "documentation_url": _DOCS, "status": "422"})
        ref = str(data["ref"])
        branch = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        now = datetime.now(UTC)
        self._next_id += 1
        run_id = self._next_id
        document = self._run_document(
            repo,
            workflow,
            run_id=run_id,
            number=len(workflow.runs) + 1,
            event="workflow_dispatch",
            status="queued",
            conclusion=None,
            created=now,
            started=now,
            updated=now,
            attempt=1,
            title=workflow.name,
            branch=branch,
        )
        wants = data.get("return_run_details") is True
        self._dispatches.append(
            GitHubDispatch(repo.full_name, workflow.file, ref, dict(data.get("inputs") or {}), wants, run_id, now)
        )
        if plan.appears_after <= 0:
            workflow.runs.append(document)
        threading.Thread(
            target=self._run_dispatched, args=(workflow, document, plan), name=f"github-run-{run_id}", daemon=True
        ).start()
        if not (wants and plan.run_details):
            return _Answer(204)
        return _Answer(200, {"workflow_run_id": run_id, "run_url": document["url"], "html_url": document["html_url"]})

    def _run_dispatched(self, workflow: _Workflow, document: dict[str, Any], plan: _DispatchPlan) -> None:
        """Move a dispatched run through its states on the plan's clock (until the stand-in stops)."""
        start = time.monotonic()
        steps: list[tuple[float, str]] = []
        if plan.appears_after > 0:
            steps.append((plan.appears_after, "appear"))
        steps.append((max(0.0, min(plan.queued_for, plan.delay)), "in_progress"))
        if plan.conclusion is not None:
            steps.append((max(plan.delay, plan.queued_for), "completed"))
        for at, step in sorted(steps, key=lambda s: s[0]):
            if self._stopped.wait(max(0.0, start + at - time.monotonic())):
                return
            now = _stamp(datetime.now(UTC))
            with self._lock:
                if step == "appear":
                    workflow.runs.append(document)
                    continue
                document["status"], document["updated_at"] = step, now
                if step == "in_progress":
                    document["run_started_at"] = now
                else:
                    document["conclusion"] = plan.conclusion

    # rate limits and faults

    def exhaust_rate_limit(self, status: int = 403, reset_at: datetime | None = None) -> None:
        """Use up the primary rate limit: every counted request answers `status` with remaining 0."""
        with self._lock:
            self._exhausted_status = status
            if reset_at is not None:
                self._reset_at = int(reset_at.timestamp())

    def secondary_rate_limit(self, retry_after: int, status: int = 403) -> None:
        """Answer every request `status` with `retry-after` (GitHub's secondary limits)."""
        with self._lock:
            self._retry_after = retry_after
            self._exhausted_status = status

    def reset_rate_limit(self) -> None:
        with self._lock:
            self._exhausted_status = None
            self._retry_after = None
            self._used = {"token": 0, "anonymous": 0}

    def used(self, identity: str = "token") -> int:
        """Requests counted against the primary rate limit of `token` or `anonymous`."""
        with self._lock:
            return self._used[identity]

    # received requests

    @property
    def requests(self) -> list[GitHubRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # request handling (handler threads)

    def _run_document(self, repo: _Repo, workflow: _Workflow, **v: Any) -> dict[str, Any]:
        """A `workflow-run` object as "List workflow runs for a workflow" returns it."""
        api = f"https://api.github.com/repos/{repo.full_name}"
        run_url = f"{api}/actions/runs/{v['run_id']}"
        attempt = v["attempt"]
        return {
            "id": v["run_id"],
            "name": workflow.name,
            "node_id": f"WFR_kwLO{v['run_id']}",
            "check_suite_id": v["run_id"] + 1,
            "check_suite_node_id": f"CS_kwDO{v['run_id'] + 1}",
            "head_branch": v["branch"],
            "head_sha": _sha(v["run_id"]),
            "path": f".github/workflows/{workflow.file}",
            "display_title": v["title"],
            "run_number": v["number"],
            "event": v["event"],
            "status": v["status"],
            "conclusion": v["conclusion"],
            "workflow_id": workflow.id,
            "url": run_url,
            "html_url": f"https://github.com/{repo.full_name}/actions/runs/{v['run_id']}",
            "pull_requests": [],
            "created_at": _stamp(v["created"]),
            "updated_at": _stamp(v["updated"]),
            "actor": _user("octocat", 1),
            "run_attempt": attempt,
            "referenced_workflows": [],
            "run_started_at": _stamp(v["started"]),
            "triggering_actor": _user("github-actions[bot]" if v["event"] == "schedule" else "octocat", 41898282),
            "jobs_url": f"{run_url}/jobs",
            "logs_url": f"{run_url}/logs",
            "check_suite_url": f"{api}/check-suites/{v['run_id'] + 1}",
            "artifacts_url": f"{run_url}/artifacts",
            "cancel_url": f"{run_url}/cancel",
            "rerun_url": f"{run_url}/rerun",
            "previous_attempt_url": f"{run_url}/attempts/{attempt - 1}" if attempt > 1 else None,
            "workflow_url": f"{api}/actions/workflows/{workflow.id}",
            "head_commit": {
                "id": _sha(v["run_id"]),
                "tree_id": _sha(-v["run_id"]),
                "message": v["title"],
                "timestamp": _stamp(v["created"]),
                "author": {"name": "Octo Cat", "email": "octocat@github.com"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            },
            "repository": _repository(repo),
            "head_repository": _repository(repo),
        }

    def _workflow_document(self, repo: _Repo, workflow: _Workflow) -> dict[str, Any]:
        """A `workflow` object as "Get a workflow" returns it."""
        return {
            "id": workflow.id,
            "node_id": f"W_kwDO{workflow.id}",
            "name": workflow.name,
            "path": f".github/workflows/{workflow.file}",
            "state": workflow.state,
            "created_at": "2024-01-09T10:00:00.000Z",
            "updated_at": "2024-03-01T10:00:00.000Z",
            "url": f"https://api.github.com/repos/{repo.full_name}/actions/workflows/{workflow.id}",
            "html_url": f"https://github.com/{repo.full_name}/blob/main/.github/workflows/{workflow.file}",
            "badge_url": f"https://github.com/{repo.full_name}/workflows/{quote(workflow.name)}/badge.svg",
        }

    def _identity(self, headers: dict[str, str]) -> tuple[str | None, bool]:
        """('token' | 'anonymous' | None for refused credentials, authenticated?)."""
        value = headers.get("authorization")
        if value is None:
            return "anonymous", False
        for scheme in ("Bearer ", "bearer ", "token "):
            if value.startswith(scheme) and self.token is not None and value[len(scheme) :] == self.token:
                return "token", True
        return None, False

    def _rate_headers(self, identity: str) -> dict[str, str]:
        limit = self._limits[identity]
        remaining = 0 if self._exhausted_status is not None else max(0, limit - self._used[identity])
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(self._reset_at),
            "x-ratelimit-used": str(limit - remaining),
            "x-ratelimit-resource": "core",
        }

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes = b""
    ) -> _Answer:
        if method not in ("GET", "POST") or (method == "POST" and not path.endswith("/dispatches")):
            return _Answer(404, {"message": "Not Found", "documentation_url": _DOCS, "status": "404"})
        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            return _Answer(400, {"message": f"API version '{version}' is not supported.", "status": "400"})
        identity, _ = self._identity(headers)
        if identity is None:
            return _Answer(401, {"message": "Bad credentials", "documentation_url": _DOCS, "status": "401"})
        with self._lock:
            if self._exhausted_status is not None:
                rate = self._rate_headers(identity)
                if self._retry_after is not None:
                    rate["retry-after"] = str(self._retry_after)
                    message = (
                        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                    )
                else:
                    who = "user ID 1" if identity == "token" else "127.0.0.1"
                    message = f"API rate limit exceeded for {who}."
                doc = {"message": message, "documentation_url": _RATE_DOCS, "status": str(self._exhausted_status)}
                return _Answer(self._exhausted_status, doc, rate, counts=False)
            found = self._dispatch(path, identity, body) if method == "POST" else self._route(path, identity, query)
        return found

    def _route(self, path: str, identity: str, query: dict[str, list[str]]) -> _Answer:
        """Called with the lock held."""
        parts = [p for p in path.split("/") if p]
        repo: _Repo | None = None
        if len(parts) >= 6 and parts[0] == "repos" and parts[3:5] == ["actions", "workflows"]:
            moved = self._moved.get(f"{parts[1]}/{parts[2]}")
            if moved is not None and not (moved.private and identity == "anonymous"):
                location = f"{self._moved_to or self.url}/repositories/{moved.id}/" + "/".join(parts[3:])
                if query:
                    location += "?" + urlencode([(k, v[-1]) for k, v in query.items()])
                document = {"message": "Moved Permanently", "url": location, "documentation_url": _DOCS}
                return _Answer(301, document, {"location": location})
            repo = self._repos.get(f"{parts[1]}/{parts[2]}")
            rest = parts[5:]
        elif len(parts) >= 5 and parts[0] == "repositories" and parts[2:4] == ["actions", "workflows"]:
            repo = next((r for r in self._repos.values() if str(r.id) == parts[1]), None)
            rest = parts[4:]
        else:
            return _not_found()
        if repo is None or (repo.private and identity == "anonymous"):
            return _not_found()
        workflow = next((w for w in repo.workflows.values() if rest[0] in (w.file, str(w.id))), None)
        if workflow is None or len(rest) > 2 or (len(rest) == 2 and rest[1] != "runs"):
            return _not_found()
        if repo.forbidden:
            return _Answer(
                403,
                {
                    "message": "Resource not accessible by personal access token",
                    "documentation_url": "https://docs.github.com/rest/actions/workflows#get-a-workflow",
                    "status": "403",
                },
            )
        if len(rest) == 1:
            return _Answer(200, self._workflow_document(repo, workflow))
        return self._list_runs(repo, workflow, query)

    def _list_runs(self, repo: _Repo, workflow: _Workflow, query: dict[str, list[str]]) -> _Answer:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        try:
            per_page = max(1, min(100, int(one("per_page") or 30)))
            page = max(1, int(one("page") or 1))
            created = _created_matcher(one("created") or "") if one("created") else None
        except ValueError:
            return _Answer(422, {"message": "Validation Failed", "documentation_url": _DOCS, "status": "422"})
        runs = sorted(workflow.runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        event, status, branch = one("event"), one("status"), one("branch")
        if event:
            runs = [r for r in runs if r["event"] == event]
        if status:
            runs = [r for r in runs if status in (r["status"], r["conclusion"])]
        if branch:
            runs = [r for r in runs if r["head_branch"] == branch]
        if created is not None:
            runs = [r for r in runs if created(_parse_moment(r["created_at"]))]
        runs = runs[:1000]  # "up to 1,000 results for each search" with these filters
        start = (page - 1) * per_page
        document = {"total_count": len(runs), "workflow_runs": runs[start : start + per_page]}
        last = max(1, -(-len(runs) // per_page))
        return _Answer(200, document, {"link": self._link(repo, workflow, query, page, last)} if last > 1 else {})

    def _link(self, repo: _Repo, workflow: _Workflow, query: dict[str, list[str]], page: int, last: int) -> str:
        base = f"{self.url}/repositories/{repo.id}/actions/workflows/{workflow.id}/runs"
        kept = [(k, v[-1]) for k, v in query.items() if k != "page"]

        def at(number: int) -> str:
            return f"{base}?{urlencode([*kept, ('page', str(number))])}"

        rels = []
        if page > 1:
            rels += [f'<{at(page - 1)}>; rel="prev"']
        if page < last:
            rels += [f'<{at(page + 1)}>; rel="next"', f'<{at(last)}>; rel="last"']
        if page > 1:
            rels += [f'<{at(1)}>; rel="first"']
        return ", ".join(rels)

    def _finish(
        self, answer: _Answer, identity: str | None, if_none_match: str | None
    ) -> tuple[int, bytes, dict[str, str]]:
        """Encode the answer, apply conditional requests and count it against the rate limit."""
        body = b"" if answer.document is None else json.dumps(answer.document, indent=2).encode()
        headers = dict(answer.headers)
        headers["x-github-api-version-selected"] = "2022-11-28"
        headers["x-github-request-id"] = f"CAFE:{int(time.time() * 1000) % 100000:05d}:{len(body):X}"
        status = answer.status
        if status == 200:
            etag = 'W/"' + hashlib.sha256(body + (identity or "").encode()).hexdigest() + '"'
            headers["etag"] = etag
            headers["cache-control"] = "private, max-age=60, s-maxage=60"
            if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
                status, body = 304, b""
        with self._lock:
            if identity is not None and answer.counts and status != 304:
                self._used[identity] += 1
            if identity is not None and "x-ratelimit-limit" not in headers:
                headers.update(self._rate_headers(identity))
        return status, body, headers

    def _record(self, request: GitHubRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _dispatch_problem(data: Any) -> str | None:
    """What GitHub's validation says about a dispatch body, or None when it is acceptable."""
    if not isinstance(data, dict):
        return "Invalid request.\n\nFor 'links/0/schema', the body is not an object."
    if not isinstance(data.get("ref"), str) or not data["ref"]:
        return 'Invalid request.\n\n"ref" wasn\'t supplied.'
    inputs = data.get("inputs", {})
    if not isinstance(inputs, dict):
        return "Invalid request.\n\nFor 'properties/inputs', the value is not an object."
    if len(inputs) > 25:
        return "Invalid request.\n\nNo more than 25 inputs are allowed."
    extra = set(data) - {"ref", "inputs", "return_run_details"}
    if extra:
        return f"Invalid request.\n\n{sorted(extra)[0]} is not a permitted key."
    if not isinstance(data.get("return_run_details", False), bool):
        return "Invalid request.\n\nFor 'properties/return_run_details', the value is not a boolean."
    return None


def _not_found() -> _Answer:
    return _Answer(404, {"message": "Not Found", "documentation_url": _DOCS, "status": "404"})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in GitHubApi.requests

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if 0 < length <= 1024 * 1024 else b""
        if owner.hang:
            owner._stopped.wait()
            self.close_connection = True
            return
        if owner.delay > 0 and owner._stopped.wait(owner.delay):
            self.close_connection = True
            return
        query = parse_qs(split.query, keep_blank_values=True)
        answer = owner._answer(self.command, split.path, query, headers, body)
        identity, _ = owner._identity(headers)
        status, body, out = owner._finish(answer, identity, headers.get("if-none-match"))
        owner._record(GitHubRequest(self.command, split.path, query, headers, status))
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in out.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    owner: GitHubApi

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gives up (deadline tests) is expected; nothing to print."""


GitHubApi.server_class = _Server
GitHubApi.handler_class = _Handler
