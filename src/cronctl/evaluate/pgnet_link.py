"""Link pg_net responses to the pg_cron runs that queued them.

`net._http_response` has no job id and no URL, so a response is matched by time: it belongs to a run when it
was created between the run's start and start + the job's pg_net timeout + slack. When the windows of two
different jobs both contain a response the link is ambiguous and is reported as such, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cronctl.records import Run

DEFAULT_NET_TIMEOUT_MS = 5000  # net.http_post's default timeout_milliseconds
_FUNCTION = re.compile(r"/functions/v1/([A-Za-z0-9_\-]+)")
_URL = re.compile(r"""url\s*(?::=|=>)\s*'([^']+)'""", re.IGNORECASE)
_ANY_URL = re.compile(r"https?://[^\s'\"]+")
_TIMEOUT = re.compile(r"timeout_milliseconds\s*(?::=|=>)\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class NetResponse:
    """A row of net._http_response."""

    id: int
    created: datetime
    status_code: int | None = None
    timed_out: bool | None = None
    error_msg: str | None = None
    content: str | None = None
    content_type: str | None = None

    @property
    def failed_request(self) -> bool:
        """Timed out or never answered (timed_out was NULL on errors before pg_net 0.20)."""
        if self.timed_out:
            return True
        return bool(self.error_msg) and self.status_code is None

    @property
    def outcome(self) -> str:
        if self.failed_request:
            return "failed"
        if self.status_code is not None and 200 <= self.status_code < 300:
            return "succeeded"
        return "failed"

    @property
    def message(self) -> str | None:
        if self.timed_out or (self.error_msg or "").startswith("Timeout"):
            return self.error_msg or "request timed out"
        if self.error_msg:
            return self.error_msg
        if self.status_code is not None and not 200 <= self.status_code < 300:
            body = " ".join((self.content or "").split())
            return f"HTTP {self.status_code}" + (f": {body[:120]}" if body else "")
        return None


@dataclass(frozen=True)
class Link:
    """A response and the run(s) it may belong to."""

    response: NetResponse
    job: str | None  # None when no run's window contains the response
    run: Run | None
    candidates: tuple[str, ...] = ()  # every job whose window contains it
    ambiguous: bool = False


@dataclass
class LinkResult:
    links: list[Link] = field(default_factory=list)

    def for_job(self, job: str) -> list[Link]:
        return [link for link in self.links if job in link.candidates]

    @property
    def unlinked(self) -> list[Link]:
        return [link for link in self.links if not link.candidates]


def target_function(command: str | None) -> str | None:
    """The Edge Function a job's command calls (`/functions/v1/<name>`), else the URL it posts to."""
    if not command:
        return None
    match = _FUNCTION.search(command)
    if match:
        return match.group(1)
    url = _URL.search(command) or _ANY_URL.search(command)
    if url:
        return url.group(1) if url.re is _URL else url.group(0)
    return None


def target_url(command: str | None) -> str | None:
    """The URL a pg_net command posts to, when it is written as a literal."""
    if not command:
        return None
    url = _URL.search(command) or _ANY_URL.search(command)
    if url is None:
        return None
    return url.group(1) if url.re is _URL else url.group(0)


def net_timeout(command: str | None, fallback_ms: int = DEFAULT_NET_TIMEOUT_MS) -> float:
    """Seconds pg_net waits for this command's request (timeout_milliseconds, else pg_net's default)."""
    match = _TIMEOUT.search(command or "")
    return (int(match.group(1)) if match else fallback_ms) / 1000.0


def uses_pg_net(command: str | None) -> bool:
    return bool(command) and "http_" in (command or "") and "net." in (command or "")


def link(
    runs_by_job: Mapping[str, Sequence[Run]],
    responses: Sequence[NetResponse],
    timeouts_by_job: Mapping[str, float],
    slack: float = 2.0,
) -> LinkResult:
    """Match each response to the run whose window contains it; several jobs' windows → ambiguous."""
    windows: list[tuple[str, Run, datetime, datetime]] = []
    for job, runs in runs_by_job.items():
        timeout = timedelta(seconds=timeouts_by_job.get(job, DEFAULT_NET_TIMEOUT_MS / 1000) + slack)
        for run in runs:
            if run.started_at is None:
                continue  # a run that never started queued no request
            windows.append((job, run, run.started_at, run.started_at + timeout))
    result = LinkResult()
    for response in sorted(responses, key=lambda r: (r.created, r.id)):
        hits = [(job, run) for job, run, lo, hi in windows if lo <= response.created <= hi]
        jobs = tuple(dict.fromkeys(job for job, _ in hits))
        if not hits:
            result.links.append(Link(response, None, None))
        elif len(jobs) == 1:
            # Several runs of one job (back-to-back catch-up) → the latest run started before it.
            job, run = max(hits, key=lambda h: _start(h[1]))
            result.links.append(Link(response, job, run, jobs))
        else:
            result.links.append(Link(response, None, None, jobs, ambiguous=True))
    return result


def _start(run: Run) -> datetime:
    assert run.started_at is not None
    return run.started_at


def response_runs(result: LinkResult, job: str, functions: Mapping[str, str | None] | None = None) -> list[Run]:
    """The responses linked (or possibly linked) to `job`, as Run records of source pg_net."""
    out: list[Run] = []
    for item in result.for_job(job):
        resp = item.response
        detail: dict[str, Any] = {
            "response_id": resp.id,
            "timed_out": resp.timed_out,
            "error_msg": resp.error_msg,
            "ambiguous": item.ambiguous,
            "candidates": list(item.candidates),
            "pg_cron_runid": item.run.run_id if item.run is not None else None,
            "function": (functions or {}).get(job),
        }
        message = resp.message
        if item.ambiguous:
            others = ", ".join(c for c in item.candidates if c != job)
            message = f"ambiguous link (also in the window of {others})" + (f"; {message}" if message else "")
        out.append(
            Run(
                job=job,
                source="pg_net",
                status=resp.outcome,
                started_at=item.run.started_at if item.run is not None else None,
                finished_at=resp.created,
                run_id=str(resp.id),
                raw_status=str(resp.status_code)
                if resp.status_code is not None
                else ("timeout" if resp.timed_out else "error"),
                message=message,
                http_status=resp.status_code,
                detail=detail,
            )
        )
    return out
