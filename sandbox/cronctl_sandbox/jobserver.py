"""A local HTTP job server that authenticates requests the way real job receivers do.

It stands in for Supabase Edge Functions, Next.js cron routes, a worker service and GitHub's
workflow-dispatch endpoint, so triggers and fault handling can be exercised against real sockets.
Each route checks auth as cronctl's auth registry says a receiver of that kind does (`cronctl.auth`);
where the peer publishes its own verifier (`standardwebhooks`, `stripe`), that library must accept the request
too. Only the standard library and cronctl are imported at module load; the peers' libraries when a request
needs them.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from cronctl import auth
from cronctl.auth.base import Incoming, Secrets, same
from cronctl.runbook.model import AuthSpec
from cronctl_sandbox.local_server import LocalServer

__all__ = [
    "AUTH_KINDS",
    "MAX_BODY",
    "JobServer",
    "Received",
    "Reply",
    "Route",
    "enrolment_ok",
    "health_check",
    "health_payload",
    "rate_limited",
    "reconcile_skipped",
    "redirect",
    "server_error",
    "supabase_ok",
    "unauthorized",
]

MAX_BODY = 10 * 1024 * 1024
# cronctl's auth kinds, plus `bearer+apikey` (one secret sent as both) and GitHub's workflow-dispatch API.
AUTH_KINDS = frozenset({*auth.names(), "bearer+apikey", "github-dispatch"})
# A receiver holds values, not variables: its spec only needs to say that a secret is set.
_ROUTE_VARIABLE = "ROUTE_SECRET"
GITHUB_API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
GITHUB_ACCEPT = frozenset({"application/vnd.github+json", "application/vnd.github.v3+json"})
GITHUB_DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
MAX_DISPATCH_INPUTS = 25


@dataclass
class Reply:
    """One scripted answer. Faults (delay, drip, hang, reset) shape how it is delivered."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0
    drip_chunk: int = 1
    hang: bool = False
    reset: bool = False
    size: int = 0


@dataclass
class Route:
    """An endpoint: how callers must authenticate and the script of replies it answers with.

    Auth is either a runbook's own `spec`, with `secret` and `apikey` the values of its variables, or the
    fields `auth` (a kind of AUTH_KINDS), `secret`, `header` and `hmac_*`.

    An empty `responses` list means the kind's usual success (204 for github-dispatch, else
    200 `{"success": true}`). The last reply of a script repeats once the script is used up.
    """

    method: str
    path: str
    auth: str = "none"
    secret: str = ""
    header: str = ""
    responses: list[Reply] = field(default_factory=list)
    hmac_header: str = ""
    hmac_template: str = "{timestamp}.{body}"
    hmac_encoding: str = "hex"
    hmac_prefix: str = ""
    timestamp_header: str = ""
    tolerance: int = 300
    run_details: bool = False
    # Called for each authenticated request before the reply is sent: what the receiver does (e.g. write its
    # run-log row), so tests see the job's own history change because the request arrived.
    on_request: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    spec: AuthSpec | None = None
    apikey: str | None = None  # the value of `spec.apikey_env`; `secret` when not given

    def __post_init__(self) -> None:
        if self.spec is not None:
            self.auth = self.spec.kind
        if self.auth not in AUTH_KINDS:
            raise ValueError(f"unknown auth kind {self.auth!r}; expected one of {sorted(AUTH_KINDS)}")
        if self.hmac_encoding not in ("hex", "base64"):
            raise ValueError(f"hmac_encoding must be hex or base64, not {self.hmac_encoding!r}")
        self.method = self.method.upper()

    def receiver(self) -> tuple[AuthSpec, Secrets]:
        """The auth this route demands, as the spec a sender would use, and the values it holds."""
        secrets = Secrets(secret=self.secret, apikey=self.secret if self.apikey is None else self.apikey)
        if self.spec is not None:
            return self.spec, secrets
        if self.auth == "github-dispatch":
            return AuthSpec(), secrets  # checked by _check_dispatch, the way api.github.com does
        both = self.auth == "bearer+apikey"
        kind = "bearer" if both else self.auth
        spec = AuthSpec(
            kind=kind,
            secret_env=_ROUTE_VARIABLE,
            header=self.hmac_header or self.header or None,
            apikey_env=_ROUTE_VARIABLE if both else None,
            template=self.hmac_template,
            encoding=self.hmac_encoding,
            prefix=self.hmac_prefix,
            timestamp_header=self.timestamp_header or None,
        )
        return auth.scheme(kind).with_defaults(spec), secrets


