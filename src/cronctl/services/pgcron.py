"""`cronctl pgcron ...`: read cron.job, its history and the scheduler; change a job (enable, disable,
unschedule, reschedule, run once) or purge old history, each confirmed, audited and dry-runnable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronctl.errors import Aborted, PermissionDenied, SourceUnavailable

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.records import CronJob, ServerFacts
    from cronctl.services import CommandContext

Confirm = Callable[[str], bool]


@dataclass(frozen=True)
class ChangePlan:
    """What one change will do: the SQL it shows and audits, the facts its report and audit record carry, and
    how it is carried out (`execute(conn)` returns facts learnt by doing it; default: the SQL in one transaction)."""

    statements: list[str]
    facts: dict[str, Any]
    execute: Callable[[Any], dict[str, Any]] | None = None


# The change's plan, from the open connection and the resolved job (None for purge-history).
Planner = Callable[[Any, "CronJob | None"], ChangePlan]


# -- reads --------------------------------------------------------------------------------------------------


def list_jobs(ctx: CommandContext) -> Report:
    from cronctl.db import guarded
    from cronctl.reports.pgcron import list_report
    from cronctl.sources.pgcron import fetch_jobs

    with ctx.connect(read_only=True) as conn:
        facts = _facts(conn)
        with guarded("pg_cron jobs"):
            jobs = fetch_jobs(conn)
    return list_report(jobs, datetime.now(UTC), facts)


def history(ctx: CommandContext, job: str | None, *, failed: bool, limit: int) -> Report:
    """Recent runs of every job, or of `job` (a runbook job, a pg_cron jobname or a jobid)."""
    from cronctl.db import guarded
    from cronctl.reports.pgcron import history_report
    from cronctl.sources.pgcron import fetch_all_recent_runs, fetch_recent_runs

    with ctx.connect(read_only=True) as conn:
        facts = _facts(conn)
        with guarded("pg_cron history"):
            if job is None:
                runs = fetch_all_recent_runs(conn, limit, failed_only=failed)
            else:
                cron_job = _resolve(ctx, conn, job)
                by_job = fetch_recent_runs(conn, [str(cron_job.jobid)], limit, failed_only=failed)
                runs = next(iter(by_job.values()), [])
    return history_report(job, runs, limit=limit, failed_only=failed, facts=facts)


def status(ctx: CommandContext) -> Report:
    """Scheduler, version, settings, history size and stuck runs; one failing check degrades one line."""
    from cronctl.db import guarded, translate
    from cronctl.reports.pgcron import status_report
    from cronctl.sources import platform

    problems: dict[str, str] = {}
    results: dict[str, Any] = {}
    with ctx.connect(read_only=True, autocommit=True) as conn:
        with guarded("server facts"):
            facts = platform.fetch_facts(conn)
        steps: list[tuple[str, Any]] = [("scheduler", platform.fetch_scheduler)]
        if facts.cron_schema:
            steps += [
                ("job_run_details size", platform.fetch_run_details_size),
                ("stuck runs", platform.fetch_stuck_runs),
            ]
        for name, fetch in steps:
            try:
                with conn.transaction():
                    results[name] = fetch(conn)
            except Exception as exc:  # one failing check degrades one line of the report
                problems[name] = translate(exc, name).message
    return status_report(
        facts, results.get("scheduler"), results.get("job_run_details size"), results.get("stuck runs"), problems
    )


def _facts(conn: Any) -> ServerFacts:
    from cronctl.db import guarded
    from cronctl.sources.platform import fetch_facts

    with guarded("server facts"):
        facts = fetch_facts(conn)
    if not facts.cron_schema:
        raise SourceUnavailable(f"pg_cron is not installed in database {facts.database} (no cron schema)")
    return facts


def _resolve(ctx: CommandContext, conn: Any, name: str) -> CronJob:
    """A runbook job (through history.pg_cron), a pg_cron jobname, or a jobid."""
    from cronctl.errors import UnknownJobError
    from cronctl.runbook.loader import suggest
    from cronctl.sources.pgcron import fetch_jobs, find_cron_job

    spec = ctx.runbook().jobs.get(name)
    target = name
    if spec is not None:
        target = spec.history.pg_cron or name
    found = find_cron_job(conn, target)
    if found is not None:
        return found
    visible = [j.name for j in fetch_jobs(conn)]
    hint = suggest(target, visible) or (
        f" (jobs: {', '.join(visible)})" if visible else " (cron.job shows no jobs to this role)"
    )
    raise UnknownJobError(f"no pg_cron job named '{target}'{hint}")


# -- changes ------------------------------------------------------------------------------------------------


def set_active(ctx: CommandContext, job: str, active: bool, *, dry_run: bool, confirm: Confirm) -> Report:
    """`enable` (active) or `disable` a job without removing it."""
    from cronctl.sources.pgcron import set_active_statement

    def plan(conn: Any, cron_job: CronJob | None) -> ChangePlan:
        assert cron_job is not None
        statement = set_active_statement(conn, cron_job.jobid, active)
        return ChangePlan([statement], {"was_active": cron_job.active, "active": active})

    if active:
        return _change(ctx, "enable", job, plan, "Enable pg_cron job {job}?", dry_run=dry_run, confirm=confirm)
    question = "Disable pg_cron job {job}? It will not run until enabled again."
    return _change(ctx, "disable", job, plan, question, dry_run=dry_run, confirm=confirm)


def unschedule(ctx: CommandContext, job: str, *, dry_run: bool, confirm: Confirm) -> Report:
    from cronctl.sources.pgcron import unschedule_statement

    def plan(conn: Any, cron_job: CronJob | None) -> ChangePlan:
        assert cron_job is not None
        statement = unschedule_statement(conn, cron_job.jobid)
        return ChangePlan([statement], {"schedule": cron_job.schedule, "command": cron_job.command})

    question = "Remove pg_cron job {job} from cron.job? (its history stays)"
    return _change(ctx, "unschedule", job, plan, question, dry_run=dry_run, confirm=confirm)


def reschedule(ctx: CommandContext, job: str, schedule: str, *, dry_run: bool, confirm: Confirm) -> Report:
    """Change a job's schedule. A bad expression stops here, before any connection; one pg_cron accepts but
    that never fires (31 February) is the operator's call: said, not refused."""
    from cronctl.output import terminal
    from cronctl.schedule import NeverFiresError, Schedule
    from cronctl.sources.pgcron import reschedule_statement

    try:
        fires = Schedule.parse(schedule, "UTC")
        parsed: Schedule | None = fires
        meaning = fires.describe()
    except NeverFiresError as exc:
        parsed, meaning = None, exc.message
        terminal.warn(f"{exc.message}; pg_cron accepts it, the job will never run")

    def plan(conn: Any, cron_job: CronJob | None) -> ChangePlan:
        assert cron_job is not None
        _check_version(conn, parsed.min_pg_cron_version if parsed is not None else None, schedule)
        statement = reschedule_statement(conn, cron_job.jobid, schedule)
        facts = {"old_schedule": cron_job.schedule, "new_schedule": schedule, "meaning": meaning}
        return ChangePlan([statement], facts)

    question = f'Reschedule pg_cron job {{job}} to "{schedule}" ({meaning})?'
    return _change(ctx, "reschedule", job, plan, question, dry_run=dry_run, confirm=confirm)


