"""`cronctl logs <job>`: the job's runs from every source, merged and time-ordered."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options


def register(app: Any) -> None:
    app.command(
        "logs",
        help="""Show a job's runs from every source its runbook maps: pg_cron, pg_net responses
(the real HTTP outcome pg_cron does not see), application run-log tables, the health endpoint, and the
history outside the database (GitHub Actions runs, Vercel cron and Supabase Edge Function invocations).
Newest first: start, end, duration, status, HTTP status, source and message.

A source that is not installed or fails is named under the table; the other sources still answer. A job
recorded only outside the database needs no DATABASE_URL.

Examples:

\b
  cronctl logs notification-worker -r runbooks/billing-pgcron.toml
  cronctl logs collect-daily --failed --since 24h
  cronctl logs enrolment-sync --limit 50 -f json | jq '.runs[] | select(.status == "failed")'
""",
    )(logs)


@command_options()
def logs(
    inv: Invocation,
    job: Annotated[str, typer.Argument(help="Job name from the runbook.", show_default=False)],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000, help="Show at most N runs.")] = 20,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed runs.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs newer than this, e.g. 24h, 30m, 7d.", show_default=False)
    ] = None,
) -> None:
    from datetime import UTC, datetime, timedelta

    from cronctl.durations import parse_duration
    from cronctl.errors import SourceUnavailable, UsageError
    from cronctl.reports.logs import logs_report
    from cronctl.runbook.loader import find_job
    from cronctl.services.history import collect_history

    try:
        since_at = datetime.now(UTC) - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    runbook = inv.runbook()
    spec = find_job(runbook, job)
    result = collect_history(inv, runbook, inv.env(), spec, limit, since_at, failed_only=failed)
    if result.all_failed:
        raise SourceUnavailable("; ".join(s.message or f"{s.name}: unavailable" for s in result.sources))
    inv.emit(logs_report(result, limit=limit, failed_only=failed, since=since))
