"""`cronctl explain` and `cronctl jobs`: what a schedule means and what a runbook's jobs are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from cronctl.durations import format_duration
from cronctl.output.report import KeyValues, Report, Table, Text
from cronctl.output.times import when
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook
from cronctl.schedule import CronEntry, Schedule, VersionVerdict


@dataclass(frozen=True)
class Explanation:
    """What pg_cron's parser, each pg_cron version, Vercel and GitHub Actions make of one schedule."""

    expression: str
    tz: str
    local: tzinfo
    entry: CronEntry
    meaning: str
    fires: bool  # pg_cron's parser gives it fire times
    schedule: Schedule | None
    never: str | None  # why it never fires, when it does not
    runs: list[datetime]  # the next fire times
    versions: list[VersionVerdict]
    schedulers: dict[str, tuple[list[str], list[str]]]  # scheduler -> (refusals, warnings)


def explain_report(explanation: Explanation, now: datetime) -> Report:
    """What pg_cron (each version), Vercel and GitHub Actions make of a schedule, and when it fires next."""
    expression, tz, entry = explanation.expression, explanation.tz, explanation.entry
    never, runs, schedulers = explanation.never, explanation.runs, explanation.schedulers
    zone = "UTC" if tz.upper() in ("UTC", "GMT") else tz
    plain = entry.every_seconds is not None or entry.reboot or not explanation.fires  # no time zone to name
    text = explanation.meaning if plain else f"{explanation.meaning} ({zone})"
    versions = _versions(expression, tz, explanation.versions)
    schedule = explanation.schedule
    data: dict[str, Any] = {
        "expression": expression,
        "timezone": tz,
        "description": text,
        "fires": bool(runs),
        "never_fires": never,
        "ignored": list(entry.ignored),
        "min_pg_cron_version": schedule.min_pg_cron_version if schedule is not None else _min_version(versions),
        "pg_cron": versions,
        "schedulers": {
            name: {"accepted": not refused, "problems": refused, "warnings": warned}
            for name, (refused, warned) in schedulers.items()
        },
        "next_runs": runs,
    }
    pairs: list[tuple[str, Any]] = [("expression", expression), ("meaning", text), ("time zone", tz)]
    for note in entry.ignored:
        pairs.append(("note", note))
    pairs.append(("pg_cron", _pg_cron_note(versions)))
    for name, (refused, warned) in schedulers.items():
        label = "Vercel" if name == "vercel" else "GitHub Actions"
        pairs.append((label, "; ".join(refused) if refused else "; ".join(["accepted (UTC)", *warned])))
    sections: list[Any] = [KeyValues(pairs)]
    if never:
        sections.append(Text(f"Never fires: {never}", tone="warn"))
    else:
        sections.append(
            Table(
                ["#", "UTC", f"local ({tz})", "in"],
                [
                    [
                        i + 1,
                        run,
                        run.astimezone(explanation.local).strftime("%Y-%m-%d %H:%M:%S %Z"),
                        format_duration((run - now).total_seconds()),
                    ]
                    for i, run in enumerate(runs)
                ],
                title="Next runs",
            )
        )
    return Report(data=data, sections=sections)


def _versions(expression: str, tz: str, verdicts: list[VersionVerdict]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    zoned = tz.upper() not in ("UTC", "GMT")
    for verdict in verdicts:
        status = "accepted" if verdict.accepted else "rejected"
        note = verdict.meaning
        if verdict.accepted and zoned and verdict.version == "1.4":
            status, note = "differs", f"{note} — in GMT: pg_cron 1.4 has no cron.timezone"
        out[verdict.version] = {"status": status, "accepted": verdict.accepted, "meaning": note}
    return out


def _min_version(versions: dict[str, dict[str, Any]]) -> str | None:
    accepted = [v for v, info in versions.items() if info["accepted"]]
    return accepted[0] if accepted and accepted[0] != "1.4" else None


def _pg_cron_note(versions: dict[str, dict[str, Any]]) -> str:
    rejected = [v for v, info in versions.items() if not info["accepted"]]
    differs = [v for v, info in versions.items() if info["status"] == "differs"]
    if not rejected and not differs:
        return "accepted by 1.4, 1.5 and 1.6"
    parts = []
    accepted = [v for v, info in versions.items() if info["accepted"]]
    if rejected:
        parts.append(f"needs pg_cron {accepted[0]}+ (rejected by {' and '.join(rejected)})")
    if differs:
        parts.append("pg_cron 1.4 runs in GMT only; 1.5+ reads cron.timezone")
    return "; ".join(parts)


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
    from cronctl import auth

    if job.runs_sql:
        return "-"
    if job.dispatch is not None and job.url is None:
        return "github-dispatch"
    return auth.label(job.auth)  # the scheme names itself (cronctl/auth/)


def _request_label(job: JobSpec, env: Environment) -> str:
    if job.runs_sql:
        return SQL_REQUEST
    return f"{job.method} {_display_url(job, env)}"


def _job_schedule(job: JobSpec) -> Schedule | None:
    from cronctl.errors import ScheduleError

    if not job.schedule:
        return None
    try:
        return Schedule.parse(job.schedule, job.timezone)
    except ScheduleError:  # valid for pg_cron but never fires (`@reboot`, `0 0 31 2 *`)
        return None


def _schedule_text(job: JobSpec, schedule: Schedule | None) -> str:
    if schedule is not None:
        return schedule.describe()
    from cronctl.errors import ScheduleError
    from cronctl.schedule import explain_expression

    try:
        return explain_expression(job.schedule or "")[1]
    except ScheduleError as exc:
        return str(exc)


def jobs_report(runbook: Runbook, env: Environment, now: datetime) -> Report:
    rows: list[list[Any]] = []
    data_jobs: list[dict[str, Any]] = []
    missing_total = 0
    for job in runbook.jobs.values():
        schedule = _job_schedule(job)
        next_run = schedule.next_run(now) if schedule else None
        env_state = {name: env.is_set(name) for name in job.required_env()}
        missing = [name for name, ok in env_state.items() if not ok]
        missing_total += len(missing)
        rows.append(
            [
                job.name,
                f"{job.schedule} — {_schedule_text(job, schedule)}" if job.schedule else "(not scheduled)",
                when(next_run, now),
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
                "schedule_text": _schedule_text(job, schedule) if job.schedule else None,
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
