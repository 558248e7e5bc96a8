"""One job's runs from every source the runbook maps, merged and time-ordered.

Each source fails on its own: a missing schema says "not installed", an error becomes that source's note,
and the other sources still answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronctl.errors import CronctlError, SourceUnavailable
from cronctl.records import Run
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook

RUN_LOG_FAILED_FACTOR = 10


@dataclass
class SourceState:
    """How one source answered: ok, not_installed, or error (with the one-line reason)."""

    name: str
    state: str
    message: str | None = None
    runs: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"source": self.name, "state": self.state, "message": self.message, "runs": self.runs}


@dataclass
class HistoryResult:
    job: str
    runs: list[Run] = field(default_factory=list)
    sources: list[SourceState] = field(default_factory=list)
    function: str | None = None  # the Edge Function / URL the pg_cron command calls

    @property
    def all_failed(self) -> bool:
        return bool(self.sources) and all(s.state == "error" for s in self.sources)


class _Lazy:
    """A read-only connection opened on first use; the open error is remembered, not retried."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._conn: Any = None
        self._error: CronctlError | None = None

    def get(self) -> Any:
        if self._error is not None:
            raise self._error
        if self._conn is None:
            try:
                self._conn = self._opener()
            except CronctlError as exc:
                self._error = exc
                raise
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._opener is not _given:
            self._conn.close()


def _given() -> Any:  # marker: the caller owns the connection
    return None


def merge_runs(groups: Sequence[Sequence[Run]]) -> list[Run]:
    """Newest first across sources. A run without times takes the time of its newer neighbour in its own
    source (pg_cron 1.4 leaves early failures with NULL start and end), so it stays where it happened."""
    keyed: list[tuple[datetime, int, int, Run]] = []
    floor = datetime.min.replace(tzinfo=UTC)
    for g, runs in enumerate(groups):
        effective: datetime | None = None
        pending: list[tuple[int, Run]] = []
        for i, run in enumerate(runs):  # each group is newest first
            t = run.sort_time
            if t is None:
                if effective is None:
                    pending.append((i, run))
                    continue
                t = effective
            else:
                effective = t
                for j, early in pending:
                    keyed.append((t, g, j, early))
                pending = []
            keyed.append((t, g, i, run))
        for j, early in pending:
            keyed.append((floor, g, j, early))
    keyed.sort(key=lambda k: (_aware(k[0]), -k[1], -k[2]), reverse=True)
    return [k[3] for k in keyed]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _relabel(runs: Sequence[Run], job: str) -> list[Run]:
    from dataclasses import replace

    return [replace(r, job=job) for r in runs]


def _run_source(result: HistoryResult, name: str, action: Callable[[], list[Run] | None]) -> list[Run]:
    from cronctl.db import translate

    try:
        runs = action()
    except CronctlError as exc:
        result.sources.append(SourceState(name, "error", exc.message))
        return []
    except Exception as exc:  # psycopg errors: one line, this source only
        result.sources.append(SourceState(name, "error", translate(exc, name).message))
        return []
    if runs is None:
        return []
    result.sources.append(SourceState(name, "ok", runs=len(runs)))
    return runs


def collect_history(
    inv_or_conn: Any,
    runbook: Runbook,
    env: Environment,
    job: JobSpec,
    limit: int = 20,
    since: datetime | None = None,
    *,
    failed_only: bool = False,
    now: datetime | None = None,
) -> HistoryResult:
    """Every source of `job`'s history, through triage's collection (the one history path: the same linking of
    pg_net answers and the same outcome rules). `inv_or_conn` is an Invocation (connects when needed) or a
    connection the caller owns."""
    from cronctl.sources.triage import cron_name

    needs_db = bool(cron_name(job) or job.history.run_log)
    if not needs_db:
        return _health_only(runbook, env, job, limit, since)
    if hasattr(inv_or_conn, "connect") and hasattr(inv_or_conn, "runbook"):
        lazy = _Lazy(lambda: inv_or_conn.connect(read_only=True, autocommit=True))
    else:
        lazy = _Lazy(_given)
        lazy._conn = inv_or_conn
    result = HistoryResult(job=job.name)
    try:
        try:
            conn = lazy.get()
        except CronctlError as exc:
            result.sources.append(SourceState("database", "error", exc.message))
            return result
        try:
            _from_collection(result, conn, runbook, env, job, limit, since, failed_only, now)
        except CronctlError as exc:
            result.sources.append(SourceState("database", "error", exc.message))
    finally:
        lazy.close()
    return result


