"""A secrets table such as seed 004's `cron_secrets(key, value, description, updated_at)`.

Values never leave the database: reads compute the placeholder flag, length and edge characters in SQL, and
verification after a rotation compares in SQL. Rotation goes through the SECURITY DEFINER function when it
exists (seed 004's `rotate_cron_secret(key, value)`), else through a guarded UPDATE of exactly one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cronctl.errors import SourceUnavailable, UsageError
from cronctl.queries import load
from cronctl.records import SecretRow
from cronctl.runbook.model import SecretsTableSpec


@dataclass(frozen=True)
class RotationAccess:
    function_present: bool
    function_executable: bool
    table_present: bool
    table_updatable: bool

    @property
    def method(self) -> str | None:
        """function | update | None (this role cannot rotate)."""
        if self.function_present:
            return "function" if self.function_executable else None
        return "update" if self.table_updatable else None


def qualified(spec: SecretsTableSpec) -> str:
    return f'"{spec.schema}"."{spec.table}"'


def _function_signature(spec: SecretsTableSpec) -> str:
    return f'"{spec.schema}"."{spec.rotate_function}"(text, text)'


def rows_statement(spec: SecretsTableSpec) -> Any:
    from psycopg import sql

    return sql.SQL(load("secrets_rows")).format(
        key=sql.Identifier(spec.key_column),
        value=sql.Identifier(spec.value_column),
        updated=sql.Identifier(spec.updated_column) if spec.updated_column else sql.SQL("NULL::timestamptz"),
        description=sql.Identifier(spec.description_column) if spec.description_column else sql.SQL("NULL"),
        table=sql.Identifier(spec.schema, spec.table),
    )


def fetch_rows(conn: Any, spec: SecretsTableSpec) -> list[SecretRow]:
    rows = conn.execute(rows_statement(spec), {"prefix": spec.placeholder_prefix}).fetchall()
    return [SecretRow(str(k), bool(p), int(n), bool(e), u, d) for k, p, n, e, u, d in rows]


def fetch_access(conn: Any, spec: SecretsTableSpec) -> RotationAccess:
    signature = _function_signature(spec) if spec.rotate_function else "-"
    params = {"signature": signature if spec.rotate_function else None, "table": qualified(spec)}
    present, executable, table_present, updatable = conn.execute(load("secrets_rotate_function"), params).fetchone()
    return RotationAccess(bool(present), bool(executable), bool(table_present), bool(updatable))


def rotation_statement(spec: SecretsTableSpec, method: str) -> Any:
    """The statement a rotation runs (parameters %(key)s and %(value)s), for execution and for --dry-run."""
    from psycopg import sql

    if method == "function":
        if not spec.rotate_function:
            raise UsageError("the runbook's [secrets_table] names no rotate_function")
        return sql.SQL(load("secrets_rotate_call")).format(function=sql.Identifier(spec.schema, spec.rotate_function))
    updated_set = (
        sql.SQL(", {} = now()").format(sql.Identifier(spec.updated_column)) if spec.updated_column else sql.SQL("")
    )
    return sql.SQL(load("secrets_rotate_update")).format(
        table=sql.Identifier(spec.schema, spec.table),
        value=sql.Identifier(spec.value_column),
        key=sql.Identifier(spec.key_column),
        updated_set=updated_set,
    )


def rotate(conn: Any, spec: SecretsTableSpec, key: str, value: str, method: str) -> datetime | None:
    """Store `value` for `key` in one transaction; verify it in SQL; return the new updated_at."""
    from psycopg import sql

    params = {"key": key, "value": value}
    with conn.transaction():
        cursor = conn.execute(rotation_statement(spec, method), params)
        if method == "update" and cursor.rowcount != 1:
            raise SourceUnavailable(f"expected to update 1 row of {qualified(spec)}, would update {cursor.rowcount}")
        verify = sql.SQL(load("secrets_verify")).format(
            value=sql.Identifier(spec.value_column),
            updated=sql.Identifier(spec.updated_column) if spec.updated_column else sql.SQL("NULL::timestamptz"),
            table=sql.Identifier(spec.schema, spec.table),
            key=sql.Identifier(spec.key_column),
        )
        row = conn.execute(verify, params).fetchone()
        if row is None or not row[0]:
            # Raising inside the transaction block rolls the change back.
            raise SourceUnavailable(f"after the rotation {qualified(spec)} does not hold the new value for '{key}'")
        return row[1] if isinstance(row[1], datetime) else None


def secret_users(conn: Any) -> dict[str, list[str]]:
    """cron_secrets key -> names of the cron.job jobs whose command reads it with get_secret('key')."""
    import re

    from cronctl.sources.pgcron import fetch_jobs

    users: dict[str, list[str]] = {}
    for job in fetch_jobs(conn):
        for key in dict.fromkeys(re.findall(r"get_secret\s*\(\s*'([^']+)'", job.command)):
            users.setdefault(key, []).append(job.name)
    return users


def register_values(conn: Any, spec: SecretsTableSpec) -> int:
    """Read the table's set values and register them for masking: a value stored here and echoed back in a
    `return_message`, a response body or a queued request's headers is masked like any other secret.

    The values never leave this function. Returns how many values were registered."""
    from psycopg import sql

    from cronctl.redact import register

    statement = sql.SQL(load("secrets_values")).format(
        value=sql.Identifier(spec.value_column), table=sql.Identifier(spec.schema, spec.table)
    )
    values = _read_quietly(conn, statement, {"prefix": spec.placeholder_prefix})
    for value in values:
        register(value)
    return len(values)


def learn_command_credentials(conn: Any) -> int:
    """Register the credential literals written into `cron.job` commands (see `redact.learn_credentials`)."""
    from cronctl.redact import learn_credentials

    return sum(learn_credentials(command) for command in _read_quietly(conn, load("secrets_cron_commands"), {}))


def register_known_secrets(conn: Any, spec: SecretsTableSpec | None) -> None:
    """What every new connection does first: learn the secrets this database holds, to mask them (never shown)."""
    if spec is not None:
        register_values(conn, spec)
    learn_command_credentials(conn)


def _read_quietly(conn: Any, statement: Any, params: dict[str, Any]) -> list[str]:
    """The first column of `statement`, waiting at most one second for a lock; any failure (no table, no
    permission) only means there is nothing more to mask. Ends the transaction it opened, so the caller's first
    statement starts a fresh one."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', '1000', true)")
            return [str(row[0]) for row in conn.execute(statement, params) if row[0] is not None]
    except psycopg.Error:
        return []
    finally:
        if not conn.autocommit and not conn.closed:
            conn.rollback()
