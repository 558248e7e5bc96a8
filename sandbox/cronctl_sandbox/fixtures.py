"""pg_net's tables and request functions as fixture data, for a sandbox where pg_net is not installed.

The tables carry exactly pg_net's columns. `net.http_post` / `net.http_get` queue a request the way the real ones do,
in the calling backend (a plain SQL function, so as the calling role), and return the queue row's id; pg_cron
commands that call them succeed and leave a queue row behind.

What real pg_net 0.20's background worker does with that row (supabase/pg_net src/worker.c and src/core.c), and what
`PgNetWorker` (real HTTP) and `answer_queued` (no HTTP, for tests) do the same way:

- one transaction per batch: `DELETE ... RETURNING` up to `pg_net.batch_size` (200) queue rows, oldest id first;
  perform them concurrently, each with its own `timeout_milliseconds` as the total time; insert one
  `net._http_response` row per request with `id` = the queue row's id; commit. The queue rows disappear and the
  answers appear together, when the slowest request of the batch ends;
- `created` is the column default `now()`, i.e. the start of the batch's transaction, for every answer of the batch;
- a timeout: `timed_out = true`, `status_code` NULL, `error_msg` from `detailed_timeout_strerror` (src/errors.c):
  "Timeout of N ms reached. Total time: T ms (DNS time: D ms, TCP/SSL handshake time: H ms, HTTP Request/Response
  time: R ms)" with `%f` numbers; any other failure: `timed_out = false`, `error_msg = curl_easy_strerror(code)`
  (e.g. "Couldn't connect to server");
- a success: `status_code`, the response headers as a JSON object, `content_type` from the Content-Type header,
  `content` the body text (NULL when empty), `timed_out = false`, `error_msg` NULL; redirects are followed;
- answers older than `pg_net.ttl` (6 hours) are deleted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

PG_NET_VERSION = "0.20.0"
BATCH_SIZE = 200  # pg_net.batch_size default
TTL = timedelta(hours=6)  # pg_net.ttl default

PG_NET_DDL = """
CREATE SCHEMA IF NOT EXISTS net;

CREATE TABLE IF NOT EXISTS net.http_request_queue (
    id bigserial PRIMARY KEY,
    method text NOT NULL,
    url text NOT NULL,
    headers jsonb NOT NULL,
    body bytea,
    timeout_milliseconds integer NOT NULL
);

