"""`cronctl secrets`: check, generate and rotate the secrets scheduled jobs depend on."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options
from cronctl.errors import Aborted, PermissionDenied, UsageError

if TYPE_CHECKING:
    from cronctl.runbook.model import SecretsTableSpec

HELP = """Secrets the jobs depend on: where each is expected, whether it is set, placeholder or weak, and
when it was last rotated. Values are never shown.

\b
Examples:
  cronctl secrets check -r runbooks/billing-pgcron.toml
  cronctl secrets generate --bytes 32
  cronctl secrets rotate service_role_key            # prompts for the new value (hidden)
  pbpaste | cronctl secrets rotate cron_secret --yes  # or read it from stdin
"""


def register(app: Any) -> None:
    group = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None)
    group.command(
        "check",
        help="""Which secrets each job needs, where each is expected (env, .env, the secrets table), set or
missing, placeholder or real, strength, last rotated. Exit 1 when any needs attention.

\b
Examples:
  cronctl secrets check -r runbooks/billing-pgcron.toml
  cronctl secrets check -f json | jq '.secrets[] | select(.state != "set")'
""",
    )(check)
    group.command(
        "generate",
        help="""Print a new random secret (base64), like `openssl rand -base64 32`. It is printed once and
written nowhere else.

\b
Examples:
  cronctl secrets generate
  cronctl secrets generate --bytes 48 -f plain
""",
    )(generate)
    group.command(
        "rotate",
        help="""Store a new value for a key of the runbook's [secrets_table] (seed shape: cron_secrets). The
value is read from stdin or a hidden prompt, never from an argument. Goes through the rotate function
(e.g. rotate_cron_secret(key, value), SECURITY DEFINER) when it exists, else a guarded UPDATE of one row.
Asks for confirmation unless --yes; writes an audit record without the value; prints the post-rotation
checklist.

\b
Examples:
  cronctl secrets rotate service_role_key -r runbooks/billing-pgcron.toml
  cronctl secrets generate -f plain | cronctl secrets rotate cron_secret --yes
  cronctl secrets rotate cron_secret --dry-run < new-secret.txt
""",
    )(rotate)
    app.add_typer(group, name="secrets")


@command_options()
def check(inv: Invocation) -> None:
    from cronctl.errors import CronctlError
    from cronctl.reports.secrets import check_report, env_secrets, table_secrets
    from cronctl.sources.secrets_table import fetch_rows, qualified

    runbook = inv.runbook()
    states = env_secrets(runbook, inv.env())
    spec = runbook.secrets_table
    table_name = table_error = None
    if spec is not None:
        from cronctl.db import guarded

        table_name = qualified(spec).replace('"', "")
        try:
            with inv.connect() as conn:
                with guarded(f"reading {table_name}"):
                    rows = fetch_rows(conn, spec)
                users = _users(conn)
            states += table_secrets(rows, users)
        except CronctlError as exc:
            table_error = exc.message
    inv.emit(check_report(runbook, states, table_name, table_error))


def _users(conn: Any) -> dict[str, list[str]]:
    """Which pg_cron jobs read each key; unknown (empty) when cron.job cannot be read."""
    import psycopg

    from cronctl.sources.secrets_table import secret_users

    try:
        with conn.transaction():
            return secret_users(conn)
    except psycopg.Error:
        return {}


@command_options()
def generate(
    inv: Invocation,
    nbytes: Annotated[int, typer.Option("--bytes", help="Random bytes (16-512); 32 is recommended.")] = 32,
) -> None:
    import base64
    import secrets

    from cronctl.reports.secrets import generate_report

    if not 16 <= nbytes <= 512:
        raise UsageError("--bytes must be between 16 and 512")
    inv.emit(generate_report(base64.b64encode(secrets.token_bytes(nbytes)).decode(), nbytes))


@command_options()
def rotate(
    inv: Invocation,
    key: Annotated[str, typer.Argument(help="Key (row) of the secrets table, e.g. service_role_key.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run; change nothing.")] = False,
) -> None:
    from cronctl import redact
    from cronctl.audit import write_audit
    from cronctl.db import guarded
    from cronctl.evaluate.secrets import judge_secret
    from cronctl.output import terminal
    from cronctl.reports.secrets import rotate_report
    from cronctl.runbook.loader import suggest
    from cronctl.sources.secrets_table import fetch_access, fetch_rows, qualified
    from cronctl.sources.secrets_table import rotate as store

    runbook = inv.runbook()
    spec = runbook.secrets_table
    if spec is None:
        raise UsageError(f"{runbook.path} has no [secrets_table]; add one naming the table that holds the secrets")
    table = qualified(spec).replace('"', "")
    value = _read_value(key)
    redact.register(value)
    strength = judge_secret(value, placeholder_prefix=spec.placeholder_prefix)
    if strength.level == "placeholder":
        raise UsageError("the new value looks like a placeholder; refusing to store it")
    with inv.connect(read_only=dry_run, autocommit=True) as conn:
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
            inv.emit(rotate_report(dry_run=True, updated_at=None, **report_args))  # type: ignore[arg-type]
            return
        if not terminal.confirm(f"Rotate '{key}' in {table} through {statement}?", assume_yes=yes):
            raise Aborted("rotation declined; nothing changed")
        details = {"table": table, "method": method, "new_value_length": len(value)}
        try:
            with guarded(f"rotating '{key}' in {table}"):
                updated_at = store(conn, spec, key, value, method)
        except Exception as exc:
            write_audit("secrets.rotate", runbook=runbook.name, profile=inv.profile, target=key,
                        result=f"error: {exc}", details=details)  # fmt: skip
            raise
        write_audit("secrets.rotate", runbook=runbook.name, profile=inv.profile, target=key, result="ok",
                    details=details)  # fmt: skip
    inv.emit(rotate_report(dry_run=False, updated_at=updated_at, **report_args))  # type: ignore[arg-type]


def _describe(spec: SecretsTableSpec, method: str, key: str, length: int) -> str:
    shown = f"<new value, {length} chars>"
    if method == "function":
        return f"SELECT {spec.schema}.{spec.rotate_function}('{key}', {shown})"
    updated = f", {spec.updated_column} = now()" if spec.updated_column else ""
    where = f"WHERE {spec.key_column} = '{key}'"
    return f"UPDATE {spec.schema}.{spec.table} SET {spec.value_column} = {shown}{updated} {where}"


def _read_value(key: str) -> str:
    """The new value from stdin when it is piped, else from a hidden prompt asked twice."""
    if not sys.stdin.isatty():
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    else:
        import getpass

        value = getpass.getpass(f"New value for '{key}' (hidden): ", stream=sys.stderr)
        if getpass.getpass("Again: ", stream=sys.stderr) != value:
            raise UsageError("the two values differ; nothing changed")
    if not value:
        raise UsageError("no new value given (pipe it on stdin or type it at the prompt)")
    return value
