"""pg_net outcomes: net._http_response, the real HTTP result of requests pg_cron only queued.

Responses live for pg_net.ttl (6 hours by default), so the table stays small; reads still filter by
`created` (pg_net indexes it) and cap the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from cronctl.evaluate.pgnet_link import NetResponse
from cronctl.queries import load

DEFAULT_LIMIT = 2000


def responses_query(since: datetime, limit: int = DEFAULT_LIMIT) -> tuple[str, dict[str, Any]]:
    return load("pgnet_responses"), {"since": since, "n": limit}


def parse_responses(rows: Iterable[Sequence[Any]]) -> list[NetResponse]:
    out = []
    for rid, status_code, content_type, content, timed_out, error_msg, created in rows:
        out.append(
            NetResponse(
                id=int(rid),
                created=created,
                status_code=status_code,
                timed_out=timed_out,
                error_msg=error_msg,
                content=content,
                content_type=content_type,
            )
        )
    return out


def fetch_responses(conn: Any, since: datetime, limit: int = DEFAULT_LIMIT) -> list[NetResponse]:
    query, params = responses_query(since, limit)
    return parse_responses(conn.execute(query, params).fetchall())


def net_installed_query() -> tuple[str, dict[str, Any]]:
    return "SELECT to_regclass('net._http_response') IS NOT NULL", {}


def fetch_net_installed(conn: Any) -> bool:
    query, params = net_installed_query()
    row = conn.execute(query, params).fetchone()
    return bool(row and row[0])
