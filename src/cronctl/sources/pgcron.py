"""pg_cron: cron.job and cron.job_run_details.

job_run_details is indexed only by its primary key `runid` and grows without bound, so every query walks
runid backwards per job (LATERAL ... ORDER BY runid DESC LIMIT n). A job with few rows among millions would
walk far, so walks are bounded to the newest `window` runids of the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cronctl.queries import load
from cronctl.records import CronJob, FailureCount, Run

SOURCE = "pg_cron"
# How many runids (of all jobs) a per-job walk may cover; ~50 jobs every minute for about a week.
DEFAULT_WINDOW = 500_000
NET_RUNS_PER_JOB = 1000  # runs read per pg_net job: an every-minute job's runs over pg_net.ttl (6 h) and more
ACTIVE_STATUSES = ("starting", "connecting", "sending", "running")
STATUS_MAP = {
    **dict.fromkeys(ACTIVE_STATUSES, "running"),
    "succeeded": "succeeded",
    "failed": "failed",
}
COMMAND_EXCERPT = 200

Params = dict[str, Any]


def normalise_status(raw: str | None) -> str:
    return STATUS_MAP.get((raw or "").lower(), "unknown")


def _bound_params(max_runid: int | None, window: int | None) -> int | None:
    if window is None or max_runid is None:
        return None
    return max(0, max_runid - window)


def max_runid_query() -> tuple[str, Params]:
    return load("pgcron_max_runid"), {}


def parse_max_runid(rows: Sequence[Sequence[Any]]) -> int | None:
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def recent_runs_query(
    jobnames: list[str],
    per_job: int,
    *,
    max_runid: int | None = None,
    window: int | None = DEFAULT_WINDOW,
    failed_only: bool = False,
    with_net: bool = False,
    until: datetime | None = None,
    net_jobnames: Sequence[str] = (),
) -> tuple[str, Params]:
    """Newest `per_job` runs of each job (jobname or jobid as text), optionally failed runs only; `with_net`
    adds every job whose command calls pg_net; `until` ignores runs that started later.

    Without `max_runid` the bound is computed in the statement itself from max(runid) (one index step).
    """
    # Without max_runid the bound is computed server-side, which keeps one round trip for pipelined callers.
    params: Params = {
        "jobnames": list(jobnames),
        "n": per_job,
        "failed_only": failed_only,
        "min_runid": _bound_params(max_runid, window) if max_runid is not None else None,
        "window": None if until is not None else window,
        "with_net": with_net,
        "net_n": NET_RUNS_PER_JOB,
        "net_jobnames": list(net_jobnames),
        "until": until,
    }
    return load("pgcron_recent_runs"), params


def all_recent_runs_query(
    limit: int, *, window: int | None = DEFAULT_WINDOW, failed_only: bool = False
) -> tuple[str, Params]:
    params: Params = {"n": limit, "failed_only": failed_only, "min_runid": None, "window": window}
    return load("pgcron_all_recent_runs"), params


def _run_from_row(row: Sequence[Any]) -> Run:
    jobid, jobname, runid, job_pid, _database, username, command, status, message, start, end = row
    return Run(
        job=jobname or str(jobid),
        source=SOURCE,
        status=normalise_status(status),
        started_at=start,
        finished_at=end,
        run_id=str(runid),
        raw_status=status,
        message=message,
        detail={
            "jobid": jobid,
            "runid": runid,
            "job_pid": job_pid,
            "username": username,
            "return_message": message,
            "command": excerpt(command),
        },
    )


def excerpt(command: str | None, limit: int = COMMAND_EXCERPT) -> str | None:
    if command is None:
        return None
    flat = " ".join(command.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_runs(rows: Iterable[Sequence[Any]]) -> dict[str, list[Run]]:
    """Runs keyed by jobname (jobid as text for unnamed jobs), newest runid first."""
    out: dict[str, list[Run]] = {}
    for row in rows:
        run = _run_from_row(row)
        out.setdefault(run.job, []).append(run)
    for runs in out.values():
        runs.sort(key=lambda r: int(r.run_id or 0), reverse=True)
    return out


def fetch_recent_runs(
    conn: Any,
    jobnames: list[str],
    per_job: int,
    *,
    window: int | None = DEFAULT_WINDOW,
    failed_only: bool = False,
) -> dict[str, list[Run]]:
    query, params = recent_runs_query(jobnames, per_job, window=window, failed_only=failed_only)
    return parse_runs(conn.execute(query, params).fetchall())


def fetch_all_recent_runs(
    conn: Any, limit: int, *, window: int | None = DEFAULT_WINDOW, failed_only: bool = False
) -> list[Run]:
    query, params = all_recent_runs_query(limit, window=window, failed_only=failed_only)
    runs = [_run_from_row(row) for row in conn.execute(query, params).fetchall()]
    return runs


def list_jobs_query(*, window: int | None = DEFAULT_WINDOW) -> tuple[str, Params]:
    return load("pgcron_list_jobs"), {"min_runid": None, "window": window}


def parse_jobs(rows: Iterable[Sequence[Any]]) -> list[CronJob]:
    jobs = []
    for row in rows:
        (jobid, jobname, schedule, command, nodename, nodeport, database, username, active,
         runid, job_pid, status, message, start, end) = row  # fmt: skip
        last = None
        if runid is not None:
            last = _run_from_row(
                (jobid, jobname, runid, job_pid, database, username, command, status, message, start, end)
            )
        jobs.append(
            CronJob(
                jobid=jobid,
                jobname=jobname,
                schedule=schedule,
                command=command,
                database=database,
                username=username,
                active=bool(active),
                nodename=nodename,
                nodeport=nodeport,
                last_run=last,
            )
        )
    return jobs


def fetch_jobs(conn: Any, *, window: int | None = DEFAULT_WINDOW) -> list[CronJob]:
    query, params = list_jobs_query(window=window)
    return parse_jobs(conn.execute(query, params).fetchall())


def find_cron_job(conn: Any, job: str) -> CronJob | None:
    """A job by jobname or jobid (as text); None when no visible job matches."""
    row = conn.execute(load("pgcron_job_lookup"), {"job": job}).fetchone()
    if row is None:
        return None
    jobid, jobname, schedule, command, database, username, active = row
    return CronJob(
        jobid=jobid,
        jobname=jobname,
        schedule=schedule,
        command=command,
        database=database,
        username=username,
        active=bool(active),
    )


# -- failures over a window --------------------------------------------------------------------------------

# Runids are taken when a run is queued and start times when it starts: search a little before the window.
FAILURE_SEARCH_SLACK = timedelta(minutes=5)


def failure_groups_query(jobnames: list[str], since: datetime, until: datetime | None = None) -> tuple[str, Params]:
    """Failed runs of the named jobs since `since` (and up to `until`), aggregated by (job, message)."""
    return load("pgcron_failure_groups"), {
        "jobnames": list(jobnames),
        "since": since,
        "search_from": since - FAILURE_SEARCH_SLACK,
        "until": until,
    }


def parse_failure_groups(rows: Iterable[Sequence[Any]]) -> list[FailureCount]:
    return [
        FailureCount(jobs=(str(job),), source=SOURCE, message=message, count=int(n), first_seen=first, last_seen=last)
        for job, message, n, first, last in rows
    ]


# -- purge ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgePlan:
    min_runid: int | None
    cutoff_runid: int | None  # delete runid < cutoff_runid
    cutoff_time: datetime

    @property
    def estimated_rows(self) -> int:
        """Size of the runid range (an upper bound: earlier purges leave gaps)."""
        if self.min_runid is None or self.cutoff_runid is None:
            return 0
        return max(0, self.cutoff_runid - self.min_runid)


def _first_start_at_or_after(conn: Any, runid: int) -> tuple[int, datetime] | None:
    row = conn.execute(load("pgcron_purge_cutoff"), {"runid": runid}).fetchone()
    return (int(row[0]), row[1]) if row else None


def plan_purge(conn: Any, cutoff_time: datetime) -> PurgePlan:
    """Find the first runid started at or after `cutoff_time` by binary search over runid.

    runid grows with time, so each probe is one primary-key lookup; start_time is never scanned.
    """
    low, high = conn.execute(load("pgcron_runid_bounds")).fetchone()
    if low is None:
        return PurgePlan(None, None, cutoff_time)
    lo, hi = int(low), int(high) + 1  # invariant: runs below lo are older; the answer is in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        probe = _first_start_at_or_after(conn, mid)
        if probe is None:
            hi = mid
            continue
        found_runid, start = probe
        if start < cutoff_time:
            lo = found_runid + 1
        else:
            hi = mid
    return PurgePlan(int(low), lo, cutoff_time)


def purge_batches(plan: PurgePlan, batch: int) -> list[tuple[int, int]]:
    if plan.min_runid is None or plan.cutoff_runid is None or plan.cutoff_runid <= plan.min_runid:
        return []
    return [(low, min(low + batch, plan.cutoff_runid)) for low in range(plan.min_runid, plan.cutoff_runid, batch)]


# -- changes -----------------------------------------------------------------------------------------------


def render(conn: Any, name: str, params: Params) -> str:
    """Statement `name` with its parameters bound client-side: the exact text a dry run shows and a change runs."""
    from psycopg import ClientCursor

    return ClientCursor(conn).mogrify(load(name), params)


def set_active_statement(conn: Any, jobid: int, active: bool) -> str:
    return render(conn, "pgcron_set_active", {"jobid": jobid, "active": active})


def unschedule_statement(conn: Any, jobid: int) -> str:
    return render(conn, "pgcron_unschedule", {"jobid": jobid})


def reschedule_statement(conn: Any, jobid: int, schedule: str) -> str:
    return render(conn, "pgcron_reschedule", {"jobid": jobid, "schedule": schedule})


def purge_statement() -> str:
    """One batch; run with {"low": ..., "high": ...}."""
    return load("pgcron_purge_batch")


def writable_check(conn: Any) -> tuple[bool, str, bool]:
    """(transaction is read-only, current role, superuser) before any change is attempted."""
    row = conn.execute(load("pgcron_writable_check")).fetchone()
    return bool(row[0]), str(row[1]), bool(row[2])


def current_database(conn: Any) -> str:
    """The database this connection is in (a job's command runs in the database cron.job names)."""
    return str(conn.execute(load("pgcron_current_database")).fetchone()[0])


# --- whether the backends of unfinished runs are still connected (lock verdicts depend on it) ---------------

# A backend with the run's job_pid that started later than this after the run is a newer one reusing the pid.
BACKEND_REUSE_SLACK = timedelta(seconds=60)


def mark_backends(conn: Any, runs: list[Run]) -> list[Run]:
    """pg_cron runs in a non-final state, with `detail["backend_alive"]`: False when their job_pid is no
    connected backend (or a newer one reuses it), True when that same backend is still connected, unset when
    this role cannot tell (pg_stat_activity hides other users' backend_start)."""
    from cronctl.db import guarded

    pending = [
        r for r in runs
        if r.source == "pg_cron" and r.status == "running" and "backend_alive" not in r.detail
        and isinstance(r.detail.get("job_pid"), int)
    ]  # fmt: skip
    if not pending:
        return runs
    pids = sorted({int(r.detail["job_pid"]) for r in pending})
    with guarded("pg_stat_activity (backends of pg_cron runs)"), conn.transaction():
        rows = conn.execute(load("locks_run_backends"), {"pids": pids}).fetchall()
    started = {int(pid): backend_start for pid, backend_start in rows}
    pending_ids = {id(r) for r in pending}
    marked: list[Run] = []
    for run in runs:
        if id(run) in pending_ids:
            pid = int(run.detail["job_pid"])
            alive: bool | None
            if pid not in started:
                alive = False
            elif started[pid] is None or run.started_at is None:
                alive = None
            else:
                alive = started[pid] <= run.started_at + BACKEND_REUSE_SLACK
            if alive is not None:
                run = replace(run, detail={**run.detail, "backend_alive": alive})
        marked.append(run)
    return marked
