"""A local stand-in for the part of the Supabase Management API that cronctl's `supabase` history source reads.

Shapes follow the Management API v1 reference (supabase.com/docs/reference/api) after the 2026-07-23 change that
replaced `logs.all` with the unified, ClickHouse-backed logs endpoint:

- `GET /v1/projects/{ref}/functions/{function_slug}`: `{"id", "slug", "name", "status", "version", "created_at",
  "updated_at", "verify_jwt", "import_map", "entrypoint_path", "import_map_path"}`; 404 `{"message": ...}`.
- `GET /v1/projects/{ref}/analytics/endpoints/logs?sql=&iso_timestamp_start=&iso_timestamp_end=`: ClickHouse SQL
  over one `logs` table (`id`, `timestamp`, `event_message`, `severity_text`, `source`, `log_attributes`
  Map(String, String)); without both timestamps only one minute is searched; a range over 24 hours is a
  validation error; the range is rounded to the minute. Answers `{"result": [...], "error": null}`; SQL it cannot
  run comes back as `{"result": [], "error": ...}` (an individual source table in FROM gets `Table "<name>" does
  not exist.`, as Supabase's troubleshooting guide shows). `select *` and `count(*)` are refused, as the logs query
  surface does. Timestamps are written `2026-06-22T09:34:06.215000` (UTC, no zone).

The SQL accepted is the subset cronctl sends: a select list of columns and `log_attributes['key'] as alias`,
`from logs`, a where clause of `=`, `!=`, `<`, `<=`, `>`, `>=`, `in (...)` on `source`, `timestamp`, `id`,
`event_message` and `log_attributes['key']` (timestamps as `toDateTime64('...', 6, 'UTC')`) joined by `and`, `or`
and parentheses, `order by timestamp desc|asc` and `limit N`. Tests load invocations with `add_invocation` (status
code, execution time, shutdown reason such as EarlyDrop, user agent, an uncaught exception, or no edge row at all)
and force answers with `fail` (401/403/429...), `delay` and `silent`. Only the standard library is used.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cronctl_sandbox.local_server import LocalServer

__all__ = ["ALL_SCOPES", "Forced", "LogRow", "Seen", "SqlError", "SupabaseAPI", "run_sql"]

ALL_SCOPES = frozenset({"analytics:read", "edge_functions:read"})
MAX_RANGE = timedelta(hours=24)


@dataclass
class Forced:
    status: int
    times: int | None = 1
    prefix: str = "/"
    retry_after: float | None = None
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    time: float


@dataclass
class LogRow:
    timestamp: datetime
    source: str
    event_message: str
    attributes: dict[str, str] = field(default_factory=dict)
    severity_text: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def column(self, name: str) -> str:
        if name == "timestamp":
            return self.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        return str(getattr(self, name))


@dataclass
class _Function:
    slug: str
    id: str
    version: int = 1
    created_at: int = 0


class SqlError(Exception):
    """SQL the stand-in cannot run, worded like the logs endpoint's errors."""


