"""What a pg_cron command says about its pg_net request: the URL or Edge Function it calls, its timeout.
The answer itself is `records.NetResponse`; linking answers to runs is `evaluate.attribution`'s job.
"""

from __future__ import annotations

import re

DEFAULT_NET_TIMEOUT_MS = 5000  # net.http_post's default timeout_milliseconds
_FUNCTION = re.compile(r"/functions/v1/([A-Za-z0-9_\-]+)")
_URL = re.compile(r"""url\s*(?::=|=>)\s*'([^']+)'""", re.IGNORECASE)
_ANY_URL = re.compile(r"https?://[^\s'\"]+")
_TIMEOUT = re.compile(r"timeout_milliseconds\s*(?::=|=>)\s*(\d+)", re.IGNORECASE)


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
