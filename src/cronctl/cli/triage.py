"""`cronctl triage`: one health snapshot of every job, failure groups, backlogs, locks and matched actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.reports.triage import Triage

DEFAULT_SINCE = "24h"
UNKNOWN = 3


def register(app: Any) -> None:
    app.command(
        "triage",
        help="""One snapshot of the whole system for an incident: each job's state judged against its
schedule (ok, late, missed, failing, running, overrunning, stuck, disabled, never_run, unknown), failures
grouped by cause, backlog checks, platform checks (scheduler, pg_net, variables, placeholder secrets),
leftover locks, and the runbook's known failure modes that match, with the action to take.

Exit codes follow the monitoring-plugin convention: 0 ok, 1 warning, 2 critical, 3 unknown
(also: database unreachable, invalid runbook, bad option).

Examples:

\b
  cronctl triage -r runbooks/billing-pgcron.toml
  cronctl triage --since 6h --job notification-worker
  cronctl triage -f markdown | pbcopy            # paste into the incident channel
  cronctl triage -f json | jq '.jobs[] | select(.state != "ok")'
  cronctl triage --watch --interval 15          # live view until the runbook's exit condition holds
  cronctl triage --at 2026-11-30T03:10Z         # postmortem: judge history as it stood then
""",
    )(triage)


@command_options(error_exit=UNKNOWN)
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
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Judge history as of this past time (ISO 8601, e.g. 2026-11-30T03:10Z) for a postmortem: "
            "runs and answers after it are ignored; present-only facts (scheduler, queue, locks) are not judged.",
            show_default=False,
        ),
    ] = None,
) -> None:
    from cronctl.durations import parse_duration
    from cronctl.errors import UsageError

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    if window <= 0:
        raise UsageError("--since must be longer than zero")
    as_of = parse_at(at) if at is not None else None
    if watch:
        if as_of is not None:
            raise UsageError("--watch follows the present; it does not combine with --at")
        inv.emit(_watch(inv, window, job, interval, max_rounds))
        return
    inv.emit(snapshot(inv, window, job, at=as_of)[1])


def parse_at(text: str) -> Any:
    """An ISO 8601 time; without a zone it is UTC. Must not lie in the future."""
    from datetime import UTC, datetime

    from cronctl.errors import UsageError

    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise UsageError(f"--at: '{text}' is not an ISO 8601 time (e.g. 2026-11-30T03:10Z)") from None
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if value > datetime.now(UTC):
        raise UsageError(f"--at: {value.isoformat()} is in the future")
    return value.astimezone(UTC)


def snapshot(
    inv: Invocation, window: float, job: str | None, note: str | None = None, at: Any = None
) -> tuple[Triage, Report]:
    from datetime import UTC, datetime

    from cronctl.reports.triage import judge, triage_report
    from cronctl.runbook.loader import find_job
    from cronctl.sources.triage import collect

    runbook = inv.runbook()
    env = inv.env()
    jobs = [find_job(runbook, job)] if job else list(runbook.jobs.values())
    now = at if at is not None else datetime.now(UTC)
    conn = inv.connect(read_only=True, autocommit=True)
    try:
        collected = collect(conn, runbook, env, jobs, now, window, runbook.connection.statement_timeout, until=at)
    finally:
        conn.close()
    result = judge(collected, runbook, env, jobs)
    return result, triage_report(result, runbook, window, watch_note=note)


def _watch(inv: Invocation, window: float, job: str | None, interval: float, max_rounds: int | None) -> Report:
    """Refresh a live view until the exit condition holds, Ctrl-C, or `max_rounds`; return the last report."""
    import sys
    import time

    from rich.live import Live

    from cronctl.evaluate.triage import exit_condition_met
    from cronctl.output.render import make_console

    runbook = inv.runbook()
    # JSON or a pipe on stdout keeps stdout for the final report; the live view goes to the terminal on stderr.
    stream = sys.stdout if sys.stdout.isatty() and inv.format == "table" else sys.stderr
    console = make_console(stream, stderr=stream is sys.stderr)
    rounds = 0
    report: Report | None = None
    with Live(console=console, auto_refresh=False, transient=True) as live:
        try:
            while True:
                rounds += 1
                result, _ = snapshot(inv, window, job)
                done, why = exit_condition_met(runbook.exit_condition, result.health, result.backlogs, job)
                note = f"watch round {rounds}: {why}"
                from cronctl.reports.triage import triage_report

                report = triage_report(result, runbook, window, watch_note=note)
                live.update(_renderable(report), refresh=True)
                if done or (max_rounds is not None and rounds >= max_rounds):
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            if report is None:
                raise
    assert report is not None
    return report


def _renderable(report: Report) -> Any:
    import io

    from rich.text import Text

    from cronctl.output.render import render

    buffer = io.StringIO()
    render(report, "plain", buffer)
    return Text(buffer.getvalue())
