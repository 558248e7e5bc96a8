"""The facts the hygiene checks judge (evaluate/hygiene.py): settings and catalog sizes any role may read, and
cron.job as this role sees it. Triage reads them in its pipelined batch; doctor with `fetch`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cronctl.queries import load
from cronctl.records import CronRow, HygieneFacts


def query() -> tuple[str, dict[str, Any]]:
    return load("hygiene_facts"), {}


def cron_rows(rows: Sequence[Sequence[Any]]) -> list[CronRow]:
    """cron.job rows as `triage_cron_jobs` returns them (jobid, jobname, schedule, command, active, username)."""
    return [
        CronRow(str(jobname or jobid), str(schedule or ""), command or "", bool(active))
        for jobid, jobname, schedule, command, active, _user in rows
    ]


def facts_from(
    server: Any, row: Sequence[Any] | None, jobs: Sequence[CronRow] | None, *, uses_pg_cron: bool, error: str | None
) -> HygieneFacts:
    """`server` is platform.ServerFacts; `row` the hygiene_facts answer; `jobs` None when cron.job was not read."""
    if error is not None or row is None:
        return HygieneFacts(role=server.role, error=error or "no answer")
    ttl_text, ttl_seconds, rows, size = row
    return HygieneFacts(
        role=server.role,
        cron_installed=bool(server.cron_schema) and uses_pg_cron,
        cron_jobs=tuple(jobs) if jobs is not None else None,
        sees_all_jobs=bool(server.superuser or getattr(server, "bypassrls", False)),
        run_details_rows=int(rows) if rows is not None and int(rows) >= 0 else None,
        run_details_bytes=int(size) if size is not None else None,
        settings_visible=bool(server.cron_settings_visible),
        cron_timezone=server.cron_timezone,
        log_run=server.setting("cron.log_run"),
        pg_net_installed=bool(server.net_schema or server.net_response_table),
        pg_net_ttl_seconds=float(ttl_seconds) if ttl_seconds is not None else None,
        pg_net_ttl_text=str(ttl_text) if ttl_text else None,
    )


def fetch(conn: Any, server: Any, *, uses_pg_cron: bool) -> HygieneFacts:
    """For doctor: one read of the settings and sizes, and cron.job when this role may read it."""
    from cronctl.db import translate

    jobs: list[CronRow] | None = None
    try:
        with conn.transaction():
            if server.cron_job_readable:
                jobs = cron_rows(conn.execute(load("triage_cron_jobs")).fetchall())
            text, params = query()
            row = conn.execute(text, params).fetchone()
    except Exception as exc:  # one unreadable fact degrades one check
        return facts_from(server, None, None, uses_pg_cron=uses_pg_cron, error=translate(exc, "hygiene facts").message)
    return facts_from(server, row, jobs, uses_pg_cron=uses_pg_cron, error=None)