def _from_collection(
    result: HistoryResult,
    conn: Any,
    runbook: Runbook,
    env: Environment,
    job: JobSpec,
    limit: int,
    since: datetime | None,
    failed_only: bool,
    now: datetime | None,
) -> None:
    from cronctl.evaluate import pgnet_link
    from cronctl.sources.triage import collect, cron_name

    at = now or datetime.now(UTC)
    window = max((at - since).total_seconds(), 60.0) if since is not None else 24 * 3600.0
    per_job = min(max(limit, 100) * (RUN_LOG_FAILED_FACTOR if failed_only else 1), 2000)
    collected = collect(
        conn,
        runbook,
        env,
        [job],
        at,
        window,
        runbook.connection.statement_timeout,
        until=now,
        history_only=True,
        runs_per_job=per_job,
    )
    data = collected.jobs[job.name]
    cron = cron_name(job)
    if cron and cron in collected.cron_jobs:
        result.function = pgnet_link.target_function(collected.cron_jobs[cron][1])
    counts: dict[str, int] = {}
    for run in data.runs:
        counts[run.source] = counts.get(run.source, 0) + 1
    for note in data.notes:
        state = "error" if note.state == "timeout" else note.state
        if note.name.startswith("run_log") and state == "not_installed":
            state = "error"  # a mapped table or column that is missing is a runbook or grant problem
        result.sources.append(SourceState(note.name, state, note.message, runs=counts.get(note.name, 0)))
    by_source: dict[str, list[Run]] = {}
    for run in data.runs:
        by_source.setdefault(run.source, []).append(run)
    merged = merge_runs(list(by_source.values()))
    if failed_only:
        merged = [r for r in merged if r.status == "failed"]
    if since is not None:
        merged = [r for r in merged if r.sort_time is None or _aware(r.sort_time) >= since]
    result.runs = merged[:limit]
    if not result.sources:
        result.sources.append(SourceState("runbook", "error", f"job '{job.name}' maps no history source"))


def _health_only(runbook: Runbook, env: Environment, job: JobSpec, limit: int, since: datetime | None) -> HistoryResult:
    """A job recorded only by a health endpoint (or nothing): no database is needed."""
    from cronctl.sources.health import fetch_health

    result = HistoryResult(job=job.name)
    if not job.history.health:
        result.sources.append(SourceState("runbook", "error", f"job '{job.name}' maps no history source"))
        return result
    health_spec = runbook.health[job.history.health]
    keys = [k for k in (job.name, job.history.run_log_key) if k]

    def read_health() -> list[Run]:
        checks = fetch_health(health_spec, env)
        for k in keys:
            if k in checks:
                return _relabel([checks[k]], job.name)
        raise SourceUnavailable(f"health.{health_spec.name}: no check named '{job.name}' in its answer")

    runs = _run_source(result, "health", read_health)
    result.runs = [r for r in runs if since is None or r.sort_time is None or _aware(r.sort_time) >= since][:limit]
    return result


def job_history(
    inv_or_conn: Any,
    runbook: Runbook,
    env: Environment,
    job: JobSpec,
    limit: int = 20,
    since: datetime | None = None,
) -> list[Run]:
    """The merged runs only (see `collect_history` for per-source states)."""
    return collect_history(inv_or_conn, runbook, env, job, limit, since).runs
