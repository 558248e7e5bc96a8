"""pg_net's answers and what a pg_cron command says about its request: the answer record, the URL or Edge
Function it calls, its timeout. Linking answers to runs is `evaluate.attribution`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

DEFAULT_NET_TIMEOUT_MS = 5000  # net.http_post's default timeout_milliseconds
_FUNCTION = re.compile(r"/functions/v1/([A-Za-z0-9_\-]+)")
_URL = re.compile(r"""url\s*(?::=|=>)\s*'([^']+)'""", re.IGNORECASE)
_ANY_URL = re.compile(r"https?://[^\s'\"]+")
_TIMEOUT = re.compile(r"timeout_milliseconds\s*(?::=|=>)\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class NetResponse:
    """A row of net._http_response."""

    id: int
    created: datetime
    status_code: int | None = None
    timed_out: bool | None = None
    error_msg: str | None = None
    content: str | None = None
    content_type: str | None = None

    @property
    def failed_request(self) -> bool:
        """Timed out or never answered (timed_out was NULL on errors before pg_net 0.20)."""
        if self.timed_out:
            return True
        return bool(self.error_msg) and self.status_code is None

    @property
    def outcome(self) -> str:
        if self.failed_request:
            return "failed"
        if self.status_code is not None and 200 <= self.status_code < 300:
            return "succeeded"
        return "failed"

    @property
    def message(self) -> str | None:
        if self.timed_out or (self.error_msg or "").startswith("Timeout"):
            return self.error_msg or "request timed out"
        if self.error_msg:
            return self.error_msg
        if self.status_code is not None and not 200 <= self.status_code < 300:
            body = " ".join((self.content or "").split())
            return f"HTTP {self.status_code}" + (f": {body[:120]}" if body else "")
        return None


def target_function(command: str | None) -> str | None:
    """The Edge Function a job's command calls (`/functions/v1/<name>`), else the URL it posts to."""
    if not command:
        return None
    match = _FUNCTION.search(command)
    if match:
        return match.group(1)
    url = _URL.search(command) or _ANY_URL.search(command)
    if url:
        return url.group(1) if url.re is _URL else url.group(0)
    return None


def target_url(command: str | None) -> str | None:
    """The URL a pg_net command posts to, when it is written as a literal."""
    if not command:
        return None
    url = _URL.search(command) or _ANY_URL.search(command)
    if url is None:
        return None
    return url.group(1) if url.re is _URL else url.group(0)


_NAMED_ARGS = re.compile(r"net\s*\.\s*http_(?:post|get|delete)\s*\([^)]*?(?::=|=>)", re.IGNORECASE | re.DOTALL)


def states_timeout(command: str | None) -> bool:
    """Is this command's request timeout known? It calls net.http_* itself and either names
    timeout_milliseconds or passes named arguments without it (pg_net's default applies). A wrapper function
    (`invoke_edge_function(…)`) or positional arguments may set any timeout."""
    if not uses_pg_net(command):
        return False
    return _TIMEOUT.search(command or "") is not None or _NAMED_ARGS.search(command or "") is not None


def net_timeout(command: str | None, fallback_ms: int = DEFAULT_NET_TIMEOUT_MS) -> float:
    """Seconds pg_net waits for this command's request (timeout_milliseconds, else pg_net's default)."""
    match = _TIMEOUT.search(command or "")
    return (int(match.group(1)) if match else fallback_ms) / 1000.0


_PG_NET_CALL = re.compile(r"\bnet\s*\.\s*http_(?:post|get|delete)\b", re.IGNORECASE)


def uses_pg_net(command: str | None) -> bool:
    """The command calls pg_net (`net.http_post/get/delete`), not pgsql-http's synchronous `http_post`."""
    return bool(command) and _PG_NET_CALL.search(command or "") is not None
