"""`cronctl locks` (list, say which are stale and why) and `cronctl locks clear` (remove only stale ones)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

if TYPE_CHECKING:
    from cronctl.evaluate.locks import LockVerdict
    from cronctl.output.report import Report
    from cronctl.reports.locks import ClearOutcome
    from cronctl.sources.locks import BackendRead, LockSources

LIST_HELP = """List job locks from every backend the runbook declares (lock table, PostgreSQL advisory locks,
Redis) and say which are stale and why.

\b
States:
  held      leave it: a run may be using it
  expired   past its own expiry time
  stale     older than the job's timeout + margin and no run in progress
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
never removed; it is reported as skipped instead. Advisory locks are never deleted: cronctl shows the
holder and the pg_terminate_backend command, and runs it only with --terminate. Every clear is written
to the audit log.

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
    from cronctl.reports.locks import list_report

    runbook = inv.runbook()
    sources = _sources(inv)
    try:
        now = _now()
        reads = sources.read(now)
        verdicts = _judge(sources, reads, now)
    finally:
        sources.close()
    declared = any(job.lock is not None for job in runbook.jobs.values()) or bool(runbook.lock_tables)
    inv.emit(list_report(verdicts, reads, stale_only=stale, declared=declared))


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
    from cronctl.runbook.loader import find_job

    if job is None and not all_stale:
        raise UsageError("name a job (cronctl locks clear <job>) or pass --all-stale")
    if job is not None and all_stale:
        raise UsageError("give a job name or --all-stale, not both")
    if force and job is None:
        raise UsageError("--force clears one named job's lock: cronctl locks clear <job> --force")
    runbook = inv.runbook()
    if job is not None and find_job(runbook, job).lock is None:
        raise UsageError(f"job '{job}' declares no lock in {runbook.path} (add a [jobs.{job}.lock] table)")
    inv.emit(_clear(inv, job, force=force, terminate=terminate, yes=yes, dry_run=dry_run))


def _now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def _sources(inv: Invocation) -> LockSources:
    from cronctl.sources.locks import LockSources

    return LockSources(inv.runbook(), inv.env(), lambda: inv.connect(read_only=True, autocommit=True))


def _judge(sources: LockSources, reads: list[BackendRead], now: datetime) -> list[LockVerdict]:
    """Verdicts for every lock read; job history is read only for locks whose verdict depends on it."""
    from cronctl.errors import CronctlError
    from cronctl.evaluate.locks import judge_all, needs_history
    from cronctl.sources.locks import has_history, running_jobs

    jobs = sources.runbook.jobs
    locks = [lock for read in reads for lock in read.locks]
    need = sorted({
        lock.name for lock in locks
        if needs_history(lock, jobs.get(lock.name), now) and has_history(jobs[lock.name])
    })
    running: set[str] = set()
    unverified: dict[str, str] = {}
    if need:
        try:
            conn = sources.db()
        except CronctlError as exc:
            unverified = dict.fromkeys(need, exc.message)
        else:
            running, unverified = running_jobs(conn, sources.runbook, sources.env, [jobs[n] for n in need])
    verdicts = judge_all(locks, jobs, now, running, unverified)
    return sorted(verdicts, key=lambda v: (v.lock.name, v.lock.backend, v.lock.key))


def _clear(inv: Invocation, job: str | None, *, force: bool, terminate: bool, yes: bool, dry_run: bool) -> Report:
    from cronctl.errors import SourceUnavailable
    from cronctl.reports.locks import ClearOutcome, clear_report

    sources = _sources(inv)
    outcome = ClearOutcome(dry_run=dry_run)
    writer = _Writer(inv)
    try:
        now = _now()
        reads = sources.read(now, job)
        if job is not None and reads and all(r.error for r in reads):
            raise SourceUnavailable(f"cannot read the lock of '{job}': {reads[0].error}")
        verdicts = _judge(sources, reads, now)
        targets = _pick_targets(verdicts, job, force, outcome)
        advisory = [v for v in targets if v.lock.backend == "advisory"]
        deletable = [v for v in targets if v.lock.backend != "advisory"]
        _handle_advisory(inv, sources, writer, advisory, terminate=terminate, yes=yes, outcome=outcome)
        _handle_deletable(inv, sources, writer, deletable, force=force, yes=yes, outcome=outcome)
    finally:
        writer.close()
        sources.close()
    return clear_report(outcome, reads)


def _pick_targets(
    verdicts: list[LockVerdict], job: str | None, force: bool, outcome: ClearOutcome
) -> list[LockVerdict]:
    if job is not None and not verdicts:
        outcome.skipped.append((None, job, "no lock is held"))
    targets = []
    for verdict in verdicts:
        if verdict.stale or force:
            targets.append(verdict)
        elif job is not None:
            outcome.skipped.append(
                (verdict, verdict.lock.name, f"held: {verdict.reason}; pass --force to clear it anyway")
            )
    return targets


