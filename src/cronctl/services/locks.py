"""`cronctl locks`: read every lock backend, judge each lock, and clear only the stale ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cronctl.errors import Aborted, CronctlError, SourceUnavailable, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cronctl.evaluate.locks import LockVerdict
    from cronctl.output.report import Report
    from cronctl.records import BackendRead, Lock, Run
    from cronctl.reports.locks import ClearOutcome
    from cronctl.runbook.model import JobSpec, Runbook
    from cronctl.services import CommandContext
    from cronctl.sources.locks.base import LockBackend, LockSources, Recheck

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
    try:
        now = _now()
        reads = sources.read(now, job)
        if job is not None and reads and all(r.error for r in reads):
            raise SourceUnavailable(f"cannot read the lock of '{job}': {reads[0].error}")
        verdicts = _judge(sources, reads, now)
        targets = _pick_targets(verdicts, job, force, outcome)
        terminating = [v for v in targets if _backend(v).removal == "terminate"]
        deleting = [v for v in targets if _backend(v).removal == "delete"]
        _handle_terminating(ctx, sources, terminating, terminate=terminate, confirm=confirm, outcome=outcome)
        _handle_deleting(ctx, sources, deleting, confirm=confirm, outcome=outcome)
    finally:
        sources.close()
    return clear_report(outcome, reads)


def _now() -> datetime:
    return datetime.now(UTC)


def _sources(ctx: CommandContext) -> LockSources:
    from cronctl.sources.locks.base import LockSources

    return LockSources(
        ctx.runbook(),
        ctx.env(),
        connect_db=lambda: ctx.connect(read_only=True, autocommit=True),
        connect_writer=lambda: ctx.connect(read_only=False, autocommit=True),
    )


def _backend(verdict: LockVerdict) -> LockBackend:
    from cronctl.sources.locks import backend

    return backend(verdict.lock.backend)


def _judge(sources: LockSources, reads: list[BackendRead], now: datetime) -> list[LockVerdict]:
    """Verdicts for every lock read; job history is read only for locks whose verdict depends on it, and then
    every run of the job back to when the lock was taken, from every source (not only the newest rows)."""
    from cronctl.evaluate.locks import judge_all

    jobs = sources.runbook.jobs
    locks = [lock for read in reads for lock in read.locks]
    runs_by_job, unverified = _job_runs(sources, lambda: sources.db(), locks, now)
    verdicts = judge_all(locks, jobs, now, frozenset(), unverified, runs_by_job=runs_by_job)
    return sorted(verdicts, key=lambda v: (v.lock.name, v.lock.backend, v.lock.key))


def _job_runs(
    sources: LockSources, conn: Callable[[], Any], locks: Sequence[Lock], now: datetime
) -> tuple[dict[str, list[Run]], dict[str, str]]:
    """The runs of each job whose lock verdict depends on them (job → runs), and jobs whose history could not
    be fully read (job → why)."""
    from cronctl.evaluate.locks import history_since, needs_history

    jobs = sources.runbook.jobs
    since: dict[str, datetime | None] = {}
    for lock in locks:
        job = jobs.get(lock.name)
        if job is None or not needs_history(lock, job, now) or not _has_history(job):
            continue
        start = history_since(lock, job, now)
        if lock.name not in since:
            since[lock.name] = start
        else:
            known = since[lock.name]
            since[lock.name] = None if start is None or known is None else min(known, start)
    if not since:
        return {}, {}
    try:
        db = conn()
    except CronctlError as exc:
        return {}, dict.fromkeys(since, exc.message)
    return _lock_history(db, sources.runbook, sources.env, [jobs[name] for name in sorted(since)], since)


def _recheck(sources: LockSources, verdict: LockVerdict) -> Recheck | None:
    """The re-judgement a clear runs right before it takes effect (for a lock table: inside the delete's own
    transaction, on its connection): the job's runs are read again and the lock judged again; it returns why
    the lock must stay, or None. No re-check when nothing depends on the runs, or for --force on a held lock
    (the operator overrides the evidence, after two confirmations)."""
    from cronctl.evaluate.locks import judge

    lock = verdict.lock
    job = sources.runbook.jobs.get(lock.name)
    if not verdict.stale or job is None or not _has_history(job):
        return None

    def again(connect: Callable[[], Any]) -> str | None:
        now = _now()
        runs_by_job, unverified = _job_runs(sources, connect, [lock], now)
        if not runs_by_job and not unverified:
            return None  # the verdict does not depend on the job's runs
        fresh = judge(lock, job, now, frozenset(), unverified, runs_by_job=runs_by_job)
        return None if fresh.stale else f"re-checked just before clearing: {fresh.reason}"

    return again


def _still_held(verdict: LockVerdict, reason: str) -> LockVerdict:
    from dataclasses import replace

    return replace(verdict, state="held", reason=reason)


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


def _ask(confirm: Confirm, question: str) -> None:
    if not confirm(question):
        raise Aborted("declined; nothing was changed")


def _audit_details(verdict: LockVerdict) -> dict[str, Any]:
    lock = verdict.lock
    return {
        "job": lock.name,
        "holder": lock.holder,
        "acquired_at": lock.acquired_at,
        "expires_at": lock.expires_at,
        "state": verdict.state,
        "reason": verdict.reason,
    }


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
        details=_audit_details(verdict),
    )


def _begin(ctx: CommandContext, verdict: LockVerdict, action: str) -> str:
    """A `pending` record written before the change is sent; completed with its result."""
    from cronctl.audit import begin_audit

    lock = verdict.lock
    return begin_audit(
        action,
        runbook=str(ctx.runbook().path),
        profile=ctx.profile,
        target=f"{lock.backend}:{lock.key}",
        details=_audit_details(verdict),
    )


def _handle_terminating(
    ctx: CommandContext,
    sources: LockSources,
    verdicts: list[LockVerdict],
    *,
    terminate: bool,
    confirm: Confirm,
    outcome: ClearOutcome,
) -> None:
    """Locks held by a database session (advisory locks) are never deleted: their holder session is ended, and
    only with --terminate, each confirmed on its own."""
    from cronctl.audit import complete_audit

    for verdict in verdicts:
        lock = verdict.lock
        if not isinstance(lock.detail.get("pid"), int):
            outcome.skipped.append((verdict, lock.name, f"{verdict.reason}; there is no session to terminate"))
            continue
        backend = _backend(verdict)
        statement = backend.plan(sources, lock)
        if not terminate:
            outcome.skipped.append(
                (verdict, lock.name,
                 f"{lock.backend} locks are not deleted; end the holder with `{statement}` (or pass --terminate)")
            )  # fmt: skip
            continue
        if outcome.dry_run:
            outcome.planned.append((verdict, statement))
            _audit(ctx, verdict, "would terminate", dry_run=True, action="locks.terminate")
            continue
        _ask(confirm, f"Terminate {lock.holder}, which holds the {lock.backend} lock of '{lock.name}' "
                      f"({verdict.state})?")  # fmt: skip
        # Re-checked before the pending audit record, so a refusal is one record, not a begun change.
        recheck = _recheck(sources, verdict)
        why = recheck(sources.db) if recheck is not None else None
        if why is not None:
            outcome.skipped.append((_still_held(verdict, why), lock.name, f"{why}; nothing was terminated"))
            _audit(ctx, verdict, "skipped: run in progress", dry_run=False, action="locks.terminate")
            continue
        audit_id = _begin(ctx, verdict, "locks.terminate")  # recorded before the statement is sent
        try:
            done = backend.clear(sources, lock, recheck=None)
        except Exception as exc:
            complete_audit(audit_id, f"error: {exc}")
            raise
        if done:
            outcome.cleared.append((verdict, f"terminated pid {lock.detail['pid']}"))
            complete_audit(audit_id, "terminated")
        else:
            outcome.skipped.append((verdict, lock.name, "the lock changed since it was read: that session "
                                    "no longer holds it; nothing was terminated"))  # fmt: skip
            complete_audit(audit_id, "skipped: changed since read")


def _handle_deleting(
    ctx: CommandContext,
    sources: LockSources,
    verdicts: list[LockVerdict],
    *,
    confirm: Confirm,
    outcome: ClearOutcome,
) -> None:
    """Compare-and-delete each lock (a table row, a Redis key), after one confirmation (two if any looks held)."""
    from cronctl.output import terminal

    if not verdicts:
        return
    if outcome.dry_run:
        for verdict in verdicts:
            backend = _backend(verdict)
            statement = backend.plan(sources, verdict.lock)
            if _recheck(sources, verdict) is not None:
                statement += (f"  -- {backend.recheck_timing}, the job's runs are read again: a run in progress "
                              "keeps the lock")  # fmt: skip
            outcome.planned.append((verdict, statement))
            _audit(ctx, verdict, "would clear", dry_run=True, action="locks.clear")
        return
    for verdict in verdicts:
        terminal.status(f"  {verdict.lock.name} [{verdict.lock.backend} {verdict.lock.key}] {verdict.state}: "
                        f"{verdict.reason}")  # fmt: skip
    _ask(confirm, f"Clear {len(verdicts)} lock(s) listed above?")
    live = [v.lock.name for v in verdicts if not v.stale]
    if live:
        _ask(confirm, f"{', '.join(live)}: not judged stale — a run may still be using it. Clear it anyway?")
    from cronctl.audit import complete_audit
    from cronctl.sources.locks.base import StillInUse

    for verdict in verdicts:
        audit_id = _begin(ctx, verdict, "locks.clear")  # recorded before the delete is sent
        try:
            # The backend re-reads the job's runs as late as it can: first, or inside the delete's transaction.
            done = _backend(verdict).clear(sources, verdict.lock, _recheck(sources, verdict))
        except StillInUse as exc:
            outcome.skipped.append((_still_held(verdict, exc.reason), verdict.lock.name, f"{exc.reason}; left alone"))
            complete_audit(audit_id, f"skipped: {exc.reason}")
            continue
        except Exception as exc:
            complete_audit(audit_id, f"error: {exc}")
            raise
        if done:
            outcome.cleared.append((verdict, "deleted"))
            complete_audit(audit_id, "cleared")
        else:
            outcome.skipped.append((verdict, verdict.lock.name, "the lock changed since it was read "
                                    "(re-acquired, extended or released); left alone"))  # fmt: skip
            complete_audit(audit_id, "skipped: changed since read")


LOCK_HISTORY_LIMIT = 500  # runs read per job for a lock verdict, back to when the lock was taken


def _has_history(job: JobSpec) -> bool:
    return bool(job.history.has_any or job.scheduler == "pg_cron")


def _lock_history(
    conn: Any,
    runbook: Runbook,
    env: Any,
    jobs: Sequence[JobSpec],
    since: Mapping[str, datetime | None],
    limit: int = LOCK_HISTORY_LIMIT,
) -> tuple[dict[str, list[Run]], dict[str, str]]:
    """Each job's runs from every history source, back to `since[job]` (see evaluate.locks.history_since),
    and the jobs whose history could not be fully read (job → why): a source that failed, or more than
    `limit` runs since then (so the run that took the lock may not be among them)."""
    from cronctl.services.history import collect_history
    from cronctl.sources.pgcron import mark_backends

    runs_by_job: dict[str, list[Run]] = {}
    unverified: dict[str, str] = {}
    for job in jobs:
        if not _has_history(job):
            continue  # nothing records its runs: nothing shows one in progress
        start = since.get(job.name)
        result = collect_history(conn, runbook, env, job, limit=limit, since=start)
        try:
            runs_by_job[job.name] = mark_backends(conn, result.runs)
        except CronctlError:
            runs_by_job[job.name] = result.runs  # liveness unknown: judged by age, as without pg_cron's pids
        failed = [f"{s.name}: {s.message or s.state}" for s in result.sources if s.state == "error"]
        if failed:
            unverified[job.name] = "; ".join(failed)
        elif not any(s.state == "ok" for s in result.sources):
            unverified[job.name] = "; ".join(s.message or s.state for s in result.sources) or "no source answered"
        elif len(result.runs) >= limit:
            back_to = f"since {start.isoformat(timespec='seconds')}" if start is not None else "in its history"
            unverified[job.name] = (
                f"it has more than {limit} runs {back_to}; the run that took the lock may not be among those read"
            )
    return runs_by_job, unverified
