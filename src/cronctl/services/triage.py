"""`cronctl triage`: connect, collect every job's history and facts (services/history.py), judge them
(evaluate/snapshot.py) and turn the judgement into a report; `--watch` repeats that until the runbook's exit
condition holds. Showing each refresh is the caller's: it is passed in as a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cronctl.evaluate.snapshot import Triage
    from cronctl.output.report import Report
    from cronctl.records import SourceNote
    from cronctl.services import CommandContext

Observer = Callable[[dict[str, Any]], Any]  # sees every snapshot's triage JSON (notifications)


def judge_snapshot(ctx: CommandContext, window: float, job: str | None, at: datetime | None = None) -> Triage:
    """One snapshot of the runbook's jobs (or only `job`), judged now or as of the past time `at`."""
    from cronctl.evaluate.snapshot import judge
    from cronctl.runbook.loader import find_job
    from cronctl.services.history import collect, database_uses

    runbook = ctx.runbook()
    env = ctx.env()
    jobs = [find_job(runbook, job)] if job else list(runbook.jobs.values())
    now = at if at is not None else datetime.now(UTC)
    uses = database_uses(runbook, jobs)
    conn, skipped = _open_database(ctx, uses)
    try:
        collected = collect(conn, runbook, env, jobs, now, window, runbook.connection.statement_timeout, until=at)
    finally:
        if conn is not None:
            conn.close()
    return judge(collected, runbook, env, jobs, database=skipped)


SKIPPED = (
    "skipped, no job judged here reads it: the pg_cron and pg_net checks, hygiene and the shared silences table "
    "(silences come from the local state file only)"
)


def _open_database(ctx: CommandContext, uses: dict[str, tuple[str, ...]]) -> tuple[Any, SourceNote | None]:
    """A read-only connection, or (None, why) when nothing the jobs need lives in the database and it is not
    configured or cannot be reached. A database some job needs keeps its one-line error, naming what needs it:
    a job whose history cannot be read is no verdict, and the fix is to set the URL."""
    from cronctl.errors import CronctlError
    from cronctl.records import SourceNote
    from cronctl.services.history import describe_uses

    try:
        ctx.database_url()
    except CronctlError as exc:
        if uses:
            raise type(exc)(f"{exc.message} — needed for {describe_uses(uses)}", hint=exc.hint) from None
        return None, SourceNote("database", "skipped", f"not configured — {SKIPPED}")
    if uses:
        return ctx.connect(read_only=True, autocommit=True), None
    try:
        return ctx.connect(read_only=True, autocommit=True), None
    except CronctlError as exc:
        return None, SourceNote("database", "error", f"{exc.message} — {SKIPPED}")


def snapshot(
    ctx: CommandContext,
    window: float,
    job: str | None,
    *,
    at: datetime | None = None,
    note: str | None = None,
    brief: bool = False,
    observe: Observer | None = None,
) -> tuple[Triage, Report]:
    """One judged snapshot and its report; `observe` sees the snapshot's triage JSON."""
    from cronctl.reports.triage import triage_report

    result = judge_snapshot(ctx, window, job, at)
    report = triage_report(result, ctx.runbook(), window, watch_note=note, brief=brief)
    if observe is not None:
        observe(report.data)
    return result, report


@dataclass(frozen=True)
class WatchEnd:
    rounds: int  # refreshes started, the interrupted one included
    ending: str  # why the watch stopped


def watch(
    ctx: CommandContext,
    window: float,
    job: str | None,
    *,
    interval: float,
    refreshed: Callable[[Triage, int, str], None],
    max_rounds: int | None = None,
    observe: Observer | None = None,
    sleep: Callable[[float], None] | None = None,
) -> WatchEnd:
    """Judge a fresh snapshot every `interval` seconds until the runbook's exit condition holds, `max_rounds`, or
    Ctrl-C once a refresh has been shown. `refreshed(result, round, why)` shows each one (`why`: the exit
    condition's state)."""
    import time

    from cronctl.evaluate.triage import exit_condition_met

    runbook = ctx.runbook()
    pause = sleep or time.sleep
    rounds = 0
    shown = 0
    try:
        while True:
            rounds += 1
            result, _ = snapshot(ctx, window, job, observe=observe)
            done, why = exit_condition_met(runbook.exit_condition, result.health, result.backlogs, job)
            refreshed(result, rounds, why)
            shown += 1
            if done:
                return WatchEnd(rounds, "the exit condition holds")
            if max_rounds is not None and rounds >= max_rounds:
                return WatchEnd(rounds, "stopped by --max-rounds")
            pause(interval)
    except KeyboardInterrupt:
        if not shown:
            raise
        return WatchEnd(rounds, "stopped by Ctrl-C")
