"""`cronctl doctor`: can this setup work at all? One checklist with a fix for each problem."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

HELP = """Check that a setup can work: the runbook is valid; required variables are set (preview: at most
4 characters and the length); the database is reachable, its version, the role and whether it is superuser
(row-level security hides other users' runs); pg_cron installed, its version told by settings, the scheduler
alive, cron.database_name; pg_net present when jobs use it; mapped tables and columns exist; endpoints
resolve and answer (an OPTIONS request, no auth sent); secret strength (at least 16 characters, 32 random
bytes recommended); secrets-table rows still holding placeholders.

History read outside the database (GitHub Actions, Vercel, Supabase): each source's token variable is set
(its value is never shown) and the vendor's API accepts it (one read of the last minute, within --timeout;
401 is "token refused"). A runbook none of whose jobs reads the database needs none: its database checks are
skipped as not needed.

Exit 0 all pass, 1 warnings, 2 failures.

\b
Examples:
  cronctl doctor -r runbooks/billing-pgcron.toml
  cronctl doctor --no-endpoints -f json | jq '.checks[] | select(.status == "fail")'
"""


def register(app: Any) -> None:
    app.command("doctor", help=HELP)(doctor)


@command_options()
def doctor(
    inv: Invocation,
    no_endpoints: Annotated[bool, typer.Option("--no-endpoints", help="Do not contact the jobs' endpoints.")] = False,
    timeout: Annotated[str, typer.Option("--timeout", help="Per-endpoint timeout.")] = "3s",
) -> None:
    from cronctl.durations import parse_duration
    from cronctl.errors import UsageError
    from cronctl.services import doctor as service

    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise UsageError(f"--timeout: {exc}") from None
    inv.emit(service.run(inv, endpoints=not no_endpoints, timeout=seconds))
