"""cronctl's pg_net request tracking: which backend queued each pg_net request, and when.

`cronctl pgcron track install` puts an AFTER INSERT trigger on `net.http_request_queue` that records
`(request id, pg_backend_pid(), clock_timestamp(), method, url)` into `cronctl.pgnet_request_log`. The request id is
the id `net.http_post` returns and `net._http_response.id` carries; the backend pid is the pg_cron run's `job_pid`,
and the time lies inside that run's [start_time, end_time]. So every answer joins to exactly one run, whatever fires
in the same second.

This module holds the query builders (`(sql, params)` pairs, usable one by one or in a pipelined batch), the parsers
of their rows, and the install / uninstall statements. Nothing here judges: whether tracking is *recording* is
decided in `cronctl.evaluate.pgnet_tracking`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cronctl.queries import load
from cronctl.records import (
    LogStats,
    PgNetNewest,
    QueuedRequest,
    TrackedRequest,
    TrackingCatalog,
    TrackingSettings,
)

Params = dict[str, Any]

SCHEMA = "cronctl"
TABLE = "pgnet_request_log"
LOG_TABLE = f"{SCHEMA}.{TABLE}"
FUNCTION = f"{SCHEMA}.record_pgnet_request()"
TRIGGER = "cronctl_track_requests"
QUEUE_TABLE = "net.http_request_queue"

DEFAULT_LIMIT = 5000  # tracked rows read per query; about 3.5 jobs a minute for a day
DEFAULT_QUEUE_LIMIT = 500
DEFAULT_RETENTION_SECONDS = 24 * 3600  # longer than pg_net.ttl (6 hours by default): every kept answer can be joined
CLEANUP_EVERY = 100  # every 100th request id runs the retention cleanup ...
CLEANUP_BATCH = 1000  # ... which deletes at most this many expired rows
COMMENT_PREFIX = "cronctl pg_net request tracking (cronctl pgcron track install). "


# -- is it installed (cheap, pipeline-safe) ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingInstalled:
    """What `tracking_installed_query` says: objects in place, trigger firing, log readable by this role."""

    installed: bool
    trigger_enabled: bool
    readable: bool

    @property
    def usable(self) -> bool:
        """Exact attribution is possible: the trigger fires and this role can read what it recorded."""
        return self.installed and self.trigger_enabled and self.readable


def tracking_installed_query() -> tuple[str, Params]:
    """One row `(installed, trigger_enabled, readable)` from the catalogs only (no schema USAGE needed)."""
    return load("pgnet_track_installed"), {}


def parse_tracking_installed(rows: Sequence[Sequence[Any]]) -> TrackingInstalled:
    if not rows:
        return TrackingInstalled(False, False, False)
    installed, enabled, readable = rows[0]
    return TrackingInstalled(bool(installed), bool(enabled), bool(readable))


# -- tracked requests and queue rows ---------------------------------------------------------------------------


def tracking_query(since: datetime, limit: int = DEFAULT_LIMIT, *, until: datetime | None = None) -> tuple[str, Params]:
    """Rows `(request_id, backend_pid, queued_at, method, url)` queued at or after `since` (and at or before
    `until`, for judging history as of a past time), newest first, at most `limit`, through the queued_at index."""
    return load("pgnet_track_requests"), {"since": since, "until": until, "n": limit}


def tracking_by_ids_query(request_ids: Iterable[int]) -> tuple[str, Params]:
    """The same rows for given request ids (primary-key lookups), e.g. the ids of the answers being judged."""
    return load("pgnet_track_requests_by_id"), {"ids": sorted({int(i) for i in request_ids})}


def parse_tracking(rows: Iterable[Sequence[Any]]) -> list[TrackedRequest]:
    return [
        TrackedRequest(
            request_id=int(request_id),
            backend_pid=int(backend_pid),
            queued_at=queued_at,
            method=method,
            url=url,
        )
        for request_id, backend_pid, queued_at, method, url in rows
    ]


def queue_query(limit: int = DEFAULT_QUEUE_LIMIT) -> tuple[str, Params]:
    """Rows `(id, method, url, timeout_milliseconds)` still waiting in net.http_request_queue, newest id first."""
    return load("pgnet_queue_waiting"), {"n": limit}


def parse_queue(rows: Iterable[Sequence[Any]]) -> list[QueuedRequest]:
    return [
        QueuedRequest(
            request_id=int(rid),
            method=method,
            url=url,
            timeout_ms=int(timeout) if timeout is not None else None,
        )
        for rid, method, url, timeout in rows
    ]


def fetch_tracking(conn: Any, since: datetime, limit: int = DEFAULT_LIMIT) -> list[TrackedRequest]:
    query, params = tracking_query(since, limit)
    return parse_tracking(conn.execute(query, params).fetchall())


def fetch_queue(conn: Any, limit: int = DEFAULT_QUEUE_LIMIT) -> list[QueuedRequest]:
    query, params = queue_query(limit)
    return parse_queue(conn.execute(query, params).fetchall())


# -- status ----------------------------------------------------------------------------------------------------


def status_query() -> tuple[str, Params]:
    """One row of catalog facts about the tracking objects and this role's privileges (see `TrackingCatalog`)."""
    return load("pgnet_track_catalog"), {}


