"""Supabase Edge Function invocations as runs: `history = { supabase = "<function>" }` reads what the function
itself logged for each request (status code, execution time) and how its worker ended (shutdown reason), from the
runbook's `[supabase]` project. This is the function's side of a pg_net call: a 401 or an EarlyDrop shows here
even when pg_net's rows are gone or were never linked to a run.

Endpoints and shapes followed (Supabase Management API v1, api.supabase.com/api/v1, as of the 2026-07-23 change
"Migration of Supabase Management API logs.all analytics endpoint to logs endpoint"; `logs.all` was removed on
2026-09-23):

- `GET /v1/projects/{ref}/functions/{function_slug}` ("Retrieve a function"): `{"id", "slug", "name", "status",
  "version", ...}`; the `id` is what the logs call `function_id`.
- `GET /v1/projects/{ref}/analytics/endpoints/logs?sql=&iso_timestamp_start=&iso_timestamp_end=` ("Gets all
  project's logs in a single log stream"): ClickHouse SQL over one `logs` table (`id`, `timestamp`,
  `event_message`, `severity_text`, `source`, `log_attributes` map of strings); at most 24 hours per request
  (rounded to the minute); answers `{"result": [rows], "error": null | ...}`. OAuth scope `analytics:read`,
  fine-grained permission `analytics_logs_read`.

Rows read (keys from Supabase's log field reference, `metadata.` dropped): `source = 'function_edge_logs'`
(`response.status_code`, `execution_time_ms`, `execution_id`, `deployment_id`, `version`, `request.method`,
`request.pathname`, `request.headers.user_agent`) and `source = 'function_logs'` rows whose `event_type` is
`Shutdown` (the reason, one of EventLoopCompleted, WallClockTime, CPUTime, Memory, EarlyDrop, TerminationRequested,
is in the event's message) or `UncaughtException`. A shutdown belongs to the invocation with the same
`execution_id` that answered last before it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from cronctl import redact
from cronctl.records import Run, aware
from cronctl.runbook.model import JobSpec
from cronctl.runbook.schema import duration, env_name, toml_type
from cronctl.sources.external.base import ExternalQuery, ExternalRead, note, note_all, one_line

NAME = "supabase"
MAX_BODY = 8 * 1024 * 1024
PAGE_ROWS = 1000
MAX_PAGES = 5  # per 24-hour window
WINDOW = timedelta(hours=24) - timedelta(minutes=4)  # the API allows 24 h; the edges are widened by a minute each
EDGE = timedelta(minutes=1)  # the API rounds its range to the minute: ask a little more, keep only the window
REASONS = ("EventLoopCompleted", "WallClockTime", "CPUTime", "Memory", "EarlyDrop", "TerminationRequested")
# Limits that stop a worker while it works: the run failed even when it had answered 2xx.
LIMITS = {"WallClockTime": "wall-clock limit", "CPUTime": "CPU-time limit", "Memory": "memory limit"}
_CODES = re.compile(r"\b(" + "|".join(REASONS) + r")\b")
_PHRASES = (
    (re.compile(r"wall\s*clock", re.IGNORECASE), "WallClockTime"),
    (re.compile(r"\bcpu\s*time", re.IGNORECASE), "CPUTime"),
    (re.compile(r"\bmemory\b", re.IGNORECASE), "Memory"),
    (re.compile(r"early\s*drop", re.IGNORECASE), "EarlyDrop"),
    (re.compile(r"terminat\w*\s+request", re.IGNORECASE), "TerminationRequested"),
    (re.compile(r"event\s*loop\s*(?:completed|finished)", re.IGNORECASE), "EventLoopCompleted"),
)
_UUID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
_SLUG = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]+")
_FUNCTION_URL = re.compile(r"/functions/v1/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class SupabaseSpec:
    """`[supabase]`: the project whose Edge Function invocations `history = { supabase = ... }` reads."""

    project_ref: str
    token_env: str = field(default="SUPABASE_ACCESS_TOKEN", metadata=env_name())
    api_url: str = "https://api.supabase.com"
    timeout: float = field(default=10.0, metadata=duration(at_most=300.0))  # one deadline for the whole read


def _function_name(job: JobSpec) -> str:
    """The Edge Function whose invocations are the job's runs (`history = { supabase = "<function>" }`)."""
    selected = job.history.outside.get(NAME)
    return selected if isinstance(selected, str) else job.name


