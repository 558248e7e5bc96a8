"""Whether the backends of pg_cron runs a lock verdict depends on are still connected (services/locks.py
collects the runs themselves through the one history path, services/history.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cronctl.records import Run

# A backend with the run's job_pid that started later than this after the run is a newer one reusing the pid.
BACKEND_REUSE_SLACK = timedelta(seconds=60)


def mark_backends(conn: Any, runs: list[Run]) -> list[Run]:
    """pg_cron runs in a non-final state, with `detail["backend_alive"]`: False when their job_pid is no
    connected backend (or a newer one reuses it), True when that same backend is still connected, unset when
    this role cannot tell (pg_stat_activity hides other users' backend_start)."""
    from dataclasses import replace

    from cronctl.db import guarded
    from cronctl.queries import load

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
