"""`cronctl pgcron ...`: inspect and manage pg_cron jobs (cron.job, cron.job_run_details)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options

if TYPE_CHECKING:
    from cronctl.sources.pgcron import CronJob

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


def _facts(conn: Any) -> Any:
    from cronctl.db import guarded
    from cronctl.errors import SourceUnavailable
    from cronctl.sources.platform import fetch_facts

    with guarded("server facts"):
        facts = fetch_facts(conn)
    if not facts.cron_schema:
        raise SourceUnavailable(f"pg_cron is not installed in database {facts.database} (no cron schema)")
    return facts


@command_options()
def list_jobs(inv: Invocation) -> None:
    from datetime import UTC, datetime

    from cronctl.db import guarded
    from cronctl.reports.pgcron import list_report
    from cronctl.sources.pgcron import fetch_jobs

    with inv.connect(read_only=True) as conn:
        facts = _facts(conn)
        with guarded("pg_cron jobs"):
            jobs = fetch_jobs(conn)
    inv.emit(list_report(jobs, datetime.now(UTC), facts))


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
    from cronctl.db import guarded
    from cronctl.reports.pgcron import history_report
    from cronctl.sources.pgcron import fetch_all_recent_runs, fetch_recent_runs

    with inv.connect(read_only=True) as conn:
        facts = _facts(conn)
        with guarded("pg_cron history"):
            if job is None:
                runs = fetch_all_recent_runs(conn, limit, failed_only=failed)
            else:
                cron_job = _resolve(inv, conn, job)
                by_job = fetch_recent_runs(conn, [str(cron_job.jobid)], limit, failed_only=failed)
                runs = next(iter(by_job.values()), [])
    inv.emit(history_report(job, runs, limit=limit, failed_only=failed, facts=facts))


@command_options()
def status(inv: Invocation) -> None:
    from cronctl.db import translate
    from cronctl.reports.pgcron import status_report
    from cronctl.sources import platform

    problems: dict[str, str] = {}
    with inv.connect(read_only=True, autocommit=True) as conn:
        from cronctl.db import guarded

        with guarded("server facts"):
            facts = platform.fetch_facts(conn)
        scheduler = size = stuck = None
        steps: list[tuple[str, Any]] = [("scheduler", platform.fetch_scheduler)]
        if facts.cron_schema:
            steps += [
                ("job_run_details size", platform.fetch_run_details_size),
                ("stuck runs", platform.fetch_stuck_runs),
            ]
        results: dict[str, Any] = {}
        for name, fetch in steps:
            try:
                with conn.transaction():
                    results[name] = fetch(conn)
            except Exception as exc:  # one failing check degrades one line of the report
                problems[name] = translate(exc, name).message
        scheduler = results.get("scheduler")
        size = results.get("job_run_details size")
        stuck = results.get("stuck runs")
    inv.emit(status_report(facts, scheduler, size, stuck, problems))


# -- resolving a job ----------------------------------------------------------------------------------------


def _resolve(inv: Invocation, conn: Any, name: str) -> CronJob:
    """A runbook job (through history.pg_cron), a pg_cron jobname, or a jobid."""
    from cronctl.errors import UnknownJobError
    from cronctl.runbook.loader import suggest
    from cronctl.sources.pgcron import fetch_jobs, find_cron_job

    runbook = inv.runbook()
    spec = runbook.jobs.get(name)
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


def _change(
    inv: Invocation,
    action: str,
    job_name: str | None,
    build: Any,
    *,
    yes: bool,
    dry_run: bool,
    question: str,
    execute: Any = None,
) -> None:
    """Resolve the job, show or run the change, confirm, audit. `build(job) -> (statements, extra)`."""
    from cronctl.audit import write_audit
    from cronctl.db import guarded
    from cronctl.errors import PermissionDenied
    from cronctl.output import terminal
    from cronctl.reports.pgcron import change_report
    from cronctl.sources.pgcron import writable_check

    runbook = inv.runbook()
    # A read-only role must be refused before anything else (it may not even see the job under RLS).
    with inv.connect(read_only=dry_run, autocommit=True) as conn:
        _facts(conn)
        with guarded(f"pgcron {action}"):
            if not dry_run:
                read_only, role, _ = writable_check(conn)
                if read_only:
                    raise PermissionDenied(
                        f"pgcron {action}: role {role} is read-only (default_transaction_read_only); nothing changed"
                    )
            job = _resolve(inv, conn, job_name) if job_name is not None else None
            statements, extra = build(conn, job)
        target = (job.name if job else job_name) or "job_run_details"
        shown = {k: v for k, v in extra.items() if not k.startswith("_")}  # "_" keys are for execution only

        def audit(result: str, details: dict[str, Any], dry: bool = False) -> None:
            write_audit(
                f"pgcron.{action}",
                runbook=runbook.name,
                profile=runbook.profile,
                target=target,
                result=result,
                details={"sql": statements, **details},
                dry_run=dry,
            )

        if dry_run:
            audit("dry-run", shown, True)
            inv.emit(change_report(action, job, target, statements, dry_run=True, result="not run", extra=shown))
            return
        if not terminal.confirm(question.format(job=target), assume_yes=yes):
            from cronctl.errors import Aborted

            raise Aborted(f"pgcron {action} {target}: not confirmed; nothing changed")
        from cronctl.audit import begin_audit, complete_audit

        # Recorded before the statements are sent; completed with what happened.
        audit_id = begin_audit(
            f"pgcron.{action}",
            runbook=runbook.name,
            profile=runbook.profile,
            target=target,
            details={"sql": statements, **shown},
        )
        try:
            with guarded(f"pgcron {action} {target}"):
                outcome = execute(conn, job, statements, extra) if execute else _run_statements(conn, statements)
        except Exception as exc:
            from cronctl.db import translate

            err = translate(exc, f"pgcron {action} {target}") if not hasattr(exc, "exit_code") else exc
            complete_audit(audit_id, f"error: {err}", {"sql": statements})
            raise err from None
    shown.update(outcome or {})
    complete_audit(audit_id, "ok", {"sql": statements, **shown})
    inv.emit(change_report(action, job, target, statements, dry_run=False, result="ok", extra=shown))


def _run_statements(conn: Any, statements: list[str]) -> dict[str, Any]:
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return {}


def _set_active(active: bool) -> Any:
    from cronctl.sources.pgcron import set_active_statement

    def build(conn: Any, job: CronJob) -> tuple[list[str], dict[str, Any]]:
        return [set_active_statement(conn, job.jobid, active)], {"was_active": job.active, "active": active}

    return build


@command_options()
def enable(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    _change(inv, "enable", job, _set_active(True), yes=yes, dry_run=dry_run, question="Enable pg_cron job {job}?")


@command_options()
def disable(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    _change(
        inv,
        "disable",
        job,
        _set_active(False),
        yes=yes,
        dry_run=dry_run,
        question="Disable pg_cron job {job}? It will not run until enabled again.",
    )


@command_options()
def unschedule(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    from cronctl.sources.pgcron import unschedule_statement

    def build(conn: Any, cron_job: CronJob) -> tuple[list[str], dict[str, Any]]:
        return [unschedule_statement(conn, cron_job.jobid)], {
            "schedule": cron_job.schedule,
            "command": cron_job.command,
        }

    _change(
        inv,
        "unschedule",
        job,
        build,
        yes=yes,
        dry_run=dry_run,
        question="Remove pg_cron job {job} from cron.job? (its history stays)",
    )


@command_options()
def reschedule(
    inv: Invocation,
    job: JobArg,
    schedule: Annotated[str, typer.Argument(help='New cron expression, e.g. "*/5 * * * *".', show_default=False)],
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    import sys

    from cronctl.schedule import NeverFiresError, Schedule
    from cronctl.sources.pgcron import reschedule_statement

    # A bad expression stops here, before any connection. One pg_cron accepts but that never fires (31 February)
    # is the operator's call: said, not refused.
    try:
        fires = Schedule.parse(schedule, "UTC")
        parsed: Schedule | None = fires
        meaning = fires.describe()
    except NeverFiresError as exc:
        parsed, meaning = None, exc.message
        print(f"warning: {exc.message}; pg_cron accepts it, the job will never run", file=sys.stderr)

    def build(conn: Any, cron_job: CronJob) -> tuple[list[str], dict[str, Any]]:
        _check_version(conn, parsed.min_pg_cron_version if parsed is not None else None, schedule)
        return [reschedule_statement(conn, cron_job.jobid, schedule)], {
            "old_schedule": cron_job.schedule,
            "new_schedule": schedule,
            "meaning": meaning,
        }

    _change(
        inv,
        "reschedule",
        job,
        build,
        yes=yes,
        dry_run=dry_run,
        question=f'Reschedule pg_cron job {{job}} to "{schedule}" ({meaning})?',
    )


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


@command_options()
def run(inv: Invocation, job: JobArg, yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    def build(conn: Any, cron_job: CronJob) -> tuple[list[str], dict[str, Any]]:
        from cronctl.errors import UsageError
        from cronctl.evaluate.pgnet_link import target_function
        from cronctl.sources.pgcron import current_database

        current = current_database(conn)
        if cron_job.database != current:
            raise UsageError(
                f"job {cron_job.name} runs in database {cron_job.database}, connected to {current}:"
                " point connection.database_url at that database"
            )
        return [cron_job.command], {"function": target_function(cron_job.command), "database": current}

    def execute(conn: Any, cron_job: CronJob, statements: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        from cronctl.db import connect

        # A separate connection, as pg_cron runs each job in its own session.
        settings = inv.runbook().connection
        with connect(
            inv.database_url(),
            read_only=False,
            autocommit=True,
            statement_timeout=max(settings.statement_timeout, 30.0),
            connect_timeout=settings.connect_timeout,
        ) as own:
            cur = own.execute(statements[0])
            row = cur.fetchone() if cur.description else None
        out: dict[str, Any] = {"returned": list(row) if row else None}
        if row and "net.http_" in cron_job.command and isinstance(row[0], int):
            out["pg_net_request_id"] = row[0]
        return out

    _change(
        inv,
        "run",
        job,
        build,
        yes=yes,
        dry_run=dry_run,
        execute=execute,
        question="Run the command of pg_cron job {job} once now?",
    )


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
    from datetime import UTC, datetime, timedelta

    from cronctl.durations import parse_duration
    from cronctl.errors import UsageError
    from cronctl.sources.pgcron import plan_purge, purge_batches, purge_statement

    try:
        cutoff = datetime.now(UTC) - timedelta(seconds=parse_duration(older_than))
    except ValueError as exc:
        raise UsageError(f"--older-than: {exc}") from None

    def build(conn: Any, _job: None) -> tuple[list[str], dict[str, Any]]:
        with conn.transaction():
            plan = plan_purge(conn, cutoff)
        batches = purge_batches(plan, batch_size)
        extra = {
            "older_than": older_than,
            "cutoff_time": cutoff,
            "cutoff_runid": plan.cutoff_runid,
            "estimated_rows": plan.estimated_rows,
            "batches": len(batches),
            "batch_size": batch_size,
            "_ranges": batches,
        }
        text = purge_statement()
        shown = [text.replace("%(low)s", str(lo)).replace("%(high)s", str(hi)) for lo, hi in batches[:3]]
        if len(batches) > 3:
            shown.append(f"-- ... {len(batches) - 3} more batch(es) up to runid {plan.cutoff_runid}")
        return shown, extra

    def execute(conn: Any, _job: None, _statements: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        deleted = 0
        for low, high in extra["_ranges"]:
            cur = conn.execute(purge_statement(), {"low": low, "high": high})  # autocommit: one short txn each
            deleted += max(cur.rowcount, 0)
        return {"deleted_rows": deleted}

    _change(
        inv,
        "purge-history",
        None,
        build,
        yes=yes,
        dry_run=dry_run,
        execute=execute,
        question=f"Delete cron.job_run_details rows older than {older_than} (before {cutoff:%Y-%m-%d %H:%M}Z)?",
    )