CREATE TABLE IF NOT EXISTS net._http_response (
    id bigint,
    status_code integer,
    content_type text,
    headers jsonb,
    content text,
    timed_out boolean,
    error_msg text,
    created timestamp with time zone NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION net._url_with_params(url text, params jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN params IS NULL OR params = '{}'::jsonb THEN url
        ELSE url || CASE WHEN strpos(url, '?') > 0 THEN '&' ELSE '?' END
                 || (SELECT string_agg(key || '=' || value, '&' ORDER BY key) FROM jsonb_each_text(params))
    END
$fn$;

CREATE OR REPLACE FUNCTION net.http_post(
    url text,
    body jsonb DEFAULT '{}'::jsonb,
    params jsonb DEFAULT '{}'::jsonb,
    headers jsonb DEFAULT '{}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
)
RETURNS bigint
LANGUAGE sql
AS $fn$
    INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    VALUES ('POST', net._url_with_params(url, params), headers, convert_to(body::text, 'UTF8'),
            timeout_milliseconds)
    RETURNING id
$fn$;

CREATE OR REPLACE FUNCTION net.http_get(
    url text,
    params jsonb DEFAULT '{}'::jsonb,
    headers jsonb DEFAULT '{}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
)
RETURNS bigint
LANGUAGE sql
AS $fn$
    INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    VALUES ('GET', net._url_with_params(url, params), headers, NULL, timeout_milliseconds)
    RETURNING id
$fn$;
"""


def create_pg_net_tables(conn: Any) -> None:
    """Create schema `net` with pg_net's two tables and stub request functions (idempotent)."""
    conn.execute(PG_NET_DDL)


def drop_pg_net(conn: Any) -> None:
    """Remove the `net` schema, as on a database where pg_net was never installed."""
    conn.execute("DROP SCHEMA IF EXISTS net CASCADE")


PG_NET_PUBLIC_GRANTS = """
GRANT USAGE ON SCHEMA net TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA net TO PUBLIC;
GRANT ALL ON ALL TABLES IN SCHEMA net TO PUBLIC;
"""


def grant_pg_net_to_public(conn: Any) -> None:
    """The grants real pg_net gives: USAGE on schema net and ALL on its tables and sequences to PUBLIC."""
    conn.execute(PG_NET_PUBLIC_GRANTS)


# -- answers ---------------------------------------------------------------------------------------------------

# curl_easy_strerror texts (libcurl 7.8x / 8.x) that pg_net stores in error_msg for failures other than timeouts.
COULDNT_CONNECT = "Couldn't connect to server"
COULDNT_RESOLVE_HOST = "Couldn't resolve host name"
GOT_NOTHING = "Server returned nothing (no headers, no data)"
PARTIAL_FILE = "Transferred a partial file"
RECV_ERROR = "Failure when receiving data from the peer"
SEND_ERROR = "Failed sending data to the peer"
UNSUPPORTED_PROTOCOL = "Unsupported protocol"
URL_MALFORMAT = "URL using bad/illegal format or missing URL"
SSL_CONNECT_ERROR = "SSL connect error"


def timeout_error_msg(
    timeout_ms: int,
    total_ms: float,
    *,
    dns_ms: float = 0.0,
    handshake_ms: float | None = None,
    http_ms: float | None = None,
) -> str:
    """pg_net's `error_msg` for a timed-out request (src/errors.c, `detailed_timeout_strerror`).

    Without a breakdown the time is put where a local server that accepted the connection and never answered
    puts it: in the HTTP request/response step.
    """
    if handshake_ms is None and http_ms is None:
        handshake_ms, http_ms = 0.0, max(total_ms - dns_ms, 0.0)
    handshake = handshake_ms if handshake_ms is not None else max(total_ms - dns_ms - (http_ms or 0.0), 0.0)
    http = http_ms if http_ms is not None else 0.0
    return (
        f"Timeout of {int(timeout_ms)} ms reached. Total time: {total_ms:f} ms (DNS time: {dns_ms:f} ms,"
        f" TCP/SSL handshake time: {handshake:f} ms, HTTP Request/Response time: {http:f} ms)"
    )


@dataclass(frozen=True)
class NetAnswer:
    """What the worker writes for one request. `timeout()` takes its text from the request's own timeout."""

    status_code: int | None = 200
    content: str | None = None
    content_type: str | None = None
    headers: Mapping[str, str] | None = None
    timed_out: bool = False
    error_msg: str | None = None
    elapsed_ms: float | None = None  # a timeout's total time (default: the timeout plus a fraction)

    @classmethod
    def timeout(cls, elapsed_ms: float | None = None) -> NetAnswer:
        return cls(status_code=None, timed_out=True, elapsed_ms=elapsed_ms)

    @classmethod
    def failure(cls, message: str = COULDNT_CONNECT) -> NetAnswer:
        return cls(status_code=None, timed_out=False, error_msg=message)

    @classmethod
    def of(cls, answer: NetAnswer | tuple[int | None, str | None]) -> NetAnswer:
        """A NetAnswer, or `(status, content)` as a server's answer (JSON-looking content is application/json)."""
        if isinstance(answer, NetAnswer):
            return answer
        status, content = answer
        ctype = None
        if content is not None:
            ctype = "application/json" if content.lstrip()[:1] in ("{", "[") else "text/plain; charset=utf-8"
        return cls(status_code=status, content=content or None, content_type=ctype,
                   headers={"Content-Type": ctype} if ctype else None)  # fmt: skip

    def row(self, request_id: int, timeout_ms: int, created: datetime) -> tuple[Any, ...]:
        """The net._http_response row for request `request_id` (whose timeout was `timeout_ms`)."""
        from psycopg.types.json import Jsonb

        error_msg = self.error_msg
        if self.timed_out and error_msg is None:
            total = self.elapsed_ms if self.elapsed_ms is not None else timeout_ms + 0.8
            error_msg = timeout_error_msg(timeout_ms, total)
        if self.timed_out or error_msg is not None:
            return (request_id, None, None, None, None, self.timed_out, error_msg, created)
        headers = Jsonb(dict(self.headers)) if self.headers is not None else Jsonb({})
        return (request_id, self.status_code, self.content_type, headers, self.content, False, None, created)


_CONSUME = """
WITH rows AS (SELECT id FROM net.http_request_queue ORDER BY id LIMIT %(n)s)
DELETE FROM net.http_request_queue q USING rows WHERE q.id = rows.id
RETURNING q.id, q.method::text, q.url, q.timeout_milliseconds, q.headers, q.body
"""
_TAKE = """
DELETE FROM net.http_request_queue WHERE id = ANY(%(ids)s::bigint[]) RETURNING id, timeout_milliseconds
"""
_INSERT = """
INSERT INTO net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg, created)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
_EXPIRE = "DELETE FROM net._http_response WHERE created < now() - %(ttl)s::interval"


def answer_queued(
    conn: Any,
    answers: Mapping[int, NetAnswer | tuple[int | None, str | None]],
    created: datetime | None = None,
) -> list[int]:
    """Answer the given queue rows without HTTP, as one worker batch: delete them from net.http_request_queue and
    insert their responses (same ids) with one `created` for all (default: the batch transaction's start, as pg_net
    does). Every id must still be waiting; otherwise nothing changes (ValueError). Returns the ids answered."""
    ids = sorted(int(i) for i in answers)
    with conn.transaction():
        taken = {int(rid): int(timeout) for rid, timeout in conn.execute(_TAKE, {"ids": ids}).fetchall()}
        missing = [i for i in ids if i not in taken]
        if missing:
            raise ValueError(f"not waiting in net.http_request_queue: {missing}")
        stamp = created if created is not None else conn.execute("SELECT now()").fetchone()[0]
        rows = [NetAnswer.of(answers[i]).row(i, taken[i], stamp) for i in ids]
        with conn.cursor() as cur:
            cur.executemany(_INSERT, rows)
    return ids


# -- the worker ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    id: int
    method: str
    url: str
    timeout_ms: int
    headers: dict[str, Any] | None
    body: bytes | None


@dataclass(frozen=True)
class Batch:
    """One batch the worker ran: when it started (= every answer's `created`) and the request ids it answered."""

    started: datetime
    ids: tuple[int, ...]


@dataclass
class _Timings:
    start: float = field(default_factory=time.perf_counter)
    connect_started: float | None = None
    connect_done: float | None = None
    tls_done: float | None = None
    request_started: float | None = None

    async def hook(self, event: str, info: Mapping[str, Any]) -> None:
        now = time.perf_counter()
        if event.endswith("connect_tcp.started"):
            self.connect_started = now
        elif event.endswith("connect_tcp.complete"):
            self.connect_done = now
        elif event.endswith("start_tls.complete"):
            self.tls_done = now
        elif event.endswith("send_request_headers.started") and self.request_started is None:
            self.request_started = now

    def timeout_message(self, timeout_ms: int) -> str:
        """pg_net's breakdown: DNS (0 for the IP-literal hosts a sandbox uses), TCP/TLS handshake, HTTP."""
        end = time.perf_counter()
        total = (end - self.start) * 1000
        if self.request_started is None:  # timed out before the request was sent: in the handshake
            return timeout_error_msg(timeout_ms, total, handshake_ms=total, http_ms=0.0)
        began = self.connect_started if self.connect_started is not None else self.request_started
        connected = self.tls_done or self.connect_done or began
        handshake = (connected - began) * 1000
        http = (end - self.request_started) * 1000
        return timeout_error_msg(timeout_ms, total, handshake_ms=handshake, http_ms=http)


def _error_text(exc: BaseException) -> str:
    """The curl_easy_strerror text pg_net would store for this httpx failure."""
    import socket

    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return COULDNT_RESOLVE_HOST
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if isinstance(exc, httpx.ConnectError):
        if "Name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
            return COULDNT_RESOLVE_HOST
        if "SSL" in text or "certificate" in text:
            return SSL_CONNECT_ERROR
        return COULDNT_CONNECT
    if isinstance(exc, httpx.RemoteProtocolError):
        return GOT_NOTHING if "without sending" in text and "body" not in text else PARTIAL_FILE
    if isinstance(exc, httpx.WriteError):
        return SEND_ERROR
    if isinstance(exc, httpx.UnsupportedProtocol):
        return UNSUPPORTED_PROTOCOL
    if isinstance(exc, (httpx.InvalidURL, ValueError)):
        return URL_MALFORMAT
    return RECV_ERROR


class PgNetWorker:
    """A stand-in for pg_net 0.20's background worker: a thread that answers net.http_request_queue rows with real
    HTTP, batch by batch, exactly as the module docstring says. Use as a context manager or start() / stop().

    `poll` is how long it sleeps when the queue is empty (real pg_net sleeps until a commit wakes it, and one
    second between batches). `batches` records every batch it ran; `error` holds what stopped it, if anything.
    """

    def __init__(
        self,
        dsn: str,
        poll: float = 0.2,
        *,
        batch_size: int = BATCH_SIZE,
        ttl: timedelta | None = TTL,
    ) -> None:
        self.dsn = dsn
        self.poll = poll
        self.batch_size = batch_size
        self.ttl = ttl
        self.batches: list[Batch] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PgNetWorker:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pg_net worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> PgNetWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 15.0) -> bool:
        """Wait until the worker found the queue empty after its latest batch (True), or `timeout` passed."""
        self._idle.clear()
        return self._idle.wait(timeout)

    def _run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(
                self.dsn, application_name=f"pg_net {PG_NET_VERSION}", connect_timeout=10, autocommit=True
            ) as conn:
                while not self._stop.is_set():
                    if self.ttl is not None:
                        conn.execute(_EXPIRE, {"ttl": f"{int(self.ttl.total_seconds())} seconds"})
                    if not self.run_batch(conn):
                        self._idle.set()
                        self._stop.wait(self.poll)
        except BaseException as exc:  # a sandbox thread: keep what killed it for the test to see
            self.error = exc
            self._idle.set()

    def run_batch(self, conn: Any) -> int:
        """One batch on `conn` (autocommit): take, perform, answer, commit. Returns how many requests it answered."""
        import asyncio

        with conn.transaction():
            started = conn.execute("SELECT now()").fetchone()[0]
            taken = conn.execute(_CONSUME, {"n": self.batch_size}).fetchall()
            if not taken:
                return 0
            rows = [QueueRow(int(r[0]), r[1], r[2], int(r[3]), r[4], bytes(r[5]) if r[5] is not None else None)
                    for r in taken]  # fmt: skip
            answers = asyncio.run(_perform_all(rows))
            with conn.cursor() as cur:
                cur.executemany(
                    _INSERT, [a.row(r.id, r.timeout_ms, started) for r, a in zip(rows, answers, strict=True)]
                )
        self.batches.append(Batch(started, tuple(r.id for r in rows)))
        return len(rows)


async def _perform_all(rows: Sequence[QueueRow]) -> list[NetAnswer]:
    import httpx

    from cronctl.sources.http_deadline import tls_context  # pg_net verifies certificates; built once

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        follow_redirects=True, timeout=None, trust_env=False, limits=limits, verify=tls_context(trust_env=False)
    ) as client:
        import asyncio

        return list(await asyncio.gather(*(_perform(client, row) for row in rows)))


async def _perform(client: Any, row: QueueRow) -> NetAnswer:
    import asyncio

    import httpx

    timings = _Timings()
    headers = {str(k): str(v) for k, v in (row.headers or {}).items()}
    if not any(k.lower() == "user-agent" for k in headers):
        headers["User-Agent"] = f"pg_net/{PG_NET_VERSION}"
    try:
        response = await asyncio.wait_for(
            client.request(row.method, row.url, headers=headers, content=row.body, extensions={"trace": timings.hook}),
            row.timeout_ms / 1000,
        )
    except TimeoutError:
        return NetAnswer(status_code=None, timed_out=True, error_msg=timings.timeout_message(row.timeout_ms))
    except (httpx.HTTPError, ValueError, OSError) as exc:
        return NetAnswer.failure(_error_text(exc))
    raw = response.content.split(b"\0", 1)[0]  # pg_net stores the body as a C string
    received = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.headers.raw}
    return NetAnswer(
        status_code=response.status_code,
        content=raw.decode("utf-8", errors="replace") or None,
        content_type=response.headers.get("content-type"),
        headers=received,
    )
