"""Plain records that sources return and evaluation consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Run:
    """One run of a job, from any history source."""

    job: str
    source: str  # pg_cron | pg_net | run_log:<name> | health
    status: str  # normalised: running | succeeded | failed | partial | skipped | unknown
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None
    raw_status: str | None = None
    message: str | None = None
    http_status: int | None = None
    records: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def sort_time(self) -> datetime | None:
        return self.started_at or self.finished_at

    def to_json(self) -> dict[str, Any]:
        out = self._json()
        if self.source == "pg_net":
            # How this outcome was linked to its pg_net answer: exact | inferred | ambiguous | none.
            out["attribution"] = self.detail.get("attribution", "none")
        return out

    def _json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "source": self.source,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration,
            "status": self.status,
            "raw_status": self.raw_status,
            "message": self.message,
            "http_status": self.http_status,
            "records": self.records,
            "detail": self.detail,
        }


@dataclass
class SourceNote:
    """How one history source answered for a job: the evidence behind `unknown` when it did not."""

    name: str
    state: str  # ok | not_installed | error | timeout | hidden (row-level security hides the job from this role)
    message: str | None = None
    hidden: bool = False  # answered, but row-level security may hide this job's rows from the role

    def to_json(self) -> dict[str, Any]:
        return {"source": self.name, "state": self.state, "message": self.message}


@dataclass(frozen=True)
class Lock:
    """A lock as seen in one backend, before any judgement about staleness."""

    name: str  # the job it belongs to
    backend: str  # table | advisory | redis
    key: str
    holder: str | None = None
    acquired_at: datetime | None = None
    expires_at: datetime | None = None
    # Backend specifics: pid / state / state_change for advisory, ttl_ms / value for redis, raw row for table.
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackedRequest:
    """A pg_net request as cronctl's tracking trigger recorded it when it was queued: which backend queued it
    and when. `backend_pid` equals the pg_cron run's `job_pid` of the run that called `net.http_*`."""

    request_id: int
    backend_pid: int
    queued_at: datetime
    method: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class QueuedRequest:
    """A row still waiting in `net.http_request_queue` (the worker deletes it when it picks it up)."""

    request_id: int
    method: str | None = None
    url: str | None = None
    timeout_ms: int | None = None
