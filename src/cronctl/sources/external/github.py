"""GitHub Actions history: the runs of each job's `[dispatch]` workflow, read through GitHub's REST API.

For every job with `history = { github = true }` this reads, with REST API version 2022-11-28:

- `GET {api_url}/repos/{owner}/{repo}/actions/workflows/{workflow}` ("Get a workflow") for the workflow's
  `state` (`active`, `disabled_manually`, `disabled_inactivity`, `disabled_fork`, `deleted`), which goes into
  `ExternalRead.facts`, not into the runs;
- `GET .../workflows/{workflow}/runs?event=schedule` and `...?event=workflow_dispatch` ("List workflow runs for
  a workflow"), `created` bounding the window and `per_page=100`, following the `Link: rel="next"` pages.

Two listings filtered by the server rather than one unfiltered listing filtered here: a workflow that also runs
on `push` or `pull_request` would fill the pages with runs that say nothing about the schedule, so the pages and
the `limit` would be spent on them; filtered, every page holds only runs that count, at the price of one more
request per job (and an unchanged listing costs nothing: see below).

Each GET is conditional: the ETag and the part of the answer cronctl uses are kept in the state directory
(`$CRONCTL_STATE_DIR/github/`, one file per URL and kind of credentials) and sent back as `If-None-Match`; a 304
reuses the kept answer and does not count against GitHub's rate limit. So that repeated triage asks for the
same URL, the window's start is rounded down to the hour (runs outside the window are dropped here). The
rate-limit headers are watched on every answer: when the limit is used up (403/429 with
`x-ratelimit-remaining: 0`, or `retry-after`), nothing more is asked of that API in this read and every job left
gets one note, "GitHub API rate limit reached; resets at HH:MMZ".

One deadline (`ExternalQuery.timeout`) covers the whole read, every page of every job. The token (from the
job's `dispatch.token_env`) is sent only to `api_url` — a next page or a redirect on another host is not
followed; a renamed repository's 301 on the same host is — and never appears in a note; without a token a
public repository is still read, and the note says so.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from cronctl import __version__, redact
from cronctl.errors import CronctlError, UsageError
from cronctl.records import Run, SourceNote, aware
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec
from cronctl.sources.external.base import ExternalQuery, ExternalRead, flag

NAME = "github"
# GitHub delays scheduled runs under load (and drops some): a slot is missed only past this.
SCHEDULER_DELAY = 30 * 60.0
# The same conventions as sources/github_dispatch.py (kept here so reading history does not import the trigger path).
API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
EVENTS = ("schedule", "workflow_dispatch")
PER_PAGE = 100
MAX_PAGES = 10  # per listing: GitHub answers at most 1,000 runs for a filtered listing anyway
MAX_REDIRECTS = 3  # same-host redirects followed for one GET (a renamed repository)
MAX_BODY = 8 * 1024 * 1024  # a page of 100 runs is about 0.7 MB
CACHE_DAYS = 3  # kept answers older than this are removed
WORKFLOW_STATES = ("active", "disabled_manually", "disabled_inactivity", "disabled_fork", "deleted")

# A run's `status` while it has no outcome yet, and each `conclusion` once it is `completed`.
_RUNNING = frozenset({"queued", "in_progress", "waiting", "requested", "pending"})
_OUTCOMES = {
    "success": "succeeded",
    "failure": "failed",
    "timed_out": "failed",
    "startup_failure": "failed",
    # Not a known good outcome: the job's work did not finish (a newer run cancelled it, or a person did).
    "cancelled": "failed",
    "skipped": "skipped",
    "neutral": "skipped",
    # Waiting for someone (approval) or given up by GitHub: no outcome either way.
    "action_required": "unknown",
    "stale": "unknown",
}
# Words for a conclusion in Run.message, so the failure classifier sees "timed out" as a timeout.
_WORDS = {
    "failure": "failed",
    "timed_out": "timed out",
    "startup_failure": "startup failure (the workflow could not start)",
    "cancelled": "cancelled",
    "action_required": "waiting for approval (action required)",
    "stale": "stale (GitHub stopped waiting for it)",
}
_RUN_KEYS = (
    "id",
    "name",
    "event",
    "status",
    "conclusion",
    "run_started_at",
    "created_at",
    "updated_at",
    "html_url",
    "run_number",
    "run_attempt",
    "head_branch",
    "display_title",
)
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]*)"?')


# ---------------------------------------------------------------- mapping (pure)


def run_status(status: str | None, conclusion: str | None) -> str:
    """cronctl's status for a workflow run's GitHub `status` and `conclusion`."""
    if status in _RUNNING:
        return "running"
    if status == "completed":
        return _OUTCOMES.get(conclusion or "", "unknown")
    return "unknown"


def parse_time(value: Any) -> datetime | None:
    """GitHub's `2024-05-01T10:00:00Z` as an aware datetime; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return aware(parsed)