class Headers(dict[str, str]):
    """Request headers with case-insensitive lookup (keys are stored lower-case)."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class Received:
    """A request as the server saw it; `verified` is True when its auth check passed."""

    method: str
    path: str
    headers: Headers
    body: bytes
    verified: bool
    time: float
    query: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class _Verdict:
    status: int
    payload: Any = None
    reply: Reply | None = None

    @property
    def ok(self) -> bool:
        return self.status == 0


_PASS = _Verdict(0)
_UNAUTHORIZED = _Verdict(401, {"error": "unauthorized"})


# ---------------------------------------------------------------- auth checks


def _standard_webhooks_library(secrets: Secrets, request: Incoming) -> bool:
    from standardwebhooks.webhooks import Webhook

    try:
        Webhook(secrets.secret or "").verify(request.body, dict(request.headers), json_parse=False)
    except Exception:  # the library raises several types for malformed input
        return False
    return True


def _stripe_library(secrets: Secrets, request: Incoming) -> bool:
    import stripe

    try:
        stripe.WebhookSignature.verify_header(
            request.body, request.header("stripe-signature"), secrets.secret, request.tolerance
        )
    except Exception:
        return False
    return True


# Kinds whose peer publishes a verifier: it must accept the request as well as the scheme's own receiver check.
_PEER_VERIFIERS: dict[str, Callable[[Secrets, Incoming], bool]] = {
    "standard-webhooks": _standard_webhooks_library,
    "stripe": _stripe_library,
}


def _check_auth(route: Route, method: str, path: str, body: bytes, headers: Headers) -> bool:
    spec, secrets = route.receiver()
    request = Incoming(method=method, path=path, headers=headers, body=body, now=time.time(), tolerance=route.tolerance)
    peer = _PEER_VERIFIERS.get(spec.kind)
    if peer is not None and not peer(secrets, request):
        return False
    return auth.verify(spec, secrets, request)


# ---------------------------------------------------------------- github dispatch


def _github_error(status: int, message: str) -> _Verdict:
    return _Verdict(status, {"message": message, "documentation_url": GITHUB_DOCS, "status": str(status)})


def _dispatch_token(headers: Headers) -> str | None:
    value = headers.get("authorization") or ""
    for scheme in ("Bearer ", "token "):
        if value.startswith(scheme):
            return str(value[len(scheme) :])
    return None


def _dispatch_shape_error(body: bytes) -> str | None:
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return "Problems parsing JSON"
    if not isinstance(data, dict):
        return "Invalid request.\n\nFor 'links/0/schema', the body is not an object."
    if not isinstance(data.get("ref"), str) or not data["ref"]:
        return 'Invalid request.\n\n"ref" wasn\'t supplied.'
    inputs = data.get("inputs", {})
    if not isinstance(inputs, dict):
        return "Invalid request.\n\nFor 'properties/inputs', the value is not an object."
    if len(inputs) > MAX_DISPATCH_INPUTS:
        return f"Invalid request.\n\nNo more than {MAX_DISPATCH_INPUTS} inputs are allowed."
    if any(not isinstance(value, str) for value in inputs.values()):
        return "Invalid request.\n\nFor 'properties/inputs', input values must be strings."
    extra = set(data) - {"ref", "inputs", "return_run_details"}
    if extra:
        return f"Invalid request.\n\n{sorted(extra)[0]} is not a permitted key."
    if not isinstance(data.get("return_run_details", False), bool):
        return "Invalid request.\n\nFor 'properties/return_run_details', the value is not a boolean."
    return None


def _check_dispatch(route: Route, body: bytes, headers: Headers) -> _Verdict:
    """Validate a workflow-dispatch call the way api.github.com does, in the same order."""
    if not same(_dispatch_token(headers), route.secret):
        return _github_error(401, "Bad credentials")
    version = headers.get("x-github-api-version")
    if version is None:
        return _github_error(422, "Invalid request.\n\nX-GitHub-Api-Version header is required.")
    if version not in GITHUB_API_VERSIONS:
        return _github_error(400, f"API version '{version}' is not supported.")
    accept = {part.split(";")[0].strip() for part in (headers.get("accept") or "").split(",")}
    if not accept & GITHUB_ACCEPT:
        return _github_error(422, "Invalid request.\n\nAccept must be application/vnd.github+json.")
    problem = _dispatch_shape_error(body)
    if problem is not None:
        return _github_error(422, problem)
    return _PASS


def _dispatch_success(route: Route, body: bytes, base_url: str, run_id: int) -> Reply:
    wants_details = route.run_details or json.loads(body).get("return_run_details") is True
    if not wants_details:
        return Reply(status=204)
    parts = route.path.strip("/").split("/")  # repos/{owner}/{repo}/actions/workflows/{file}/dispatches
    owner, repo = (parts[1], parts[2]) if len(parts) >= 3 else ("owner", "repo")
    return Reply(
        status=200,
        json={
            "workflow_run_id": run_id,
            "run_url": f"{base_url}/repos/{owner}/{repo}/actions/runs/{run_id}",
            "html_url": f"{base_url}/{owner}/{repo}/actions/runs/{run_id}",
        },
    )


# ---------------------------------------------------------------- reply encoding


def _padded(size: int) -> bytes:
    prefix, suffix = b'{"success": true, "padding": "', b'"}'
    return prefix + b"x" * max(0, size - len(prefix) - len(suffix)) + suffix


def _encode(reply: Reply) -> tuple[bytes, str]:
    if reply.status in (204, 304) or 100 <= reply.status < 200:
        return b"", ""
    if reply.size > 0:
        return _padded(reply.size), reply.content_type or "application/json"
    if reply.body is not None:
        return reply.body, reply.content_type or "text/plain; charset=utf-8"
    if reply.json is not None:
        return json.dumps(reply.json).encode(), reply.content_type or "application/json"
    return b"", reply.content_type


# ---------------------------------------------------------------- server


@dataclass
class _Slot:
    route: Route
    served: int = 0

    def next_reply(self) -> Reply | None:
        script = self.route.responses
        if not script:
            self.served += 1
            return None
        reply = script[min(self.served, len(script) - 1)]
        self.served += 1
        return reply


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stalls mid-request must not pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in JobServer.requests; nothing goes to stderr

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        headers = Headers((k.lower(), v) for k, v in self.headers.items())
        body = self._read_body(headers)
        if body is None:
            return
        verdict = owner._decide(self.command, split.path, body, headers)
        owner._record(Received(self.command, split.path, headers, body, verdict.ok, time.time(), split.query))
        reply = verdict.reply if verdict.ok else Reply(status=verdict.status, json=verdict.payload)
        self._send(reply or Reply(json={"success": True}))

    def _read_body(self, headers: Headers) -> bytes | None:
        if "chunked" in (headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            self._send(Reply(status=400, json={"error": "invalid Content-Length"}))
            return None
        if length < 0 or length > MAX_BODY:
            self._send(Reply(status=413, json={"error": "payload too large"}))
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        data = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self._send(Reply(status=400, json={"error": "bad chunk"}))
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(data)
            if len(data) + size > MAX_BODY:
                self._send(Reply(status=413, json={"error": "payload too large"}))
                return None
            data += self.rfile.read(size)
            self.rfile.readline(8)

    def _send(self, reply: Reply) -> None:
        stop = self.server.owner._stopped
        if reply.delay > 0 and stop.wait(reply.delay):
            self.close_connection = True
            return
        if reply.hang:
            stop.wait()
            self.close_connection = True
            return
        body, content_type = _encode(reply)
        if reply.reset:
            self._reset(reply.status, body, content_type)
            return
        self.send_response(reply.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        if reply.drip > 0:
            self._drip(body, reply.drip, max(1, reply.drip_chunk), stop)
        else:
            self.wfile.write(body)

    def _drip(self, body: bytes, pause: float, chunk: int, stop: threading.Event) -> None:
        self.wfile.flush()
        for start in range(0, len(body), chunk):
            if stop.wait(pause):
                return
            try:
                self.wfile.write(body[start : start + chunk])
                self.wfile.flush()
            except OSError:
                return  # the client gave up, which is what drip tests provoke

    def _reset(self, status: int, body: bytes, content_type: str) -> None:
        # Promise the full body, send half of it, then abort with RST (SO_LINGER 0).
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Content-Type: {content_type or 'application/json'}\r\n"
            f"Content-Length: {max(len(body), 64)}\r\n\r\n"
        ).encode()
        try:
            self.wfile.write(head + body[: len(body) // 2])
            self.wfile.flush()
        except OSError:
            pass
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many jobs are fired at once in tests and benchmarks; the default backlog of 5 drops connections.
    request_queue_size = 128
    owner: JobServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up early is normal in fault tests; nothing to print."""


