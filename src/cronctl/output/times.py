"""Times for people: to the minute, in UTC, and relative to the snapshot ("21:22Z, 3 min ago").

A time on the snapshot's own day is shown as `HH:MMZ`; any other day with its date. JSON keeps full ISO 8601
timestamps; these strings are only for the human formats.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronctl.durations import format_duration
from cronctl.records import aware


def _utc(value: datetime) -> datetime:
    return aware(value).astimezone(UTC)


def clock(value: datetime, now: datetime | None = None) -> str:
    """`21:22Z` on the day of `now`, else `2026-11-28 02:00Z`."""
    at = _utc(value)
    if now is not None and at.date() == _utc(now).date():
        return at.strftime("%H:%MZ")
    return at.strftime("%Y-%m-%d %H:%MZ")


def relative(value: datetime, now: datetime) -> str:
    """`3 min ago`, `in 12 min`, `2h05m ago`, `just now`."""
    seconds = (_utc(value) - _utc(now)).total_seconds()
    size = abs(seconds)
    if size < 30:
        return "just now" if seconds <= 0 else "in <1 min"
    if size < 3600:
        text = f"{max(1, round(size / 60))} min"
    else:
        text = format_duration(size)
    return f"in {text}" if seconds > 0 else f"{text} ago"


def when(value: datetime | None, now: datetime, *, empty: str = "-") -> str:
    """`21:22Z, 3 min ago` (absolute and relative); `empty` for no time."""
    if value is None:
        return empty
    return f"{clock(value, now)}, {relative(value, now)}"
