"""`cronctl pgcron track install | status | uninstall`: exact pg_net attribution by request tracking.

Install and uninstall are changes: a read-only role is refused first (exit 4), `dry_run` shows the SQL and changes
nothing, `confirm(question)` must approve, an audit record is written before the SQL is sent and another with its
result, and all statements run in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cronctl.errors import Aborted, CronctlError, PermissionDenied, SourceUnavailable, UsageError

if TYPE_CHECKING:
    from cronctl.evaluate.pgnet_tracking import TrackingVerdict
    from cronctl.output.report import Report
    from cronctl.records import TrackingCatalog
    from cronctl.services import CommandContext

Confirm = Callable[[str], bool]
MIN_RETENTION = 3600
MAX_RETENTION = 30 * 86400


def _catalog(conn: Any) -> TrackingCatalog:
    from cronctl.sources.pgnet_tracking import parse_status, status_query

    query, params = status_query()
    return parse_status(conn.execute(query, params).fetchall())


def _one(conn: Any, query: str, params: dict[str, Any]) -> list[Any]:
    with conn.transaction():
        return list(conn.execute(query, params).fetchall())


def status(ctx: CommandContext) -> Report:
    """Installed? Recording? Each read that fails degrades its own line, never the whole status."""
    from cronctl.reports.pgnet_tracking import status_report

    with ctx.connect(read_only=True, autocommit=True) as conn:
        found = observe(conn)
    return status_report(found.catalog, found.verdict, found.stats, found.pgnet, found.errors)


@dataclass
class Observed:
    """What the catalogs and tables say about tracking, and the verdict on it."""

    catalog: TrackingCatalog
    verdict: TrackingVerdict
    stats: Any = None
    pgnet: Any = None
    errors: dict[str, str] = field(default_factory=dict)


def observe(conn: Any) -> Observed:
    """Read what tracking needs to be judged (shared by `pgcron track status` and `doctor`)."""
    from cronctl.db import guarded, translate
    from cronctl.evaluate.pgnet_tracking import judge_tracking
    from cronctl.sources import pgnet_tracking as src

    errors: dict[str, str] = {}
    stats = pgnet = None
    newest_tracked: bool | None = None
    with guarded("pg_net tracking catalog"):
        catalog = _catalog(conn)
    if catalog.table_present and catalog.log_readable:
        try:
            stats = src.parse_log_stats(_one(conn, *src.log_stats_query()))
        except Exception as exc:  # one unreadable table degrades one line
            errors["log"] = translate(exc, src.LOG_TABLE).message
    if catalog.installed and catalog.queue_readable and catalog.responses_readable:
        try:
            pgnet = src.parse_pgnet_newest(_one(conn, *src.pgnet_newest_query()))
        except Exception as exc:
            errors["pg_net"] = translate(exc, "pg_net tables").message
    if stats is not None and pgnet is not None and pgnet.newest_id is not None:
        try:
            newest_tracked = bool(_one(conn, *src.tracking_by_ids_query([pgnet.newest_id])))
        except Exception as exc:
            errors["log"] = translate(exc, src.LOG_TABLE).message
    verdict = judge_tracking(
        catalog,
        stats,
        pgnet,
        newest_tracked,
        log_problem=errors.get("log"),
        pgnet_problem=errors.get("pg_net"),
    )
    return Observed(catalog, verdict, stats, pgnet, errors)


# -- changes -----------------------------------------------------------------------------------------------------


def _refuse_read_only(conn: Any, action: str) -> None:
    from cronctl.sources.pgcron import writable_check

    read_only, role, _ = writable_check(conn)
    if read_only:
        raise PermissionDenied(
            f"pgcron track {action}: role {role} is read-only (default_transaction_read_only); nothing changed"
        )


def _install_problems(catalog: TrackingCatalog) -> list[str]:
    """What would make the install fail for lack of privileges (empty for a superuser)."""
    problems = []
    if not catalog.can_trigger_queue:
        problems.append("has no TRIGGER privilege on net.http_request_queue")
    if not catalog.can_create:
        problems.append(
            "may not create objects in schema cronctl"
            if catalog.schema_present
            else f"may not create schemas in database {catalog.database} (needs CREATE on the database)"
        )
    if not catalog.owns_function:
        problems.append(
            f"does not own cronctl.record_pgnet_request() (owner {catalog.function_owner});"
            " only its owner can replace it"
        )
    if not catalog.owns_table:
        problems.append("does not own cronctl.pgnet_request_log; only its owner can set its grants")
    if catalog.trigger in ("disabled", "replica-only") and not catalog.owns_queue:
        problems.append(
            f"cannot enable the {catalog.trigger} trigger cronctl_track_requests: only the owner of"
            " net.http_request_queue can"
        )
    return problems


def _uninstall_problems(catalog: TrackingCatalog) -> list[str]:
    problems = []
    if catalog.function_present and not catalog.owns_function:
        problems.append(f"does not own cronctl.record_pgnet_request() (owner {catalog.function_owner})")
    if catalog.table_present and not catalog.owns_table:
        problems.append("does not own cronctl.pgnet_request_log")
    return problems


def _check_readers(conn: Any, readers: Sequence[str]) -> None:
    from cronctl.sources.pgnet_tracking import role_exists_query

    named = [r for r in readers if r.upper() != "PUBLIC"]
    if not named:
        return
    query, params = role_exists_query(named)
    found = {row[0] for row in conn.execute(query, params).fetchall()}
    unknown = [r for r in named if r not in found]
    if unknown:
        raise UsageError(f"--reader: no role named {', '.join(unknown)} in this cluster; nothing changed")


def _execute(conn: Any, statements: list[str]) -> None:
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)


def _apply(
    ctx: CommandContext,
    conn: Any,
    action: str,
    catalog: TrackingCatalog,
    statements: list[str],
    extra: dict[str, Any],
    *,
    dry_run: bool,
    confirm: Confirm,
    question: str,
) -> Report:
    """Dry run, or confirm → audit → one transaction → audit; the report either way."""
    from cronctl.audit import write_audit
    from cronctl.db import guarded, translate
    from cronctl.reports.pgnet_tracking import change_report

    runbook = ctx.runbook()
    target = f"{catalog.database}: pg_net request tracking"

    def audit(result: str, dry: bool = False) -> None:
        write_audit(
            f"pgcron.track.{action}",
            runbook=runbook.name,
            profile=ctx.profile,
            target=target,
            result=result,
            details={"sql": statements, "role": catalog.role, "database": catalog.database, **extra},
            dry_run=dry,
        )

    if dry_run:
        audit("dry-run", True)
        return change_report(action, target, statements, dry_run=True, result="not run", extra=extra)
    if not confirm(question):
        raise Aborted(f"pgcron track {action}: not confirmed; nothing changed")
    audit("sending")  # before anything is sent: a change that cannot be audited is not made
    try:
        with guarded(f"pgcron track {action}"):
            _execute(conn, statements)
    except Exception as exc:
        err = exc if isinstance(exc, CronctlError) else translate(exc, f"pgcron track {action}")
        audit(f"error: {err.message}")
        raise err from None
    audit("ok")
    return change_report(action, target, statements, dry_run=False, result="ok", extra=extra)


def install(
    ctx: CommandContext,
    *,
    retention_seconds: int,
    readers: Sequence[str],
    dry_run: bool,
    confirm: Confirm,
    now: datetime | None = None,
) -> Report:
    from cronctl.db import guarded
    from cronctl.sources.pgnet_tracking import install_statements

    if not MIN_RETENTION <= retention_seconds <= MAX_RETENTION:
        raise UsageError("--retention must be between 1h and 30d")
    readers = list(dict.fromkeys(readers)) or ["PUBLIC"]
    with ctx.connect(read_only=dry_run, autocommit=True) as conn:
        with guarded("pgcron track install"):
            if not dry_run:
                _refuse_read_only(conn, "install")
            catalog = _catalog(conn)
            _check_readers(conn, readers)
        if not catalog.queue_present:
            raise SourceUnavailable(
                f"pgcron track install: pg_net is not installed in database {catalog.database}"
                " (no table net.http_request_queue); nothing changed"
            )
        if catalog.trigger == "foreign":
            raise UsageError(
                "pgcron track install: a trigger named cronctl_track_requests on net.http_request_queue calls"
                " another function; drop it first; nothing changed"
            )
        problems = _install_problems(catalog)
        if problems and not dry_run:
            raise PermissionDenied(f"pgcron track install: role {catalog.role} {'; '.join(problems)}; nothing changed")
        with guarded("pgcron track install"):
            statements = install_statements(
                conn,
                catalog,
                retention_seconds=retention_seconds,
                readers=readers,
                installed_at=(now or datetime.now(UTC)).replace(microsecond=0),
            )
        trigger = "create" if not catalog.trigger_present else ("keep" if catalog.trigger == "enabled" else "enable")
        extra: dict[str, Any] = {
            "retention": retention_seconds,
            "readers": readers,
            "trigger": trigger,
            "already_installed": catalog.installed,
        }
        if problems:
            extra["warnings"] = [f"role {catalog.role} {p}: the install would fail" for p in problems]
        question = (
            f"Install pg_net request tracking in database {catalog.database} (trigger cronctl_track_requests on"
            f" net.http_request_queue, log cronctl.pgnet_request_log kept {retention_seconds // 3600}h)?"
        )
        return _apply(
            ctx, conn, "install", catalog, statements, extra, dry_run=dry_run, confirm=confirm, question=question
        )


def uninstall(ctx: CommandContext, *, dry_run: bool, confirm: Confirm) -> Report:
    from cronctl.db import guarded
    from cronctl.reports.pgnet_tracking import change_report
    from cronctl.sources.pgnet_tracking import uninstall_statements

    with ctx.connect(read_only=dry_run, autocommit=True) as conn:
        with guarded("pgcron track uninstall"):
            if not dry_run:
                _refuse_read_only(conn, "uninstall")
            catalog = _catalog(conn)
            statements = uninstall_statements(conn, catalog)
        extra: dict[str, Any] = {
            "removes": [
                *(["trigger " + t for t in catalog.function_triggers]),
                *(["function cronctl.record_pgnet_request()"] if catalog.function_present else []),
                *(["table cronctl.pgnet_request_log"] if catalog.table_present else []),
                *(["schema cronctl"] if any("DROP SCHEMA" in s for s in statements) else []),
            ],
        }
        if catalog.schema_present and not any("DROP SCHEMA" in s for s in statements):
            extra["kept"] = (
                f"schema cronctl holds {catalog.other_objects} other object(s)"
                if catalog.other_objects
                else f"schema cronctl is not owned by role {catalog.role}"
            )
        if not statements:
            return change_report(
                "uninstall",
                f"{catalog.database}: pg_net request tracking",
                [],
                dry_run=dry_run,
                result="not installed; nothing to remove",
                extra=extra,
            )
        problems = _uninstall_problems(catalog)
        if problems and not dry_run:
            raise PermissionDenied(
                f"pgcron track uninstall: role {catalog.role} {'; '.join(problems)}; only the owner (or a superuser)"
                " can remove it; nothing changed"
            )
        if problems:
            extra["warnings"] = [f"role {catalog.role} {p}: the uninstall would fail" for p in problems]
        question = f"Remove pg_net request tracking from database {catalog.database} ({', '.join(extra['removes'])})?"
        return _apply(
            ctx, conn, "uninstall", catalog, statements, extra, dry_run=dry_run, confirm=confirm, question=question
        )