class JobServer(LocalServer):
    """A threaded HTTP server on 127.0.0.1 with scripted, authenticated routes.

    Use as a context manager, or call `start()` / `stop()`. All mutators are thread-safe.
    """

    server_class = _Server
    handler_class = _Handler
    name = "jobserver"

    def __init__(self, routes: Sequence[Route] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._requests: list[Received] = []
        self._dispatch_runs = 1000
        for route in routes:
            self.add_route(route)

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    # routes and scripts

    def add_route(self, route: Route) -> None:
        """Add or replace the route for (method, path); its script starts from the top."""
        with self._lock:
            self._slots[(route.method, route.path)] = _Slot(route)

    def set_responses(self, method: str, path: str, replies: Sequence[Reply]) -> None:
        """Replace a route's script while the server runs; the next request gets replies[0]."""
        with self._lock:
            slot = self._slots.get((method.upper(), path))
            if slot is None:
                raise KeyError(f"no route {method.upper()} {path}")
            slot.route.responses = list(replies)
            slot.served = 0

    # received requests

    @property
    def requests(self) -> list[Received]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, received: Received) -> None:
        with self._lock:
            self._requests.append(received)

    # request handling (called from handler threads)

    def _decide(self, method: str, path: str, body: bytes, headers: Headers) -> _Verdict:
        with self._lock:
            slot = self._slots.get((method, path))
            other_methods = [m for (m, p) in self._slots if p == path]
        if slot is None:
            if other_methods:
                return _Verdict(405, {"error": "method not allowed"})
            return _Verdict(404, {"error": "not found", "path": path})
        route = slot.route
        if route.auth == "github-dispatch":
            verdict = _check_dispatch(route, body, headers)
            if not verdict.ok:
                return verdict
        elif not _check_auth(route, method, path, body, headers):
            return _UNAUTHORIZED
        with self._lock:
            reply = slot.next_reply()
            self._dispatch_runs += 1
            run_id = self._dispatch_runs
        if reply is None and route.auth == "github-dispatch":
            reply = _dispatch_success(route, body, self.url, run_id)
        if route.on_request is not None:
            route.on_request()
        return _Verdict(0, reply=reply)


