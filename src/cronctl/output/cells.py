"""How one value is written in a human-format cell."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cronctl.durations import format_duration
from cronctl.records import aware
from cronctl.redact import redact

# Characters that must never reach a terminal or a JSON reader as themselves: C0 controls (tab and newline are
# handled by the caller), DEL and C1 controls, and every invisible format character of Unicode — bidi overrides
# and isolates, zero-width space/joiners, word joiner, BOM, soft hyphen, interlinear annotations, tag characters —
# plus the line and paragraph separators and lone surrogates (category Cf, Zl, Zp, Cs).
_UNSAFE_RANGES = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile(f"[{_UNSAFE_RANGES}]")
_UNSAFE_OR_TAB_NEWLINE = re.compile(f"[\\t\\n{_UNSAFE_RANGES}]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def escape_unsafe(text: str, *, single_line: bool = False) -> str:
    """Write control and invisible format characters visibly (`\\x1b`, `\\u202e`); `single_line` also escapes
    newlines and tabs, so the text cannot start a new line or row."""
    pattern = _UNSAFE_OR_TAB_NEWLINE if single_line else _UNSAFE
    return pattern.sub(_visible, text)


def escape_json(text: str) -> str:
    """JSON text with every unsafe character as a `\\uXXXX` escape (valid JSON: they only occur inside strings)."""

    def encode(match: re.Match[str]) -> str:
        code = ord(match.group())
        if code < 0x10000:
            return f"\\u{code:04x}"
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

    return _UNSAFE.sub(encode, text)


def safe_json(data: Any, *, indent: int | None = None) -> str:
    """`data` as JSON with secrets masked and unsafe characters escaped: what every JSON sink writes."""
    return escape_json(redact(json.dumps(data, default=json_default, indent=indent, ensure_ascii=False)))


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
    return aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


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
    # Mask first, then make it displayable, then cut: a cut never leaves the start of a secret behind.
    text = escape_unsafe(redact(text))
    text = " ".join(text.split()) if limit else text
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def json_default(value: Any) -> Any:
    """JSON encoding for values psycopg and the evaluators produce."""
    if isinstance(value, datetime):
        return aware(value).astimezone(UTC).isoformat().replace("+00:00", "Z")
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
