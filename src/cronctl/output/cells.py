"""How one value is written in a human-format cell."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cronctl.durations import format_duration

# Words that carry a verdict get a colour in table output.
TONE_OF_WORD = {
    **dict.fromkeys(
        ["ok", "succeeded", "success", "pass", "passed", "held", "alive", "yes-ok", "set", "running", "real"],
        "ok",
    ),
    **dict.fromkeys(
        [
            "warn",
            "late",
            "skipped",
            "stale",
            "expired",
            "partial",
            "overrunning",
            "unknown",
            "never_run",
            "placeholder",
            "disabled",
            "ambiguous",
            "queued",
        ],
        "warn",
    ),
    **dict.fromkeys(
        [
            "crit",
            "failed",
            "failing",
            "missed",
            "stuck",
            "error",
            "fail",
            "orphaned",
            "missing",
            "dead",
            "down",
            "timeout",
        ],
        "crit",
    ),
}
TONE_STYLE = {"ok": "green", "warn": "yellow", "crit": "bold red", "info": "cyan", "muted": "dim"}


def format_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_cell(value: Any, limit: int | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value.total_seconds())
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = " ".join(text.split()) if limit else text
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def json_default(value: Any) -> Any:
    """JSON encoding for values psycopg and the evaluators produce."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "to_json"):
        return value.to_json()
    return str(value)
