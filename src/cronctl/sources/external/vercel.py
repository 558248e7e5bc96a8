"""Vercel cron invocations as runs: `history = { vercel = true }` reads the requests Vercel's scheduler made to the
job's route (the path of its `url`) in the runbook's `[vercel]` project (`VercelSpec`).

Endpoints and shapes followed (Vercel REST API, as published at vercel.com/docs/rest-api and in the OpenAPI
description the official `@vercel/sdk` is generated from):

- `GET /v6/deployments?projectId=&target=production&state=READY&limit=&until=&teamId=` ("List deployments"):
  `{"deployments": [{"uid", "created", "state", "target", ...}], "pagination": {"count", "next", "prev"}}`;
  the next page is asked for with `until=<pagination.next>`. Cron jobs run against production deployments only.
- `GET /v3/deployments/{id}/events?since=&until=&limit=&direction=backward&follow=0&builds=0&teamId=`
  ("Get deployment events"): with `follow=0` a JSON array of events `{"type", "created", "payload": {"id",
  "date", "text", "requestId", "statusCode", "proxy": {"timestamp", "method", "host", "path", "statusCode",
  "userAgent": [...], "vercelId", "lambdaRegion", ...}}}`. Unlike `GET /v1/projects/{id}/deployments/{id}/
  runtime-logs` (a live stream whose documented rows carry neither the user agent nor a request id), these events
  are bounded by `since`/`until` and carry `proxy.userAgent`, which tells the scheduler's requests
  (`vercel-cron/1.0`) from someone's curl.

A request is the events sharing one `requestId`: it started at `proxy.timestamp`; it ended at the `Duration: N ms`
of its `report` event when there is one, else at its last event. Only requests whose user agent is Vercel's cron
agent are runs (a request that logged no user agent is kept, marked `trigger: unknown`); manual requests to the
same path are counted in the source note, not returned as the scheduler's runs. Errors (401/403 token, 404, 429,
timeouts) become one-line `SourceNote`s; the token is sent only to `api_url` and never appears in a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode, urlsplit

from cronctl import redact
from cronctl.records import Run, aware
from cronctl.runbook.model import JobSpec
from cronctl.runbook.schema import duration, env_name, one_of
from cronctl.sources.external.base import ExternalQuery, ExternalRead, flag, note, note_all, one_line

NAME = "vercel"
PLANS = ("hobby", "pro", "enterprise")
CRON_AGENT = "vercel-cron/"  # Vercel's scheduler sends `user-agent: vercel-cron/1.0`
MAX_BODY = 8 * 1024 * 1024  # one page of events; a larger answer is refused, not parsed
DEPLOYMENTS_PAGE = 20
MAX_DEPLOYMENT_PAGES = 5
MAX_DEPLOYMENTS = 10  # production deployments that may have served the window, newest first
EVENTS_PAGE = 1000
MAX_EVENT_PAGES = 10  # per deployment
# How precisely Vercel fires a schedule (seed 001, Vercel's cron docs): Hobby anywhere within the hour.
FIRE_WINDOW = {"hobby": 3600.0, "pro": 60.0, "enterprise": 60.0}
# A Hobby cron slot is missed only past this; Pro and Enterprise fire within the minute the default grace covers.
HOBBY_DELAY = FIRE_WINDOW["hobby"]
_DURATION = re.compile(r"\bDuration:\s*([0-9]+(?:\.[0-9]+)?)\s*ms\b")
_TIMEOUT_TEXT = re.compile(r"FUNCTION_INVOCATION_TIMEOUT|Task timed out after", re.IGNORECASE)


@dataclass(frozen=True)
class VercelSpec:
    """`[vercel]`: the project whose cron invocations `history = { vercel = true }` reads (Vercel REST API)."""

    project: str  # project id or name
    team: str | None = None  # teamId (or team slug) the project belongs to
    token_env: str = field(default="VERCEL_TOKEN", metadata=env_name())
    api_url: str = "https://api.vercel.com"
    # On Hobby a cron fires anywhere within its hour.
    plan: str = field(default="pro", metadata=one_of("a Vercel plan", PLANS))
    timeout: float = field(default=10.0, metadata=duration(at_most=300.0))  # one deadline for the whole read


# ---------------------------------------------------------------- pure mapping


@dataclass
class Invocation:
    """One request to a route, assembled from the deployment events that share its request id."""

    request_id: str
    deployment_id: str | None = None
    path: str | None = None
    method: str | None = None
    host: str | None = None
    status: int | None = None
    started_ms: float | None = None
    last_ms: float | None = None
    duration_ms: float | None = None  # from the `report` event, when there is one
    user_agents: list[str] = field(default_factory=list)
    vercel_id: str | None = None
    region: str | None = None
    errors: list[str] = field(default_factory=list)  # stderr / fatal lines, oldest first
    timed_out: bool = False

    @property
    def trigger(self) -> str:
        """cron | manual | unknown: who sent the request, by its user agent."""
        if not self.user_agents:
            return "unknown"
        return "cron" if any(CRON_AGENT in agent.lower() for agent in self.user_agents) else "manual"

    @property
    def started_at(self) -> datetime | None:
        return _from_ms(self.started_ms)

    @property
    def finished_at(self) -> datetime | None:
        if self.started_ms is None:
            return None
        if self.duration_ms is not None:
            return _from_ms(self.started_ms + self.duration_ms)
        if self.last_ms is not None and self.last_ms > self.started_ms:
            return _from_ms(self.last_ms)
        return None

    @property
    def duration(self) -> float | None:
        start, end = self.started_at, self.finished_at
        return None if start is None or end is None else (end - start).total_seconds()


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The events of one answer: a JSON array (`follow=0`), or one JSON object a line (a stream)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    try:
        document = json.loads(text)
    except ValueError:
        document = None
        rows: list[Any] = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise ValueError("the answer is neither a JSON array nor one JSON event a line") from None
        return [row for row in rows if isinstance(row, dict)]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise ValueError("the answer is not a list of events")
    return [row for row in document if isinstance(row, dict)]


def event_time(event: dict[str, Any]) -> float | None:
    payload = event.get("payload")
    for value in (payload.get("date") if isinstance(payload, dict) else None, event.get("created")):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def collect_invocations(events: Iterable[dict[str, Any]], deployment_id: str | None = None) -> list[Invocation]:
    """Requests assembled from events (any order); build and alias events, without a payload, are skipped."""
    found: dict[str, Invocation] = {}
    for event in events:
        payload = event.get("payload")
        if not isinstance(payload, dict):
            continue
        proxy = payload.get("proxy") if isinstance(payload.get("proxy"), dict) else None
        request_id = _text(payload.get("requestId")) or (_text(proxy.get("vercelId")) if proxy else None)
        if not request_id:
            continue
        inv = found.get(request_id)
        if inv is None:
            inv = found[request_id] = Invocation(request_id, _text(payload.get("deploymentId")) or deployment_id)
        _absorb(inv, event, payload, proxy)
    return list(found.values())


def _absorb(inv: Invocation, event: dict[str, Any], payload: dict[str, Any], proxy: dict[str, Any] | None) -> None:
    at = event_time(event)
    if at is not None:
        inv.last_ms = at if inv.last_ms is None else max(inv.last_ms, at)
    if proxy is not None:
        stamp = proxy.get("timestamp")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            inv.started_ms = float(stamp) if inv.started_ms is None else min(inv.started_ms, float(stamp))
        inv.path = inv.path or _text(proxy.get("path"))
        inv.method = inv.method or _text(proxy.get("method"))
        inv.host = inv.host or _text(proxy.get("host"))
        inv.vercel_id = inv.vercel_id or _text(proxy.get("vercelId"))
        inv.region = inv.region or _text(proxy.get("lambdaRegion")) or _text(proxy.get("region"))
        agents = proxy.get("userAgent")
        if isinstance(agents, str):
            agents = [agents]
        if isinstance(agents, list):
            inv.user_agents.extend(a for a in agents if isinstance(a, str) and a and a not in inv.user_agents)
        status = proxy.get("statusCode")
        if _is_status(status):
            inv.status = int(status)
    status = payload.get("statusCode")
    if inv.status is None and _is_status(status):
        inv.status = int(status)
    text = _text(payload.get("text")) or ""
    kind = str(event.get("type") or "")
    if kind == "report":
        match = _DURATION.search(text)
        if match:
            inv.duration_ms = float(match.group(1))
    elif kind in ("stderr", "fatal") or (kind == "stdout" and payload.get("level") == "error"):
        line = one_line(text)
        if line:
            inv.errors.append(line)
    if _TIMEOUT_TEXT.search(text):
        inv.timed_out = True
    if inv.started_ms is None and at is not None:
        inv.started_ms = at  # no proxy line seen (yet): the earliest event stands in for the start


def route_matches(inv: Invocation, path: str) -> bool:
    """The request was for `path` (query string and a trailing slash ignored)."""
    if not inv.path:
        return False
    return _normal_path(inv.path) == _normal_path(path)


def _normal_path(path: str) -> str:
    bare = urlsplit(path).path if "://" in path else path.split("?", 1)[0].split("#", 1)[0]
    return bare.rstrip("/") or "/"


def to_run(job: JobSpec, inv: Invocation) -> Run:
    """The scheduler's view of one invocation: 2xx succeeded, anything else failed, and a run past the job's
    `timeout` (its route's maxDuration) failed even when it answered 2xx."""
    code = inv.status
    took = inv.duration
    limit = job.timeout
    status = "failed"
    said = f": {inv.errors[-1]}" if inv.errors else ""
    if code is None:
        status, message = "unknown", "Vercel logged no status code for this request"
    elif inv.timed_out or (code == 504 and took is not None and took >= limit * 0.98):
        message = f"ran into maxDuration ({limit:g} s): Vercel stopped the function (504 FUNCTION_INVOCATION_TIMEOUT)"
    elif 200 <= code < 300:
        if took is not None and took > limit:
            message = f"took {took:.1f} s, past the route's maxDuration of {limit:g} s"
        else:
            status, message = "succeeded", ""
    elif code in (401, 403):
        message = (
            f"the route refused Vercel's cron request ({code}): CRON_SECRET is missing from the project's "
            f"environment or does not match what the route checks{said}"
        )
    elif 300 <= code < 400:
        message = f"the route answered a redirect ({code}); Vercel cron does not follow redirects"
    elif code == 404:
        message = "the route does not exist in this deployment (404)"
    else:
        message = f"HTTP {code}{said}"
    if inv.trigger == "unknown" and code is not None:
        # No user agent logged: Vercel's cron cannot be told from someone's curl, so the answer is no outcome of
        # the scheduler's run (unattributable is unverified, never ok or failing).
        answered = f"answered {code}" if status == "succeeded" else message
        status = "unverified"
        message = f"trigger unknown (no user agent logged: not known to be Vercel cron's request); {answered}"
    detail: dict[str, Any] = {
        "deployment_id": inv.deployment_id,
        "request_id": inv.request_id,
        "trigger": inv.trigger,
    }
    for key, value in (
        ("vercel_id", inv.vercel_id),
        ("method", inv.method),
        ("path", inv.path),
        ("region", inv.region),
        ("user_agent", ", ".join(inv.user_agents) or None),
    ):
        if value:
            detail[key] = value
    return Run(
        job=job.name,
        source=NAME,
        status=status,
        started_at=inv.started_at,
        finished_at=inv.finished_at,
        run_id=inv.request_id,
        raw_status=None if code is None else str(code),
        message=redact.redact(message) or None,
        http_status=code,
        detail=detail,
    )


def job_runs(
    job: JobSpec, path: str, invocations: Iterable[Invocation], since: datetime, until: datetime, limit: int
) -> tuple[list[Run], int]:
    """The job's runs in [since, until], newest first, and how many manual requests to its path were left out."""
    runs: list[Run] = []
    manual = 0
    for inv in invocations:
        start = inv.started_at
        if not route_matches(inv, path) or start is None or not since <= start <= until:
            continue
        if inv.trigger == "manual":
            manual += 1
            continue
        runs.append(to_run(job, inv))
    runs.sort(key=lambda run: run.started_at or since, reverse=True)
    return runs[:limit], manual


# ---------------------------------------------------------------- errors, one line each


class ApiError(Exception):
    """An answer from the API that is not the data asked for."""

    def __init__(self, status: int | None, said: str = "", retry_after: float | None = None, what: str = "") -> None:
        super().__init__(said)
        self.status = status
        self.said = said
        self.retry_after = retry_after
        self.what = what  # "project" | "deployment"


def explain(error: ApiError, spec: VercelSpec, project: str, team: str | None) -> str:
    """One line for an API refusal, naming the token's variable, never its value."""
    where = f"project {project}" + (f" / team {team}" if team else " (no team set)")
    said = f" (Vercel: {error.said})" if error.said else ""
    code = error.status
    if token_refused(error):
        return f"{spec.token_env} was refused ({code}): the token is invalid or expired, or lacks access to {where}"
    if code == 403:
        return (
            f"{spec.token_env} may not read {where} (403): create the token with the scope of "
            f"{'team ' + team if team else 'the team that owns the project'} (Account Settings → Tokens → Scope), "
            f"and set [vercel] team when the project belongs to a team{said}"
        )
    if code == 404:
        thing = "deployment" if error.what == "deployment" else "project"
        return f"Vercel {thing} not found (404) for {where}: check [vercel] project and team{said}"
    if code == 429:
        wait = f", retry after {error.retry_after:.0f} s" if error.retry_after is not None else ""
        return f"Vercel rate-limited the read (429){wait}"
    if code is None:
        return f"Vercel API: {error.said or 'unreadable answer'}"
    return f"Vercel API answered HTTP {code}{said}"


def token_refused(error: ApiError) -> bool:
    """Vercel refused the token itself: 401, or a 403 that says invalidToken (not a token lacking a scope)."""
    code = error.status
    return code == 401 or (code == 403 and "invalidtoken" in error.said.lower().replace(" ", ""))


def _token_facts(out: ExternalRead, jobs: Sequence[JobSpec], spec: VercelSpec, state: str) -> None:
    """`ExternalRead.facts[job]["token"]`: the token could not be used (refused | unset), beside the job's facts."""
    for job in jobs:
        out.facts.setdefault(job.name, {})["token"] = {"source": NAME, "env": spec.token_env, "state": state}


def retry_after(headers: Any, now: float) -> float | None:
    """Seconds to wait, from `Retry-After` (seconds or an HTTP date) or `X-RateLimit-Reset` (epoch seconds)."""
    import email.utils

    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            stamp = float(reset)
        except ValueError:
            return None
        return max(0.0, stamp - now) if stamp > 1e9 else max(0.0, stamp)
    return None


def error_words(body: bytes) -> str:
    """The vendor's own words from an error body (`{"error": {"code", "message"}}`), one line, bounded."""
    try:
        document = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return one_line(body.decode("utf-8", "replace"))
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        parts = [str(error.get(k)) for k in ("code", "message") if error.get(k)]
        if error.get("invalidToken") is True:
            parts.append("invalidToken")
        return one_line(": ".join(parts))
    if isinstance(error, str):
        return one_line(error)
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        return one_line(document["message"])
    return ""


# ---------------------------------------------------------------- reading


@dataclass
class _Target:
    project: str
    team: str | None
    base: str
    headers: dict[str, str]
    timeout: float


class VercelSource:
    name = NAME
    section: type | None = VercelSpec

    def select(self, value: object, url: str | None) -> str | bool | None:
        return flag(value)

    def problem(self, job: JobSpec, section: object | None) -> str | None:
        if section is None:
            return "vercel = true needs a [vercel] table with the project"
        if job.url is None:
            return "vercel = true reads the invocations of the job's route; set the job's url"
        return None

    def scheduler_delay(self, section: object | None) -> float:
        on_hobby = isinstance(section, VercelSpec) and section.plan == "hobby"
        return HOBBY_DELAY if on_hobby else 0.0

    def read(self, query: ExternalQuery) -> ExternalRead:
        out = ExternalRead()
        try:
            self._read(query, out)
        except Exception as exc:  # a bug or an unforeseen answer degrades this source, never the command
            note_all(out, NAME, query.jobs, "error", f"Vercel: {type(exc).__name__}: {exc}")
        return out

    def _read(self, query: ExternalQuery, out: ExternalRead) -> None:
        spec = query.runbook.vendors.get(NAME)
        if not isinstance(spec, VercelSpec):
            note_all(out, NAME, query.jobs, "error", "history vercel = true needs a [vercel] table in the runbook")
            return
        token = query.env.get(spec.token_env)
        if not token:
            note_all(out, NAME, query.jobs, "error", f"{spec.token_env} is not set: export it or add it to .env")
            _token_facts(out, query.jobs, spec, "unset")
            return
        redact.register(token)
        try:
            project = query.env.resolve(spec.project, "[vercel] project")
            team = query.env.resolve(spec.team, "[vercel] team") if spec.team else None
            base = query.env.resolve(spec.api_url, "[vercel] api_url").rstrip("/")
        except Exception as exc:
            note_all(out, NAME, query.jobs, "error", str(exc))
            return
        paths: dict[str, str] = {}
        for job in query.jobs:
            path, problem = _route_path(job, query)
            if path is None:
                out.notes[job.name] = note(NAME, "error", problem)
            else:
                paths[job.name] = path
        jobs = [job for job in query.jobs if job.name in paths]
        if not jobs:
            return
        for job in jobs:
            out.facts[job.name] = {"vercel_plan": spec.plan, "fire_window_seconds": FIRE_WINDOW.get(spec.plan, 60.0)}
        target = _Target(project, team, base, _headers(token), query.timeout)
        until = query.until or query.now
        self._collect(query, out, spec, target, jobs, paths, until)

    def _collect(
        self,
        query: ExternalQuery,
        out: ExternalRead,
        spec: VercelSpec,
        target: _Target,
        jobs: Sequence[JobSpec],
        paths: dict[str, str],
        until: datetime,
    ) -> None:
        import httpx

        from cronctl.sources.http_deadline import DeadlineExceeded, deadline, make_client

        invocations: list[Invocation] = []
        problem: tuple[str, str] | None = None
        deployments: list[dict[str, Any]] = []
        done = 0
        try:
            with deadline(query.timeout), make_client(verify=target.base.startswith("https:")) as client:
                deployments = _deployments(client, target, query.since, until, out)
                for deployment in deployments:
                    try:
                        found = _deployment_invocations(client, target, deployment, query, until, jobs, paths, out)
                    except ApiError as exc:
                        if exc.status != 404:
                            raise
                        found = []  # deleted since it was listed: it serves nothing any more
                    invocations.extend(found)
                    done += 1
        except ApiError as exc:
            problem = ("error", explain(exc, spec, target.project, target.team))
            if token_refused(exc):
                _token_facts(out, jobs, spec, "refused")
        except (httpx.TimeoutException, DeadlineExceeded):
            problem = ("timeout", f"no complete answer from {_host(target.base)} within {query.timeout:g}s")
        except httpx.HTTPError as exc:
            problem = ("error", f"{_host(target.base)}: {type(exc).__name__}: {one_line(str(exc))}")
        except ValueError as exc:  # an answer that is not the documented shape
            problem = ("error", f"{_host(target.base)}: {exc}")
        state, first = "ok", ""
        if problem is not None:
            state, first = problem
            if deployments and done < len(deployments):
                first += f" (read {done} of {len(deployments)} production deployments)"
        elif not deployments:
            first = f"no production deployment of project {target.project} before {until:%Y-%m-%d %H:%M}"
        for job in jobs:
            runs, manual = job_runs(job, paths[job.name], invocations, query.since, until, query.limit)
            out.runs[job.name] = runs
            parts = [first] if first else []
            if manual:
                parts.append(f"{manual} manual request{'s' if manual != 1 else ''} to {paths[job.name]} left out")
            out.notes[job.name] = note(NAME, state, "; ".join(parts) or None)


def _deployments(
    client: Any, target: _Target, since: datetime, until: datetime, out: ExternalRead
) -> list[dict[str, Any]]:
    """Production deployments that may have served [since, until], newest first: every one created in the window
    and the newest one created before it (it was live when the window began)."""
    found: list[dict[str, Any]] = []
    cursor: float | None = _ms(until) + 1
    since_ms = _ms(since)
    for _ in range(MAX_DEPLOYMENT_PAGES):
        params: dict[str, Any] = {
            "projectId": target.project,
            "target": "production",
            "state": "READY",
            "limit": DEPLOYMENTS_PAGE,
            "until": int(cursor or 0),
        }
        document = _get_json(client, target, "/v6/deployments", params, out, "project")
        rows = document.get("deployments") if isinstance(document, dict) else None
        if not isinstance(rows, list):
            raise ValueError("the deployments answer has no 'deployments' list")
        for row in rows:
            if not isinstance(row, dict) or not _text(row.get("uid")):
                continue
            created = row.get("created") or row.get("createdAt")
            found.append(row)
            if len(found) >= MAX_DEPLOYMENTS or (isinstance(created, int | float) and created <= since_ms):
                return found
        pagination = document.get("pagination") if isinstance(document, dict) else None
        following = pagination.get("next") if isinstance(pagination, dict) else None
        if not rows or not isinstance(following, int | float) or isinstance(following, bool):
            break
        cursor = float(following)
    return found


def _deployment_invocations(
    client: Any,
    target: _Target,
    deployment: dict[str, Any],
    query: ExternalQuery,
    until: datetime,
    jobs: Sequence[JobSpec],
    paths: dict[str, str],
    out: ExternalRead,
) -> list[Invocation]:
    """This deployment's requests in the window, newest events first, until every job has `limit` runs."""
    uid = str(deployment["uid"])
    seen: set[str] = set()
    events: list[dict[str, Any]] = []
    page_until: float = _ms(until)
    for _ in range(MAX_EVENT_PAGES):
        params = {
            "since": _ms(query.since),
            "until": int(page_until),
            "limit": EVENTS_PAGE,
            "direction": "backward",
            "follow": 0,
            "builds": 0,
        }
        body = _get(client, target, f"/v3/deployments/{quote(uid, safe='')}/events", params, out, "deployment")
        page = parse_events(body)
        fresh = 0
        oldest: float | None = None
        for event in page:
            key = _event_key(event)
            at = event_time(event)
            if at is not None:
                oldest = at if oldest is None else min(oldest, at)
            if key in seen:
                continue
            seen.add(key)
            events.append(event)
            fresh += 1
        if len(page) < EVENTS_PAGE or fresh == 0 or oldest is None:
            break
        invocations = collect_invocations(events, uid)
        if all(sum(route_matches(i, paths[j.name]) for i in invocations) >= query.limit for j in jobs):
            break
        page_until = oldest  # `until` may include this millisecond again: duplicates are dropped by id
    return collect_invocations(events, uid)


def _event_key(event: dict[str, Any]) -> str:
    payload = event.get("payload")
    if isinstance(payload, dict) and payload.get("id"):
        return str(payload["id"])
    return json.dumps(event, sort_keys=True, default=str)


def _get_json(client: Any, target: _Target, path: str, params: dict[str, Any], out: ExternalRead, what: str) -> Any:
    body = _get(client, target, path, params, out, what)
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{path} answered something that is not JSON") from None


def _get(client: Any, target: _Target, path: str, params: dict[str, Any], out: ExternalRead, what: str) -> bytes:
    import time

    from cronctl.sources.http_deadline import read_limited

    if target.team:
        params = {**params, "teamId": target.team}
    url = f"{target.base}{path}?{urlencode(params)}"
    request = client.build_request("GET", url, headers=target.headers, timeout=target.timeout)
    out.requests += 1
    response = client.send(request, stream=True, follow_redirects=False)
    try:
        body, _, truncated = read_limited(response, MAX_BODY, decoded=True)
    finally:
        response.close()
    code = response.status_code
    if code != 200:
        wait = retry_after(response.headers, time.time()) if code == 429 else None
        raise ApiError(code, redact.redact(error_words(body)), wait, what)
    if truncated:
        raise ApiError(None, f"{path} answered more than {MAX_BODY // (1024 * 1024)} MiB; refused", what=what)
    return body


# ---------------------------------------------------------------- helpers


def _headers(token: str) -> dict[str, str]:
    from cronctl import __version__

    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": f"cronctl/{__version__}"}


def _route_path(job: JobSpec, query: ExternalQuery) -> tuple[str | None, str]:
    """The path of the job's url (its cron route), or why there is none."""
    if not job.url:
        return None, "the job has no url: its path is the cron route whose invocations are read"
    try:
        path = urlsplit(query.env.resolve(job.url, f"job {job.name} url")).path
    except Exception as exc:  # an unset variable in the url, or a url that does not parse
        return None, one_line(str(exc), 400)
    return (path, "") if path else (None, "the job's url has no path: it names no cron route")


def _host(base: str) -> str:
    try:
        return urlsplit(base).hostname or base
    except ValueError:
        return "the Vercel API"


def _ms(moment: datetime) -> int:
    return int(aware(moment).timestamp() * 1000)


def _from_ms(value: float | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _is_status(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


SOURCE = VercelSource()