def to_run(job: str, data: Mapping[str, Any]) -> Run | None:
    """One workflow run of the "List workflow runs" answer as a Run; None when it has no id or time."""
    run_id = data.get("id")
    started = parse_time(data.get("run_started_at")) or parse_time(data.get("created_at"))
    if not isinstance(run_id, int) or isinstance(run_id, bool) or started is None:
        return None
    status = data.get("status") if isinstance(data.get("status"), str) else None
    conclusion = data.get("conclusion") if isinstance(data.get("conclusion"), str) else None
    finished = parse_time(data.get("updated_at")) if status == "completed" else None
    attempt = data.get("run_attempt")
    created = parse_time(data.get("created_at"))
    if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 1 and created and created < started:
        # A re-run keeps its run (id, created_at = the slot it was made for) and moves run_started_at to the
        # attempt: it stays at its slot, or an old slot's re-run would hide a newer slot's failure. Its times are
        # the attempt's, not the slot's run: no duration.
        started, finished = created, None
    if finished is not None and finished < started:
        finished = None
    return Run(
        job=job,
        source=NAME,
        status=run_status(status, conclusion),
        started_at=started,
        finished_at=finished,
        run_id=str(run_id),
        raw_status=conclusion or status,
        message=run_message(data, status, conclusion),
        detail={
            "event": data.get("event"),
            "html_url": data.get("html_url"),
            "run_number": data.get("run_number"),
            "head_branch": data.get("head_branch"),
            "run_attempt": data.get("run_attempt"),
        },
    )


def run_message(data: Mapping[str, Any], status: str | None, conclusion: str | None) -> str | None:
    """A short line: the run's title, what went wrong, and the attempt when it was re-run."""
    title = data.get("display_title") or data.get("name")
    parts = [" ".join(title.split())[:120]] if isinstance(title, str) and title.strip() else []
    if status == "completed" and conclusion in _WORDS:
        parts.append(_WORDS[conclusion])
    elif status in _RUNNING and status != "in_progress":
        parts.append(str(status))
    attempt = data.get("run_attempt")
    text = " — ".join(parts)
    if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 1:
        text = f"{text} (attempt {attempt})" if text else f"attempt {attempt}"
    return redact.redact(text) if text else None


def runs_in_window(
    job: str, raw_runs: Iterable[Mapping[str, Any]], since: datetime, until: datetime, limit: int
) -> list[Run]:
    """The runs that started in [since, until], newest first, at most `limit`, each run once."""
    seen: set[str] = set()
    runs: list[Run] = []
    for data in raw_runs:
        run = to_run(job, data)
        if run is None or run.run_id in seen or run.started_at is None:
            continue
        if since <= run.started_at <= until:
            seen.add(run.run_id or "")
            runs.append(run)
    runs.sort(key=lambda r: (r.started_at or since, r.run_id or ""), reverse=True)
    return runs[: max(0, limit)]


def created_filter(since: datetime, until: datetime | None = None) -> str:
    """The `created` qualifier for [since, until]: whole hours, so repeated reads ask for the same URL."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if until is None:
        return f">={_stamp(start)}"
    end = until.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if end < until:
        end += timedelta(hours=1)
    return f"{_stamp(start)}..{_stamp(end)}"


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of a Link header."""
    for url, rels in _LINK.findall(header or ""):
        if "next" in rels.split():
            return str(url)
    return None


