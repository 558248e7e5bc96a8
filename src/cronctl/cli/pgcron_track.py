"""`cronctl pgcron track install | status | uninstall`: exact pg_net attribution by request tracking."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the SQL that would run; change nothing.")]

HELP = """Exact pg_net attribution: record which backend queued each pg_net request.

An AFTER INSERT trigger on net.http_request_queue writes (request id, pg_backend_pid(), clock_timestamp(),
method, url) to cronctl.pgnet_request_log. The pid is the pg_cron run's job_pid, so every answer in
net._http_response joins to exactly one run, even when many jobs fire in the same second.

\b
  cronctl pgcron track install --dry-run
  cronctl pgcron track install --yes
  cronctl pgcron track status -f json | jq .recording
  cronctl pgcron track uninstall
"""


def register(group: Any) -> None:
    track = typer.Typer(name="track", help=HELP, no_args_is_help=True, rich_markup_mode=None)
    track.command(
        "install",
        help="""Create schema cronctl, table cronctl.pgnet_request_log (with an index on queued_at), the
SECURITY DEFINER function cronctl.record_pgnet_request() (owned by this role, search_path pinned) and the
trigger cronctl_track_requests on net.http_request_queue, in one transaction. Idempotent: run it again after
a pg_net upgrade (which can drop the trigger). Every 100th request deletes up to 1000 rows older than the
retention, so the log never grows without bound. Only the function writes the log; --reader roles
(default PUBLIC, as pg_net itself grants its tables) may read it.

Asks for confirmation unless --yes; --dry-run prints the SQL; audited. Exit 4 for a read-only role or
missing privileges, 3 when pg_net is not installed.

\b
  cronctl pgcron track install --dry-run
  cronctl pgcron track install --retention 48h --reader cronctl_ro --yes
""",
    )(install)
    track.command(
        "status",
        help="""Is tracking installed (table, function, trigger present and the trigger enabled) and is it
recording (the newest request pg_net knows of is in the log)? Exit 1 when it is not installed or not
recording.

\b
  cronctl pgcron track status
  cronctl pgcron track status -f json | jq '{installed, recording, reason}'
""",
    )(status)
    track.command(
        "uninstall",
        help="""Remove the trigger, the function, the log table and, when nothing else is in it, schema
cronctl, in one transaction. Works without owning net.http_request_queue (dropping the function takes
its trigger with it). Asks for confirmation unless --yes; --dry-run prints the SQL; audited.

\b
  cronctl pgcron track uninstall --dry-run
  cronctl pgcron track uninstall --yes
""",
    )(uninstall)
    group.add_typer(track)


@command_options()
def install(
    inv: Invocation,
    retention: Annotated[
        str, typer.Option("--retention", help="Keep recorded requests this long (1h-30d).", show_default=True)
    ] = "24h",
    reader: Annotated[
        list[str] | None,
        typer.Option("--reader", help="Role that may read the log (repeat; default PUBLIC).", show_default=False),
    ] = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    from cronctl.durations import parse_duration
    from cronctl.errors import UsageError
    from cronctl.output import terminal
    from cronctl.services import pgnet_tracking as service

    try:
        seconds = int(parse_duration(retention))
    except ValueError as exc:
        raise UsageError(f"--retention: {exc}") from None
    inv.emit(
        service.install(
            inv,
            retention_seconds=seconds,
            readers=reader or [],
            dry_run=dry_run,
            confirm=lambda question: terminal.confirm(question, assume_yes=yes),
        )
    )


@command_options()
def status(inv: Invocation) -> None:
    from cronctl.services import pgnet_tracking as service

    inv.emit(service.status(inv))


@command_options()
def uninstall(inv: Invocation, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    from cronctl.output import terminal
    from cronctl.services import pgnet_tracking as service

    inv.emit(
        service.uninstall(inv, dry_run=dry_run, confirm=lambda question: terminal.confirm(question, assume_yes=yes))
    )
