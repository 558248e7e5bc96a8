"""Hygiene: settings that do not break anything today but make jobs unjudgeable or the database grow. Pure.

Shown by `cronctl triage` (never changing its status or exit code: nothing here is an incident) and by
`cronctl doctor` (as warnings):

- `run_details_purge`: `cron.job_run_details` grows by one row per run and nothing purges it by default (a 1-second
  job writes 86,400 rows a day); warn when no active cron.job deletes from it and it is big or grows fast;
- `pg_net_ttl`: `pg_net.ttl` shorter than a pg_net job's interval: its answer is deleted before the next run, so
  between runs its outcome cannot be seen;
- `cron_timezone`: `cron.timezone` (GMT on pg_cron 1.4) differs from the time zone the runbook gives a pg_cron job;
- `next_run`: the job's next run by its `cron.job` schedule is later than the runbook's schedule says;
- `cron_credentials`: a credential typed into a `cron.job` command (a Bearer token, an `apikey` header, a token in
  the URL's query) instead of read at run time from Vault or the secrets table: anyone who can read `cron.job`
  can read it. Named by where it sits, never shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronctl.records import CronRow, HygieneFacts, cron_name
from cronctl.runbook.model import JobSpec

CHECKS = ("run_details_purge", "pg_net_ttl", "cron_timezone", "next_run", "cron_credentials")
VERDICTS = ("ok", "warn", "skipped")
ROWS_WARN = 1_000_000  # cron.job_run_details rows without a purge job
GROWTH_WARN = 10_000  # rows a day without a purge job (seven every-minute jobs, or one every-10-seconds job)
PG_NET_TTL_DEFAULT = 6 * 3600.0
NEXT_RUN_SLACK = 1.0  # seconds
_PURGE = re.compile(
    r"\b(?:delete\s+from|truncate(?:\s+table)?)\s+(?:only\s+)?\"?cron\"?\s*\.\s*\"?job_run_details\b", re.IGNORECASE
)
# What a credential literal is given to, read off the text just before it: a quoted header name and its separator
# ('Authorization', 'Bearer … / "apikey": "… / 'X-Cron-Secret' => '…), or an unquoted header line (apikey: …).
_QUOTED_HEADER = re.compile(
    r"""(?i)\\*["'](?P<name>[A-Za-z0-9_-]{1,80})\\*["']\s*(?::|,|=>|=)\s*\\*["'](?:(?:bearer|basic|token)\s+)?$"""
)
_HEADER_LINE = re.compile(r"(?i)(?:^|[\s'\"])(?P<name>[A-Za-z0-9_-]{1,80})\s*:\s*(?:(?:bearer|basic|token)\s+)?$")
_UTC_NAMES = {"utc", "gmt", "z", "etc/utc", "etc/gmt", "etc/universal", "etc/zulu", "universal", "zulu", "gmt0",
              "etc/gmt0", "etc/gmt+0", "etc/gmt-0", "greenwich", "etc/greenwich", "uct", "etc/uct"}  # fmt: skip


@dataclass(frozen=True)
class HygieneCheck:
    id: str  # one of CHECKS
    verdict: str  # ok | warn | skipped
    detail: str
    fix: str = ""
    jobs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "verdict": self.verdict, "detail": self.detail, "fix": self.fix or None,
                "jobs": list(self.jobs)}  # fmt: skip


def server_timezone(facts: HygieneFacts) -> str | None:
    """The zone pg_cron reads every schedule in: cron.timezone, GMT when the settings show none (pg_cron 1.4),
    None when this role cannot see the settings."""
    if facts.cron_timezone:
        return facts.cron_timezone
    return "GMT" if facts.settings_visible else None


def same_timezone(a: str, b: str, now: datetime) -> bool:
    """Two zone names that keep the same clock now and half a year from now (UTC, GMT and Etc/UTC are one)."""
    if a.casefold() == b.casefold() or (a.casefold() in _UTC_NAMES and b.casefold() in _UTC_NAMES):
        return True
    from cronctl.errors import ScheduleError
    from cronctl.schedule import get_timezone

    try:
        za, zb = get_timezone(a), get_timezone(b)
    except ScheduleError:
        return False
    return all(t.astimezone(za).utcoffset() == t.astimezone(zb).utcoffset() for t in (now, now + timedelta(days=182)))


def _schedule(expression: str, tz: str) -> Any:
    from cronctl.errors import ScheduleError
    from cronctl.schedule import Schedule

    try:
        return Schedule.parse(expression, tz)
    except ScheduleError:
        return None


def _every(seconds: float) -> str:
    from cronctl.durations import format_duration

    return format_duration(seconds)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hygiene_checks(facts: HygieneFacts, jobs: Sequence[JobSpec], now: datetime) -> list[HygieneCheck]:
    """The hygiene checks that apply to this runbook and server."""
    if facts.error:
        return [HygieneCheck("run_details_purge", "skipped", f"hygiene facts could not be read: {facts.error}")]
    out: list[HygieneCheck] = []
    if facts.cron_installed:
        out.append(_purge(facts, now))
    ttl = _pg_net_ttl(facts, jobs, now)
    if ttl is not None:
        out.append(ttl)
    pg_cron_jobs = [j for j in jobs if cron_name(j)]
    if facts.cron_installed and pg_cron_jobs:
        out.append(_timezone(facts, pg_cron_jobs, now))
        out.append(_next_run(facts, pg_cron_jobs, now))
    if facts.cron_installed and facts.cron_jobs is not None:
        out.append(_credentials(facts.cron_jobs, jobs))
    return out


def credential_places(command: str) -> list[str]:
    """Where `command` carries a credential literal, e.g. "header Authorization", "query parameter apikey";
    never the value. Literals are found by `redact.credential_literals` (the shapes output masking knows) and by
    their place in a URL's query string."""
    from cronctl.redact import QUERY_CREDENTIAL, credential_literals

    named: list[tuple[int, int, str]] = []  # (start, end, place) of each literal whose place has a name
    unnamed: list[tuple[int, int, str]] = []
    for found in QUERY_CREDENTIAL.finditer(command):
        # Judged by the same shape rule as the masking: a header line holding the value.
        if credential_literals(f"apikey: {found.group('value')}"):
            named.append((*found.span("value"), f"query parameter {found.group('name')}"))
    literals = credential_literals(command)
    for value in literals:
        for found in re.finditer(re.escape(value), command):
            before = command[max(0, found.start() - 200) : found.start()]
            header = _QUOTED_HEADER.search(before) or _HEADER_LINE.search(before)
            if header is not None:
                named.append((found.start(), found.end(), f"header {header.group('name')}"))
            else:
                unnamed.append((found.start(), found.end(), "a JWT" if value.startswith("eyJ") else "a token literal"))
    # A literal inside one whose place is named (the JWT of 'Bearer eyJ…', a token in ?apikey=) is that place.
    places = [p for _, _, p in named]
    places += [p for s, e, p in unnamed if not any(s < ne and ns < e for ns, ne, _ in named)]
    if not places and literals:
        places.append("a token literal")  # found, but not where it sits (an escaped form)
    return list(dict.fromkeys(places))


