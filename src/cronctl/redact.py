"""Process-wide registry of secret values, masked in every byte cronctl writes."""

from __future__ import annotations

import base64
import re
import threading
from urllib.parse import unquote, urlsplit

MASK = "****"
# Shorter values would mask ordinary words; such secrets are rejected by `doctor` anyway.
_MIN_LENGTH = 4
_SECRET_NAME = re.compile(r"(SECRET|TOKEN|KEY|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|SIGNING)", re.IGNORECASE)

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None


def looks_secret(name: str) -> bool:
    """True for environment variable names that by convention hold secrets."""
    return bool(_SECRET_NAME.search(name))


def register(value: str | None) -> None:
    """Mask `value` (and its base64/hex forms) in all later output."""
    global _pattern
    if not value or len(value) < _MIN_LENGTH:
        return
    forms = {value, value.strip()}
    raw = value.encode()
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    forms.add(raw.hex())
    with _lock:
        new = {f for f in forms if len(f) >= _MIN_LENGTH} - _values
        if not new:
            return
        _values.update(new)
        ordered = sorted(_values, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def register_env(name: str, value: str | None) -> None:
    """Register an environment value if its name says secret, or if it is a URL with a password."""
    if not value:
        return
    if looks_secret(name):
        register(value)
    if "://" in value:
        password = _url_password(value)
        if password:
            register(password)
            register(unquote(password))


def _url_password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.password:
        return parts.password
    match = re.search(r"(?:^|\s)password=(\S+)", url)
    return match.group(1) if match else None


def redact(text: str) -> str:
    """Replace every registered secret form in `text` by the mask."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def mask_preview(value: str | None) -> str:
    """At most the first 4 characters and the length: enough to tell two secrets apart."""
    if not value:
        return "(empty)"
    if len(value) < 12:
        return f"{MASK} ({len(value)} chars)"
    return f"{value[:4]}{MASK} ({len(value)} chars)"


def clear_for_tests() -> None:
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None
