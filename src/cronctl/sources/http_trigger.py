"""Send a job's HTTP request the way its scheduler would, and read the answer within bounds.

The body is serialised once; those exact bytes are signed and sent. Redirects are never followed.
Only the first `MAX_KEPT` bytes of an answer are kept; the rest is not read. httpx is imported on use.
"""

from __future__ import annotations

import copy
import email.utils
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cronctl import __version__, redact
from cronctl.errors import UsageError
from cronctl.records import Answer, Attempt, PreparedRequest, aware
from cronctl.runbook.env import Environment, references
from cronctl.runbook.model import AuthSpec, JobSpec
from cronctl.signing import SignContext, auth_headers, display_auth_headers

MAX_KEPT = 1024 * 1024
BACKOFF = (3.0, 6.0)  # seconds before the 2nd and 3rd attempt (5xx, timeout, 429 without Retry-After)
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is reported, not waited for
CONNECT_TIMEOUT = 10.0
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


@dataclass(frozen=True)
class BodyOptions:
    """Overrides from the command line."""

    data: Any = None  # replaces the body when set
    has_data: bool = False
    sets: Sequence[tuple[str, Any]] = field(default_factory=tuple)
    trigger_type: str | None = None


def new_request_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# ---------------------------------------------------------------- building


def display_template(template: str, env: Environment, where: str, *, every_variable: bool = False) -> str:
    """Resolve a template, writing secret-looking variables (with `every_variable`: all of them, as in a header)
    as `$NAME` instead of their values."""

    def keep(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"${name}" if every_variable or redact.looks_secret(name) else match.group(0)

    return redact.redact(env.resolve(_REFERENCE.sub(keep, template), where))


def _resolve_value(value: Any, env: Environment, where: str, display: bool) -> Any:
    if isinstance(value, str):
        return display_template(value, env, where) if display else env.resolve(value, where)
    if isinstance(value, dict):
        return {k: _resolve_value(v, env, f"{where}.{k}", display) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_value(v, env, f"{where}[{i}]", display) for i, v in enumerate(value)]
    return value


def _apply_sets(body: Any, sets: Sequence[tuple[str, Any]], job: str) -> Any:
    if not sets:
        return body
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise UsageError(f"--set needs a JSON object body; job {job} sends {type(body).__name__}")
    for path, value in sets:
        target = body
        parts = path.split(".")
        for part in parts[:-1]:
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                target[part] = nxt
            target = nxt
        target[parts[-1]] = value
    return body


def request_body(job: JobSpec, options: BodyOptions) -> Any:
    """The JSON document to send, before variables are resolved."""
    body = copy.deepcopy(options.data if options.has_data else job.body)
    sets = list(options.sets)
    if options.trigger_type and job.trigger_type_field:
        sets.insert(0, (job.trigger_type_field, options.trigger_type))
    return _apply_sets(body, sets, job.name)


def serialise(document: Any) -> bytes | None:
    if document is None:
        return None
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def secret_values(auth: AuthSpec, env: Environment, where: str) -> tuple[str | None, str | None]:
    secret = env.secret(auth.secret_env, where) if auth.secret_env and auth.kind != "none" else None
    apikey = env.secret(auth.apikey_env, where) if auth.apikey_env and auth.kind != "none" else None
    return secret, apikey


def build_request(
    job: JobSpec,
    env: Environment,
    options: BodyOptions,
    *,
    request_id: str | None = None,
    now: float | None = None,
    source: str = "runbook",
) -> PreparedRequest:
    """Resolve URL, headers and body from the job; sign the exact body bytes."""
    where = f"job {job.name} in {source}"
    if job.url is None:
        raise UsageError(f"job {job.name} has no url")
    rid = request_id or new_request_id()
    url = env.resolve(job.url, f"{where} (url)")
    _check_url(url, job.name)
    document = request_body(job, options)
    body = serialise(_resolve_value(document, env, f"{where} (body)", display=False))
    display_body_doc = _resolve_value(document, env, f"{where} (body)", display=True)
    headers: dict[str, str] = {"User-Agent": f"cronctl/{__version__}"}
    display_headers: dict[str, str] = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        display_headers["Content-Type"] = "application/json"
    for name, value in job.headers.items():
        headers[name] = env.resolve(value, f"{where} (header {name})")
        # A variable sent in a header is treated as a secret whatever its name; so is a credential header's value.
        for variable in references(value):
            redact.register(env.get(variable))
        if _looks_secret_header(name):
            redact.register(headers[name])
        display_headers[name] = display_template(value, env, f"{where} (header {name})", every_variable=True)
    if job.idempotency_header:
        headers[job.idempotency_header] = rid
        display_headers[job.idempotency_header] = rid
    ctx = SignContext(
        body=body or b"",
        request_id=rid,
        timestamp=int(now if now is not None else time.time()),
        method=job.method,
        path=urlsplit(url).path or "/",
    )
    secret, apikey = secret_values(job.auth, env, where)
    try:
        headers.update(auth_headers(job.auth, secret, apikey, ctx))
    except ValueError as exc:
        raise UsageError(f"{job.auth.secret_env} cannot sign for {where}: {exc}") from None
    display_headers.update(display_auth_headers(job.auth, ctx))
    return PreparedRequest(
        job=job.name,
        method=job.method,
        url=url,
        headers=headers,
        body=body,
        timeout=job.timeout,
        request_id=rid,
        display_url=safe_url(display_template(job.url, env, f"{where} (url)")),
        display_headers=display_headers,
        display_body=_text(serialise(display_body_doc)),
    )


def _text(data: bytes | None) -> str | None:
    return data.decode("utf-8") if data is not None else None


def _looks_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in ("authorization", "apikey", "cookie") or redact.looks_secret(name) or "secret" in lowered


def _check_url(url: str, job: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"job {job}: '{safe_url(url)}' is not an http(s) URL")


def safe_url(url: str) -> str:
    """The URL without a user:password part, secrets masked."""
    redact.register_url_password(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact.redact(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return redact.redact(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


# ---------------------------------------------------------------- sending


def make_client(concurrency: int = 1, *, tls: bool = True) -> Any:
    """A client shared by concurrent triggers. `tls=False` (every URL is plain http, and redirects are never
    followed) skips loading the CA bundle, which is most of a client's start-up cost."""
    from cronctl.sources.http_deadline import make_client as bounded_client

    return bounded_client(concurrency=concurrency, verify=tls)


def send_once(client: Any, request: PreparedRequest, max_kept: int = MAX_KEPT) -> Attempt:
    """One request; every failure to get an answer becomes an Answer with `error` set.

    One deadline (`request.timeout`) covers name resolution, connect, TLS, the status line, the headers and the
    body: a server that trickles any of them one byte at a time is cut off when it passes.
    """
    import httpx

    from cronctl.sources.http_deadline import DeadlineExceeded, deadline, read_limited

    timeout = httpx.Timeout(request.timeout, connect=min(request.timeout, CONNECT_TIMEOUT))
    start = time.monotonic()
    try:
        with deadline(request.timeout):
            built = client.build_request(
                request.method, request.url, headers=request.headers, content=request.body, timeout=timeout
            )
            response = client.send(built, stream=True, follow_redirects=False)
            try:
                kept, read, truncated = read_limited(response, max_kept)
            finally:
                response.close()
    except httpx.TimeoutException as exc:
        phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the answer"
        message = f"timeout after {request.timeout:g}s {phase}"
        return _no_answer(message, "timeout", start)
    except DeadlineExceeded:
        return _no_answer(f"timeout after {request.timeout:g}s reading the answer", "timeout", start)
    except httpx.ConnectError as exc:
        kind, message = _connect_failure(str(exc), request)
        return _no_answer(message, kind, start)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        detail = str(exc) or type(exc).__name__
        return _no_answer(f"connection broken before a complete answer: {detail}", "reset", start)
    except httpx.HTTPError as exc:
        return _no_answer(f"{type(exc).__name__}: {exc}", "protocol", start)
    elapsed = (time.monotonic() - start) * 1000
    headers = {k.lower(): v for k, v in response.headers.items()}
    answer = Answer(response.status_code, headers, kept, truncated)
    return Attempt(answer, elapsed, retry_after=parse_retry_after(headers.get("retry-after")), bytes_read=read)


def _no_answer(message: str, kind: str, start: float) -> Attempt:
    elapsed = (time.monotonic() - start) * 1000
    return Attempt(Answer(None, {}, error=redact.redact(message), error_kind=kind), elapsed)


def _connect_failure(text: str, request: PreparedRequest) -> tuple[str, str]:
    parts = urlsplit(request.url)
    target = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    lowered = text.lower()
    if "refused" in lowered or "errno 111" in lowered:
        return "refused", f"connection refused by {target}"
    if any(s in lowered for s in ("name or service", "nodename", "name resolution", "getaddrinfo", "no address")):
        return "dns", f"cannot resolve host {parts.hostname}"
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return "tls", f"TLS handshake with {target} failed: {text}"
    return "refused", f"cannot connect to {target}: {text}"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (aware(when) - (now or datetime.now(UTC))).total_seconds())


def retry_decision(
    attempt: Attempt, number: int, backoff: Sequence[float] = BACKOFF, max_retry_after: float = MAX_RETRY_AFTER
) -> tuple[float | None, str | None]:
    """Seconds to wait before attempt `number + 1` (None: stop), and a note when a retry was refused."""
    status = attempt.answer.status_code
    retryable = status == 429 or (status is not None and status >= 500) or attempt.answer.error_kind == "timeout"
    if not retryable:
        return None, None
    if number > len(backoff):
        return None, f"gave up after {number} attempts"
    if status == 429 and attempt.retry_after is not None:
        if attempt.retry_after > max_retry_after:
            return None, f"Retry-After {attempt.retry_after:g}s exceeds the {max_retry_after:g}s bound; not retried"
        return attempt.retry_after, None
    return backoff[number - 1], None


def send_with_retries(
    client: Any,
    request: PreparedRequest,
    *,
    idempotent: bool,
    on_attempt: Callable[[int, Attempt], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    backoff: Sequence[float] = BACKOFF,
    before_attempt: Callable[[int], None] | None = None,
) -> list[Attempt]:
    """Send; for idempotent jobs retry on 429 (Retry-After, bounded), 5xx and timeouts, 3 s then 6 s.

    `before_attempt(number)` runs just before each send (the audit record that says a request is going out);
    once the command is being interrupted no further attempt starts."""
    from cronctl.sources.http_deadline import aborted, pause

    wait = sleep or pause  # a pause that abort_all() cuts short
    attempts: list[Attempt] = []
    while True:
        number = len(attempts) + 1
        if aborted():
            raise KeyboardInterrupt(f"interrupted before attempt {number}")
        if before_attempt is not None:
            before_attempt(number)
        attempt = send_once(client, request)
        delay, note = retry_decision(attempt, number, backoff) if idempotent else (None, None)
        attempt = replace(attempt, next_delay=delay, note=note)
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(number, attempt)
        if delay is None:
            return attempts
        wait(delay)