def _credentials(rows: Sequence[CronRow], jobs: Sequence[JobSpec]) -> HygieneCheck:
    check = "cron_credentials"
    runbook_names = {cron_name(j): j.name for j in jobs if cron_name(j)}
    carrying = [(row.name, places) for row in rows if (places := credential_places(row.command or ""))]
    if not carrying:
        return HygieneCheck(check, "ok", f"no credential literal in the commands of {len(rows)} cron job(s)")
    detail = "; ".join(
        f"the command of cron job {name} carries a credential literal ({', '.join(places)})"
        for name, places in carrying
    )
    return HygieneCheck(
        check,
        "warn",
        f"{detail}: anyone who can read cron.job can read it; move it to Vault / the secrets table",
        "read it when the job runs: 'Bearer ' || (SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = "
        "'<name>') or get_secret('<key>') from the secrets table (cronctl pgcron reschedule, or cron.alter_job); "
        "then rotate the credential: it has been readable",
        tuple(runbook_names.get(name, name) for name, _ in carrying),
    )


def _rows_per_day(rows: Sequence[CronRow], tz: str, now: datetime) -> tuple[float, CronRow | None, float | None]:
    """Rows the active jobs write a day, and the fastest job with its interval."""
    total = 0.0
    fastest: tuple[CronRow, float] | None = None
    for row in rows:
        if not row.active:
            continue
        schedule = _schedule(row.schedule, tz)
        if schedule is None:
            continue
        interval = max(1.0, float(schedule.typical_interval(now)))
        total += 86400.0 / interval
        if fastest is None or interval < fastest[1]:
            fastest = (row, interval)
    return total, (fastest[0] if fastest else None), (fastest[1] if fastest else None)


