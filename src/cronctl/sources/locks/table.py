"""Locks kept as rows of an application table (seed 003's `job_lock`), its columns mapped by `[lock_tables.*]`.

Every row of each table is listed (they are few); a clear is a compare-and-delete of exactly the row that was
read, with the job's runs read again inside the delete's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cronctl.records import BackendRead, Lock
from cronctl.runbook.model import LockTableSpec, Runbook
from cronctl.sources.locks.base import (
    LockBackend,
    LockQuery,
    LockSources,
    LockStatement,
    Recheck,
    Removal,
    StillInUse,
    run_statements,
)

TABLE_ROW_LIMIT = 1000


def _table_identifiers(spec: LockTableSpec) -> dict[str, Any]:
    from psycopg import sql

    expires: Any = (
        sql.SQL("{}::timestamptz").format(sql.Identifier(spec.expires_column))
        if spec.expires_column
        else sql.SQL("NULL::timestamptz")
    )
    return {
        "table": sql.Identifier(spec.schema, spec.table),
        "name": sql.Identifier(spec.name_column),
        "holder": sql.Identifier(spec.holder_column),
        "acquired": sql.Identifier(spec.acquired_column),
        "expires": expires,
    }


def table_jobs(runbook: Runbook, table: str) -> dict[str, str]:
    """Lock key -> job name for the jobs whose lock lives in lock table `table`."""
    return {
        job.lock.key: job.name
        for job in runbook.jobs.values()
        if job.lock is not None and job.lock.backend == "table" and job.lock.table == table
    }


def table_query(spec: LockTableSpec) -> tuple[Any, dict[str, Any]]:
    """The lock-table listing, for a caller that batches statements (triage) or runs it alone."""
    from psycopg import sql

    from cronctl.queries import load

    return sql.SQL(load("locks_table_list")).format(**_table_identifiers(spec)), {"limit": TABLE_ROW_LIMIT}


def parse_table(rows: Sequence[Sequence[Any]], spec: LockTableSpec, jobs_by_key: Mapping[str, str]) -> list[Lock]:
    """Every row of the lock table (they are few); rows of jobs not in the runbook keep their key as name."""
    return [
        Lock(
            name=jobs_by_key.get(key, key),
            backend="table",
            key=key,
            holder=holder,
            acquired_at=acquired,
            expires_at=expires,
            detail={"table": spec.name, "relation": f"{spec.schema}.{spec.table}", "known": key in jobs_by_key},
        )
        for key, holder, acquired, expires in rows
    ]


def _what(spec: LockTableSpec) -> str:
    return f"lock table {spec.schema}.{spec.table}"


def read_table(conn: Any, spec: LockTableSpec, jobs_by_key: Mapping[str, str]) -> list[Lock]:
    from cronctl.db import guarded

    query, params = table_query(spec)
    with guarded(_what(spec)):
        rows = conn.execute(query, params).fetchall()
    return parse_table(rows, spec, jobs_by_key)


def table_delete(spec: LockTableSpec, lock: Lock) -> tuple[Any, dict[str, Any]]:
    """The compare-and-delete statement for exactly this row, and its parameters."""
    from psycopg import sql

    from cronctl.queries import load

    statement = sql.SQL(load("locks_table_delete")).format(**_table_identifiers(spec))
    params = {
        "name": lock.key,
        "holder": lock.holder,
        "acquired_at": lock.acquired_at,
        "expires_at": lock.expires_at,
    }
    return statement, params


# Called inside the clear's transaction, on its connection: why the lock must stay after all, or None.
InTransactionCheck = Callable[[Any], "str | None"]


def delete_table_lock(conn: Any, spec: LockTableSpec, lock: Lock, recheck: InTransactionCheck | None = None) -> bool:
    """Delete the row if it is still exactly as read; False when it changed or is gone.

    With `recheck`, the job's runs are read again inside the same transaction, after the delete (which keeps
    the row locked, so no run can take it over meanwhile) and before the commit: when a run is found in
    progress the transaction is rolled back, the row stays, and StillInUse says why."""
    from cronctl.db import guarded

    statement, params = table_delete(spec, lock)
    with guarded(f"clear lock '{lock.key}' in {spec.schema}.{spec.table}"), conn.transaction():
        deleted = conn.execute(statement, params).fetchall()
        if len(deleted) == 1 and recheck is not None:
            why = recheck(conn)
            if why is not None:
                raise StillInUse(why)  # leaves the transaction: rolled back, the row is back
    return len(deleted) == 1


def render_statement(conn: Any, statement: Any, params: Mapping[str, Any]) -> str:
    """The statement with its values inlined, for --dry-run (values are lock names and times, not secrets)."""
    from psycopg import sql

    text: str = statement.as_string(conn)
    for name, value in params.items():
        literal = sql.Literal(value.isoformat() if isinstance(value, datetime) else value).as_string(conn)
        text = text.replace(f"%({name})s", literal)
    return " ".join(line.strip() for line in text.splitlines() if not line.strip().startswith("--"))


class TableBackend:
    name = "table"
    removal: Removal = "delete"
    recheck_timing = "in the same transaction"

    def read(self, sources: LockSources, query: LockQuery) -> list[BackendRead]:
        return run_statements(sources, self.statements(sources.runbook, query))

    def statements(self, runbook: Runbook, query: LockQuery) -> list[LockStatement]:
        used = {job.lock.table for job in query.jobs if job.lock is not None}
        specs = [s for s in runbook.lock_tables.values() if query.whole_runbook or s.name in used]
        return [self._statement(runbook, spec) for spec in specs]

    def _statement(self, runbook: Runbook, spec: LockTableSpec) -> LockStatement:
        jobs_by_key = table_jobs(runbook, spec.name)
        statement, params = table_query(spec)
        return LockStatement(
            f"table:{spec.name}",
            statement,
            params,
            _what(spec),
            lambda rows: parse_table(rows, spec, jobs_by_key),
        )

    def plan(self, sources: LockSources, lock: Lock) -> str:
        statement, params = table_delete(self._spec(sources, lock), lock)
        return render_statement(sources.db(), statement, params)

    def clear(self, sources: LockSources, lock: Lock, recheck: Recheck | None) -> bool:
        spec = self._spec(sources, lock)
        in_transaction = (lambda conn: recheck(lambda: conn)) if recheck is not None else None
        return delete_table_lock(sources.writer(), spec, lock, recheck=in_transaction)

    def _spec(self, sources: LockSources, lock: Lock) -> LockTableSpec:
        return sources.runbook.lock_tables[lock.detail["table"]]


BACKEND: LockBackend = TableBackend()
