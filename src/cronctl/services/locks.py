"""`cronctl locks`: read every lock backend, judge each lock, and clear only the stale ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cronctl.errors import Aborted, CronctlError, SourceUnavailable, UsageError

if TYPE_CHECKING:
    from cronctl.evaluate.locks import LockVerdict
    from cronctl.output.report import Report
    from cronctl.reports.locks import ClearOutcome
    from cronctl.services import CommandContext
    from cronctl.sources.locks import BackendRead, LockSources

Confirm = Callable[[str], bool]


def list_locks(ctx: CommandContext, *, stale_only: bool) -> Report:
    """Every lock the runbook's backends hold, with its verdict."""
    from cronctl.reports.locks import list_report

    runbook = ctx.runbook()
    sources = _sources(ctx)
    try:
        now = _now()
        reads = sources.read(now)
        verdicts = _judge(sources, reads, now)
    finally:
        sources.close()
    declared = any(job.lock is not None for job in runbook.jobs.values()) or bool(runbook.lock_tables)
    return list_report(verdicts, reads, stale_only=stale_only, declared=declared)


def clear(
    ctx: CommandContext, job: str | None, *, force: bool, terminate: bool, dry_run: bool, confirm: Confirm
) -> Report:
    """Clear `job`'s lock, or every stale lock when `job` is None; `confirm` asks before each change."""
    from cronctl.reports.locks import ClearOutcome, clear_report
    from cronctl.runbook.loader import find_job

    runbook = ctx.runbook()
    if job is not None and find_job(runbook, job).lock is None:
        raise UsageError(f"job '{job}' declares no lock in {runbook.path} (add a [jobs.{job}.lock] table)")
    sources = _sources(ctx)
    outcome = ClearOutcome(dry_run=dry_run)
    writer = _Writer(ctx)
    try:
        now = _now()
        reads = sources.read(now, job)
        if job is not None and reads and all(r.error for r in reads):
            raise SourceUnavailable(f"cannot read the lock of '{job}': {reads[0].error}")
        verdicts = _judge(sources, reads, now)
        targets = _pick_targets(verdicts, job, force, outcome)
        advisory = [v for v in targets if v.lock.backend == "advisory"]
        deletable = [v for v in targets if v.lock.backend != "advisory"]
        _handle_advisory(ctx, writer, advisory, terminate=terminate, confirm=confirm, outcome=outcome)
        _handle_deletable(ctx, sources, writer, deletable, confirm=confirm, outcome=outcome)
    finally:
        writer.close()
        sources.close()
    return clear_report(outcome, reads)


def _now() -> datetime:
    return datetime.now(UTC)


def _sources(ctx: CommandContext) -> LockSources:
    from cronctl.sources.locks import LockSources

    return LockSources(ctx.runbook(), ctx.env(), lambda: ctx.connect(read_only=True, autocommit=True))


def _judge(sources: LockSources, reads: list[BackendRead], now: datetime) -> list[LockVerdict]:
    """Verdicts for every lock read; job history is read only for locks whose verdict depends on it."""
    from cronctl.evaluate.locks import judge_all, needs_history
    from cronctl.sources.locks import has_history, running_jobs

    jobs = sources.runbook.jobs
    locks = [lock for read in reads for lock in read.locks]
    need = sorted({
        lock.name for lock in locks
        if needs_history(lock, jobs.get(lock.name), now) and has_history(jobs[lock.name])
    })  # fmt: skip
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

    def __init__(self, ctx: CommandContext) -> None:
        self._ctx = ctx
        self._conn: Any = None

    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self._ctx.connect(read_only=False, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _ask(confirm: Confirm, question: str) -> None:
    if not confirm(question):
        raise Aborted("declined; nothing was changed")


def _audit(ctx: CommandContext, verdict: LockVerdict, result: str, *, dry_run: bool, action: str) -> None:
    from cronctl.audit import write_audit

    lock = verdict.lock
    write_audit(
        action,
        runbook=str(ctx.runbook().path),
        profile=ctx.profile,
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
    ctx: CommandContext,
    writer: _Writer,
    verdicts: list[LockVerdict],
    *,
    terminate: bool,
    confirm: Confirm,
    outcome: ClearOutcome,
) -> None:
    """Advisory locks are never deleted: their holder session is ended, and only with --terminate."""
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
            )  # fmt: skip
            continue
        if outcome.dry_run:
            outcome.planned.append((verdict, statement))
            _audit(ctx, verdict, "would terminate", dry_run=True, action="locks.terminate")
            continue
        _ask(confirm, f"Terminate {lock.holder}, which holds the advisory lock of '{lock.name}' ({verdict.state})?")
        try:
            done = terminate_holder(writer.conn(), lock)
        except Exception as exc:
            _audit(ctx, verdict, f"error: {exc}", dry_run=False, action="locks.terminate")
            raise
        if done:
            outcome.cleared.append((verdict, f"terminated pid {lock.detail['pid']}"))
            _audit(ctx, verdict, "terminated", dry_run=False, action="locks.terminate")
        else:
            outcome.skipped.append((verdict, lock.name, "the lock changed since it was read: that session "
                                    "no longer holds it; nothing was terminated"))  # fmt: skip
            _audit(ctx, verdict, "skipped: changed since read", dry_run=False, action="locks.terminate")


def _handle_deletable(
    ctx: CommandContext,
    sources: LockSources,
    writer: _Writer,
    verdicts: list[LockVerdict],
    *,
    confirm: Confirm,
    outcome: ClearOutcome,
) -> None:
    """Table and Redis locks: compare-and-delete each, after one confirmation (two if any looks held)."""
    from cronctl.output import terminal

    if not verdicts:
        return
    if outcome.dry_run:
        for verdict in verdicts:
            outcome.planned.append((verdict, _statement(sources, verdict)))
            _audit(ctx, verdict, "would clear", dry_run=True, action="locks.clear")
        return
    for verdict in verdicts:
        terminal.status(f"  {verdict.lock.name} [{verdict.lock.backend} {verdict.lock.key}] {verdict.state}: "
                        f"{verdict.reason}")  # fmt: skip
    _ask(confirm, f"Clear {len(verdicts)} lock(s) listed above?")
    live = [v.lock.name for v in verdicts if not v.stale]
    if live:
        _ask(confirm, f"{', '.join(live)}: not judged stale — a run may still be using it. Clear it anyway?")
    for verdict in verdicts:
        try:
            done = _delete(sources, writer, verdict)
        except Exception as exc:
            _audit(ctx, verdict, f"error: {exc}", dry_run=False, action="locks.clear")
            raise
        if done:
            outcome.cleared.append((verdict, "deleted"))
            _audit(ctx, verdict, "cleared", dry_run=False, action="locks.clear")
        else:
            outcome.skipped.append((verdict, verdict.lock.name, "the lock changed since it was read "
                                    "(re-acquired, extended or released); left alone"))  # fmt: skip
            _audit(ctx, verdict, "skipped: changed since read", dry_run=False, action="locks.clear")


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
