"""`cronctl explain "<cron>"`: what pg_cron (each version), Vercel and GitHub Actions make of a schedule,
and when it fires next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cronctl.output.report import Report

SCHEDULERS = ("vercel", "github")


def explain(expression: str, tz: str, count: int, *, now: datetime | None = None) -> Report:
    """Read `expression` as pg_cron's parser does and list its next `count` fire times in `tz`."""
    from cronctl.reports.schedules import Explanation, explain_report
    from cronctl.schedule import (
        NeverFiresError,
        Schedule,
        compatibility,
        explain_expression,
        get_timezone,
        never_fires_reason,
        scheduler_rules,
    )

    now = now or datetime.now(UTC)
    local = get_timezone(tz)  # an unknown time zone is refused before the expression is read
    entry, meaning, fires = explain_expression(expression)
    schedule: Schedule | None = None
    never = None
    if fires:
        try:
            schedule = Schedule.parse(expression, tz)
        except NeverFiresError as exc:
            never = str(exc)
    else:
        never = "pg_cron accepts it, but " + never_fires_reason(entry)
    runs = schedule.next_runs(now, count) if schedule is not None else []
    if schedule is not None and not runs:
        never = f"no fire time in {tz} within the next 30 years"
    explanation = Explanation(
        expression=expression, tz=tz, local=local, entry=entry, meaning=meaning, fires=fires, schedule=schedule,
        never=never, runs=runs, versions=compatibility(expression),
        schedulers={name: scheduler_rules(expression, name) for name in SCHEDULERS},
    )  # fmt: skip
    return explain_report(explanation, now)