class SupabaseAPI(LocalServer):
    """A threaded HTTP server on 127.0.0.1 answering like api.supabase.com for one project. Thread-safe."""

    name = "supabase-api"

    def __init__(self, token: str, *, project_ref: str = "abcdefghijklmnopqrst", scopes: Iterable[str] = ALL_SCOPES):
        super().__init__()
        self.token = token
        self.project_ref = project_ref
        self.scopes = set(scopes)
        self.delay = 0.0
        self.silent = False
        self.answer_first: int | None = None  # answer this many requests, then go silent
        self._lock = threading.Lock()
        self._functions: dict[str, _Function] = {}
        self._rows: list[LogRow] = []
        self._forced: list[Forced] = []
        self._seen: list[Seen] = []
        self._received = 0

    # loading data

    def add_function(self, slug: str, *, version: int = 1) -> str:
        with self._lock:
            existing = self._functions.get(slug)
            if existing is not None:
                return existing.id
            function = _Function(slug, str(uuid.uuid4()), version, int(time.time() * 1000))
            self._functions[slug] = function
            return function.id

    def add_invocation(
        self,
        slug: str,
        started_at: datetime,
        *,
        status: int = 200,
        execution_time: float = 0.3,
        shutdown: str | None = "EventLoopCompleted",
        shutdown_after: float = 0.05,
        shutdown_message: str | None = None,
        user_agent: str | None = "pg_net/0.20.0",
        method: str = "POST",
        exception: str | None = None,
        logs: Sequence[str] = (),
        logged: bool = True,
        execution_id: str | None = None,
        deployment_id: str | None = None,
    ) -> str:
        """One invocation of `slug` as the platform logs it: boot, console lines, an uncaught exception, the
        `function_edge_logs` row when it answers (left out with `logged=False`) and the worker's shutdown event
        `shutdown_after` seconds later. Returns the execution id."""
        function_id = self.add_function(slug)
        with self._lock:
            version = str(self._functions[slug].version)
        execution = execution_id or str(uuid.uuid4())
        deployment = deployment_id or f"{self.project_ref}_{function_id}_{version}"
        common = {"function_id": function_id, "execution_id": execution, "deployment_id": deployment}
        common |= {"version": version, "project_ref": self.project_ref, "region": "ap-northeast-2"}
        end = started_at + timedelta(seconds=execution_time)
        rows = [
            LogRow(
                started_at - timedelta(milliseconds=20),
                "function_logs",
                "booted (time: 21ms)",
                {**common, "event_type": "Boot", "level": "log"},
            )
        ]
        for index, line in enumerate(logs):
            at = started_at + timedelta(seconds=execution_time * (index + 1) / (len(logs) + 1))
            rows.append(LogRow(at, "function_logs", line, {**common, "event_type": "Log", "level": "info"}, "info"))
        if exception is not None:
            attrs = {**common, "event_type": "UncaughtException", "level": "error"}
            rows.append(LogRow(end - timedelta(milliseconds=1), "function_logs", exception, attrs, "error"))
        if logged:
            url = f"https://{self.project_ref}.supabase.co/functions/v1/{slug}"
            attrs = {
                **{k: common[k] for k in ("function_id", "execution_id", "deployment_id", "version", "project_ref")},
                "response.status_code": str(status),
                "execution_time_ms": str(round(execution_time * 1000)),
                "request.method": method,
                "request.pathname": f"/{slug}",
                "request.url": url,
                "request.host": f"{self.project_ref}.supabase.co",
                "response.headers.content_type": "application/json",
            }
            if user_agent is not None:
                attrs["request.headers.user_agent"] = user_agent
            rows.append(LogRow(end, "function_edge_logs", f"{method} | {status} | {url}", attrs))
        if shutdown is not None:
            text = shutdown_message or f"shutdown (reason: {shutdown})"
            attrs = {**common, "event_type": "Shutdown", "level": "log"}
            rows.append(LogRow(end + timedelta(seconds=shutdown_after), "function_logs", text, attrs))
        with self._lock:
            self._rows.extend(rows)
        return execution

    def add_row(self, row: LogRow) -> None:
        with self._lock:
            self._rows.append(row)

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        prefix: str = "/",
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            self._forced.append(Forced(status, times, prefix, retry_after, body))

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    # internals

    def _over_quota(self) -> bool:
        """Counts this request against `answer_first`; True when it is past it."""
        with self._lock:
            self._received += 1
            return self.answer_first is not None and self._received > self.answer_first

    def _take_forced(self, path: str) -> Forced | None:
        with self._lock:
            for forced in self._forced:
                if path.startswith(forced.prefix) and (forced.times is None or forced.times > 0):
                    if forced.times is not None:
                        forced.times -= 1
                    return forced
        return None

    def _answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self._seen.append(Seen(path, query, headers, time.time()))
        forced = self._take_forced(path)
        if forced is not None:
            extra: dict[str, str] = {}
            if forced.retry_after is not None:
                extra["Retry-After"] = str(int(forced.retry_after))
            words = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too many requests"}
            return forced.status, forced.body or {"message": words.get(forced.status, f"HTTP {forced.status}")}, extra
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Unauthorized"}, {}
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 3 or parts[:2] != ["v1", "projects"]:
            return 404, {"message": "Cannot GET " + path}, {}
        if parts[2] != self.project_ref:
            return 404, {"message": "Project not found"}, {}
        if len(parts) == 5 and parts[3] == "functions":
            if "edge_functions:read" not in self.scopes:
                return 403, {"message": "Your token does not have the required scopes: edge_functions:read"}, {}
            return self._function(parts[4])
        if parts[3:] == ["analytics", "endpoints", "logs"]:
            if "analytics:read" not in self.scopes:
                return 403, {"message": "Your token does not have the required scopes: analytics:read"}, {}
            return self._logs(query)
        if parts[3:] == ["analytics", "endpoints", "logs.all"]:
            return 404, {"message": "The logs.all endpoint was removed; use analytics/endpoints/logs"}, {}
        return 404, {"message": "Cannot GET " + path}, {}

    def _function(self, slug: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            function = self._functions.get(slug)
        if function is None:
            return 404, {"message": "Function not found"}, {}
        return (
            200,
            {
                "id": function.id,
                "slug": function.slug,
                "name": function.slug,
                "status": "ACTIVE",
                "version": function.version,
                "created_at": function.created_at,
                "updated_at": function.created_at,
                "verify_jwt": False,
                "import_map": False,
                "entrypoint_path": f"file:///src/supabase/functions/{function.slug}/index.ts",
                "import_map_path": None,
            },
            {},
        )

    def _logs(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            start, end = _range(query.get("iso_timestamp_start"), query.get("iso_timestamp_end"))
        except ValueError as exc:
            return 400, {"message": str(exc)}, {}
        with self._lock:
            rows = [r for r in self._rows if start <= r.timestamp <= end]
        try:
            result = run_sql(query.get("sql") or _DEFAULT_SQL, rows)
        except SqlError as exc:
            return 200, {"result": [], "error": str(exc)}, {}
        return 200, {"result": result, "error": None}, {}


_DEFAULT_SQL = "select id, timestamp, event_message from logs where source = 'edge_logs' limit 100"


def _round_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor + timedelta(minutes=1) if moment - floor >= timedelta(seconds=30) else floor


def _parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _range(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    """The searched range as the endpoint takes it: one minute when a bound is missing, at most 24 hours."""
    try:
        start = _parse_iso(start_text) if start_text else None
        end = _parse_iso(end_text) if end_text else None
    except ValueError:
        raise ValueError("iso_timestamp_start and iso_timestamp_end must be ISO 8601 timestamps") from None
    if start is None and end is None:
        end = datetime.now(UTC)
        start = end - timedelta(minutes=1)
    elif start is None:
        assert end is not None
        start = end - timedelta(minutes=1)
    elif end is None:
        end = start + timedelta(minutes=1)
    start, end = _round_minute(start), _round_minute(end)
    if end - start > MAX_RANGE:
        raise ValueError("the timestamp range must be no more than 24 hours")
    if end < start:
        raise ValueError("iso_timestamp_end must be after iso_timestamp_start")
    return start, end


# ---------------------------------------------------------------- the SQL subset

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),\[\]*])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_COLUMNS = ("id", "timestamp", "event_message", "severity_text", "source")


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    at: int = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.items[index] if index < len(self.items) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def word(self, *words: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.lower() in words:
            self.at += 1
            return True
        return False

    def expect(self, kind: str, text: str | None = None) -> str:
        got_kind, got = self.take()
        if got_kind != kind or (text is not None and got.lower() != text):
            raise SqlError(f"Syntax error: expected {text or kind}, found '{got or 'end of query'}'")
        return got


def _tokenize(sql: str) -> _Tokens:
    text = re.sub(r"--[^\n]*", " ", sql).strip().rstrip(";")
    items: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            raise SqlError(f"Syntax error near '{text[position : position + 20]}'")
        kind = match.lastgroup or ""
        items.append((kind, match.group(kind)))
        position = match.end()
    return _Tokens(items)


def _string(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _operand(tokens: _Tokens) -> tuple[str, str]:
    """('column', name) or ('attr', key)."""
    kind, text = tokens.take()
    if kind != "word":
        raise SqlError(f"Syntax error: unexpected '{text}'")
    if text.lower() == "log_attributes":
        tokens.expect("punct", "[")
        key = tokens.expect("str")
        tokens.expect("punct", "]")
        return "attr", _string(key)
    if text.lower() in _COLUMNS:
        return "column", text.lower()
    raise SqlError(f"Unknown column '{text}'")


def _value(tokens: _Tokens) -> Any:
    kind, text = tokens.take()
    if kind == "str":
        return _string(text)
    if kind == "num":
        return float(text)
    if kind == "word" and text.lower() in ("todatetime64", "todatetime", "parsedatetime64besteffort"):
        tokens.expect("punct", "(")
        stamp = _string(tokens.expect("str"))
        while tokens.peek() != ("punct", ")"):
            tokens.take()
        tokens.expect("punct", ")")
        try:
            return _parse_iso(stamp.replace(" ", "T"))
        except ValueError:
            raise SqlError(f"Cannot parse DateTime64 from '{stamp}'") from None
    raise SqlError(f"Syntax error: expected a value, found '{text}'")


def _condition(tokens: _Tokens) -> Any:
    """A parsed where clause: ('or'|'and', [parts]) | ('cmp', operand, op, value) | ('in', operand, values)."""
    parts = [_conjunction(tokens)]
    while tokens.word("or"):
        parts.append(_conjunction(tokens))
    return parts[0] if len(parts) == 1 else ("or", parts)


def _conjunction(tokens: _Tokens) -> Any:
    parts = [_atom(tokens)]
    while tokens.word("and"):
        parts.append(_atom(tokens))
    return parts[0] if len(parts) == 1 else ("and", parts)


def _atom(tokens: _Tokens) -> Any:
    if tokens.peek() == ("punct", "("):
        tokens.take()
        inner = _condition(tokens)
        tokens.expect("punct", ")")
        return inner
    if tokens.word("not"):
        return ("not", _atom(tokens))
    operand = _operand(tokens)
    negate = tokens.word("not")
    if tokens.word("in"):
        tokens.expect("punct", "(")
        values = [_value(tokens)]
        while tokens.peek() == ("punct", ","):
            tokens.take()
            values.append(_value(tokens))
        tokens.expect("punct", ")")
        node: Any = ("in", operand, values)
        return ("not", node) if negate else node
    kind, op = tokens.take()
    if kind != "op":
        raise SqlError(f"Syntax error: expected a comparison, found '{op}'")
    return ("cmp", operand, op, _value(tokens))


def _read(row: LogRow, operand: tuple[str, str]) -> Any:
    kind, name = operand
    if kind == "attr":
        return row.attributes.get(name, "")
    if name == "timestamp":
        return row.timestamp
    return row.column(name)


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(right, float) and isinstance(left, str):
        try:
            left = float(left)
        except ValueError:
            return False
    try:
        if op == "=":
            return bool(left == right)
        if op in ("!=", "<>"):
            return bool(left != right)
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        raise SqlError("Illegal types of arguments for comparison") from None


def _holds(node: Any, row: LogRow) -> bool:
    kind = node[0]
    if kind == "or":
        return any(_holds(part, row) for part in node[1])
    if kind == "and":
        return all(_holds(part, row) for part in node[1])
    if kind == "not":
        return not _holds(node[1], row)
    if kind == "in":
        value = _read(row, node[1])
        return any(_compare(value, "=", option) for option in node[2])
    return _compare(_read(row, node[1]), node[2], node[3])


def _select_list(tokens: _Tokens) -> list[tuple[str, tuple[str, str]]]:
    columns: list[tuple[str, tuple[str, str]]] = []
    while True:
        if tokens.peek() == ("punct", "*"):
            raise SqlError("select * is not supported on the logs table: list the columns you need")
        if tokens.peek()[1].lower() == "count" and tokens.peek(1) == ("punct", "("):
            if tokens.peek(2) == ("punct", "*"):
                raise SqlError("count(*) is not supported: use count()")
            raise SqlError("aggregates are not served by this stand-in")
        operand = _operand(tokens)
        alias = operand[1]
        if tokens.word("as"):
            alias = tokens.expect("word")
        columns.append((alias, operand))
        if tokens.peek() != ("punct", ","):
            return columns
        tokens.take()


def run_sql(sql: str, rows: Sequence[LogRow]) -> list[dict[str, Any]]:
    """Run one query of the subset against `rows`; the answer rows as the endpoint writes them."""
    tokens = _tokenize(sql)
    tokens.expect("word", "select")
    columns = _select_list(tokens)
    tokens.expect("word", "from")
    table = tokens.expect("word")
    if table.lower() != "logs":
        raise SqlError(f'Table "{table}" does not exist.')
    where: Any = None
    if tokens.word("where"):
        where = _condition(tokens)
    descending = True
    if tokens.word("order"):
        tokens.expect("word", "by")
        column = tokens.expect("word")
        if column.lower() != "timestamp":
            raise SqlError("this stand-in orders by timestamp only")
        descending = not tokens.word("asc")
        tokens.word("desc")
    limit: int | None = None
    if tokens.word("limit"):
        limit = int(float(tokens.expect("num")))
    if tokens.peek()[0] != "end":
        raise SqlError(f"Syntax error near '{tokens.peek()[1]}'")
    chosen = [row for row in rows if where is None or _holds(where, row)]
    chosen.sort(key=lambda r: r.timestamp, reverse=descending)
    if limit is not None:
        chosen = chosen[:limit]
    return [{alias: _output(row, operand) for alias, operand in columns} for row in chosen]


def _output(row: LogRow, operand: tuple[str, str]) -> Any:
    kind, name = operand
    if kind == "attr":
        return row.attributes.get(name, "")
    return row.column(name)


def _iter_query(raw: str) -> Iterator[tuple[str, str]]:
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        yield key, values[-1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        query = dict(_iter_query(split.query))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if owner.silent or owner._over_quota():
            owner._stopped.wait()
            self.close_connection = True
            return
        if owner.delay > 0 and owner._stopped.wait(owner.delay):
            self.close_connection = True
            return
        status, document, extra = owner._answer(split.path, query, headers)
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-RateLimit-Limit", "120")
        self.send_header("X-RateLimit-Remaining", "0" if status == 429 else "119")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    owner: SupabaseAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gives up (deadline tests) is expected."""


SupabaseAPI.server_class = _Server
SupabaseAPI.handler_class = _Handler
