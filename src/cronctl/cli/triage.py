"""`cronctl triage`: one health snapshot of every job, failure groups, backlogs, locks and matched actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

if TYPE_CHECKING:
    from cronctl.evaluate.snapshot import Triage
    from cronctl.output.report import Report

DEFAULT_SINCE = "24h"
UNKNOWN = 3


def register(app: Any) -> None:
    app.command(
        "triage",
        help="""One snapshot of the whole system for an incident: each job's state judged against its
schedule (ok, late, missed, failing, running, overrunning, stuck, disabled, never_run, unknown), failures
grouped by cause, backlog checks, platform checks (scheduler, pg_net, variables, placeholder secrets),
leftover locks, and the runbook's known failure modes that match, with the action to take.

The runbook's fail_after / recover_after thresholds (Sentry's semantics) and expect = "disabled" set how much a
job's state counts; problems silenced with `cronctl silence` are shown marked and do not count; hygiene checks
(job_run_details growth, pg_net.ttl, cron.timezone, next run) are shown and never change the status.

History outside the database (GitHub Actions runs, Vercel cron and Supabase Edge Function invocations) is
judged like any other; a runbook whose judged jobs need nothing from the database triages without one
(DATABASE_URL unset): the database is skipped with one note.

Exit codes follow the monitoring-plugin convention: 0 ok, 1 warning, 2 critical, 3 unknown
(also: database unreachable or not set while a job needs it, invalid runbook, bad option). Over several
systems (-r and --profile repeated, or --all-profiles) the worst system's status wins; a notification that
fails never changes the exit code.

Examples:

\b
  cronctl triage -r runbooks/billing-pgcron.toml
  cronctl triage --since 6h --job notification-worker
  cronctl triage -f markdown | pbcopy            # paste into the incident channel
  cronctl triage -f json | jq '.jobs[] | select(.state != "ok")'
  cronctl triage --watch --interval 15          # live view until the runbook's exit condition holds
  cronctl triage --at 2026-11-30T03:10Z         # postmortem: judge history as it stood then
  cronctl triage --notify '${SLACK_WEBHOOK_URL}'  # a Slack message when the status or problems change
  cronctl triage -f openmetrics > billing.prom    # for Prometheus / node_exporter's textfile collector
  cronctl triage -r billing.toml -r ads.toml --all-profiles   # several systems, one report
