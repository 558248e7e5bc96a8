"""`cronctl pgcron ...`: inspect and manage pg_cron jobs (cron.job, cron.job_run_details)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

JobArg = Annotated[
    str, typer.Argument(help="Runbook job name, pg_cron jobname, or jobid.", metavar="JOB", show_default=False)
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the SQL that would run; change nothing.")]

GROUP_HELP = """Inspect and manage pg_cron jobs.

Examples:

\b
  cronctl pgcron list
  cronctl pgcron history notification-worker --failed
  cronctl pgcron status
  cronctl pgcron disable notification-worker --dry-run
  cronctl pgcron reschedule notification-worker "*/5 * * * *" --yes
  cronctl pgcron run notification-worker
  cronctl pgcron purge-history --older-than 7d --dry-run
  cronctl pgcron track install --dry-run
"""


def register(app: Any) -> None:
    group = typer.Typer(name="pgcron", help=GROUP_HELP, no_args_is_help=True, rich_markup_mode=None)
    group.command(
        "list",
        help="""List cron.job: jobid, name, schedule and its meaning, active, database, user,
last run and its status, next run, and whether a run is in progress.

\b
  cronctl pgcron list -r runbooks/billing-pgcron.toml
  cronctl pgcron list -f json | jq '.jobs[] | select(.last_run.status == "failed")'
""",
    )(list_jobs)
    group.command(
        "history",
        help="""Recent runs from cron.job_run_details, newest first (all jobs, or one).

Walks the runid primary key backwards per job, so it stays fast on tables with millions of rows.

\b
  cronctl pgcron history
  cronctl pgcron history notification-worker --failed --limit 50
""",
    )(history)
    group.command(
        "status",
        help="""Is pg_cron working? Scheduler backend alive, pg_cron version (told from
pg_settings), cron.* settings, size of job_run_details, runs stuck with no live backend, and whether the
connected role sees every job (row-level security hides other users' jobs from non-superusers).

Exit code 1 when pg_cron is missing or its scheduler is not running.

\b
  cronctl pgcron status
  cronctl pgcron status -f json | jq .scheduler.alive
""",
    )(status)
    group.command(
        "enable",
        help="""Activate a job (cron.alter_job(active := true)).

\b
  cronctl pgcron enable notification-worker --dry-run
  cronctl pgcron enable 12 --yes
""",
    )(enable)
    group.command(
        "disable",
        help="""Deactivate a job without removing it (cron.alter_job(active := false)).

\b
  cronctl pgcron disable notification-worker
""",
    )(disable)
    group.command(
        "unschedule",
        help="""Remove a job from cron.job (cron.unschedule). Its history stays.

\b
  cronctl pgcron unschedule old-job --dry-run
""",
    )(unschedule)
    group.command(
        "reschedule",
        help="""Change a job's schedule (cron.alter_job(schedule := ...)); the
expression is validated first.

\b
  cronctl pgcron reschedule notification-worker "*/5 * * * *"
""",
    )(reschedule)
    group.command(
        "run",
        help="""Run a job's own command once now, in a separate connection (pg_cron has no
"run now"). For a net.http_post job this queues the same request the scheduler would.

\b
  cronctl pgcron run notification-worker --dry-run
  cronctl pgcron run notification-worker --yes
""",
    )(run)
    group.command(
        "purge-history",
        help="""Delete job_run_details rows older than a duration, in batches of
runid ranges so the table is never locked for long. The cutoff runid is found by a binary search over the
primary key (start_time is never scanned).

\b
  cronctl pgcron purge-history --older-than 7d --dry-run
  cronctl pgcron purge-history --older-than 30d --batch-size 5000 --yes
""",
    )(purge_history)
    from cronctl.cli.pgcron_track import register as register_track

    register_track(group)
    app.add_typer(group)


# -- reads --------------------------------------------------------------------------------------------------


@command_options()
def list_jobs(inv: Invocation) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.list_jobs(inv))


@command_options()
def history(
    inv: Invocation,
    job: Annotated[
        str | None,
        typer.Argument(
            help="Runbook job name, pg_cron jobname or jobid (default: all).", metavar="[JOB]", show_default=False
        ),
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed runs.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000, help="At most N runs.")] = 20,
) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.history(inv, job, failed=failed, limit=limit))


@command_options()
def status(inv: Invocation) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.status(inv))


# -- changes ------------------------------------------------------------------------------------------------


def _confirm(yes: bool) -> Callable[[str], bool]:
    from cronctl.output import terminal

    return lambda question: terminal.confirm(question, assume_yes=yes)


@command_options()
def enable(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.set_active(inv, job, True, dry_run=dry_run, confirm=_confirm(yes)))


@command_options()
def disable(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.set_active(inv, job, False, dry_run=dry_run, confirm=_confirm(yes)))


@command_options()
def unschedule(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.unschedule(inv, job, dry_run=dry_run, confirm=_confirm(yes)))


@command_options()
def reschedule(
    inv: Invocation,
    job: JobArg,
    schedule: Annotated[str, typer.Argument(help='New cron expression, e.g. "*/5 * * * *".', show_default=False)],
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.reschedule(inv, job, schedule, dry_run=dry_run, confirm=_confirm(yes)))


@command_options()
def run(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    from cronctl.services import pgcron as service

    inv.emit(service.run(inv, job, dry_run=dry_run, confirm=_confirm(yes)))


@command_options()
def purge_history(
    inv: Invocation,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Delete runs older than this, e.g. 7d.", show_default=False)
    ],
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=100, max=1_000_000, help="runids per DELETE.")
    ] = 10_000,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    from cronctl.durations import parse_duration
    from cronctl.errors import UsageError
    from cronctl.services import pgcron as service

    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        raise UsageError(f"--older-than: {exc}") from None
    report = service.purge_history(inv, older_than, seconds, batch_size, dry_run=dry_run, confirm=_confirm(yes))
    inv.emit(report)
