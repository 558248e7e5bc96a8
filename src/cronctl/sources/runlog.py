"""Application run-log tables (seed 002's `cron_runs`, seed 003's `run_log`, or any team's own), mapped in the
runbook. Every table and column name goes through psycopg.sql.Identifier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from cronctl.errors import SourceUnavailable
from cronctl.records import FailureCount, Run
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
    """The columns the mapped table really has, with their types (no rows: the table does not exist), and
    whether row-level security applies to this role (see `rls_hides`)."""
    from cronctl.queries import load

    return load("runlog_columns"), {"rel": _qualified(spec)}


def rls_hides_from(column_rows: Iterable[Sequence[Any]]) -> str | None:
    """The role from which row-level security may hide rows (it is on for the table and this role does not
    bypass it: its policies decide what it sees, and with none that applies it sees no rows), else None."""
    first = next(iter(column_rows), None)  # every row carries the table's flags
    if first is None or len(first) < 6 or not first[2] or first[4]:
        return None
    return str(first[5])


def rls_note(spec: RunLogSpec, role: str | None = None) -> str:
    """Why an empty answer may not mean that the job never ran."""
    who = f"role {role}" if role else "this role"
    return (
        f"no rows visible in {spec.schema}.{spec.table}: row-level security is on and {who} does not bypass it"
        " (not superuser, no BYPASSRLS, not the owner), so its policies may hide this job's runs"
    )


def _qualified(spec: RunLogSpec) -> str:
    from psycopg import sql

    return sql.Identifier(spec.schema, spec.table).as_string(None)


def check_columns(spec: RunLogSpec, rows: Iterable[Sequence[Any]]) -> None:
    """Raise a one-line error naming the mapped table or column that does not exist."""
    present = {row[0] for row in rows}
    where = f"run_logs.{spec.name}"
    if not present:
        raise SourceUnavailable(f"{where}: table {spec.schema}.{spec.table} does not exist (or is not visible)")
    for key, column in mapped_columns(spec).items():
        if column not in present:
            raise SourceUnavailable(
                f"{where}: column {column!r} ({key}) does not exist in table {spec.schema}.{spec.table}"
            )


def recent_runs_query(spec: RunLogSpec, keys: list[str], per_job: int) -> tuple[Any, dict[str, Any]]:
    """Newest `per_job` rows per key, newest first: by the start column, then the order column and the id in
    their own types (a numeric id sorts as a number, never as text; a uuid or text id only breaks ties). Index
    the start column (with the job column) so the newest rows are one index walk."""
    from psycopg import sql

    from cronctl.queries import load

    ident = sql.Identifier
    finished = ident(spec.finished_column) if spec.finished_column else sql.SQL("NULL::timestamptz")
    message = sql.SQL("{}::text").format(ident(spec.message_column)) if spec.message_column else sql.SQL("NULL")
    records = sql.SQL("{}::bigint").format(ident(spec.records_column)) if spec.records_column else sql.SQL("NULL")
    extras = (
        sql.SQL("json_build_object({})").format(
            sql.SQL(", ").join(
                sql.SQL("{}, {}").format(sql.Literal(label), ident(col)) for label, col in spec.extra_columns.items()
            )
        )
        if spec.extra_columns
        else sql.SQL("NULL::json")
    )
    parts: dict[str, sql.Composable] = {
        "id": ident(spec.id_column),
        "started": ident(spec.started_column),
        "finished": finished,
        "status": ident(spec.status_column),
        "message": message,
        "records": records,
        "extras": extras,
        "table": ident(spec.schema, spec.table),
        "order": ident(spec.order_column or spec.id_column),
    }
    if spec.job_column is None:
        query = sql.SQL(load("runlog_recent_runs_one_job")).format(all=sql.Literal(_ALL_KEYS), **parts)
        return query, {"n": per_job}
    query = sql.SQL(load("runlog_recent_runs_by_key")).format(job=ident(spec.job_column), **parts)
    return query, {"keys": list(keys), "n": per_job}


_TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")
_NUMBER_TYPES = ("bigint", "integer", "smallint", "numeric")
FAILURE_SEARCH_SLACK = timedelta(minutes=5)


def order_kind(spec: RunLogSpec, column_rows: Iterable[Sequence[Any]]) -> str:
    """How the window is found on the order column: `time` (a range of it), `number` (binary search over it
    for the window's first value), or `scan` (neither: filter on the start column)."""
    order = spec.order_column or spec.id_column
    types = {row[0]: row[1] for row in column_rows if len(row) > 1}
    kind = types.get(order, "")
    if kind in _TIME_TYPES:
        return "time"
    if kind in _NUMBER_TYPES:
        return "number"
    return "scan"


def failed_values(spec: RunLogSpec) -> tuple[list[str], list[str]]:
    """Raw status values that normalise to `failed`: the runbook's own, and the defaults (lower-cased) for
    values the runbook does not map."""
    exact = [raw for raw, status in spec.statuses.items() if status == "failed"]
    defaults = [raw for raw, status in DEFAULT_STATUSES.items() if status == "failed"]
    return exact, defaults


def failure_groups_query(spec: RunLogSpec, keys: list[str], since: datetime, kind: str) -> tuple[Any, dict[str, Any]]:
    """Failed rows since `since`, aggregated by (job key, message) in one statement; `kind` from order_kind."""
    from psycopg import sql

    from cronctl.queries import load

    ident = sql.Identifier
    started = sql.SQL("t.{}").format(ident(spec.started_column))
    finished = sql.SQL("t.{}").format(ident(spec.finished_column)) if spec.finished_column else started
    message = sql.SQL("t.{}::text").format(ident(spec.message_column)) if spec.message_column else sql.SQL("NULL::text")
    status = sql.SQL("t.{}::text").format(ident(spec.status_column))
    # The same rule as `normalise`: the runbook's values (ignoring case and blanks), else the defaults.
    failed = sql.SQL(
        "({status} = ANY(%(failed_exact)s::text[]) OR (lower(trim({status})) = ANY(%(failed_folded)s::text[])"
        " AND NOT {status} = ANY(%(mapped)s::text[]))"
        " OR (lower(trim({status})) = ANY(%(failed_default)s::text[])"
        " AND NOT lower(trim({status})) = ANY(%(mapped_folded)s::text[])))"
    ).format(status=status)
    key: sql.Composable = sql.Literal(_ALL_KEYS)
    jobs: sql.Composable = sql.SQL("true")
    if spec.job_column:
        key = sql.SQL("t.{}::text").format(ident(spec.job_column))
        jobs = sql.SQL("{} = ANY(%(keys)s::text[])").format(key)
    order = ident(spec.order_column or spec.id_column)
    if kind == "scan":
        order, search_from = ident(spec.started_column), since
        kind = "time"
    else:
        search_from = since - FAILURE_SEARCH_SLACK
    template = load("runlog_failure_groups_by_id" if kind == "number" else "runlog_failure_groups_by_time")
    query = sql.SQL(template).format(
        key=key,
        message=message,
        started=started,
        finished=finished,
        order=order,
        table=ident(spec.schema, spec.table),
        failed=failed,
        jobs=jobs,
    )
    exact, defaults = failed_values(spec)
    params = {
        "since": since,
        "search_from": search_from,
        "failed_exact": exact,
        "failed_default": defaults,
        "failed_folded": [raw.strip().lower() for raw in exact],
        "mapped": list(spec.statuses),
        "mapped_folded": [raw.strip().lower() for raw in spec.statuses],
        "keys": list(keys),
    }
    return query, params


def parse_failure_groups(spec: RunLogSpec, rows: Iterable[Sequence[Any]]) -> list[FailureCount]:
    """Aggregated failures; `jobs` holds the job column's value (`*` for a one-job table)."""
    return [
        FailureCount(
            jobs=(str(key),), source=source_name(spec), message=message, count=int(n), first_seen=first, last_seen=last
        )
        for key, message, n, first, last in rows
    ]


def normalise(spec: RunLogSpec, raw: str | None) -> str:
    """The runbook's mapping (exact, then ignoring case and surrounding blanks), else the defaults."""
    if raw is None:
        return "unknown"
    if raw in spec.statuses:
        return spec.statuses[raw]
    folded = raw.strip().lower()
    for value, status in spec.statuses.items():
        if value.strip().lower() == folded:
            return status
    return DEFAULT_STATUSES.get(folded, "unknown")


def parse_runs(spec: RunLogSpec, rows: Iterable[Sequence[Any]]) -> dict[str, list[Run]]:
    """Runs keyed by the job column's value (`*` for a one-job table), newest first in the order the query
    gives (start time, then the order column and the id in their own types). A `partial` row stays `partial`
    with its message: it is not a success."""
    out: dict[str, list[Run]] = {}
    for row in rows:
        key, rid, started, finished, status, message, records, extras = row[:8]
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
    return read_recent_runs(conn, spec, keys, per_job)[0]


def read_recent_runs(
    conn: Any, spec: RunLogSpec, keys: list[str], per_job: int
) -> tuple[dict[str, list[Run]], str | None]:
    """Runs keyed as `parse_runs` does, and the role from which row-level security may hide rows (or None)."""
    from cronctl.db import guarded

    with guarded(f"run_logs.{spec.name}"):
        cq, cp = columns_query(spec)
        column_rows = conn.execute(cq, cp).fetchall()
        check_columns(spec, column_rows)
        query, params = recent_runs_query(spec, keys, per_job)
        return parse_runs(spec, conn.execute(query, params).fetchall()), rls_hides_from(column_rows)