def parse_status(rows: Sequence[Sequence[Any]]) -> TrackingCatalog:
    (queue_present, responses_present, schema_present, table_present, function_present, trigger_present,
     trigger_mode, trigger_calls_function, function_owner, security_definer, table_comment, readers,
     function_triggers, other_objects, log_readable, queue_readable, responses_readable, can_trigger_queue,
     owns_queue, can_create, owns_function, owns_table, owns_schema, role, superuser,
     database) = rows[0]  # fmt: skip
    return TrackingCatalog(
        queue_present=bool(queue_present),
        responses_present=bool(responses_present),
        schema_present=bool(schema_present),
        table_present=bool(table_present),
        function_present=bool(function_present),
        trigger_present=bool(trigger_present),
        trigger_mode=trigger_mode,
        trigger_calls_function=bool(trigger_calls_function),
        function_owner=function_owner,
        security_definer=bool(security_definer),
        settings=parse_comment(table_comment),
        readers=tuple(readers or ()),
        function_triggers=tuple(function_triggers or ()),
        other_objects=int(other_objects or 0),
        log_readable=bool(log_readable),
        queue_readable=bool(queue_readable),
        responses_readable=bool(responses_readable),
        can_trigger_queue=bool(can_trigger_queue),
        owns_queue=bool(owns_queue),
        can_create=bool(can_create),
        owns_function=bool(owns_function),
        owns_table=bool(owns_table),
        owns_schema=bool(owns_schema),
        role=str(role),
        superuser=bool(superuser),
        database=str(database),
    )


def log_stats_query() -> tuple[str, Params]:
    """One row `(row_count, newest queued_at, newest request_id)`; needs the log to exist and be readable."""
    return load("pgnet_track_log_stats"), {}


def parse_log_stats(rows: Sequence[Sequence[Any]]) -> LogStats:
    count, newest, newest_id = rows[0]
    return LogStats(int(count or 0), newest, int(newest_id) if newest_id is not None else None)


def pgnet_newest_query() -> tuple[str, Params]:
    """One row `(queue newest id, newest batch's created, newest batch's highest id)`; needs pg_net's tables."""
    return load("pgnet_track_pgnet_newest"), {}


def parse_pgnet_newest(rows: Sequence[Sequence[Any]]) -> PgNetNewest:
    queue_id, created, response_id = rows[0]
    return PgNetNewest(
        queue_newest_id=int(queue_id) if queue_id is not None else None,
        response_newest_id=int(response_id) if response_id is not None else None,
        response_newest_created=created,
    )


# -- the table comment ------------------------------------------------------------------------------------------


def comment_text(settings: TrackingSettings) -> str:
    data = {
        "retention_seconds": settings.retention_seconds,
        "cleanup_every": settings.cleanup_every,
        "cleanup_batch": settings.cleanup_batch,
        "installed_at": settings.installed_at.isoformat().replace("+00:00", "Z") if settings.installed_at else None,
        "installed_by": settings.installed_by,
    }
    return COMMENT_PREFIX + json.dumps(data, sort_keys=True)


