"""Server facts for `pgcron status`, doctor and triage: version, role, pg_cron version and settings,
scheduler liveness, pg_net presence, size of job_run_details and stuck runs. Catalog reads only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cronctl.queries import load
from cronctl.records import Run

Params = dict[str, Any]
STUCK_PER_JOB = 20


@dataclass(frozen=True)
class ServerFacts:
    server_version: str
    server_version_num: int
    role: str
    superuser: bool
    database: str
    cron_schema: bool
    pg_cron_extversion: str | None
    net_schema: bool
    net_response_table: bool
    pg_net_extversion: str | None
    preloaded: bool
    cron_settings: dict[str, str] = field(default_factory=dict)

    @property
    def pg_cron_installed(self) -> bool:
        return self.cron_schema and self.pg_cron_extversion is not None

    @property
    def pg_cron_version(self) -> str | None:
        """The feature level told by pg_settings (extversion lags behind the loaded library)."""
        if not self.cron_settings and not self.pg_cron_installed:
            return None
        if "cron.launch_active_jobs" in self.cron_settings:
            return "1.6+"
        if "cron.timezone" in self.cron_settings:
            return "1.5+"
        return "1.4 or older"

    def setting(self, name: str) -> str | None:
        return self.cron_settings.get(name)


@dataclass(frozen=True)
class SchedulerState:
    alive: bool
    pid: int | None = None
    backend_type: str | None = None
    database: str | None = None
    since: datetime | None = None
    launcher_seen: bool = False


@dataclass(frozen=True)
class RunDetailsSize:
    estimated_rows: int
    total_bytes: int
    max_runid: int | None


def facts_query() -> tuple[str, Params]:
    return load("platform_facts"), {}


def parse_facts(rows: Sequence[Sequence[Any]]) -> ServerFacts:
    (version, version_num, role, superuser, database, cron_ext, cron_schema, net_schema, net_ext, net_table,
     preload, settings) = rows[0]  # fmt: skip
    return ServerFacts(
        server_version=version,
        server_version_num=int(version_num),
        role=role,
        superuser=bool(superuser),
        database=database,
        cron_schema=bool(cron_schema),
        pg_cron_extversion=cron_ext,
        net_schema=bool(net_schema),
        net_response_table=bool(net_table),
        pg_net_extversion=net_ext,
        preloaded="pg_cron" in (preload or ""),
        cron_settings=dict(settings or {}),
    )


def fetch_facts(conn: Any) -> ServerFacts:
    query, params = facts_query()
    return parse_facts(conn.execute(query, params).fetchall())


def scheduler_query() -> tuple[str, Params]:
    return load("platform_scheduler"), {}


def parse_scheduler(rows: Sequence[Sequence[Any]]) -> SchedulerState:
    launcher = False
    for pid, backend_type, app, datname, started, _state in rows:
        if app == "pg_cron scheduler":
            return SchedulerState(True, pid, backend_type, datname, started, launcher)
        launcher = launcher or backend_type == "pg_cron launcher"
    return SchedulerState(False, launcher_seen=launcher)


def fetch_scheduler(conn: Any) -> SchedulerState:
    query, params = scheduler_query()
    return parse_scheduler(conn.execute(query, params).fetchall())


def run_details_size_query() -> tuple[str, Params]:
    return load("platform_run_details_size"), {}


def parse_run_details_size(rows: Sequence[Sequence[Any]]) -> RunDetailsSize:
    estimated, total, max_runid = rows[0]
    # reltuples is -1 before the first ANALYZE / VACUUM.
    return RunDetailsSize(max(int(estimated), 0), int(total), int(max_runid) if max_runid is not None else None)


def fetch_run_details_size(conn: Any) -> RunDetailsSize:
    query, params = run_details_size_query()
    return parse_run_details_size(conn.execute(query, params).fetchall())


def stuck_runs_query(per_job: int = STUCK_PER_JOB, window: int | None = None) -> tuple[str, Params]:
    from cronctl.sources.pgcron import DEFAULT_WINDOW

    return load("platform_stuck_runs"), {"n": per_job, "window": window if window is not None else DEFAULT_WINDOW}


def parse_stuck_runs(rows: Sequence[Sequence[Any]]) -> list[Run]:
    from cronctl.sources.pgcron import normalise_status

    out = []
    for jobid, jobname, runid, job_pid, status, start, message in rows:
        out.append(
            Run(
                job=jobname or str(jobid),
                source="pg_cron",
                status=normalise_status(status),
                started_at=start,
                run_id=str(runid),
                raw_status=status,
                message=message,
                detail={"jobid": jobid, "runid": runid, "job_pid": job_pid, "backend_alive": False},
            )
        )
    return out


def fetch_stuck_runs(conn: Any, per_job: int = STUCK_PER_JOB) -> list[Run]:
    query, params = stuck_runs_query(per_job)
    return parse_stuck_runs(conn.execute(query, params).fetchall())
