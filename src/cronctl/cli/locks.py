"""`cronctl locks` (list, say which are stale and why) and `cronctl locks clear` (remove only stale ones)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

LIST_HELP = """List job locks from every backend the runbook declares (lock table, PostgreSQL advisory locks,
Redis) and say which are stale and why.

\b
States:
  held      leave it: a run may be using it
  expired   past its own expiry time, and no run in progress
  stale     older than the job's timeout + margin, and no source shows the job's
            run in progress since the lock was taken (any non-final run counts,
            not only the newest row; the RUNNING row of the crashed run that
            took the lock stops counting after 3x timeout + margin, or once its
            pg_cron backend is gone)
            (advisory: holder idle in transaction longer than the job's timeout)
  orphaned  its holder session is gone

Exit codes: 0 nothing stale, 1 stale locks found, 2 usage error, 3 no backend readable.

Examples:

\b
  cronctl locks -r runbooks/enrolment-sync.toml
  cronctl locks --stale -f json | jq '.locks[] | {name, state, reason}'
  cronctl locks clear --all-stale --dry-run
"""

CLEAR_HELP = """Clear stale locks: one job's (JOB) or every stale one (--all-stale).

Only locks judged stale are cleared unless --force (one named job only; asks twice, or needs --yes --force).
Each delete names the exact lock that was read (compare-and-delete), so a lock re-acquired in between is
never removed; it is reported as skipped instead. Inside the delete's transaction the job's runs are read
again: a run found in progress keeps the lock (rolled back, reported as skipped). Advisory locks are never
deleted: cronctl shows the holder and the pg_terminate_backend command, and runs it only with --terminate.
Every clear is written to the audit log.

Exit codes: 0 nothing stale remains, 1 stale locks remain, 2 usage error, 3 unreachable,
4 permission denied (e.g. a read-only role), 5 confirmation declined.

Examples:

\b
  cronctl locks clear enrolment-sync --dry-run
  cronctl locks clear enrolment-sync --yes
  cronctl locks clear --all-stale --yes -f json
  cronctl locks clear report-builder --terminate      # advisory lock: end the holder session
  cronctl locks clear enrolment-sync --force --yes    # even though it looks held
"""


def register(app: Any) -> None:
    group = typer.Typer(
        help=LIST_HELP,
        invoke_without_command=True,
        no_args_is_help=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    )
    group.callback(invoke_without_command=True)(locks)
    group.command("clear", help=CLEAR_HELP)(clear)
    app.add_typer(group, name="locks")


@command_options()
def locks(
    inv: Invocation,
    ctx: typer.Context,
    stale: Annotated[bool, typer.Option("--stale", help="Show only stale, expired or orphaned locks.")] = False,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from cronctl.services import locks as service

    inv.emit(service.list_locks(inv, stale_only=stale))


@command_options()
def clear(
    inv: Invocation,
    job: Annotated[str | None, typer.Argument(help="The job whose lock to clear.", show_default=False)] = None,
    all_stale: Annotated[bool, typer.Option("--all-stale", help="Clear every stale lock.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Clear JOB's lock even if it is not judged stale (asks twice).")
    ] = False,
    terminate: Annotated[
        bool, typer.Option("--terminate", help="Advisory locks: run pg_terminate_backend on the holder.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be cleared; change nothing.")] = False,
) -> None:
    from cronctl.errors import UsageError
    from cronctl.output import terminal
    from cronctl.services import locks as service

    if job is None and not all_stale:
        raise UsageError("name a job (cronctl locks clear <job>) or pass --all-stale")
    if job is not None and all_stale:
        raise UsageError("give a job name or --all-stale, not both")
    if force and job is None:
        raise UsageError("--force clears one named job's lock: cronctl locks clear <job> --force")
    report = service.clear(inv, job, force=force, terminate=terminate, dry_run=dry_run,
                           confirm=lambda question: terminal.confirm(question, assume_yes=yes))  # fmt: skip
    inv.emit(report)
