"""Durations as people write them: 30s, 5m, 2h, 7d, 1h30m, or plain seconds."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DAYS = 36500
MAX_SECONDS = float(MAX_DAYS * 86400)  # 100 years: any longer span overflows dates, timers or makes no sense


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`, at most 100 years; raises ValueError with a readable reason (also for inf and nan)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration, got a boolean")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"'{value}' is not a duration (it must be a finite number of seconds)")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(float(value), value)
    text = value.strip().lower().replace(" ", "")
    if len(text) > 64:
        raise ValueError(f"'{text[:20]}…' is not a duration (use e.g. 30s, 5m, 2h, 7d, 1h30m)")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _bounded(float(text), value)
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"'{value}' is not a duration (use e.g. 30s, 5m, 2h, 7d, 1h30m)")
    return _bounded(total, value)


def _bounded(seconds: float, value: object) -> float:
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise ValueError(f"'{value}' is too long (at most {MAX_DAYS}d)")
    return seconds


def format_duration(seconds: float | None) -> str:
    """Short human text: 850ms, 42s, 3m12s, 5h, 2d3h."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 1:
        return f"{sign}{s * 1000:.0f}ms"
    if s < 60:
        return f"{sign}{s:.1f}s" if s < 10 and s != int(s) else f"{sign}{s:.0f}s"
    minutes, sec = divmod(round(s), 60)
    if minutes < 60:
        return f"{sign}{minutes}m{sec:02d}s" if sec else f"{sign}{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours}h{minutes:02d}m" if minutes else f"{sign}{hours}h"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d{hours}h" if hours else f"{sign}{days}d"
