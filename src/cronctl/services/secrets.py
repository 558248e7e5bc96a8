"""`cronctl secrets`: where each secret is expected and its state; generating and rotating values."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cronctl.errors import Aborted, CronctlError, PermissionDenied, UsageError

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.runbook.model import SecretsTableSpec
    from cronctl.services import CommandContext


def check(ctx: CommandContext) -> Report:
    """Every secret the jobs need, from the environment and the runbook's secrets table."""
    from cronctl.db import guarded
    from cronctl.reports.secrets import check_report, env_secrets, table_secrets
    from cronctl.sources.secrets_table import fetch_rows, qualified

    runbook = ctx.runbook()
    states = env_secrets(runbook, ctx.env())
    spec = runbook.secrets_table
    table_name = table_error = None
    if spec is not None:
        table_name = qualified(spec).replace('"', "")
        try:
            with ctx.connect() as conn:
                with guarded(f"reading {table_name}"):
                    rows = fetch_rows(conn, spec)
                users = _users(conn)
            states += table_secrets(rows, users)
        except CronctlError as exc:
            table_error = exc.message
    return check_report(runbook, states, table_name, table_error)


def generate(nbytes: int) -> Report:
    """A new random secret of `nbytes` bytes, base64."""
    import base64
    import secrets

    from cronctl.reports.secrets import generate_report

    return generate_report(base64.b64encode(secrets.token_bytes(nbytes)).decode(), nbytes)


def rotate(
    ctx: CommandContext,
    key: str,
    *,
    dry_run: bool,
    read_value: Callable[[str], str],
    confirm: Callable[[str], bool],
) -> Report:
    """Store a new value for `key`; `read_value(key)` supplies it, `confirm(question)` approves the change."""
    from cronctl import redact
    from cronctl.audit import begin_audit, complete_audit
    from cronctl.db import guarded
    from cronctl.evaluate.secrets import judge_secret
    from cronctl.reports.secrets import rotate_report
    from cronctl.runbook.loader import suggest
    from cronctl.sources.secrets_table import fetch_access, fetch_rows, qualified
    from cronctl.sources.secrets_table import rotate as store

    runbook = ctx.runbook()
    spec = runbook.secrets_table
    if spec is None:
        raise UsageError(f"{runbook.path} has no [secrets_table]; add one naming the table that holds the secrets")
    table = qualified(spec).replace('"', "")
    value = read_value(key)
    redact.register(value)
    strength = judge_secret(value, placeholder_prefix=spec.placeholder_prefix)
    if strength.level == "placeholder":
        raise UsageError("the new value looks like a placeholder; refusing to store it")
    with ctx.connect(read_only=dry_run, autocommit=True) as conn:
        with guarded(f"reading {table}"):
            rows = fetch_rows(conn, spec)
            access = fetch_access(conn, spec)
        keys = [r.key for r in rows]
        if key not in keys:
            hint = suggest(key, keys) or f" (keys: {', '.join(keys) or 'none'})"
            raise UsageError(f"no key '{key}' in {table}{hint}")
        method = access.method
        if method is None:
            raise PermissionDenied(
                f"this role may neither execute {spec.schema}.{spec.rotate_function}(text, text) nor update {table}"
            )
        users = _users(conn)
        statement = _describe(spec, method, key, len(value))
        report_args = {"key": key, "table": table, "method": method, "statement": statement,
                       "length": len(value), "strength": strength, "users": users.get(key, [])}  # fmt: skip
        if dry_run:
            return rotate_report(dry_run=True, updated_at=None, **report_args)  # type: ignore[arg-type]
        if not confirm(f"Rotate '{key}' in {table} through {statement}?"):
            raise Aborted("rotation declined; nothing changed")
        details = {"table": table, "method": method, "new_value_length": len(value)}
        # Recorded before the change is sent, completed with its result (an interrupt leaves the begun record).
        audit_id = begin_audit("secrets.rotate", runbook=runbook.name, profile=ctx.profile, target=key,
                               details=details)  # fmt: skip
        try:
            with guarded(f"rotating '{key}' in {table}"):
                updated_at = store(conn, spec, key, value, method)
        except Exception as exc:
            complete_audit(audit_id, f"error: {exc}")
            raise
        complete_audit(audit_id, "ok")
    return rotate_report(dry_run=False, updated_at=updated_at, **report_args)  # type: ignore[arg-type]


def _users(conn: Any) -> dict[str, list[str]]:
    """Which pg_cron jobs read each key; unknown (empty) when cron.job cannot be read."""
    import psycopg

    from cronctl.sources.secrets_table import secret_users

    try:
        with conn.transaction():
            return secret_users(conn)
    except psycopg.Error:
        return {}


def _describe(spec: SecretsTableSpec, method: str, key: str, length: int) -> str:
    shown = f"<new value, {length} chars>"
    if method == "function":
        return f"SELECT {spec.schema}.{spec.rotate_function}('{key}', {shown})"
    updated = f", {spec.updated_column} = now()" if spec.updated_column else ""
    where = f"WHERE {spec.key_column} = '{key}'"
    return f"UPDATE {spec.schema}.{spec.table} SET {spec.value_column} = {shown}{updated} {where}"
