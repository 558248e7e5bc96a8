"""One job's runs from every source the runbook maps, merged and time-ordered.

Each source fails on its own: a missing schema says "not installed", an error becomes that source's note,
and the other sources still answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronctl.errors import CronctlError, SourceUnavailable
from cronctl.records import Run
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook

PG_NET_SLACK = 2.0  # seconds a response may arrive after its request's timeout
PG_NET_LOOKBACK = timedelta(hours=6)  # pg_net.ttl default: older responses are gone anyway
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


class NotInstalled(Exception):
    """The schema or table a source reads does not exist here."""


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


def _relation_exists(conn: Any, name: str) -> bool:
    from cronctl.queries import load

    row = conn.execute(load("history_relation_exists"), {"name": name}).fetchone()
    return bool(row and row[0])


def _run_source(result: HistoryResult, name: str, action: Callable[[], list[Run] | None]) -> list[Run]:
    from cronctl.db import translate

    try:
        runs = action()
    except NotInstalled as exc:
        result.sources.append(SourceState(name, "not_installed", str(exc)))
        return []
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


def _in_savepoint(lazy: _Lazy, body: Callable[[Any], list[Run] | None]) -> Callable[[], list[Run] | None]:
    def call() -> list[Run] | None:
        conn = lazy.get()
        with conn.transaction():
            return body(conn)

    return call


def collect_history(
    inv_or_conn: Any,
    runbook: Runbook,
    env: Environment,
    job: JobSpec,
    limit: int = 20,
    since: datetime | None = None,
    *,
    failed_only: bool = False,
) -> HistoryResult:
    """Every source of `job`'s history; `inv_or_conn` is an Invocation (connects when needed) or a
    connection the caller owns."""
    from cronctl.evaluate import pgnet_link
    from cronctl.sources import pgcron, runlog
    from cronctl.sources.health import fetch_health

    if hasattr(inv_or_conn, "connect") and hasattr(inv_or_conn, "runbook"):
        lazy = _Lazy(lambda: inv_or_conn.connect(read_only=True, autocommit=True))
    else:
        lazy = _Lazy(_given)
        lazy._conn = inv_or_conn
    result = HistoryResult(job=job.name)
    groups: list[list[Run]] = []
    history = job.history
    cron_name = history.pg_cron or (job.name if job.scheduler == "pg_cron" else None)
    try:
        pg_runs: list[Run] = []
        if cron_name:
            name = cron_name

            def read_pg_cron(conn: Any) -> list[Run] | None:
                if not _relation_exists(conn, "cron.job_run_details"):
                    raise NotInstalled("pg_cron is not installed in this database (no cron schema)")
                found = pgcron.find_cron_job(conn, name)
                if found is None:
                    raise SourceUnavailable(f"pg_cron: no job named '{name}' in cron.job (visible to this role)")
                result.function = pgnet_link.target_function(found.command)
                runs = pgcron.fetch_recent_runs(conn, [name], limit, failed_only=failed_only)
                return _relabel(next(iter(runs.values()), []), job.name)

            pg_runs = _run_source(result, "pg_cron", _in_savepoint(lazy, read_pg_cron))
            groups.append(pg_runs)
        if history.pg_net and cron_name:
            groups.append(
                _run_source(
                    result,
                    "pg_net",
                    _in_savepoint(lazy, lambda conn: _read_pg_net(conn, job.name, cron_name, pg_runs, since)),
                )
            )
        if history.run_log:
            spec = runbook.run_logs[history.run_log]
            key = history.run_log_key or (job.name if spec.job_column else "*")
            per = min(limit * RUN_LOG_FAILED_FACTOR, 1000) if failed_only else limit

            hidden_from: list[str] = []

            def read_run_log(conn: Any) -> list[Run]:
                runs, role = runlog.read_recent_runs(conn, spec, [key], per)
                hidden_from.extend([role] if role else [])
                return _relabel(runs.get(key, []), job.name)

            log_runs = _run_source(result, runlog.source_name(spec), _in_savepoint(lazy, read_run_log))
            if not log_runs and hidden_from and result.sources[-1].state == "ok":
                # Nothing visible is not "never ran" when policies decide what this role sees.
                result.sources[-1].message = runlog.rls_note(spec, hidden_from[0])
            groups.append(log_runs)
        if history.health:
            health_spec = runbook.health[history.health]
            keys = [k for k in (job.name, history.run_log_key, cron_name) if k]

            def read_health() -> list[Run]:
                checks = fetch_health(health_spec, env)
                for k in keys:
                    if k in checks:
                        return _relabel([checks[k]], job.name)
                raise SourceUnavailable(f"health.{health_spec.name}: no check named '{job.name}' in its answer")

            groups.append(_run_source(result, "health", read_health))
    finally:
        lazy.close()
    if not result.sources:
        result.sources.append(SourceState("runbook", "error", f"job '{job.name}' maps no history source"))
    merged = merge_runs(groups)
    if failed_only:
        merged = [r for r in merged if r.status == "failed"]
    if since is not None:
        merged = [r for r in merged if r.sort_time is None or _aware(r.sort_time) >= since]
    result.runs = merged[:limit]
    return result


def _read_pg_net(conn: Any, job: str, cron_name: str, own_runs: list[Run], since: datetime | None) -> list[Run] | None:
    from cronctl.evaluate import pgnet_link
    from cronctl.sources import pgcron, pgnet

    if not pgnet.fetch_net_installed(conn):
        raise NotInstalled("pg_net is not installed in this database (no net._http_response)")
    # Every pg_net-driven cron job competes for the same responses: link against all of them.
    cron_jobs = [j for j in pgcron.fetch_jobs(conn) if pgnet_link.uses_pg_net(j.command)]
    names = [j.name for j in cron_jobs]
    if cron_name not in names:
        names.append(cron_name)
    starts = [_aware(r.started_at) for r in own_runs if r.started_at is not None]
    lower = min(starts) if starts else datetime.now(UTC) - PG_NET_LOOKBACK
    if since is not None:
        lower = max(lower, since)
    runs_by_job = pgcron.fetch_recent_runs(conn, names, max(len(own_runs), 20) * 2)
    timeouts = {j.name: pgnet_link.net_timeout(j.command) for j in cron_jobs}
    responses = pgnet.fetch_responses(conn, lower)
    linked = pgnet_link.link(runs_by_job, responses, timeouts, PG_NET_SLACK)
    functions = {j.name: pgnet_link.target_function(j.command) for j in cron_jobs}
    return _relabel(pgnet_link.response_runs(linked, cron_name, functions), job)


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