def parse_comment(text: str | None) -> TrackingSettings:
    """Settings from a comment `comment_text` wrote; empty settings for any other text."""
    if not text or "{" not in text:
        return TrackingSettings()
    try:
        data = json.loads(text[text.index("{") :])
    except ValueError:
        return TrackingSettings()
    if not isinstance(data, dict):
        return TrackingSettings()

    def integer(key: str) -> int | None:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    installed_at = None
    if isinstance(data.get("installed_at"), str):
        try:
            installed_at = datetime.fromisoformat(data["installed_at"].replace("Z", "+00:00"))
        except ValueError:
            installed_at = None
    by = data.get("installed_by")
    return TrackingSettings(
        retention_seconds=integer("retention_seconds"),
        cleanup_every=integer("cleanup_every"),
        cleanup_batch=integer("cleanup_batch"),
        installed_at=installed_at,
        installed_by=by if isinstance(by, str) else None,
    )


# -- install / uninstall statements -----------------------------------------------------------------------------


def _render(conn: Any, name: str, params: Params | None = None, **identifiers: Any) -> str:
    """Statement `name`, identifiers composed with psycopg.sql and parameters bound client-side: the exact text a
    dry run shows and the change runs (DDL takes no server-side parameters)."""
    from psycopg import ClientCursor, sql

    text: Any = load(name)
    if identifiers:
        text = sql.SQL(text).format(**identifiers).as_string(conn)
    return ClientCursor(conn).mogrify(text, params or {})


def _role(name: str) -> Any:
    from psycopg import sql

    return sql.SQL("PUBLIC") if name.upper() == "PUBLIC" else sql.Identifier(name)


def install_statements(
    conn: Any,
    catalog: TrackingCatalog,
    *,
    retention_seconds: int,
    readers: Sequence[str],
    installed_at: datetime,
) -> list[str]:
    """The statements of an idempotent install, to run in one transaction. Objects that exist are kept (the
    function is replaced, grants are reset to exactly `readers`); the trigger is created only when missing and
    enabled when it exists but does not fire."""
    settings = TrackingSettings(
        retention_seconds=retention_seconds,
        cleanup_every=CLEANUP_EVERY,
        cleanup_batch=CLEANUP_BATCH,
        installed_at=installed_at,
        installed_by=catalog.role,
    )
    statements = [
        _render(conn, "pgnet_track_create_schema"),
        _render(conn, "pgnet_track_create_table"),
        _render(conn, "pgnet_track_create_index"),
        _render(
            conn,
            "pgnet_track_create_function",
            {
                "retention": f"{retention_seconds} seconds",
                "cleanup_every": CLEANUP_EVERY,
                "cleanup_batch": CLEANUP_BATCH,
            },
        ),
        _render(conn, "pgnet_track_comment", {"comment": comment_text(settings)}),
        _render(conn, "pgnet_track_revoke_function"),
        _render(conn, "pgnet_track_revoke_table"),
    ]
    for reader in readers:
        statements.append(_render(conn, "pgnet_track_grant_usage", reader=_role(reader)))
        statements.append(_render(conn, "pgnet_track_grant_select", reader=_role(reader)))
    if not catalog.trigger_present:
        statements.append(_render(conn, "pgnet_track_create_trigger"))
    elif catalog.trigger_calls_function and catalog.trigger != "enabled":
        statements.append(_render(conn, "pgnet_track_enable_trigger"))
    return statements


def uninstall_statements(conn: Any, catalog: TrackingCatalog) -> list[str]:
    """Remove trigger (with the function), table and, when nothing else lives in it and this role owns it, the
    schema."""
    statements: list[str] = []
    if catalog.function_present:
        statements.append(_render(conn, "pgnet_track_drop_function"))
    if catalog.table_present:
        statements.append(_render(conn, "pgnet_track_drop_table"))
    if catalog.schema_present and catalog.other_objects == 0 and catalog.owns_schema:
        statements.append(_render(conn, "pgnet_track_drop_schema"))
    return statements


def role_exists_query(names: Sequence[str]) -> tuple[str, Params]:
    """Which of `names` are roles (PUBLIC always is)."""
    return load("pgnet_track_roles"), {"names": list(names)}
