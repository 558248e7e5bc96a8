"""Application run-log tables (seed 002's `cron_runs`, seed 003's `run_log`, or any team's own), mapped in the
runbook. Every table and column name goes through psycopg.sql.Identifier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cronctl.errors import SourceUnavailable
from cronctl.records import Run
from cronctl.runbook.model import RunLogSpec

# Used when the runbook maps no status values; matched case-insensitively.
DEFAULT_STATUSES = {
    "running": "running",
    "started": "running",
    "in_progress": "running",
    "success": "succeeded",
    "succeeded": "succeeded",
    "ok": "succeeded",
    "done": "succeeded",
    "completed": "succeeded",
    "error": "failed",
    "failed": "failed",
    "failure": "failed",
    "partial": "partial",
    "skipped": "skipped",
}
_ALL_KEYS = "*"  # the key used when the table holds one job only (no job column)


def source_name(spec: RunLogSpec) -> str:
    return f"run_log:{spec.name}"


def mapped_columns(spec: RunLogSpec) -> dict[str, str]:
    """Runbook key -> column, for every column the query reads."""
    cols = {
        "id_column": spec.id_column,
        "started_column": spec.started_column,
        "status_column": spec.status_column,
        "order_column": spec.order_column or spec.id_column,
    }
    optional = {
        "job_column": spec.job_column,
        "finished_column": spec.finished_column,
        "message_column": spec.message_column,
        "records_column": spec.records_column,
    }
    cols.update({k: v for k, v in optional.items() if v})
    cols.update({f"extra_columns.{label}": col for label, col in spec.extra_columns.items()})
    return cols


def columns_query(spec: RunLogSpec) -> tuple[str, dict[str, Any]]:
    """The columns the mapped table really has (no rows: the table does not exist)."""
    return (
        "SELECT a.attname FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%(rel)s) AND a.attnum > 0 AND NOT a.attisdropped",
        {"rel": _qualified(spec)},
    )


def _qualified(spec: RunLogSpec) -> str:
    from psycopg import sql

    return sql.Identifier(spec.schema, spec.table).as_string(None)


def check_columns(spec: RunLogSpec, rows: Iterable[Sequence[Any]]) -> None:
    """Raise a one-line error naming the mapped table or column that does not exist."""
    present = {row[0] for row in rows}
    where = f"run_logs.{spec.name}"
    if not present:
        raise SourceUnavailable(
            f"{where}: table {spec.schema}.{spec.table} does not exist (or is not visible)"
        )
    for key, column in mapped_columns(spec).items():
        if column not in present:
            raise SourceUnavailable(
                f"{where}: column {column!r} ({key}) does not exist in table {spec.schema}.{spec.table}"
            )


def recent_runs_query(spec: RunLogSpec, keys: list[str], per_job: int) -> tuple[Any, dict[str, Any]]:
    """Newest `per_job` rows per key, walking the order column backwards (use an indexed column)."""
    from psycopg import sql

    ident = sql.Identifier
    table = ident(spec.schema, spec.table)
    finished = ident(spec.finished_column) if spec.finished_column else sql.SQL("NULL::timestamptz")
    message = (
        sql.SQL("{}::text").format(ident(spec.message_column)) if spec.message_column else sql.SQL("NULL")
    )
    records = (
        sql.SQL("{}::bigint").format(ident(spec.records_column)) if spec.records_column else sql.SQL("NULL")
    )
    extras = (
        sql.SQL("json_build_object({})").format(
            sql.SQL(", ").join(
                sql.SQL("{}, {}").format(sql.Literal(label), ident(col))
                for label, col in spec.extra_columns.items()
            )
        )
        if spec.extra_columns
        else sql.SQL("NULL::json")
    )
    select = sql.SQL(
        "SELECT {id}::text AS id, {started} AS started, {finished} AS finished, {status}::text AS status, "
        "{message} AS message, {records} AS records, {extras} AS extras FROM {table} t"
    ).format(
        id=ident(spec.id_column),
        started=ident(spec.started_column),
        finished=finished,
        status=ident(spec.status_column),
        message=message,
        records=records,
        extras=extras,
        table=table,
    )
    order = ident(spec.order_column or spec.id_column)
    if spec.job_column is None:
        query = sql.SQL(
            "SELECT {all}::text AS key, r.* FROM ({select} ORDER BY {order} DESC LIMIT %(n)s) r"
        ).format(all=sql.Literal(_ALL_KEYS), select=select, order=order)
        return query, {"n": per_job}
    query = sql.SQL(
        "SELECT k.key, r.* FROM unnest(%(keys)s::text[]) AS k(key) CROSS JOIN LATERAL "
        "({select} WHERE t.{job}::text = k.key ORDER BY t.{order} DESC LIMIT %(n)s) r"
    ).format(select=select, job=ident(spec.job_column), order=order)
    return query, {"keys": list(keys), "n": per_job}


def normalise(spec: RunLogSpec, raw: str | None) -> str:
    if raw is None:
        return "unknown"
    if raw in spec.statuses:
        return spec.statuses[raw]
    return DEFAULT_STATUSES.get(raw.strip().lower(), "unknown")


def parse_runs(spec: RunLogSpec, rows: Iterable[Sequence[Any]]) -> dict[str, list[Run]]:
    """Runs keyed by the job column's value (`*` for a one-job table), newest first."""
    out: dict[str, list[Run]] = {}
    for key, rid, started, finished, status, message, records, extras in rows:
        out.setdefault(key, []).append(
            Run(
                job=key,
                source=source_name(spec),
                status=normalise(spec, status),
                started_at=started,
                finished_at=finished,
                run_id=rid,
                raw_status=status,
                message=message,
                records=int(records) if records is not None else None,
                detail={"table": f"{spec.schema}.{spec.table}", **(extras or {})},
            )
        )
    return out


def fetch_recent_runs(conn: Any, spec: RunLogSpec, keys: list[str], per_job: int) -> dict[str, list[Run]]:
    from cronctl.db import guarded

    with guarded(f"run_logs.{spec.name}"):
        cq, cp = columns_query(spec)
        check_columns(spec, conn.execute(cq, cp).fetchall())
        query, params = recent_runs_query(spec, keys, per_job)
        return parse_runs(spec, conn.execute(query, params).fetchall())