# ---------------------------------------------------------------- seed-like replies


def supabase_ok(processed: int = 0) -> list[Reply]:
    """Seed 000's Edge Function success: `{"success": true, "processed": N}`."""
    return [Reply(json={"success": True, "processed": processed})]


def reconcile_skipped() -> list[Reply]:
    """Seed 000's payment-reconcile when the PG key is missing: 200 but skipped."""
    return [Reply(json={"success": True, "skipped": True, "reason": "TOSSPAYMENTS_SECRET_KEY not set"})]


def enrolment_ok(**summary: int) -> list[Reply]:
    """Seed 003's worker success `{"ok": true, "summary": {...}}`; keyword arguments override counts."""
    counts = {
        "categories_processed": 1,
        "courses_processed": 1,
        "status_rows_processed": 89,
        "details_processed": 89,
        "source_records_upserted": 178,
        "new_records": 0,
        "changed_records": 1,
        "created_alerts": 1,
    }
    unknown = set(summary) - set(counts)
    if unknown:
        raise TypeError(f"unknown summary keys: {sorted(unknown)}")
    counts.update(summary)
    return [Reply(json={"ok": True, "summary": counts})]


def health_check(last_run: datetime | str | None, status: str = "success", ok: bool = True) -> dict[str, Any]:
    """One entry of seed 002's health `checks` map."""
    stamp = last_run.isoformat() if isinstance(last_run, datetime) else last_run
    return {"lastRun": stamp, "status": status, "ok": ok}


def health_payload(
    checks: Mapping[str, Mapping[str, Any]],
    missing: Sequence[str] = (),
    healthy: bool | None = None,
) -> list[Reply]:
    """Seed 002's `GET /api/cron/health` answer; `healthy` defaults to all ok and nothing missing."""
    normalized = {name: dict(check) for name, check in checks.items()}
    for check in normalized.values():
        if isinstance(check.get("lastRun"), datetime):
            check["lastRun"] = check["lastRun"].isoformat()
    if healthy is None:
        healthy = not missing and all(bool(c.get("ok")) for c in normalized.values())
    return [Reply(json={"healthy": healthy, "checks": normalized, "missing": list(missing)})]


def unauthorized(plain: bool = False) -> list[Reply]:
    """401 as seed 000's Edge Functions answer it; `plain=True` is seed 001's Next.js text reply."""
    if plain:
        return [Reply(status=401, body=b"Unauthorized")]
    return [Reply(status=401, json={"error": "unauthorized"})]


def redirect(location: str, status: int = 307) -> list[Reply]:
    """A redirect, which Vercel cron never follows (seed 001)."""
    return [Reply(status=status, headers={"Location": location}, body=b"")]


def rate_limited(retry_after: int | None = None) -> list[Reply]:
    """429, with a Retry-After header when given (seed 002's retry policy honours it)."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return [Reply(status=429, json={"error": "rate limited"}, headers=headers)]


def server_error(message: str = "Failed to fetch messages") -> list[Reply]:
    """500 with seed 000's error body."""
    return [Reply(status=500, json={"error": message})]