# ---------------------------------------------------------------- pure mapping


@dataclass
class Invocation:
    """One request the function answered (a `function_edge_logs` row) and how its worker ended."""

    log_id: str
    finished_at: datetime
    status: int | None = None
    execution_ms: float | None = None
    execution_id: str | None = None
    deployment_id: str | None = None
    version: str | None = None
    function_id: str | None = None
    method: str | None = None
    pathname: str | None = None
    user_agent: str | None = None
    shutdown_reason: str | None = None
    shutdown_message: str | None = None
    exception: str | None = None

    @property
    def started_at(self) -> datetime:
        # The edge log is written when the answer goes out; the request began execution_time_ms before.
        return self.finished_at - timedelta(milliseconds=self.execution_ms or 0.0)

    @property
    def trigger(self) -> str:
        agent = (self.user_agent or "").lower()
        if not agent:
            return "unknown"
        return "pg_net" if agent.startswith("pg_net/") else "other"


@dataclass(frozen=True)
class Shutdown:
    at: datetime
    execution_id: str
    reason: str | None
    message: str


def parse_time(value: Any) -> datetime | None:
    """A log timestamp: ISO 8601 (`2026-06-22T09:34:06.215000`, UTC without a zone) or epoch micro/milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1e6 if value > 1e14 else value / 1e3 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return aware(moment)
    return None


def shutdown_reason(message: str) -> str | None:
    """The reason code of a shutdown event's message (`shutdown (reason: EarlyDrop)`, `Shutdown reason: CPUTime`,
    the older `shutdown (reason: CPU time limit reached)`), or None when it names none."""
    match = _CODES.search(message)
    if match:
        return match.group(1)
    for pattern, reason in _PHRASES:
        if pattern.search(message):
            return reason
    return None


def parse_rows(rows: Iterable[Any]) -> tuple[list[Invocation], list[Shutdown], dict[str, str]]:
    """Invocations, shutdown events and uncaught exceptions (execution id -> first line) from result rows."""
    invocations: list[Invocation] = []
    shutdowns: list[Shutdown] = []
    exceptions: dict[str, str] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        at = parse_time(row.get("timestamp"))
        if at is None:
            continue
        source = _text(row.get("source"))
        kind = _text(row.get("event_type"))
        message = _text(row.get("event_message")) or ""
        execution = _text(row.get("execution_id"))
        if source == "function_logs" or (source is None and kind):
            if kind == "Shutdown" and execution:
                shutdowns.append(Shutdown(at, execution, shutdown_reason(message), one_line(message)))
            elif kind == "UncaughtException" and execution:
                exceptions.setdefault(execution, _first_line(message))
            continue
        invocations.append(
            Invocation(
                log_id=_text(row.get("id")) or f"{at.isoformat()}",
                finished_at=at,
                status=_int(row.get("status_code")),
                execution_ms=_float(row.get("execution_time_ms")),
                execution_id=execution,
                deployment_id=_text(row.get("deployment_id")),
                version=_text(row.get("version")),
                function_id=_text(row.get("function_id")),
                method=_text(row.get("method")),
                pathname=_text(row.get("pathname")),
                user_agent=_text(row.get("user_agent")),
            )
        )
    return invocations, shutdowns, exceptions


def attach(invocations: list[Invocation], shutdowns: Iterable[Shutdown], exceptions: dict[str, str]) -> list[Shutdown]:
    """Give each shutdown to the invocation of its execution that answered last before it (a second of slack for
    log ordering); returns the shutdowns no invocation in the read claims."""
    by_execution: dict[str, list[Invocation]] = {}
    for inv in invocations:
        if inv.execution_id:
            by_execution.setdefault(inv.execution_id, []).append(inv)
            if inv.execution_id in exceptions:
                inv.exception = exceptions[inv.execution_id]
    orphans: list[Shutdown] = []
    for event in sorted(shutdowns, key=lambda s: s.at):
        candidates = [
            i for i in by_execution.get(event.execution_id, ()) if i.finished_at <= event.at + timedelta(seconds=1)
        ]
        if not candidates:
            orphans.append(event)
            continue
        owner = max(candidates, key=lambda i: i.finished_at)
        if owner.shutdown_reason is None:
            owner.shutdown_reason = event.reason or "unknown"
            owner.shutdown_message = event.message
    return orphans


def to_run(job: JobSpec, inv: Invocation) -> Run:
    """2xx succeeded, anything else failed; a worker stopped by a limit (WallClockTime, CPUTime, Memory) failed
    even after a 2xx answer. EarlyDrop and TerminationRequested after a 2xx answer are how healthy workers end
    (Supabase: EarlyDrop is the most common reason) and are kept in the message and `detail`, not judged."""
    code = inv.status
    reason = inv.shutdown_reason
    took = None if inv.execution_ms is None else inv.execution_ms / 1000.0
    status = "failed"
    notes: list[str] = []
    if code is None:
        status = "unknown"
        notes.append("the function logged no status code for this request")
    elif 200 <= code < 300:
        if reason in LIMITS:
            notes.append(
                f"answered {code}, then the worker was stopped at its {LIMITS[reason]} ({reason}): "
                "work still running after the answer was cut off"
            )
        else:
            status = "succeeded"
            if reason in ("EarlyDrop", "TerminationRequested"):
                notes.append(
                    f"answered {code}; the worker then ended with {reason} (anything not awaited before the answer, "
                    "or outside EdgeRuntime.waitUntil, was cut off)"
                )
            if took is not None and took > job.timeout:
                notes.append(
                    f"took {took:.1f} s, longer than the job's {job.timeout:g} s timeout: the caller may have given up"
                )
    else:
        notes.append(_failure(code))
        if reason and reason != "EventLoopCompleted":
            notes.append(f"the worker then ended with {reason}")
    if inv.exception and status != "succeeded":
        notes.append(inv.exception)
    detail: dict[str, Any] = {"execution_id": inv.execution_id, "deployment_id": inv.deployment_id}
    detail["shutdown_reason"] = reason
    for key, value in (
        ("function_id", inv.function_id),
        ("version", inv.version),
        ("method", inv.method),
        ("pathname", inv.pathname),
        ("user_agent", inv.user_agent),
        ("log_id", inv.log_id),
    ):
        if value:
            detail[key] = value
    detail["trigger"] = inv.trigger
    return Run(
        job=job.name,
        source=NAME,
        status=status,
        started_at=inv.started_at,
        finished_at=inv.finished_at,
        run_id=inv.execution_id or inv.log_id,
        raw_status=str(code) if code is not None else reason,
        message=redact.redact("; ".join(notes)) or None,
        http_status=code,
        detail=detail,
    )


def _failure(code: int) -> str:
    if code in (401, 403):
        return (
            f"the function refused the caller ({code}): the secret the caller sends (X-Cron-Secret or "
            "Authorization in the pg_cron command) is missing or does not match the function's (Edge Functions → "
            "Secrets)"
        )
    if code == 546:
        return "546: the function hit a resource limit (wall clock, CPU or memory) before answering"
    if code == 504:
        return "504: no answer within the gateway's time limit"
    if code == 404:
        return "404: the function is not deployed under this name"
    return f"HTTP {code}"


def window_runs(
    job: JobSpec, invocations: Iterable[Invocation], since: datetime, until: datetime, limit: int
) -> list[Run]:
    runs = [to_run(job, inv) for inv in invocations if since <= inv.started_at <= until]
    runs.sort(key=lambda run: run.started_at or since, reverse=True)
    return runs[:limit]


def windows(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until] cut into pieces the API accepts, newest first."""
    out: list[tuple[datetime, datetime]] = []
    end = until
    while end > since:
        start = max(since, end - WINDOW)
        out.append((start, end))
        end = start
    return out


