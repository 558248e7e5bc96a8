"""`cronctl explain "<cron>"`: what a schedule means and when it fires next."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options


def register(app: Any) -> None:
    app.command(
        "explain",
        help="""Explain a cron expression and list its next fire times.

Reads the expression exactly as pg_cron's own parser does and says, for pg_cron 1.4, 1.5 and 1.6,
whether it is accepted and what it means there; Vercel's and GitHub Actions' own rules are checked too.
Five-field cron, aliases (@hourly, @daily, @weekly, @monthly, @yearly, @reboot), 'N seconds'
(pg_cron 1.5+) and '$' for the last day of the month (pg_cron 1.6+). What pg_cron accepts but
ignores (a sixth field, '#2' in the day of week) and schedules that never fire are said so.

Examples:

\b
  cronctl explain "*/15 * * * *"
  cronctl explain "0 2 * * *" --tz Asia/Seoul --count 3
  cronctl explain "30 seconds" -f json
  cronctl explain "0 0 31 2 *"
""",
    )(explain)


@command_options()
def explain(
    inv: Invocation,
    expression: Annotated[str, typer.Argument(help="Cron expression, quoted.", show_default=False)],
    tz: Annotated[str, typer.Option("--tz", help="Time zone for the schedule (IANA name).")] = "UTC",
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000, help="How many next runs.")] = 5,
) -> None:
    from cronctl.services import explain as service

    inv.emit(service.explain(expression, tz, count))