def rate_limit_reset(headers: Mapping[str, str], now: datetime) -> datetime:
    """When asking again makes sense: `retry-after` seconds from now, else `x-ratelimit-reset`, else a minute."""
    retry_after = headers.get("retry-after", "").strip()
    if retry_after.isdigit():
        return now + timedelta(seconds=int(retry_after))
    reset = headers.get("x-ratelimit-reset", "").strip()
    if reset.isdigit():
        return datetime.fromtimestamp(int(reset), UTC)
    return now + timedelta(minutes=1)


def is_rate_limited(status: int, headers: Mapping[str, str], message: str) -> bool:
    """GitHub's primary or secondary rate limit, as its docs tell them apart from a permission problem."""
    if status not in (403, 429):
        return False
    return (
        headers.get("x-ratelimit-remaining", "").strip() == "0"
        or "retry-after" in headers
        or "rate limit" in message.lower()
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- what to read


@dataclass(frozen=True)
class _Target:
    """One workflow to read, resolved from a job's [dispatch] table."""

    base: str  # api_url without a trailing slash
    owner: str
    repo: str
    workflow: str
    token_env: str
    token: str | None = field(default=None, repr=False)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def workflow_url(self) -> str:
        workflow = quote(self.workflow, safe="")
        return f"{self.base}/repos/{quote(self.owner)}/{quote(self.repo)}/actions/workflows/{workflow}"

    @property
    def key(self) -> tuple[str, str, str, str, str | None]:
        return (self.base, self.owner.lower(), self.repo.lower(), self.workflow, self.token)

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc or self.base


def _target(job: JobSpec, env: Environment) -> _Target:
    spec = job.dispatch
    if spec is None:
        raise UsageError(f"job {job.name}: history.github reads the runs of the job's [dispatch] workflow; it has none")
    where = f"job {job.name}"
    repo = env.resolve(spec.repo, f"{where} (dispatch.repo)").strip()
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise UsageError(f"{where}: dispatch.repo '{repo}' is not 'owner/name'")
    base = env.resolve(spec.api_url, f"{where} (dispatch.api_url)").strip().rstrip("/")
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise UsageError(f"{where}: dispatch.api_url '{redact.redact(base)}' is not an http(s) URL")
    # GitHub wants the file name (or the id), not the path `.github/workflows/x.yml`.
    workflow = env.resolve(spec.workflow, f"{where} (dispatch.workflow)").strip().rsplit("/", 1)[-1]
    if not workflow:
        raise UsageError(f"{where}: dispatch.workflow is empty")
    token = env.get(spec.token_env)
    redact.register(token)
    return _Target(base, owner, name, workflow, spec.token_env, token)


# ---------------------------------------------------------------- kept answers (ETags)


class _Cache:
    """ETags and the part of each answer cronctl uses, one private file per URL and kind of credentials."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pruned = False

    def _path(self, key: str) -> Path:
        return self.root / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".json")

    def load(self, key: str) -> tuple[str, Any] | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("etag"), str):
            return None
        return data["etag"], data.get("body")

    def save(self, key: str, etag: str, body: Any) -> None:
        from cronctl.statedir import write_private

        # An unwritable state directory costs the next read a full answer, nothing else.
        with suppress(OSError):
            write_private(self._path(key), json.dumps({"key": key, "etag": etag, "saved": time.time(), "body": body}))
        self._prune()

    def _prune(self) -> None:
        if self._pruned:
            return
        self._pruned = True
        cutoff = time.time() - CACHE_DAYS * 86400
        with suppress(OSError):
            for path in self.root.glob("*.json"):
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)


# ---------------------------------------------------------------- reading


class _Stop(Exception):
    """This workflow cannot be read further; the note says why, and `token` is the fact of a refused token."""

    def __init__(self, state: str, message: str, token: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.note = SourceNote(NAME, state, message)
        self.token = token


def _token_fact(target: _Target) -> dict[str, str]:
    """`ExternalRead.facts[job]["token"]` for a token GitHub refused (401)."""
    return {"source": NAME, "env": target.token_env, "state": "refused"}


def _with_token(facts: dict[str, Any] | None, token: dict[str, str] | None) -> dict[str, Any] | None:
    if token is None:
        return facts
    return {**(facts or {}), "token": token}


@dataclass
class _Fetched:
    """What one workflow gave: its facts, its runs (raw, trimmed), and how the read went."""

    note: SourceNote
    facts: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)


def _server_words(body: bytes, limit: int = 200) -> str:
    """GitHub's own `message`, one line, masked."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    message = document.get("message") if isinstance(document, dict) else None
    if not isinstance(message, str):
        return ""
    text = redact.redact(" ".join(message.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Kind:
    """One kind of answer: how to keep the part cronctl uses, and how to tell a kept answer is sound."""

    trim: Callable[[Any, Mapping[str, str]], dict[str, Any]]
    sound: Callable[[Any], bool]


def _trim_workflow(document: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("state"), str):
        raise _Stop("error", "GitHub's answer for the workflow has no state")
    return {key: document.get(key) for key in ("id", "name", "path", "state", "html_url")}


def _trim_page(document: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    runs = document.get("workflow_runs") if isinstance(document, dict) else None
    if not isinstance(runs, list):
        raise _Stop("error", "GitHub's answer is not a list of workflow runs")
    kept = [{key: run.get(key) for key in _RUN_KEYS} for run in runs if isinstance(run, dict)]
    return {"total_count": document.get("total_count"), "workflow_runs": kept, "next": next_link(headers.get("link"))}


WORKFLOW = _Kind(_trim_workflow, lambda kept: isinstance(kept, dict) and isinstance(kept.get("state"), str))
PAGE = _Kind(_trim_page, lambda kept: isinstance(kept, dict) and isinstance(kept.get("workflow_runs"), list))


class _Reader:
    """Conditional, rate-limit-aware GETs against GitHub for one read (one client, one deadline)."""

    def __init__(self, client: Any, cache: _Cache, out: ExternalRead, timeout: float) -> None:
        self.client = client
        self.cache = cache
        self.out = out
        self.timeout = timeout
        self.blocked: dict[str, SourceNote] = {}  # api base -> rate-limit note: ask nothing more
        self.refused: dict[tuple[str, str | None], SourceNote] = {}  # (api base, token) -> 401 note

    def fetch(self, target: _Target, since: datetime, until: datetime | None, now: datetime, limit: int) -> _Fetched:
        import httpx

        from cronctl.sources.http_deadline import DeadlineExceeded

        refused = self.refused.get((target.base, target.token))
        known = self.blocked.get(target.base) or refused
        if known is not None:
            # Another workflow's 401 already said this token is refused: so it is for this one.
            return _Fetched(known, {"token": _token_fact(target)} if known is refused and target.token else None)
        result = _Fetched(SourceNote(NAME, "ok", _anonymous_note(target)))
        try:
            self._read(target, since, until, now, limit, result)
        except _Stop as stop:
            return _Fetched(stop.note, _with_token(result.facts, stop.token))
        except (httpx.TimeoutException, DeadlineExceeded):
            message = f"GitHub API at {target.host} gave no complete answer within {self.timeout:g}s"
            return _Fetched(SourceNote(NAME, "timeout", message), result.facts)
        except (httpx.HTTPError, ValueError) as exc:
            message = redact.redact(f"GitHub API at {target.host} could not be read: {type(exc).__name__}: {exc}")
            return _Fetched(SourceNote(NAME, "error", " ".join(message.split())[:300]), result.facts)
        return result

    def _read(
        self, target: _Target, since: datetime, until: datetime | None, now: datetime, limit: int, result: _Fetched
    ) -> None:
        end = until or now
        workflow = self.get(target, target.workflow_url, None, WORKFLOW)
        result.facts = {
            "workflow_state": workflow.get("state"),
            "workflow_url": workflow.get("html_url"),
            "workflow_path": workflow.get("path"),
            "workflow_name": workflow.get("name"),
        }
        runs: dict[Any, dict[str, Any]] = {}
        for event in EVENTS:
            url: str = target.workflow_url + "/runs"
            params: dict[str, Any] | None = {
                "event": event,
                "created": created_filter(since, until),
                "per_page": PER_PAGE,
            }
            in_window = 0
            for _ in range(MAX_PAGES):
                page = self.get(target, url, params, PAGE)
                items = page.get("workflow_runs")
                if not isinstance(items, list):
                    raise _Stop("error", f"GitHub's answer for {target.full_name} is not a list of workflow runs")
                for data in (item for item in items if isinstance(item, dict)):
                    runs.setdefault(data.get("id"), data)
                    started = parse_time(data.get("run_started_at")) or parse_time(data.get("created_at"))
                    if started is not None and since <= started <= end:
                        in_window += 1
                following = page.get("next")
                if in_window >= limit or not isinstance(following, str):
                    break
                if not _same_origin(following, target.base):
                    raise _Stop("error", f"GitHub's next page of runs is not on {target.host}; not followed")
                url, params = following, None
        result.runs = list(runs.values())

    def get(
        self,
        target: _Target,
        url: str,
        params: Mapping[str, Any] | None,
        kind: _Kind,
    ) -> dict[str, Any]:
        """GET `url` (conditionally when an answer is kept); the trimmed answer, kept or fresh."""
        import httpx

        from cronctl.sources.http_deadline import DeadlineExceeded, read_limited, time_left

        blocked = self.blocked.get(target.base)
        if blocked is not None:
            raise _Stop(blocked.state, blocked.message or "")
        full = str(httpx.URL(url, params=params)) if params else url
        key = f"{full}|{'token' if target.token else 'anonymous'}"
        kept = self.cache.load(key)
        if kept is not None and not kind.sound(kept[1]):
            kept = None  # an unreadable kept answer: ask for the whole answer again
        headers = {"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION, "User-Agent": f"cronctl/{__version__}"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        if kept is not None:
            headers["If-None-Match"] = kept[0]
        target_url = full
        for _ in range(MAX_REDIRECTS + 1):
            left = time_left()
            if left is not None and left <= 0:
                raise DeadlineExceeded
            request = self.client.build_request("GET", target_url, headers=headers, timeout=left)
            self.out.requests += 1
            response = self.client.send(request, stream=True, follow_redirects=False)
            try:
                body, _, truncated = read_limited(response, MAX_BODY, decoded=True)
            finally:
                response.close()
            answer = {name.lower(): value for name, value in response.headers.items()}
            status = int(response.status_code)
            # A renamed repository answers 301 to its new /repositories/{id}/... URL: follow it on the same host only.
            location = str(response.next_request.url) if response.next_request is not None else None
            if status not in (301, 302, 307, 308) or location is None or not _same_origin(location, target.base):
                break
            target_url = location
        if status == 304 and kept is not None:
            return dict(kept[1])
        if status != 200:
            raise self._failure(target, status, answer, body)
        if truncated:
            raise _Stop("error", f"GitHub's answer for {target.full_name} is larger than {MAX_BODY} bytes")
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise _Stop("error", f"GitHub's answer for {target.full_name} is not JSON (HTTP 200)") from None
        trimmed = kind.trim(document, answer)
        etag = answer.get("etag")
        if etag:
            self.cache.save(key, etag, trimmed)
        if answer.get("x-ratelimit-remaining", "").strip() == "0":
            # This answer was the last the limit allows: later requests would only be refused.
            self.blocked[target.base] = _rate_note(answer)
        return trimmed

    def _failure(self, target: _Target, status: int, headers: Mapping[str, str], body: bytes) -> _Stop:
        words = _server_words(body)
        said = f": {words}" if words else ""
        variable = f"${target.token_env}"
        if is_rate_limited(status, headers, words):
            note = _rate_note(headers)
            self.blocked[target.base] = note
            return _Stop(note.state, note.message or "")
        if status == 401:
            token = None
            if target.token:
                message = f"GitHub token in {variable} was refused (401){said}"
                token = _token_fact(target)
            else:
                message = f"GitHub API wants a token (401){said}; set {variable}"
            stop = _Stop("error", message, token)
            self.refused[(target.base, target.token)] = stop.note
            return stop
        if status == 403:
            if target.token:
                return _Stop(
                    "error",
                    f"GitHub token in {variable} lacks the `actions: read` permission (fine-grained) / `repo` scope "
                    f"(classic) for {target.full_name} (403{said})",
                )
            return _Stop(
                "error", f"GitHub refused to read {target.full_name} without a token (403{said}); set {variable}"
            )
        if status == 404:
            unseen = (
                f"or the token in {variable} cannot see the repository"
                if target.token
                else f"or the repository is private: set {variable}"
            )
            return _Stop("error", f"workflow {target.workflow} not found in {target.full_name} ({unseen})")
        if 300 <= status < 400:
            where = redact.redact(headers.get("location", "nowhere"))[:200]
            return _Stop("error", f"GitHub API redirected {target.full_name} to {where} (HTTP {status}); not followed")
        return _Stop("error", f"GitHub API answered HTTP {status} for {target.full_name}{said}")


def _rate_note(headers: Mapping[str, str]) -> SourceNote:
    reset = rate_limit_reset(headers, datetime.now(UTC))
    return SourceNote(NAME, "error", f"GitHub API rate limit reached; resets at {reset:%H:%M}Z")


def _anonymous_note(target: _Target) -> str | None:
    if target.token:
        return None
    return f"read without a token (${target.token_env} is not set): public repositories only, 60 requests an hour"


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


# ---------------------------------------------------------------- the source


class GitHubSource:
    """The runs of GitHub Actions workflows (`history = { github = true }`)."""

    name = NAME
    section: type | None = None  # the workflow is the job's own [dispatch] table

    def select(self, value: object, url: str | None) -> str | bool | None:
        return flag(value)

    def problem(self, job: JobSpec, section: object | None) -> str | None:
        if job.dispatch is None:
            return (f"github = true reads the runs of the job's [dispatch] workflow; add [jobs.{job.name}.dispatch] "
                    "with repo and workflow")  # fmt: skip
        return None

    def scheduler_delay(self, section: object | None) -> float:
        return SCHEDULER_DELAY

    def read(self, query: ExternalQuery) -> ExternalRead:
        out = ExternalRead()
        try:
            self._read(query, out)
        except Exception as exc:  # never out of `read`: one unexpected failure becomes each job's note
            message = redact.redact(f"GitHub history could not be read: {type(exc).__name__}: {exc}")
            for job in query.jobs:
                out.notes.setdefault(job.name, SourceNote(NAME, "error", " ".join(message.split())[:300]))
        return out

    def _read(self, query: ExternalQuery, out: ExternalRead) -> None:
        from cronctl.sources.http_deadline import deadline, make_client
        from cronctl.statedir import state_dir

        end = query.until or query.now
        targets: dict[str, _Target] = {}
        for job in query.jobs:
            try:
                targets[job.name] = _target(job, query.env)
            except CronctlError as exc:
                out.notes[job.name] = SourceNote(NAME, "error", redact.redact(str(exc)))
        if not targets:
            return
        fetched: dict[tuple[str, str, str, str, str | None], _Fetched] = {}
        with deadline(query.timeout), make_client() as client:
            reader = _Reader(client, _Cache(state_dir() / "github"), out, query.timeout)
            for job in query.jobs:
                target = targets.get(job.name)
                if target is None:
                    continue
                result = fetched.get(target.key)
                if result is None:
                    result = reader.fetch(target, query.since, query.until, query.now, query.limit)
                    fetched[target.key] = result
                out.notes[job.name] = replace(result.note)
                if result.facts is not None:
                    out.facts.setdefault(job.name, {}).update(result.facts)
                if result.note.state == "ok":
                    out.runs[job.name] = runs_in_window(job.name, result.runs, query.since, end, query.limit)


SOURCE = GitHubSource()
