"""Failure groups: (message, HTTP status) → one word from a fixed vocabulary, runbook groups first.

Total by construction: any text and any status give a group; nothing here raises.

This file is the one place a failure group is defined: its word in GROUPS (the runbook's `[[failure_modes]]
group` is checked against it when the runbook loads) and the texts or statuses that select it below. Adding a group
is a word in GROUPS, its pattern in `classify`, a test (tests/system/test_classify.py) and its word in the list
of failure groups in docs/commands/triage.md ("Across jobs"). It imports nothing else of cronctl at run time, so
the runbook model can read GROUPS without loading evaluation (tests/unit/test_import_contract.py allows that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cronctl.runbook.model import FailureGroupSpec

GROUPS = (
    "AUTH",
    "HTTP_409",
    "HTTP_429",
    "HTTP_4XX",
    "HTTP_5XX",
    "REDIRECT",
    "TIMEOUT",
    "LOCK_CONFLICT",
    "PG_NET_MISSING",
    "DB_CONNECTION",
    "STARTUP_TIMEOUT",
    "SERVER_RESTARTED",
    "OTHER",
)

_I = re.IGNORECASE

# pg_cron's fixed texts and errors that name their cause exactly: they win over any status code.
_STARTUP_TIMEOUT = re.compile(r"job startup timeout", _I)
_SERVER_RESTARTED = re.compile(r"server restarted", _I)
_PG_NET_MISSING = re.compile(
    r"schema \"?net\"? does not exist"
    r"|function net\.http_(?:post|get|delete)\b[^\n]*does not exist"
    r"|extension \"?pg_net\"? (?:does not exist|is not available)",
    _I,
)
_LOCK_CONFLICT = re.compile(
    r"job_lock active|could not obtain lock|another instance is already running|lock(?:ed)? by another",
    _I,
)
# The platform stopped the function at its time limit; the 504 (Vercel) or 546 (Supabase) it answers with is
# the platform's, not the route's: the cause is the time limit.
_PLATFORM_TIMEOUT = re.compile(r"FUNCTION_INVOCATION_TIMEOUT|\bWallClockTime\b|Task timed out after", _I)
_AUTH = re.compile(
    r"\bunauthori[sz]ed\b|\bforbidden\b|invalid (?:api[ _-]?key|token|jwt|signature|credentials|authorization)"
    r"|jwt (?:expired|malformed)|authentication failed|missing (?:authorization|bearer|api[ _-]?key)"
    r"|permission denied|not authori[sz]ed|signature (?:mismatch|verification failed)",
    _I,
)
# "Timeout of 5000 ms reached" (pg_net), "timed out", "statement timeout", "ETIMEDOUT".
_TIMEOUT = re.compile(r"time[ -]?out|timed out|etimedout|deadline exceeded", _I)
_DB_CONNECTION = re.compile(
    r"connection failed|connection lost|could not connect|connection refused|too many clients"
    r"|server closed the connection|terminating connection|remaining connection slots",
    _I,
)
_REDIRECT = re.compile(r"\bredirect(?:ed|ion|s)?\b|\bmoved permanently\b", _I)
# A status code named as such: "HTTP 503", "HTTP/1.1 401", "status 409", "status code: 500", "returned 429".
_STATUS_NAMED = re.compile(
    r"\b(?:http(?:/\d(?:\.\d)?)?|status(?:[ _]code)?|code|returned|responded(?: with)?|response)"
    r"[\s:=#(]*([1-5]\d\d)\b",
    _I,
)
# The seed runbooks' own rule: a bare ' 409 ' or ' 5xx ' token anywhere in the message.
_STATUS_TOKEN = re.compile(r"(?:^|[\s(\[])([345](?:\d\d|xx))(?=$|[\s)\]:,.;])", _I)


def classify(message: str | None, http_status: int | None, extra: Sequence[FailureGroupSpec] = ()) -> str:
    """The failure group for one failed run or response."""
    text = message if isinstance(message, str) else ""
    status = http_status if isinstance(http_status, int) and not isinstance(http_status, bool) else None
    for group in extra:
        if _extra_matches(group, text, status):
            return group.name
    for pattern, name in (
        (_STARTUP_TIMEOUT, "STARTUP_TIMEOUT"),
        (_SERVER_RESTARTED, "SERVER_RESTARTED"),
        (_PG_NET_MISSING, "PG_NET_MISSING"),
        (_LOCK_CONFLICT, "LOCK_CONFLICT"),
        (_PLATFORM_TIMEOUT, "TIMEOUT"),
    ):
        if pattern.search(text):
            return name
    by_status = status_group(status if status is not None else _named_status(text))
    if by_status is not None:
        return by_status
    for pattern, name in ((_AUTH, "AUTH"), (_TIMEOUT, "TIMEOUT"), (_DB_CONNECTION, "DB_CONNECTION")):
        if pattern.search(text):
            return name
    token = _STATUS_TOKEN.search(text)
    if token:
        word = token.group(1).lower()
        found = status_group(int(word[0]) * 100 if word.endswith("xx") else int(word))
        if found is not None:
            return found
    if _REDIRECT.search(text):
        return "REDIRECT"
    return "OTHER"


def status_group(status: int | None) -> str | None:
    """The group an HTTP status code alone implies; None for 1xx/2xx and non-HTTP numbers."""
    if status is None:
        return None
    if status in (401, 403):
        return "AUTH"
    if status == 409:
        return "HTTP_409"
    if status == 429:
        return "HTTP_429"
    if 300 <= status <= 399:
        return "REDIRECT"
    if 400 <= status <= 499:
        return "HTTP_4XX"
    if 500 <= status <= 599:
        return "HTTP_5XX"
    return None


def _named_status(text: str) -> int | None:
    match = _STATUS_NAMED.search(text)
    return int(match.group(1)) if match else None


def _extra_matches(group: FailureGroupSpec, text: str, status: int | None) -> bool:
    """Every condition the group sets must hold (pattern on the message, status among its codes)."""
    if group.pattern is None and not group.status:
        return False
    if group.status and (status is None or status not in group.status):
        return False
    if group.pattern is not None:
        try:
            return re.search(group.pattern, text, _I) is not None
        except re.error:
            return False
    return True