def _purge(facts: HygieneFacts, now: datetime) -> HygieneCheck:
    check = "run_details_purge"
    if facts.log_run is not None and facts.log_run.lower() in ("off", "false", "0"):
        return HygieneCheck(check, "ok", "cron.log_run = off: pg_cron writes no run history")
    if facts.cron_jobs is None:
        return HygieneCheck(
            check, "skipped", f"cron.job is not readable by role {facts.role}: cannot tell whether a purge job exists"
        )
    purges = [r.name for r in facts.cron_jobs if r.active and _PURGE.search(r.command or "")]
    per_day, fastest, interval = _rows_per_day(facts.cron_jobs, server_timezone(facts) or "GMT", now)
    rows = facts.run_details_rows
    size = f"{rows:,} rows" if rows is not None else "size unknown (never analysed)"
    if facts.run_details_bytes is not None:
        size += f", {facts.run_details_bytes / 1024 / 1024:,.0f} MB"
    growth = f"grows ~{per_day:,.0f} rows a day"
    if fastest is not None and interval is not None:
        growth += f" (fastest: {fastest.name}, every {_every(interval)})"
    if purges:
        return HygieneCheck(check, "ok", f"purged by cron job {', '.join(purges)}; {growth}")
    hidden = (
        "" if facts.sees_all_jobs else f" (role {facts.role} sees only its own cron.job rows: another role's purge "
        "job would not be seen)"
    )  # fmt: skip
    big = (rows is not None and rows >= ROWS_WARN) or per_day >= GROWTH_WARN
    # The size only when it matters: the planner's estimate moves with every ANALYZE.
    detail = f"no active cron job deletes from cron.job_run_details: {size if big else 'small'}; {growth}{hidden}"
    fix = (
        "cronctl pgcron purge-history --older-than 7d; then schedule a purge: SELECT cron.schedule("
        "'purge-cron-history', '17 3 * * *', $$DELETE FROM cron.job_run_details WHERE end_time < now() - "
        "interval '7 days'$$)"
    )
    return HygieneCheck(check, "warn" if big else "ok", detail if big else detail + ": fine for now", fix)