def build_sql(function_id: str | None, slug: str, before: datetime | None = None, limit: int | None = None) -> str:
    """The ClickHouse query for one page: the function's invocations and its shutdown and exception events."""
    if function_id is not None:
        if not _UUID.match(function_id):
            raise ValueError(f"'{function_id}' is not a function id")
        scope = (
            "source in ('function_edge_logs', 'function_logs')\n"
            f"  and log_attributes['function_id'] = {_literal(function_id)}\n"
            "  and (source = 'function_edge_logs' or log_attributes['event_type'] in ('Shutdown', 'UncaughtException'))"
        )
    else:
        if not _SLUG.match(slug):
            raise ValueError(f"'{slug}' is not an Edge Function name")
        paths = f"{_literal('/' + slug)}, {_literal('/functions/v1/' + slug)}"
        scope = f"source = 'function_edge_logs'\n  and log_attributes['request.pathname'] in ({paths})"
    bound = ""
    if before is not None:
        stamp = before.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        bound = f"\n  and timestamp < toDateTime64({_literal(stamp)}, 6, 'UTC')"
    return (
        "-- cronctl: invocations and shutdowns of one Edge Function\n"
        "select id, timestamp, source, event_message,\n"
        "  log_attributes['function_id'] as function_id,\n"
        "  log_attributes['execution_id'] as execution_id,\n"
        "  log_attributes['deployment_id'] as deployment_id,\n"
        "  log_attributes['version'] as version,\n"
        "  log_attributes['response.status_code'] as status_code,\n"
        "  log_attributes['execution_time_ms'] as execution_time_ms,\n"
        "  log_attributes['request.method'] as method,\n"
        "  log_attributes['request.pathname'] as pathname,\n"
        "  log_attributes['request.headers.user_agent'] as user_agent,\n"
        "  log_attributes['event_type'] as event_type\n"
        "from logs\n"
        f"where {scope}{bound}\n"
        "order by timestamp desc\n"
        f"limit {int(PAGE_ROWS if limit is None else limit)}"
    )


