"""Catalog reads for `cronctl doctor`: pg_cron access, the role's read-only setting, mapped tables' columns,
and how many pg_cron jobs call pg_net."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cronctl.queries import load
from cronctl.records import CronAccess, TableColumns


def fetch_access(conn: Any) -> CronAccess:
    job, details, read_only = conn.execute(load("doctor_access")).fetchone()
    return CronAccess(bool(job), bool(details), bool(read_only))


def fetch_columns(conn: Any, tables: Iterable[tuple[str, str]]) -> dict[tuple[str, str], TableColumns]:
    wanted = list(dict.fromkeys(tables))
    rows = conn.execute(load("doctor_columns"), {"tables": [f"{s}.{t}" for s, t in wanted]}).fetchall()
    found: dict[tuple[str, str], set[str]] = {}
    selectable: dict[tuple[str, str], bool] = {}
    usage: dict[tuple[str, str], bool] = {}
    for schema, table, column, can_select, schema_usage in rows:
        found.setdefault((schema, table), set()).add(column)
        selectable[(schema, table)] = bool(can_select)
        usage[(schema, table)] = bool(schema_usage)
    return {
        key: TableColumns(
            key[0],
            key[1],
            key in found,
            selectable.get(key, False),
            frozenset(found.get(key, ())),
            usage.get(key, False),
        )
        for key in wanted
    }


def fetch_pgnet_jobs(conn: Any) -> int:
    return int(conn.execute(load("doctor_pgnet_jobs")).fetchone()[0])