def _check_version(conn: Any, needed: str | None, expression: str) -> None:
    """Refuse a schedule only when evidence says this pg_cron is too old for it; when the version cannot be
    seen (cron.* settings are superuser-only, extversion is only a lower bound), warn on stderr and go on."""
    from cronctl.errors import ScheduleError
    from cronctl.output import terminal
    from cronctl.sources.platform import FEATURES, fetch_facts, supports

    if not needed:
        return
    want = tuple(int(p) for p in needed.split(".")[:2])
    feature = next((name for name, first in FEATURES.items() if first == want), None)
    facts = fetch_facts(conn)
    verdict = supports(facts, feature) if feature else None
    if verdict is True:
        return
    told = facts.pg_cron_version or "of unknown version"
    if verdict is False:
        raise ScheduleError(f'"{expression}" needs pg_cron {needed}+; this server runs pg_cron {told}')
    why = "" if facts.cron_settings_visible else f"; cron.* settings are not visible to role {facts.role}"
    terminal.warn(
        f'"{expression}" needs pg_cron {needed}+ and this server\'s pg_cron cannot be confirmed '
        f"(pg_cron {told}, extension {facts.pg_cron_extversion or '-'}{why}); pg_cron rejects it if too old"
    )


def run(ctx: CommandContext, job: str, *, dry_run: bool, confirm: Confirm) -> Report:
    """Run a job's own command once now, in a separate connection (pg_cron has no "run now")."""

    def plan(conn: Any, cron_job: CronJob | None) -> ChangePlan:
        from cronctl.errors import UsageError
        from cronctl.evaluate.pgnet_link import target_function
        from cronctl.sources.pgcron import current_database

        assert cron_job is not None
        current = current_database(conn)
        if cron_job.database != current:
            raise UsageError(
                f"job {cron_job.name} runs in database {cron_job.database}, connected to {current}:"
                " point connection.database_url at that database"
            )
        facts = {"function": target_function(cron_job.command), "database": current}
        return ChangePlan([cron_job.command], facts, execute=lambda _conn: _run_command(ctx, cron_job))

    question = "Run the command of pg_cron job {job} once now?"
    return _change(ctx, "run", job, plan, question, dry_run=dry_run, confirm=confirm)