class _Writer:
    """A read-write database connection for the clears themselves, opened only if one is needed."""

    def __init__(self, inv: Invocation) -> None:
        self._inv = inv
        self._conn: Any = None

    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self._inv.connect(read_only=False, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _ask(question: str, yes: bool) -> None:
    from cronctl.errors import Aborted
    from cronctl.output import terminal

    if not terminal.confirm(question, assume_yes=yes):
        raise Aborted("declined; nothing was changed")


def _audit(inv: Invocation, verdict: LockVerdict, result: str, *, dry_run: bool, action: str) -> None:
    from cronctl.audit import write_audit

    lock = verdict.lock
    write_audit(
        action,
        runbook=str(inv.runbook().path),
        profile=inv.profile,
        target=f"{lock.backend}:{lock.key}",
        result=result,
        dry_run=dry_run,
        details={
            "job": lock.name,
            "holder": lock.holder,
            "acquired_at": lock.acquired_at,
            "expires_at": lock.expires_at,
            "state": verdict.state,
            "reason": verdict.reason,
        },
    )


def _handle_advisory(
    inv: Invocation,
    sources: LockSources,
    writer: _Writer,
    verdicts: list[LockVerdict],
    *,
    terminate: bool,
    yes: bool,
    outcome: ClearOutcome,
) -> None:
    from cronctl.evaluate.locks import terminate_sql
    from cronctl.sources.locks import terminate_holder

    for verdict in verdicts:
        lock = verdict.lock
        statement = terminate_sql(lock)
        if statement is None:
            outcome.skipped.append((verdict, lock.name, f"{verdict.reason}; there is no session to terminate"))
            continue
        if not terminate:
            outcome.skipped.append(
                (verdict, lock.name,
                 f"advisory locks are not deleted; end the holder with `{statement}` (or pass --terminate)")
            )
            continue
        if outcome.dry_run:
            outcome.planned.append((verdict, statement))
            _audit(inv, verdict, "would terminate", dry_run=True, action="locks.terminate")
            continue
        _ask(f"Terminate {lock.holder}, which holds the advisory lock of '{lock.name}' ({verdict.state})?", yes)
        try:
            done = terminate_holder(writer.conn(), lock)
        except Exception as exc:
            _audit(inv, verdict, f"error: {exc}", dry_run=False, action="locks.terminate")
            raise
        if done:
            outcome.cleared.append((verdict, f"terminated pid {lock.detail['pid']}"))
            _audit(inv, verdict, "terminated", dry_run=False, action="locks.terminate")
        else:
            outcome.skipped.append((verdict, lock.name, "the lock changed since it was read: that session "
                                    "no longer holds it; nothing was terminated"))
            _audit(inv, verdict, "skipped: changed since read", dry_run=False, action="locks.terminate")


def _handle_deletable(
    inv: Invocation,
    sources: LockSources,
    writer: _Writer,
    verdicts: list[LockVerdict],
    *,
    force: bool,
    yes: bool,
    outcome: ClearOutcome,
) -> None:
    from cronctl.output import terminal

    if not verdicts:
        return
    if outcome.dry_run:
        for verdict in verdicts:
            outcome.planned.append((verdict, _statement(sources, verdict)))
            _audit(inv, verdict, "would clear", dry_run=True, action="locks.clear")
        return
    for verdict in verdicts:
        terminal.status(f"  {verdict.lock.name} [{verdict.lock.backend} {verdict.lock.key}] {verdict.state}: "
                        f"{verdict.reason}")
    _ask(f"Clear {len(verdicts)} lock(s) listed above?", yes)
    live = [v.lock.name for v in verdicts if not v.stale]
    if live:
        _ask(f"{', '.join(live)}: not judged stale — a run may still be using it. Clear it anyway?", yes)
    for verdict in verdicts:
        try:
            done = _delete(sources, writer, verdict)
        except Exception as exc:
            _audit(inv, verdict, f"error: {exc}", dry_run=False, action="locks.clear")
            raise
        if done:
            outcome.cleared.append((verdict, "deleted"))
            _audit(inv, verdict, "cleared", dry_run=False, action="locks.clear")
        else:
            outcome.skipped.append((verdict, verdict.lock.name, "the lock changed since it was read "
                                    "(re-acquired, extended or released); left alone"))
            _audit(inv, verdict, "skipped: changed since read", dry_run=False, action="locks.clear")


def _statement(sources: LockSources, verdict: LockVerdict) -> str:
    from cronctl.sources.locks import redis_dry_run, render_statement, table_delete

    lock = verdict.lock
    if lock.backend == "redis":
        return redis_dry_run(lock)
    spec = sources.runbook.lock_tables[lock.detail["table"]]
    statement, params = table_delete(spec, lock)
    return render_statement(sources.db(), statement, params)


def _delete(sources: LockSources, writer: _Writer, verdict: LockVerdict) -> bool:
    from cronctl.sources.locks import delete_redis_lock, delete_table_lock

    lock = verdict.lock
    if lock.backend == "redis":
        return delete_redis_lock(sources.redis(), lock)
    return delete_table_lock(writer.conn(), sources.runbook.lock_tables[lock.detail["table"]], lock)