def _pg_net_ttl(facts: HygieneFacts, jobs: Sequence[JobSpec], now: datetime) -> HygieneCheck | None:
    rows = {r.name: r for r in facts.cron_jobs or ()}
    tz = server_timezone(facts) or "GMT"
    net_jobs: list[tuple[str, float]] = []
    for job in jobs:
        name = cron_name(job)
        row = rows.get(name or "")
        from cronctl.evaluate.pgnet_link import uses_pg_net

        if not (job.history.pg_net or (row is not None and uses_pg_net(row.command))):
            continue
        schedule = _schedule(row.schedule, tz) if row is not None else None
        if schedule is None and job.schedule:
            schedule = _schedule(job.schedule, job.timezone)
        if schedule is None:
            continue
        net_jobs.append((job.name, float(schedule.typical_interval(now))))
    if not net_jobs or not facts.pg_net_installed:
        return None
    ttl = facts.pg_net_ttl_seconds if facts.pg_net_ttl_seconds is not None else PG_NET_TTL_DEFAULT
    shown = facts.pg_net_ttl_text or _every(ttl)
    assumed = (
        "" if facts.pg_net_ttl_seconds is not None else " (pg_net.ttl is not defined in this session: pg_net's default"
        " 6 hours assumed)"
    )  # fmt: skip
    over = [(name, interval) for name, interval in net_jobs if interval > ttl]
    if not over:
        longest = max(interval for _, interval in net_jobs)
        return HygieneCheck("pg_net_ttl", "ok", f"pg_net.ttl {shown} covers every pg_net job's interval (longest "
                            f"{_every(longest)}){assumed}")  # fmt: skip
    listed = ", ".join(f"{name} (every {_every(interval)})" for name, interval in over)
    hours = int(max(interval for _, interval in over) // 3600) + 1
    return HygieneCheck(
        "pg_net_ttl",
        "warn",
        f"pg_net.ttl {shown} is shorter than the interval of {listed}: pg_net deletes each answer before the next "
        f"run, so between runs the outcome cannot be seen (unverified){assumed}",
        f"as a superuser: ALTER SYSTEM SET pg_net.ttl TO '{hours} hours'; SELECT pg_reload_conf(); "
        "SELECT net.worker_restart();",
        tuple(name for name, _ in over),
    )


def _timezone(facts: HygieneFacts, jobs: Sequence[JobSpec], now: datetime) -> HygieneCheck:
    server = server_timezone(facts)
    if server is None:
        return HygieneCheck(
            "cron_timezone",
            "skipped",
            f"cron.* settings are not visible to role {facts.role}: cannot compare cron.timezone with the runbook",
            f"GRANT pg_read_all_settings TO {facts.role}",
        )
    differ = [j for j in jobs if not same_timezone(j.timezone, server, now)]
    source = "cron.timezone" if facts.cron_timezone else "pg_cron's time zone (no cron.timezone: pg_cron 1.4)"
    if not differ:
        return HygieneCheck("cron_timezone", "ok", f"{source} is {server}, as the runbook says for its pg_cron jobs")
    zones = sorted({j.timezone for j in differ})
    return HygieneCheck(
        "cron_timezone",
        "warn",
        f"{source} is {server}, but the runbook says {', '.join(zones)} for {', '.join(j.name for j in differ)}: "
        f"pg_cron fires every schedule at {server} wall-clock times",
        f'set timezone = "{server}" on those jobs (and write their schedules in {server}), or change cron.timezone '
        "(pg_cron 1.5+, superuser, needs a restart)",
        tuple(j.name for j in differ),
    )


def _next_run(facts: HygieneFacts, jobs: Sequence[JobSpec], now: datetime) -> HygieneCheck:
    if facts.cron_jobs is None:
        return HygieneCheck("next_run", "skipped", f"cron.job is not readable by role {facts.role}")
    rows = {r.name: r for r in facts.cron_jobs}
    tz = server_timezone(facts) or "GMT"
    late: list[tuple[str, str]] = []
    compared = 0
    for job in jobs:
        row = rows.get(cron_name(job) or "")
        if row is None or not row.active or not job.schedule:
            continue  # not scheduled, or off (its state says so)
        expected = _schedule(job.schedule, job.timezone)
        actual = _schedule(row.schedule, tz)
        if expected is None or actual is None:
            continue
        compared += 1
        want = expected.next_run(now)
        got = actual.next_run(now)
        if want is None:
            continue
        slack = max(NEXT_RUN_SLACK, float(actual.every_seconds or 0))
        if got is None:
            late.append((job.name, f"{job.name}: cron.job schedule '{row.schedule}' never fires; the runbook expects "
                                   f"a run at {_iso(want)} ('{job.schedule}', {job.timezone})"))  # fmt: skip
        elif (got - want).total_seconds() > slack:
            late.append(
                (
                    job.name,
                    f"{job.name}: next run {_iso(got)} by cron.job ('{row.schedule}' in {tz}), the runbook "
                    f"expects one by {_iso(want)} ('{job.schedule}', {job.timezone})",
                )
            )
    if not late:
        detail = (
            f"the next run of {compared} pg_cron job(s) is no later than the runbook says"
            if compared
            else "no active pg_cron job of the runbook is visible in cron.job"
        )
        return HygieneCheck("next_run", "ok", detail)
    return HygieneCheck(
        "next_run",
        "warn",
        "; ".join(text for _, text in late),
        "make the runbook's schedule and cron.job agree: cronctl pgcron reschedule JOB 'SCHEDULE' (or fix the "
        "runbook's schedule / timezone)",
        tuple(name for name, _ in late),
    )
