"""`cronctl jobs`: the runbook's job registry, with each job's next run and whether its variables are set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.services import CommandContext


def list_jobs(ctx: CommandContext, *, now: datetime | None = None) -> Report:
    from cronctl.reports.schedules import jobs_report

    runbook, env = ctx.runbook(), ctx.env()
    return jobs_report(runbook, env, now or datetime.now(UTC))