# ---------------------------------------------------------------- errors, one line each


class ApiError(Exception):
    def __init__(self, status: int | None, said: str = "", retry_after: float | None = None, what: str = "") -> None:
        super().__init__(said)
        self.status = status
        self.said = said
        self.retry_after = retry_after
        self.what = what  # "function" | "logs"


def explain(error: ApiError, spec: SupabaseSpec, ref: str, slug: str) -> str:
    """One line for an API refusal, naming the token's variable and the scope it needs, never its value."""
    said = f" (Supabase: {error.said})" if error.said else ""
    code = error.status
    if code == 401:
        return f"{spec.token_env} was refused (401): the token is invalid, expired or revoked{said}"
    if code == 403:
        if error.what == "function":
            return (
                f"{spec.token_env} may not read Edge Function {slug} of project {ref} (403): it needs the "
                f"edge_functions:read scope (fine-grained permission edge_functions_read){said}"
            )
        return (
            f"{spec.token_env} may not read project {ref}'s logs (403): it needs the analytics:read scope "
            f"(fine-grained permission analytics_logs_read) on that project's organization{said}"
        )
    if code == 402:
        return f"project {ref}'s plan or billing does not allow log queries (402){said}"
    if code == 404:
        if error.what == "function":
            return (
                f"Edge Function {slug} not found in project {ref} (404): check history supabase and project_ref{said}"
            )
        return f"project {ref} not found (404): check [supabase] project_ref{said}"
    if code == 429:
        wait = f", retry after {error.retry_after:.0f} s" if error.retry_after is not None else ""
        return f"the Supabase Management API rate-limited the read (429){wait}"
    if code is None:
        return f"Supabase logs: {error.said or 'unreadable answer'}"
    return f"the Supabase Management API answered HTTP {code}{said}"


def error_words(body: bytes) -> str:
    """`{"message": ...}`, `{"error": "..."}` or `{"error": {"message": ...}}`, one line, bounded."""
    text = body.decode("utf-8", "replace")
    try:
        document = json.loads(text)
    except ValueError:
        return one_line(text)
    return _said(document)


def _said(document: Any) -> str:
    if isinstance(document, str):
        return one_line(document)
    if not isinstance(document, dict):
        return ""
    for key in ("message", "error", "msg"):
        value = document.get(key)
        if isinstance(value, str) and value.strip():
            return one_line(value)
        if isinstance(value, dict):
            inner = _said(value)
            if inner:
                return inner
    return ""


def retry_after(headers: Any, now: float) -> float | None:
    import email.utils

    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
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


# ---------------------------------------------------------------- reading


@dataclass
class _Target:
    ref: str
    base: str
    headers: dict[str, str]
    timeout: float


@dataclass
class _Found:
    """What one function's read gathered; filled as pages arrive, so a read cut short keeps what it had."""

    rows: dict[str, Any] = field(default_factory=dict)
    by_path: bool = False  # the function id was not readable: invocations matched by request path

    def parse(self, since: datetime, until: datetime) -> tuple[list[Invocation], list[Shutdown]]:
        invocations, shutdowns, exceptions = parse_rows(self.rows.values())
        orphans = attach(invocations, shutdowns, exceptions)
        return invocations, [o for o in orphans if since <= o.at <= until]


