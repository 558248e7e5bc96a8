"""`cronctl pgcron ...`: cron.job inspection, history, scheduler status, and the result of changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cronctl.durations import format_duration
from cronctl.evaluate.scheduler import scheduler_alive
from cronctl.output.report import KeyValues, Mark, Report, Section, Table, Text, mark
from cronctl.output.times import when
from cronctl.records import CronJob, Run, RunDetailsSize, SchedulerState, ServerFacts
from cronctl.reports.logs import RUN_COLUMNS, run_row, trim

RLS_NOTE = (
    "connected role {role} is neither superuser nor BYPASSRLS: row-level security hides other users' jobs and runs"
)


def _schedule_text(expr: str) -> tuple[str | None, Any]:
    """Meaning and a Schedule (or None) for a pg_cron schedule; pg_cron 1.4 runs in GMT."""
    from cronctl.errors import CronctlError
    from cronctl.schedule import Schedule

    try:
        schedule = Schedule.parse(expr, "UTC")
    except CronctlError:
        return None, None
    return schedule.describe(), schedule


def job_json(job: CronJob, now: datetime) -> dict[str, Any]:
    from cronctl.evaluate.pgnet_link import target_function

    meaning, schedule = _schedule_text(job.schedule)
    next_run = schedule.next_run(now) if schedule is not None and job.active else None
    return {
        "jobid": job.jobid,
        "jobname": job.jobname,
        "schedule": job.schedule,
        "schedule_text": meaning,
        "active": job.active,
        "database": job.database,
        "username": job.username,
        "command": job.command,
        "function": target_function(job.command),
        "last_run": job.last_run.to_json() if job.last_run else None,
        "next_run": next_run,
        "running_now": job.running_now,
    }


def _last_time(job: CronJob) -> datetime | None:
    return job.last_run.sort_time if job.last_run is not None else None


def _last_status(job: CronJob) -> str:
    return (job.last_run.raw_status if job.last_run is not None else None) or "never_run"


def list_report(jobs: list[CronJob], now: datetime, facts: ServerFacts | None) -> Report:
    data_jobs = [job_json(j, now) for j in jobs]
    rows = [
        [
            d["jobid"],
            d["jobname"] or "-",
            d["schedule"],
            d["schedule_text"] or "(not understood)",
            d["active"],
            d["database"],
            d["username"],
            when(_last_time(jobs[i]), now, empty="never"),
            mark(_last_status(jobs[i]), "run"),
            when(d["next_run"], now) if d["active"] else Mark("disabled", "warn"),
            d["running_now"],
        ]
        for i, d in enumerate(data_jobs)
    ]
    sections: list[Section] = [
        Table(
            [
                "jobid",
                "name",
                "schedule",
                "meaning",
                "active",
                "database",
                "user",
                "last run",
                "status",
                "next run",
                "running now",
            ],
            rows,
            wrap=(3,),
            head=(1, 8),  # stacked: the job's name and its last run's status open its block
            empty="(no jobs in cron.job)",
        )
    ]
    if facts is not None and not facts.sees_all_rows:
        sections.append(Text(RLS_NOTE.format(role=facts.role), tone="warn"))
    failing = sum(1 for j in jobs if j.last_run and j.last_run.status == "failed")
    return Report(
        data={
            "jobs": data_jobs,
            "role": facts.role if facts else None,
            "superuser": facts.superuser if facts else None,
        },
        sections=sections,
        title=f"pg_cron: {len(jobs)} job(s)",
        headline=f"{failing} job(s) whose last run failed" if failing else None,
        tone="warn" if failing else "info",
    )


def history_report(
    job: str | None, runs: list[Run], *, limit: int, failed_only: bool, facts: ServerFacts | None
) -> Report:
    columns = ["job", "runid", *RUN_COLUMNS[:4], "message"]
    rows = [[r.job, r.run_id, *run_row(r)[:4], trim(r.message)] for r in runs]
    sections: list[Section] = [Table(columns, rows, wrap=(6,), empty="(no runs)")]
    if facts is not None and not facts.sees_all_rows:
        sections.append(Text(RLS_NOTE.format(role=facts.role), tone="warn"))
    failed = sum(1 for r in runs if r.status == "failed")
    return Report(
        data={
            "job": job,
            "filters": {"limit": limit, "failed_only": failed_only},
            "runs": [r.to_json() for r in runs],
        },
        sections=sections,
        title=f"pg_cron history: {job or 'all jobs'}",
        headline=f"{len(runs)} run(s)" + (f", {failed} failed" if failed else ""),
        tone="warn" if failed else "info",
    )


def _liveness(seen: bool, hidden: bool) -> Mark:
    if seen:
        return Mark("alive", "ok")
    return Mark("not visible", "warn") if hidden else Mark("dead", "crit")


def status_report(
    facts: ServerFacts,
    scheduler: SchedulerState | None,
    size: RunDetailsSize | None,
    stuck: list[Run] | None,
    problems: dict[str, str],
) -> Report:
    settings = {
        k: facts.setting(f"cron.{k}")
        for k in (
            "max_running_jobs",
            "use_background_workers",
            "database_name",
            "timezone",
            "launch_active_jobs",
        )
    }
    warnings: list[str] = []
    crit: list[str] = []
    alive = scheduler_alive(facts, scheduler)
    hidden = facts.pg_cron_installed and scheduler is not None and alive is None  # hidden from this role
    if not facts.pg_cron_installed:
        crit.append("pg_cron is not installed in this database (no cron schema)")
    elif alive is False:
        crit.append("no 'pg_cron scheduler' backend in pg_stat_activity: no job will run")
    elif hidden:
        warnings.append("no pg_cron scheduler visible to this role (needs pg_read_all_stats to be sure)")
    if stuck:
        warnings.append(f"{len(stuck)} run(s) stuck in a non-final status with no live backend")
    if not facts.sees_all_rows:
        warnings.append(RLS_NOTE.format(role=facts.role))
    if not facts.net_schema:
        warnings.append("pg_net: not installed (no net schema); jobs calling net.http_post fail")
    warnings.extend(f"{name}: {message}" for name, message in problems.items())
    data: dict[str, Any] = {
        "server_version": facts.server_version,
        "database": facts.database,
        "role": facts.role,
        "superuser": facts.superuser,
        "pg_cron": {
            "installed": facts.pg_cron_installed,
            "extversion": facts.pg_cron_extversion,
            "version": facts.pg_cron_version,
            "settings": settings,
        },
        "scheduler": None
        if scheduler is None
        else {
            "alive": scheduler.alive,
            "pid": scheduler.pid,
            "backend_type": scheduler.backend_type,
            "database": scheduler.database,
            "since": scheduler.since,
        },
        "pg_net": {
            "installed": facts.net_schema,
            "extversion": facts.pg_net_extversion,
            "response_table": facts.net_response_table,
        },
        "job_run_details": None
        if size is None
        else {
            "estimated_rows": size.estimated_rows,
            "total_bytes": size.total_bytes,
            "max_runid": size.max_runid,
        },
        "stuck_runs": [r.to_json() for r in stuck or []],
        "errors": problems,
        "warnings": warnings,
        "critical": crit,
    }
    shown: Any = "-" if scheduler is None else _liveness(scheduler.alive, hidden)
    items: list[tuple[str, Any]] = [
        ("server", f"PostgreSQL {facts.server_version}"),
        ("database", facts.database),
        ("role", f"{facts.role}" + (" (superuser)" if facts.superuser else " (not superuser)")),
        (
            "pg_cron",
            (
                f"installed, {facts.pg_cron_version} (extension {facts.pg_cron_extversion})"
                if facts.pg_cron_installed
                else "not installed"
            ),
        ),
        (
            "scheduler",
            Mark(f"{shown.word} (pid {scheduler.pid})", shown.severity)
            if scheduler and scheduler.pid and isinstance(shown, Mark)
            else shown,
        ),
        *[(f"cron.{k}", v if v is not None else "-") for k, v in settings.items()],
        ("pg_net", "installed" if facts.net_schema else "not installed"),
    ]
    if size is not None:
        items.append(("job_run_details", f"~{size.estimated_rows:,} rows, {_bytes(size.total_bytes)}"))
    sections: list[Section] = [KeyValues(items)]
    if stuck:
        sections.append(
            Table(
                ["job", "runid", "status", "start", "pid", "since"],
                [
                    [
                        r.job,
                        r.run_id,
                        mark(r.raw_status, "run"),
                        r.started_at,
                        r.detail.get("job_pid"),
                        format_duration(_age(r)),
                    ]
                    for r in stuck
                ],
                title="Stuck runs",
            )
        )
    for line in crit:
        sections.append(Text(line, tone="crit"))
    for line in warnings:
        sections.append(Text(line, tone="warn"))
    tone = "crit" if crit else ("warn" if warnings else "ok")
    headline = crit[0] if crit else ("pg_cron scheduler is alive" if scheduler and scheduler.alive else None)
    return Report(
        data=data,
        sections=sections,
        title="pg_cron status",
        headline=headline,
        tone=tone,
        exit_code=1 if crit else 0,
    )


def _age(run: Run) -> float | None:
    from datetime import UTC

    if run.started_at is None:
        return None
    return (datetime.now(UTC) - run.started_at).total_seconds()


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


@dataclass(frozen=True)
class ChangeResult:
    """A pg_cron change, shown (dry run) or carried out: its SQL, its outcome and the facts about it."""

    action: str
    target: str
    job: CronJob | None
    statements: list[str]
    dry_run: bool
    result: str
    facts: dict[str, Any] = field(default_factory=dict)


def change_report(change: ChangeResult) -> Report:
    job = change.job
    data: dict[str, Any] = {
        "action": change.action,
        "target": change.target,
        "jobid": job.jobid if job else None,
        "jobname": job.jobname if job else None,
        "dry_run": change.dry_run,
        "sql": change.statements,
        "result": change.result,
        **change.facts,
    }
    items: list[tuple[str, Any]] = [("action", change.action), ("job", change.target), ("result", change.result)]
    items.extend((k, v) for k, v in change.facts.items() if not isinstance(v, (dict, list)))
    sql = "SQL" + (" that would run" if change.dry_run else "") + ":\n" + "\n".join(change.statements)
    sections: list[Section] = [KeyValues(items), Text(sql, tone="muted")]
    headline = "dry run: nothing changed" if change.dry_run else f"{change.action} {change.target}: {change.result}"
    return Report(
        data=data,
        sections=sections,
        title=f"pgcron {change.action}",
        headline=headline,
        tone="info" if change.dry_run else "ok",
    )
