"""`cronctl silence JOB|--all --for 2h --reason "…"`, `cronctl silence list`, `cronctl silence clear JOB|--all`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

HELP = """Silence a job's problems for a while (a maintenance window, a known incident being worked on).

A silenced job is still judged and shown by `cronctl triage`, marked silenced, but its problems (its state, its
findings, its backlogs and locks) do not count towards triage's status and exit code, nor towards notifications.
`--all` silences every job and every system-wide check of the runbook. A silence has an expiry (--for), an
author (user@host) and a reason, is audited, and vanishes by itself when it expires. A new silence of a job
replaces the one it had.

Where it is kept: in the database's table cronctl.silences when this role may write it (created on first use:
schema cronctl, table cronctl.silences, SELECT granted to PUBLIC), so every operator's triage sees it; else in
a local state file ($CRONCTL_STATE_DIR or $XDG_STATE_HOME/cronctl/silences/), and the report says which and why.
--store database insists on the database (exit 4 for a read-only role), --store local skips it.

\b
  cronctl silence scheduled-dispatcher --for 2h --reason "rotating CRON_SECRET (INC-142)"
  cronctl silence --all --for 30m --reason "planned database maintenance" --yes
  cronctl silence list -f json
  cronctl silence clear scheduled-dispatcher
  cronctl silence clear --all --dry-run

Exit codes: 0 done, 2 usage error (unknown job, bad duration, no reason), 3 unreachable or unreadable store,
4 permission denied (--store database with a read-only role; clearing database silences without DELETE),
5 confirmation declined. A job named `list` or `clear` is silenced with `cronctl silence add list ...`.
"""

ADD_HELP = """Silence JOB (or every job with --all) for --for, with --reason. Asks for confirmation unless --yes;
--dry-run shows where it would be stored (and the SQL) and changes nothing; audited.

\b
  cronctl silence add scheduled-dispatcher --for 2h --reason "rotating CRON_SECRET"
"""

LIST_HELP = """The silences in force for this runbook, from the database and the local state file.

\b
  cronctl silence list
  cronctl silence list -f json | jq '.silences[] | {job, until, author, reason, store}'
"""

CLEAR_HELP = """Remove JOB's silence (the silence of all jobs stays), or every silence of the runbook with --all,
from both stores. Asks for confirmation unless --yes; --dry-run lists what would go; audited.

\b
  cronctl silence clear scheduled-dispatcher --yes
  cronctl silence clear --all --dry-run
"""

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]


def _group_class() -> type:
    from typer.core import TyperGroup

    class SilenceGroup(TyperGroup):
        """`cronctl silence JOB ...` is `cronctl silence add JOB ...`; `list` and `clear` are subcommands."""

        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
                args = ["add", *args]
            result: list[str] = super().parse_args(ctx, args)
            return result

    return SilenceGroup


def register(app: Any) -> None:
    group = typer.Typer(
        cls=_group_class(),
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    )
    group.command("add", help=ADD_HELP)(add)
    group.command("list", help=LIST_HELP)(list_)
    group.command("clear", help=CLEAR_HELP)(clear)
    app.add_typer(group, name="silence")


def _target(job: str | None, everything: bool, verb: str) -> None:
    from cronctl.errors import UsageError

    if job is None and not everything:
        raise UsageError(f"name a job (cronctl silence {verb}JOB) or pass --all")
    if job is not None and everything:
        raise UsageError("give a job name or --all, not both")


@command_options()
def add(
    inv: Invocation,
    job: Annotated[str | None, typer.Argument(help="The job to silence.", show_default=False)] = None,
    everything: Annotated[bool, typer.Option("--all", help="Silence every job and system-wide check.")] = False,
    lasts: Annotated[
        str | None, typer.Option("--for", help="How long, e.g. 30m, 2h, 1d (at most 30d).", show_default=False)
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (shown to every operator).", show_default=False)
    ] = None,
    store: Annotated[
        str, typer.Option("--store", help="auto (database when writable, else local), database or local.")
    ] = "auto",
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    from cronctl.durations import parse_duration
    from cronctl.errors import UsageError
    from cronctl.output import terminal
    from cronctl.services import silences as service

    _target(job, everything, "")
    if lasts is None:
        raise UsageError("--for is required: how long the silence lasts, e.g. --for 2h")
    if reason is None:
        raise UsageError('--reason is required: why, e.g. --reason "rotating CRON_SECRET (INC-142)"')
    try:
        seconds = parse_duration(lasts)
    except ValueError as exc:
        raise UsageError(f"--for: {exc}") from None
    inv.emit(
        service.add(
            inv,
            job=job,
            seconds=seconds,
            reason=reason,
            store=store.lower(),
            dry_run=dry_run,
            confirm=lambda question: terminal.confirm(question, assume_yes=yes),
        )
    )


@command_options()
def list_(inv: Invocation) -> None:
    from cronctl.services import silences as service

    inv.emit(service.list_silences(inv))


@command_options()
def clear(
    inv: Invocation,
    job: Annotated[str | None, typer.Argument(help="The job whose silence to clear.", show_default=False)] = None,
    everything: Annotated[bool, typer.Option("--all", help="Clear every silence of the runbook.")] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    from cronctl.output import terminal
    from cronctl.services import silences as service

    _target(job, everything, "clear ")
    inv.emit(
        service.clear(
            inv, job=job, dry_run=dry_run, confirm=lambda question: terminal.confirm(question, assume_yes=yes)
        )
    )
