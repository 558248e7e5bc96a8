"""pg_net outcomes: net._http_response, the real HTTP result of requests pg_cron only queued.

Responses live for pg_net.ttl (6 hours by default), so the table stays small; reads still filter by
`created` (pg_net indexes it) and cap the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from cronctl.queries import load
from cronctl.records import FailureCount, NetResponse

DEFAULT_LIMIT = 5000  # answers read: pg_net.ttl of several every-minute jobs
CONTENT_LIMIT = 4096  # characters of a response body read: enough to judge a success rule
SOURCE = "pg_net"


def responses_query(
    since: datetime, limit: int = DEFAULT_LIMIT, until: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    return load("pgnet_responses"), {"since": since, "n": limit, "content_limit": CONTENT_LIMIT, "until": until}


def failure_groups_query(since: datetime, until: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """Failed responses since `since`, aggregated by what came back, in one statement."""
    return load("pgnet_failure_groups"), {"since": since, "until": until}


FailureKey = tuple[int | None, bool, str | None, str | None]


def failure_key(response: NetResponse) -> FailureKey:
    """The key pgnet_failure_groups groups a response by (status, timed out, error and body cut at 300)."""
    return response.status_code, bool(response.timed_out), _cut(response.error_msg), _cut(response.content)


def _cut(text: str | None) -> str | None:
    return text[:300] if text is not None else None


def parse_failure_groups(rows: Iterable[Sequence[Any]]) -> list[tuple[FailureKey, FailureCount]]:
    """Each group's key (to name the jobs its linked responses belong to) and its count, without jobs yet."""
    out = []
    for status_code, timed_out, error_msg, content, n, first, last in rows:
        sample = NetResponse(
            id=0, created=last, status_code=status_code, timed_out=timed_out, error_msg=error_msg, content=content
        )
        key: FailureKey = (status_code, bool(timed_out), error_msg, content)
        count = FailureCount(
            jobs=(),
            source=SOURCE,
            message=sample.message,
            count=int(n),
            first_seen=first,
            last_seen=last,
            http_status=status_code,
        )
        out.append((key, count))
    return out


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


def fetch_responses(
    conn: Any, since: datetime, limit: int = DEFAULT_LIMIT, until: datetime | None = None
) -> list[NetResponse]:
    query, params = responses_query(since, limit, until)
    return parse_responses(conn.execute(query, params).fetchall())


def net_installed_query() -> tuple[str, dict[str, Any]]:
    return load("pgnet_installed"), {}


def fetch_net_installed(conn: Any) -> bool:
    query, params = net_installed_query()
    row = conn.execute(query, params).fetchone()
    return bool(row and row[0])