def _run_command(ctx: CommandContext, cron_job: CronJob) -> dict[str, Any]:
    from cronctl.db import connect

    # A separate connection, as pg_cron runs each job in its own session.
    settings = ctx.runbook().connection
    with connect(
        ctx.database_url(),
        read_only=False,
        autocommit=True,
        statement_timeout=max(settings.statement_timeout, 30.0),
        connect_timeout=settings.connect_timeout,
    ) as own:
        cur = own.execute(cron_job.command)
        row = cur.fetchone() if cur.description else None
    out: dict[str, Any] = {"returned": list(row) if row else None}
    if row and "net.http_" in cron_job.command and isinstance(row[0], int):
        out["pg_net_request_id"] = row[0]
    return out


def purge_history(
    ctx: CommandContext, older_than: str, seconds: float, batch_size: int, *, dry_run: bool, confirm: Confirm
) -> Report:
    """Delete job_run_details rows older than `seconds` (`older_than` as given), in runid batches."""
    from cronctl.sources.pgcron import plan_purge, purge_batches, purge_statement

    cutoff = datetime.now(UTC) - timedelta(seconds=seconds)

    def plan(conn: Any, _job: CronJob | None) -> ChangePlan:
        with conn.transaction():
            purge = plan_purge(conn, cutoff)
        batches = purge_batches(purge, batch_size)
        facts = {
            "older_than": older_than,
            "cutoff_time": cutoff,
            "cutoff_runid": purge.cutoff_runid,
            "estimated_rows": purge.estimated_rows,
            "batches": len(batches),
            "batch_size": batch_size,
        }
        text = purge_statement()
        shown = [text.replace("%(low)s", str(lo)).replace("%(high)s", str(hi)) for lo, hi in batches[:3]]
        if len(batches) > 3:
            shown.append(f"-- ... {len(batches) - 3} more batch(es) up to runid {purge.cutoff_runid}")
        return ChangePlan(shown, facts, execute=lambda conn: _purge(conn, batches))

    question = f"Delete cron.job_run_details rows older than {older_than} (before {cutoff:%Y-%m-%d %H:%M}Z)?"
    return _change(ctx, "purge-history", None, plan, question, dry_run=dry_run, confirm=confirm)


def _purge(conn: Any, batches: list[tuple[int, int]]) -> dict[str, Any]:
    from cronctl.sources.pgcron import purge_statement

    deleted = 0
    for low, high in batches:
        cur = conn.execute(purge_statement(), {"low": low, "high": high})  # autocommit: one short txn each
        deleted += max(cur.rowcount, 0)
    return {"deleted_rows": deleted}


def _change(
    ctx: CommandContext,
    action: str,
    job_name: str | None,
    plan: Planner,
    question: str,
    *,
    dry_run: bool,
    confirm: Confirm,
) -> Report:
    """Resolve the job, plan the change, then show it (dry run) or confirm, audit and carry it out.
    `question` names the job as `{job}`."""
    from cronctl.audit import begin_audit, complete_audit, write_audit
    from cronctl.db import guarded
    from cronctl.reports.pgcron import ChangeResult, change_report
    from cronctl.sources.pgcron import writable_check

    runbook = ctx.runbook()
    # A read-only role must be refused before anything else (it may not even see the job under RLS).
    with ctx.connect(read_only=dry_run, autocommit=True) as conn:
        _facts(conn)
        with guarded(f"pgcron {action}"):
            if not dry_run:
                read_only, role, _ = writable_check(conn)
                if read_only:
                    raise PermissionDenied(
                        f"pgcron {action}: role {role} is read-only (default_transaction_read_only); nothing changed"
                    )
            job = _resolve(ctx, conn, job_name) if job_name is not None else None
            change = plan(conn, job)
        target = (job.name if job else job_name) or "job_run_details"
        statements = change.statements

        def result(outcome: str, facts: dict[str, Any]) -> Report:
            return change_report(
                ChangeResult(action, target, job, statements, dry_run=dry_run, result=outcome, facts=facts)
            )

        if dry_run:
            write_audit(f"pgcron.{action}", runbook=runbook.name, profile=runbook.profile, target=target,
                        result="dry-run", details={"sql": statements, **change.facts}, dry_run=True)  # fmt: skip
            return result("not run", change.facts)
        if not confirm(question.format(job=target)):
            raise Aborted(f"pgcron {action} {target}: not confirmed; nothing changed")
        # Recorded before the statements are sent; completed with what happened.
        audit_id = begin_audit(f"pgcron.{action}", runbook=runbook.name, profile=runbook.profile, target=target,
                               details={"sql": statements, **change.facts})  # fmt: skip
        try:
            with guarded(f"pgcron {action} {target}"):
                learnt = change.execute(conn) if change.execute else _run_statements(conn, statements)
        except Exception as exc:
            from cronctl.db import translate

            err = translate(exc, f"pgcron {action} {target}") if not hasattr(exc, "exit_code") else exc
            complete_audit(audit_id, f"error: {err}", {"sql": statements})
            raise err from None
    facts = {**change.facts, **learnt}
    complete_audit(audit_id, "ok", {"sql": statements, **facts})
    return result("ok", facts)


def _run_statements(conn: Any, statements: list[str]) -> dict[str, Any]:
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return {}
