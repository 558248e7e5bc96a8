"""`cronctl silence JOB|--all`, `silence list`, `silence clear JOB|--all`.

Where a silence is kept: in the database's `cronctl.silences` when the role may write it (or create it), so every
operator of that system sees it; else in this operator's local state file, and the report says which and why.
`--store database` insists on the database (exit 4 for a read-only role or missing privileges), `--store local`
skips it. Adding and clearing are changes: `dry_run` shows what would be written and changes nothing, `confirm`
must approve, and an audit record is written before the change and another with its result. Every write first
removes expired silences (they vanish by themselves); a new silence of a job replaces the one it had.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronctl.errors import Aborted, CronctlError, PermissionDenied, UsageError
from cronctl.records import Found, Where

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.records import Silence
    from cronctl.runbook.model import Runbook
    from cronctl.services import CommandContext

Confirm = Callable[[str], bool]
STORE_CHOICES = ("auto", "database", "local")


def author() -> str:
    """Who silences: the local user and host (as the audit log records them)."""
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _check_reason(reason: str) -> str:
    from cronctl.evaluate.silences import MAX_REASON

    text = " ".join(reason.split())
    if not text:
        raise UsageError('--reason must say why (e.g. --reason "rotating CRON_SECRET, INC-142")')
    if len(text) > MAX_REASON:
        raise UsageError(f"--reason is {len(text)} characters; keep it under {MAX_REASON}")
    return text


def _check_duration(seconds: float) -> float:
    from cronctl.durations import format_duration
    from cronctl.evaluate.silences import MAX_SECONDS

    if seconds <= 0:
        raise UsageError("--for must be longer than zero")
    if seconds > MAX_SECONDS:
        raise UsageError(
            f"--for {format_duration(seconds)} is longer than {format_duration(MAX_SECONDS)}: a job off for that"
            ' long is disabled on purpose; say expect = "disabled" in the runbook instead'
        )
    return seconds


def _db_plan(conn: Any, store: str) -> Where:
    """Can the database take the silence? A refusal with `--store database` is exit 4."""
    from cronctl.db import guarded
    from cronctl.sources.pgcron import writable_check
    from cronctl.sources.silences import fetch_catalog

    with guarded("silence"):
        read_only, role, _ = writable_check(conn)
        catalog = fetch_catalog(conn)
    why = None
    if read_only:
        why = f"role {role} is read-only (default_transaction_read_only)"
    elif not (catalog.writable or catalog.creatable):
        why = catalog.why_not_writable()
    if why is not None and store == "database":
        raise PermissionDenied(f"silence: {why}; nothing changed", hint="use --store local, or a role that may write")
    if why is not None:
        return Where("local", why_local=f"{why}: kept locally", catalog=catalog, read_only=read_only)
    return Where("database", catalog=catalog)


def _execute(conn: Any, statements: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
    out = []
    with conn.transaction():
        for query, params in statements:
            cursor = conn.execute(query, params)
            out.append(list(cursor.fetchall()) if cursor.description else [])
    return out


def add(
    ctx: CommandContext,
    *,
    job: str | None,
    seconds: float,
    reason: str,
    store: str = "auto",
    dry_run: bool,
    confirm: Confirm,
    now: datetime | None = None,
) -> Report:
    from cronctl.records import Silence
    from cronctl.runbook.loader import find_job
    from cronctl.sources import silences as src

    if store not in STORE_CHOICES:
        raise UsageError(f"--store: '{store}' is not one of: {', '.join(STORE_CHOICES)}")
    runbook = ctx.runbook()
    if job is not None:
        find_job(runbook, job)
    text = _check_reason(reason)
    seconds = _check_duration(seconds)
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    until = created + timedelta(seconds=seconds)
    who = author()
    path = src.local_path(runbook.name, runbook.profile)
    silence = Silence("new", runbook.name, job, created, until, who, text, "local")
    conn = None
    where = Where("local", why_local="--store local")
    if store != "local":
        try:
            conn = ctx.connect(read_only=False, autocommit=True)
        except CronctlError as exc:
            if store == "database":
                raise
            where = Where("local", why_local=f"database not reachable ({exc.message}): kept locally")
    try:
        if conn is not None:
            where = _db_plan(conn, store)
        return _add(ctx, runbook, conn, where, silence, path, dry_run=dry_run, confirm=confirm)
    finally:
        if conn is not None:
            conn.close()


def _add(
    ctx: CommandContext,
    runbook: Runbook,
    conn: Any,
    where: Where,
    silence: Silence,
    path: Path,
    *,
    dry_run: bool,
    confirm: Confirm,
) -> Report:
    from dataclasses import replace

    from cronctl.audit import begin_audit, complete_audit, write_audit
    from cronctl.db import guarded
    from cronctl.durations import format_duration
    from cronctl.queries import load
    from cronctl.reports.silences import change_report
    from cronctl.sources import silences as src

    values = {"runbook": runbook.name, "job": silence.job, "created_at": silence.created_at, "until": silence.until,
              "author": silence.author, "reason": silence.reason}  # fmt: skip
    statements: list[tuple[str, dict[str, Any]]] = []
    if where.store == "database":
        assert where.catalog is not None
        statements = [(q, {}) for q in src.create_statements(where.catalog)]
        statements += [
            (load("silences_expire"), {"now": silence.created_at}),
            (load("silences_replace"), {"runbook": runbook.name, "job": silence.job}),
            (load("silences_insert"), values),
        ]
    target = f"{runbook.name}: {silence.target}"
    lasts = format_duration((silence.until - silence.created_at).total_seconds())
    details: dict[str, Any] = {"store": where.store, "until": silence.until, "author": silence.author,
                               "reason": silence.reason, "why_local": where.why_local,
                               "where": where.describe(path)}  # fmt: skip
    if dry_run:
        write_audit("silence.add", runbook=runbook.name, profile=ctx.profile, target=target, result="dry-run",
                    details=details, dry_run=True)  # fmt: skip
        return change_report("add", silence, where, path, [q for q, _ in statements], dry_run=True, result="not run")
    question = f"Silence {silence.target} of {runbook.name} for {lasts} (until {_iso(silence.until)}) in the " + (
        where.describe(path) + "?"
    )
    if not confirm(question):
        raise Aborted("silence: not confirmed; nothing changed")
    audit_id = begin_audit("silence.add", runbook=runbook.name, profile=ctx.profile, target=target, details=details)
    replaced: list[Silence] = []
    try:
        if where.store == "database":
            with guarded("silence"):
                results = _execute(conn, statements)
            replaced = src.parse_active(results[-2], runbook.name)
            new_id = f"db-{results[-1][0][0]}"
        else:
            kept = [s for s in src.read_local(path, runbook.name) if s.active(silence.created_at)]
            replaced = [s for s in kept if s.job == silence.job]
            new_id = src.new_local_id()
            src.write_local(path, [*(s for s in kept if s.job != silence.job), replace(silence, id=new_id)])
    except Exception as exc:
        err = exc if isinstance(exc, CronctlError) else CronctlError(f"silence: {exc}")
        complete_audit(audit_id, f"error: {err.message}")
        raise err from None
    stored = replace(silence, id=new_id, store=where.store)
    live = [s for s in replaced if s.active(silence.created_at)]
    complete_audit(audit_id, "ok", {**details, "id": new_id, "replaced": [s.id for s in live]})
    return change_report("add", stored, where, path, [q for q, _ in statements], dry_run=False, result="ok",
                         replaced=live)  # fmt: skip


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- list -------------------------------------------------------------------------------------------------------


def find(ctx: CommandContext, now: datetime, *, conn: Any = None) -> Found:
    """Read both stores (read-only); one that cannot be read is a note, not an error."""
    from cronctl.evaluate.silences import active
    from cronctl.sources import silences as src

    runbook = ctx.runbook()
    found = Found()
    path = src.local_path(runbook.name, runbook.profile)
    try:
        local = active(src.read_local(path, runbook.name), now)
        found.silences += local
        found.local = {"path": str(path), "state": "ok", "count": len(local), "detail": None}
    except CronctlError as exc:
        found.local = {"path": str(path), "state": "error", "count": None, "detail": exc.message}
    own = conn is None
    try:
        if own:
            conn = ctx.connect(read_only=True, autocommit=True)
        try:
            _find_db(conn, runbook.name, now, found)
        finally:
            if own:
                conn.close()
    except CronctlError as exc:
        found.database = {"state": "error", "count": None, "detail": exc.message}
    found.silences = active(found.silences, now)
    return found


def _find_db(conn: Any, runbook: str, now: datetime, found: Found) -> None:
    from cronctl.db import guarded
    from cronctl.sources import silences as src

    with guarded("reading cronctl.silences"):
        catalog = src.fetch_catalog(conn)
        if not catalog.table_present:
            found.database = {"state": "not_installed", "count": 0, "database": catalog.database,
                              "detail": "no table cronctl.silences yet (cronctl silence creates it)"}  # fmt: skip
            return
        hidden = catalog.why_not_readable()
        if hidden:
            found.database = {"state": "hidden", "count": None, "database": catalog.database, "detail": hidden}
            return
        rows = src.fetch_active(conn, runbook, now)
    found.silences += rows
    found.database = {"state": "ok", "count": len(rows), "database": catalog.database, "detail": None}


def list_silences(ctx: CommandContext, *, now: datetime | None = None) -> Report:
    from cronctl.reports.silences import list_report

    when = now or datetime.now(UTC)
    found = find(ctx, when)
    return list_report(ctx.runbook().name, when, found)


# --- clear ------------------------------------------------------------------------------------------------------


def clear(
    ctx: CommandContext, *, job: str | None, dry_run: bool, confirm: Confirm, now: datetime | None = None
) -> Report:
    """Remove JOB's silence (not the `--all` one), or with job None every silence of the runbook."""
    from cronctl.audit import begin_audit, complete_audit, write_audit
    from cronctl.db import guarded
    from cronctl.queries import load
    from cronctl.reports.silences import clear_report
    from cronctl.runbook.loader import find_job
    from cronctl.sources import silences as src

    runbook = ctx.runbook()
    if job is not None and job not in runbook.jobs:
        find_job(runbook, job)
    when = now or datetime.now(UTC)
    path = src.local_path(runbook.name, runbook.profile)
    conn = None
    try:
        try:
            conn = ctx.connect(read_only=False, autocommit=True)
        except CronctlError:
            conn = None
        found = find(ctx, when, conn=conn) if conn is not None else find(ctx, when)
        matches = [s for s in found.silences if job is None or s.job == job]
        in_db = [s for s in matches if s.store == "database"]
        local = [s for s in matches if s.store == "local"]
        if in_db and conn is None:
            raise CronctlError("silence clear: the database holding the silences is not reachable; nothing changed")
        if in_db and not dry_run:
            _refuse_unless_deletable(conn)
        target = f"{runbook.name}: {job if job is not None else 'every silence'}"
        params = {"runbook": runbook.name, "job": job, "all": job is None}
        statements = [load("silences_expire"), load("silences_clear")] if in_db else []
        details = {"silences": [s.id for s in matches], "stores": sorted({s.store for s in matches})}
        if dry_run or not matches:
            if dry_run:
                write_audit("silence.clear", runbook=runbook.name, profile=ctx.profile, target=target,
                            result="dry-run", details=details, dry_run=True)  # fmt: skip
            return clear_report(runbook.name, job, matches, found, path, statements, dry_run=dry_run)
        if not confirm(f"Clear {len(matches)} silence(s) of {target.split(': ', 1)[1]} in {runbook.name}?"):
            raise Aborted("silence clear: not confirmed; nothing changed")
        audit_id = begin_audit("silence.clear", runbook=runbook.name, profile=ctx.profile, target=target,
                               details=details)  # fmt: skip
        try:
            if in_db:
                with guarded("silence clear"):
                    _execute(conn, [(statements[0], {"now": when}), (statements[1], params)])
            if local:
                gone = {s.id for s in local}
                kept = [s for s in src.read_local(path, runbook.name) if s.active(when) and s.id not in gone]
                src.write_local(path, kept)
        except Exception as exc:
            err = exc if isinstance(exc, CronctlError) else CronctlError(f"silence clear: {exc}")
            complete_audit(audit_id, f"error: {err.message}")
            raise err from None
        complete_audit(audit_id, "ok")
        return clear_report(runbook.name, job, matches, found, path, statements, dry_run=False)
    finally:
        if conn is not None:
            conn.close()


def _refuse_unless_deletable(conn: Any) -> None:
    from cronctl.db import guarded
    from cronctl.sources.pgcron import writable_check
    from cronctl.sources.silences import fetch_catalog

    with guarded("silence clear"):
        read_only, role, _ = writable_check(conn)
        catalog = fetch_catalog(conn)
    if read_only:
        raise PermissionDenied(f"silence clear: role {role} is read-only (default_transaction_read_only); nothing "
                               "changed")  # fmt: skip
    if not catalog.can_delete:
        raise PermissionDenied(f"silence clear: role {role} may not DELETE from cronctl.silences; nothing changed")
