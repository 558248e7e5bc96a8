"""`cronctl explain` and `cronctl jobs`: what a schedule means and what a runbook's jobs are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cronctl.durations import format_duration
from cronctl.output.report import KeyValues, Report, Table, Text
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook
from cronctl.schedule import Schedule


def explain_report(expression: str, tz: str, count: int, now: datetime) -> Report:
    schedule = Schedule.parse(expression, tz)
    runs = schedule.next_runs(now, count)
    local = schedule.tz
    data: dict[str, Any] = {
        "expression": expression,
        "timezone": tz,
        "description": schedule.describe(),
        "min_pg_cron_version": schedule.min_pg_cron_version,
        "next_runs": runs,
    }
    sections: list[Any] = [
        KeyValues(
            [
                ("expression", expression),
                ("meaning", schedule.describe()),
                ("time zone", tz),
                ("pg_cron", _pg_cron_note(schedule, tz)),
            ]
        ),
        Table(
            ["#", "UTC", f"local ({tz})", "in"],
            [
                [
                    i + 1,
                    run,
                    run.astimezone(local).strftime("%Y-%m-%d %H:%M:%S %Z"),
                    format_duration((run - now).total_seconds()),
                ]
                for i, run in enumerate(runs)
            ],
            title="Next runs",
        ),
    ]
    return Report(data=data, sections=sections)


def _pg_cron_note(schedule: Schedule, tz: str) -> str:
    notes = []
    if schedule.min_pg_cron_version:
        notes.append(f"needs pg_cron {schedule.min_pg_cron_version}+")
    if tz.upper() not in ("UTC", "GMT"):
        notes.append("pg_cron 1.4 runs in GMT only; 1.5+ reads cron.timezone")
    return "; ".join(notes) or "any version"


SQL_REQUEST = "SQL (pg_cron)"


def job_kind(job: JobSpec) -> str:
    """How the job is fired: `http` (its url), `dispatch` (a GitHub workflow) or `sql` (pg_cron runs its SQL)."""
    if job.runs_sql:
        return "sql"
    return "dispatch" if job.url is None else "http"


def job_endpoint(job: JobSpec) -> str:
    if job.runs_sql:
        return SQL_REQUEST
    if job.dispatch is not None and job.url is None:
        return f"GitHub workflow {job.dispatch.repo}/{job.dispatch.workflow}"
    return job.url or "-"


def _display_url(job: JobSpec, env: Environment) -> str:
    """The URL with variables filled in where they are set (URLs are not secret; secrets stay masked)."""
    if job.url is None:
        return job_endpoint(job)
    from cronctl.errors import MissingVariableError

    try:
        return env.resolve(job.url, f"jobs.{job.name}.url")
    except MissingVariableError:
        return job.url


def auth_label(job: JobSpec) -> str:
    kind = job.auth.kind
    if job.runs_sql:
        return "-"
    if job.dispatch is not None and job.url is None:
        return "github-dispatch"
    if kind == "header":
        return f"header {job.auth.header}"
    if kind == "bearer" and job.auth.apikey_env:
        return "bearer+apikey"
    return kind


def _request_label(job: JobSpec, env: Environment) -> str:
    if job.runs_sql:
        return SQL_REQUEST
    return f"{job.method} {_display_url(job, env)}"


def jobs_report(runbook: Runbook, env: Environment, now: datetime) -> Report:
    rows: list[list[Any]] = []
    data_jobs: list[dict[str, Any]] = []
    missing_total = 0
    for job in runbook.jobs.values():
        schedule = Schedule.parse(job.schedule, job.timezone) if job.schedule else None
        next_run = schedule.next_run(now) if schedule else None
        env_state = {name: env.is_set(name) for name in job.required_env()}
        missing = [name for name, ok in env_state.items() if not ok]
        missing_total += len(missing)
        rows.append(
            [
                job.name,
                f"{job.schedule} — {schedule.describe()}" if schedule else "(not scheduled)",
                next_run,
                _request_label(job, env),
                auth_label(job),
                format_duration(job.timeout),
                ", ".join(missing) if missing else "all set",
            ]
        )
        data_jobs.append(
            {
                "name": job.name,
                "description": job.description,
                "schedule": job.schedule,
                "schedule_text": schedule.describe() if schedule else None,
                "timezone": job.timezone,
                "next_run": next_run,
                "kind": job_kind(job),
                "method": None if job.runs_sql else job.method,
                "url": job.url,
                "dispatch": (
                    {"repo": job.dispatch.repo, "workflow": job.dispatch.workflow, "ref": job.dispatch.ref}
                    if job.dispatch
                    else None
                ),
                "auth": auth_label(job),
                "timeout_seconds": job.timeout,
                "scheduler": job.scheduler,
                "env": [{"name": n, "set": ok} for n, ok in env_state.items()],
            }
        )
    sections: list[Any] = [
        Table(
            ["job", "schedule", "next run", "request", "auth", "timeout", "missing variables"],
            rows,
            wrap=(1, 3, 6),
        )
    ]
    if missing_total:
        sections.append(
            Text(f"{missing_total} required variable(s) missing: set them in the environment or .env", tone="warn")
        )
    return Report(
        data={"runbook": runbook.name, "path": str(runbook.path), "profile": runbook.profile, "jobs": data_jobs},
        sections=sections,
        title=f"{runbook.name}: {len(runbook.jobs)} jobs"
        + (f" (profile {runbook.profile})" if runbook.profile else ""),
    )