class SupabaseSource:
    name = NAME
    section: type | None = SupabaseSpec

    def select(self, value: object, url: str | None) -> str | bool | None:
        """`supabase = "<function>"` names the Edge Function; `true` takes it from the job's `/functions/v1/<name>`
        URL."""
        if value is False:
            return None
        if value is True:
            found = _FUNCTION_URL.search(url or "")
            if found is None:
                raise ValueError('the job\'s url has no /functions/v1/<name>: write supabase = "<function>"')
            return found.group(1)
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {toml_type(value)}")
        if not _FUNCTION_NAME.fullmatch(value):
            raise ValueError(f"'{value}' is not an Edge Function name")
        return value

    def problem(self, job: JobSpec, section: object | None) -> str | None:
        return "supabase needs a [supabase] table with project_ref" if section is None else None

    def scheduler_delay(self, section: object | None) -> float:
        return 0.0  # its functions are fired by someone else (pg_cron, a scheduler the job names)

    def read(self, query: ExternalQuery) -> ExternalRead:
        out = ExternalRead()
        try:
            self._read(query, out)
        except Exception as exc:  # a bug or an unforeseen answer degrades this source, never the command
            note_all(out, NAME, query.jobs, "error", f"Supabase: {type(exc).__name__}: {exc}")
        return out

    def _read(self, query: ExternalQuery, out: ExternalRead) -> None:
        spec = query.runbook.vendors.get(NAME)
        if not isinstance(spec, SupabaseSpec):
            note_all(out, NAME, query.jobs, "error", "history supabase needs a [supabase] table with project_ref")
            return
        token = query.env.get(spec.token_env)
        if not token:
            note_all(out, NAME, query.jobs, "error", f"{spec.token_env} is not set: export it or add it to .env")
            for job in query.jobs:
                out.facts.setdefault(job.name, {})["token"] = _token_fact(spec, "unset")
            return
        redact.register(token)
        try:
            ref = query.env.resolve(spec.project_ref, "[supabase] project_ref")
            base = query.env.resolve(spec.api_url, "[supabase] api_url").rstrip("/")
        except Exception as exc:
            note_all(out, NAME, query.jobs, "error", str(exc))
            return
        until = query.until or query.now
        target = _Target(ref, base, _headers(token), query.timeout)
        functions: dict[str, list[JobSpec]] = {}
        for job in query.jobs:
            functions.setdefault(_function_name(job), []).append(job)
        self._collect(query, out, spec, target, functions, until)

    def _collect(
        self,
        query: ExternalQuery,
        out: ExternalRead,
        spec: SupabaseSpec,
        target: _Target,
        functions: dict[str, list[JobSpec]],
        until: datetime,
    ) -> None:
        import httpx

        from cronctl.sources.http_deadline import DeadlineExceeded, deadline, make_client

        carry: tuple[str, str] | None = None  # a timeout or a refused token ends the read for every function
        refused = False  # the token was refused (401): this function's and every later one's jobs say so
        with deadline(query.timeout), make_client(verify=target.base.startswith("https:")) as client:
            for slug, jobs in functions.items():
                problem: tuple[str, str] | None = carry
                found = _Found()
                if carry is None:
                    try:
                        _read_function(client, target, slug, query, until, out, found)
                    except ApiError as exc:
                        problem = ("error", explain(exc, spec, target.ref, slug))
                        if exc.status == 401:
                            carry = problem
                            refused = True
                    except (httpx.TimeoutException, DeadlineExceeded):
                        problem = carry = (
                            "timeout",
                            f"no complete answer from {_host(target.base)} within {query.timeout:g}s",
                        )
                    except httpx.HTTPError as exc:
                        problem = ("error", f"{_host(target.base)}: {type(exc).__name__}: {one_line(str(exc))}")
                    except ValueError as exc:
                        problem = ("error", f"{_host(target.base)}: {exc}")
                token = _token_fact(spec, "refused") if refused else None
                self._record(out, jobs, found, problem, query, until, slug, token)

    def _record(
        self,
        out: ExternalRead,
        jobs: Sequence[JobSpec],
        found: _Found,
        problem: tuple[str, str] | None,
        query: ExternalQuery,
        until: datetime,
        slug: str,
        token: dict[str, str] | None = None,
    ) -> None:
        parts: list[str] = []
        if problem is not None:
            parts.append(problem[1])
        if found.by_path:
            parts.append(
                "the token may not read the function's id (edge_functions_read): invocations were matched by "
                "request path, without shutdown reasons"
            )
        invocations, orphans = found.parse(query.since, until)
        orphans = [o for o in orphans if o.reason not in (None, "EventLoopCompleted")]
        if orphans:
            reasons = sorted({o.reason or "unknown" for o in orphans})
            parts.append(
                f"{len(orphans)} worker shutdown{'s' if len(orphans) != 1 else ''} ({', '.join(reasons)}) "
                "with no invocation logged in the window"
            )
        state = problem[0] if problem is not None else "ok"
        for job in jobs:
            out.runs[job.name] = window_runs(job, invocations, query.since, until, query.limit)
            out.notes[job.name] = note(NAME, state, "; ".join(parts) or None)
            facts = out.facts.setdefault(job.name, {})
            facts["supabase_function"] = slug
            if token is not None:
                facts["token"] = token


