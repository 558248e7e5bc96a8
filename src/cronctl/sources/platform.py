"""Server facts for `pgcron status`, doctor and triage: version, role, pg_cron version and settings,
scheduler liveness, pg_net presence, what the role may read, size of job_run_details and stuck runs.
Catalog reads only; the facts query never fails for lack of privileges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cronctl.grants import not_visible
from cronctl.queries import load
from cronctl.records import Run, RunDetailsSize, SchedulerState, ServerFacts, Version

Params = dict[str, Any]
STUCK_PER_JOB = 20

# pg_cron features cronctl cares about and the first release that has them (CHANGELOG: 1.5.0, 1.6.0).
FEATURES: dict[str, Version] = {"seconds": (1, 5), "timezone": (1, 5), "last_day_dollar": (1, 6)}


def supports(facts: ServerFacts, feature: str) -> bool | None:
    """Whether the server's pg_cron has `feature` (see FEATURES): True, False, or None when it cannot tell
    (settings hidden from this role and extversion too old to prove it). Raises KeyError for an unknown name."""
    need = FEATURES[feature]
    level = facts.pg_cron_level
    if level is not None and level >= need:
        return True
    upper = facts.pg_cron_upper_bound
    if facts.pg_cron_level_known and upper is not None and upper < need:
        return False
    return None


def facts_query() -> tuple[str, Params]:
    return load("platform_facts"), {}


def parse_facts(rows: Sequence[Sequence[Any]]) -> ServerFacts:
    (version, version_num, role, superuser, bypassrls, database, cron_ext, cron_schema, cron_usage, job_select,
     details_select, net_schema, net_usage, net_ext, net_table, net_select, queue_table, queue_select, preload,
     settings) = rows[0]  # fmt: skip
    cron_settings = {str(k): str(v) for k, v in (settings or {}).items()}
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
        cron_settings=cron_settings,
        bypassrls=bool(bypassrls),
        cron_usage=bool(cron_usage),
        cron_job_select=bool(job_select),
        cron_run_details_select=bool(details_select),
        net_usage=bool(net_usage),
        net_response_select=bool(net_select),
        net_queue_table=bool(queue_table),
        net_queue_select=bool(queue_select),
        cron_settings_visible=bool(cron_settings),
        cron_timezone=cron_settings.get("cron.timezone"),
        preload_visible=preload is not None,
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


def parse_run_details_size(rows: Sequence[Sequence[Any]], max_runid: int | None = None) -> RunDetailsSize:
    estimated, total = rows[0][:2]
    # reltuples is -1 before the first ANALYZE / VACUUM.
    return RunDetailsSize(max(int(estimated), 0), int(total), int(max_runid) if max_runid is not None else None)


def fetch_run_details_size(conn: Any) -> RunDetailsSize:
    """Size from the catalog (any role); the newest runid only when this role may read the table."""
    from cronctl.errors import SourceUnavailable

    facts = fetch_facts(conn)
    query, params = run_details_size_query()
    rows = conn.execute(query, params).fetchall()
    if not rows:
        raise SourceUnavailable("cron.job_run_details does not exist")
    max_runid = conn.execute(load("platform_max_runid")).fetchone()[0] if facts.cron_runs_readable else None
    return parse_run_details_size(rows, max_runid)


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
    """Raises PermissionDenied with the missing GRANTs (one line) when this role may not read pg_cron's tables."""
    from cronctl.errors import PermissionDenied

    facts = fetch_facts(conn)
    if facts.cron_schema and not facts.cron_readable:
        raise PermissionDenied(not_visible(facts, "cron"))
    query, params = stuck_runs_query(per_job)
    return parse_stuck_runs(conn.execute(query, params).fetchall())