""",
    )(triage)


@command_options(error_exit=UNKNOWN, several=True)
def triage(
    inv: Invocation,
    since: Annotated[
        str, typer.Option("--since", help="Failure window, e.g. 24h, 6h, 7d (a job's schedule may widen it).")
    ] = DEFAULT_SINCE,
    job: Annotated[
        str | None, typer.Option("--job", "-j", help="Only this job (and its backlogs).", show_default=False)
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh until the runbook's exit condition holds or Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between refreshes with --watch.")
    ] = 30.0,
    max_rounds: Annotated[int | None, typer.Option("--max-rounds", hidden=True, min=1)] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Markdown: every table, healthy jobs included (by default it fits one chat message: findings, "
            "jobs that are not ok, and what else is not ok).",
        ),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Judge history as of this past time (ISO 8601, e.g. 2026-11-30T03:10Z) for a postmortem: "
            "runs and answers after it are ignored; present-only facts (scheduler, queue, locks) are not judged.",
            show_default=False,
        ),
    ] = None,
    notify: Annotated[
        str | None,
        typer.Option(
            "--notify",
            help="Post to this webhook when the status or the set of problems changes (also on recovery); "
            "overrides the runbook's [notify] url. Write it as '${VAR}' to keep the URL out of the process list.",
            metavar="URL",
            show_default=False,
        ),
    ] = None,
    notify_kind: Annotated[
        str | None,
        typer.Option(
            "--notify-kind",
            help="slack (an incoming-webhook message) or webhook (the triage JSON plus previous_status); "
            "default: the runbook's kind, else slack for a *.slack.com URL, else webhook.",
            metavar="KIND",
            show_default=False,
        ),
    ] = None,
    no_notify: Annotated[
        bool, typer.Option("--no-notify", help="Do not send the runbook's [notify] notifications this time.")
    ] = False,
    all_profiles: Annotated[
        bool,
        typer.Option("--all-profiles", help="Triage every profile of each runbook (-r, repeatable) as one fleet."),
    ] = False,
) -> None:
    from cronctl.cli import triage_ops
    from cronctl.durations import parse_duration
    from cronctl.errors import UsageError

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    if window <= 0:
        raise UsageError("--since must be longer than zero")
    as_of = parse_at(at) if at is not None else None
    brief = inv.format == "markdown" and not full
    options = triage_ops.NotifyOptions(notify, notify_kind, not no_notify)
    triage_ops.check_notify_options(options, as_of)
    if triage_ops.is_fleet(inv, all_profiles):
        if watch:
            raise UsageError("--watch follows one system; run one `cronctl triage --watch` per system")
        inv.emit(triage_ops.fleet(inv, window, job, as_of, all_profiles, options,
                                  lambda each: snapshot(each, window, job, at=as_of, brief=brief)[1]))  # fmt: skip
        return
    observe = triage_ops.observer(inv, options, job, as_of)
    if watch:
        if as_of is not None:
            raise UsageError("--watch follows the present; it does not combine with --at")
        with triage_ops.on_failure(inv, observe):
            inv.emit(_watch(inv, window, job, interval, max_rounds, observe=observe))
        return
    with triage_ops.on_failure(inv, observe):
        inv.emit(snapshot(inv, window, job, at=as_of, brief=brief, observe=observe)[1])


def parse_at(text: str) -> Any:
    """An ISO 8601 time; without a zone it is UTC. Must not lie in the future."""
    from datetime import UTC, datetime

    from cronctl.errors import UsageError
    from cronctl.records import aware

    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise UsageError(f"--at: '{text}' is not an ISO 8601 time (e.g. 2026-11-30T03:10Z)") from None
    value = aware(value)
    if value > datetime.now(UTC):
        raise UsageError(f"--at: {value.isoformat()} is in the future")
    return value.astimezone(UTC)


def snapshot(
    inv: Invocation,
    window: float,
    job: str | None,
    note: str | None = None,
    at: Any = None,
    *,
    brief: bool = False,
    observe: Any = None,
) -> tuple[Triage, Report]:
    """One judged snapshot and its report; `observe(json)` (notifications) sees every snapshot's triage JSON."""
    from cronctl.services import triage as service

    return service.snapshot(inv, window, job, at=at, note=note, brief=brief, observe=observe)


def _watch(
    inv: Invocation, window: float, job: str | None, interval: float, max_rounds: int | None, *, observe: Any = None
) -> Report:
    """Redraw a live view in place until the exit condition holds, Ctrl-C, or `max_rounds`; each refresh shows
    what changed since the one before. Returns the last report, printed normally once the live view is gone."""
    import sys
    from datetime import UTC, datetime

    from rich.live import Live

    from cronctl.output.render import make_console, renderable
    from cronctl.output.report import Text
    from cronctl.reports.triage import triage_report
    from cronctl.reports.triage_view import changes_section
    from cronctl.services import triage as service

    runbook = inv.runbook()
    # JSON or a pipe on stdout keeps stdout for the final report; the live view goes to the terminal on stderr.
    stream = sys.stdout if sys.stdout.isatty() and inv.format == "table" else sys.stderr
    console = make_console(stream, stderr=stream is sys.stderr)
    shown: list[tuple[Triage, Report]] = []  # the last refresh shown

    def show(result: Triage, rounds: int, why: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%SZ")
        note = f"watch: refresh {rounds} at {stamp}, every {interval:g}s; {why}; Ctrl-C stops"
        changed = changes_section(shown[-1][0] if shown else None, result)
        report = triage_report(result, runbook, window, watch_note=note, changes=changed)
        live.update(renderable(report, console.width), refresh=True)
        shown[:] = [(result, report)]

    live = Live(console=console, auto_refresh=False, transient=True, redirect_stdout=False, redirect_stderr=False)
    with live:
        end = service.watch(inv, window, job, interval=interval, refreshed=show, max_rounds=max_rounds, observe=observe)
    report = shown[-1][1]
    report.sections.insert(0, Text(f"watch ended after {end.rounds} refresh(es): {end.ending}", tone="info"))
    return report