def _token_fact(spec: SupabaseSpec, state: str) -> dict[str, str]:
    """`ExternalRead.facts[job]["token"]`: the token could not be used (refused | unset), said as a fact."""
    return {"source": NAME, "env": spec.token_env, "state": state}


def _read_function(
    client: Any, target: _Target, slug: str, query: ExternalQuery, until: datetime, out: ExternalRead, found: _Found
) -> None:
    function_id: str | None = None
    try:
        document = _get_json(
            client,
            target,
            f"/v1/projects/{quote(target.ref, safe='')}/functions/{quote(slug, safe='')}",
            {},
            out,
            "function",
        )
        function_id = _text(document.get("id")) if isinstance(document, dict) else None
        if function_id is None:
            raise ValueError(f"the function answer for {slug} has no id")
    except ApiError as exc:
        if exc.status != 403:
            raise
        found.by_path = True  # a token with logs access but not functions access: match the function by its path
    rows = found.rows
    for start, end in windows(query.since, until):
        before: datetime | None = None
        for _ in range(MAX_PAGES):
            sql = build_sql(function_id, slug, before)
            params = {
                "sql": sql,
                "iso_timestamp_start": _iso(start - EDGE),
                "iso_timestamp_end": _iso(end + EDGE),
            }
            document = _get_json(
                client,
                target,
                f"/v1/projects/{quote(target.ref, safe='')}/analytics/endpoints/logs",
                params,
                out,
                "logs",
            )
            if not isinstance(document, dict):
                raise ValueError("the logs answer is not an object")
            if document.get("error"):
                raise ApiError(None, redact.redact(_said({"error": document["error"]})), what="logs")
            page = document.get("result")
            if not isinstance(page, list):
                raise ValueError("the logs answer has no 'result' list")
            for row in page:
                if isinstance(row, dict):
                    rows[str(row.get("id") or json.dumps(row, sort_keys=True, default=str))] = row
            if len(page) < PAGE_ROWS:
                break
            times = [t for t in (parse_time(r.get("timestamp")) for r in page if isinstance(r, dict)) if t]
            if not times:
                break
            before = min(times)
        if sum(1 for r in rows.values() if r.get("source") != "function_logs") >= query.limit:
            break


def _get_json(client: Any, target: _Target, path: str, params: dict[str, str], out: ExternalRead, what: str) -> Any:
    import time

    from cronctl.sources.http_deadline import read_limited

    url = f"{target.base}{path}" + (f"?{urlencode(params)}" if params else "")
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
        raise ApiError(None, f"the answer was larger than {MAX_BODY // (1024 * 1024)} MiB; refused", what=what)
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the Management API answered something that is not JSON") from None


# ---------------------------------------------------------------- helpers


def _headers(token: str) -> dict[str, str]:
    from cronctl import __version__

    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": f"cronctl/{__version__}"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _host(base: str) -> str:
    try:
        return urlsplit(base).hostname or base
    except ValueError:
        return "the Supabase Management API"


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None and number.is_integer() and 100 <= number <= 599 else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _first_line(text: str) -> str:
    """An exception's message without its stack (`    at handler (file:///…/index.ts:41:11)` lines follow it)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return one_line(lines[0] if lines else "")


SOURCE = SupabaseSource()
