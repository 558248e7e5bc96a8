"""Process-wide registry of secret values, masked in every byte cronctl writes.

A secret is known by its value, and masked in every form a value takes on its way to a screen or a file: raw
and stripped, each of its lines, JSON-escaped (with and without `\\uXXXX` escapes), Python `repr`, fully
`\\uXXXX`-escaped, percent-encoded, hex, and base64 / base64url — also when it is encoded together with other
bytes, such as `user:value` in Basic auth or `Bearer value` (the characters of the encoding that depend only on
the value are masked, at each of the three byte alignments).

Besides registered values, `redact` masks credentials recognisable by their shape wherever they appear (a JWT, the
token after `Bearer`/`Basic`, a quoted literal given to an `Authorization`/`apikey`/`X-…-Secret` header, e.g. in a
`cron.job` command); `learn_credentials` registers such literals by value, so their other forms are masked too.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import IO, Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "****"
# Shorter values would mask ordinary words; such secrets are rejected by `doctor` anyway.
_MIN_LENGTH = 4
# Derived forms (encodings, lines, base64 fragments) shorter than this would mask unrelated text.
_MIN_DERIVED = 6
_SECRET_NAME = re.compile(r"(SECRET|TOKEN|KEY|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|SIGNING)", re.IGNORECASE)

_lock = threading.Lock()
_masked: dict[str, str] = {}  # text -> its masked form, for the secrets registered so far
_MEMO_TEXT = 512  # characters: longer texts (bodies, whole reports) are masked each time
_MEMO_SIZE = 8192
_generation = 0  # counts registrations: a memo entry computed across one is not kept


def _bump() -> None:
    """Forget memoised answers: they were computed with fewer secrets known (called with _lock held)."""
    global _generation
    _generation += 1
    _masked.clear()


_values: set[str] = set()
_forms: set[str] = set()
_ordered: tuple[str, ...] = ()

# Credentials recognisable by shape.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*")
_SCHEME_TOKEN = re.compile(r"(?i)\b(?:bearer|basic|token)\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})")
_HEADER_NAMES = (
    r"authorization|proxy-authorization|apikey|api[-_]key|x-api-key|cookie|"
    r"x-[a-z0-9-]{0,40}?(?:secret|token|key|auth)[a-z0-9-]{0,40}|[a-z0-9_-]{0,40}?(?:password|passwd)"
)
# A quoted literal given to a credential header: 'apikey', 'xyz' / "apikey": "xyz" / 'X-Cron-Secret' => 'xyz'.
_HEADER_LITERAL = re.compile(
    r"(?i)(?P<q1>\\*[\"'])(?:" + _HEADER_NAMES + r")(?P=q1)\s*(?::|,|=>|=)\s*"
    r"(?P<q2>\\*[\"'])(?P<value>(?:(?!(?P=q2)).){4,4096}?)(?P=q2)"
)
# An unquoted header line: `apikey: xyz`, `X-Cron-Secret: xyz` (curl -H, logs).
_HEADER_LINE = re.compile(r"(?i)\b(?:" + _HEADER_NAMES + r")\s*:\s*(?P<value>[^\s\"'\\$*<][^\s\"'\\<>]{7,4096})")
# A credential in a URL's query string (`?apikey=…`, `&access_token=…`, a signed URL's `sig=`): up to the next
# separator. Its value may be percent-encoded.
QUERY_CREDENTIAL = re.compile(
    r"(?i)[?&](?P<name>api[-_]?key|access[-_]?token|auth[-_]?token|token|secret|key|signature|sig|password|passwd)="
    r"(?P<value>[^&#'\"\s)<>\\]{8,4096})"
)
_PATTERNS = (_JWT, _SCHEME_TOKEN, _HEADER_LITERAL, _HEADER_LINE, QUERY_CREDENTIAL)


def looks_secret(name: str) -> bool:
    """True for environment variable names that by convention hold secrets."""
    return bool(_SECRET_NAME.search(name))


def _b64_fragments(raw: bytes) -> set[str]:
    """The base64 characters that depend only on `raw`, wherever it sits in a longer encoded byte string."""
    out: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = -(-8 * offset // 6)  # first character made of `raw` bits only
        end = (8 * (offset + len(raw))) // 6  # characters after this one mix in what follows
        fragment = encoded[start:end]
        out.add(fragment)
        out.add(fragment.translate(str.maketrans("+/", "-_")))
    return out


def derived_forms(value: str) -> set[str]:
    """Every form of `value` that is masked (the value itself included)."""
    forms = {value, value.strip(), " ".join(value.split())}
    lines = [line for line in re.split(r"\r\n|\r|\n", value) if line.strip()]
    if len(lines) > 1:
        forms.update(lines)
        forms.update(line.strip() for line in lines)
    for text in list(forms):
        forms.add(json.dumps(text, ensure_ascii=False)[1:-1])
        forms.add(json.dumps(text, ensure_ascii=True)[1:-1])
        forms.add(repr(text)[1:-1])
        forms.add(ascii(text)[1:-1])
        forms.add("".join(f"\\u{ord(c):04x}" for c in text))
        forms.add("".join(f"\\u{ord(c):04X}" for c in text))
        forms.add(quote(text, safe=""))
        forms.add(quote(text))
        forms.add(quote_plus(text))
        raw = text.encode("utf-8", "surrogatepass")
        std = base64.b64encode(raw).decode()
        url = base64.urlsafe_b64encode(raw).decode()
        forms.update({std, std.rstrip("="), url, url.rstrip("=")})
        forms.update(_b64_fragments(raw))
        forms.update({raw.hex(), raw.hex().upper()})
    return {f for f in forms if f == value or len(f) >= _MIN_DERIVED}


def register(value: str | None) -> None:
    """Mask `value` and every derived form of it in all later output."""
    global _ordered
    if not value or len(value.strip()) < _MIN_LENGTH:
        return
    with _lock:
        if value in _values:
            return
    forms = {f for f in derived_forms(value) if len(f) >= _MIN_LENGTH and MASK not in f}
    with _lock:
        _values.add(value)
        new = forms - _forms
        if not new:
            return
        _forms.update(new)
        _ordered = tuple(sorted(_forms, key=len, reverse=True))
        _bump()


def register_env(name: str, value: str | None) -> None:
    """Register an environment value if its name says secret, or if it holds a connection URL's password."""
    if not value:
        return
    if looks_secret(name):
        register(value)
    register_url_password(value)


def register_url_password(text: str) -> None:
    """Register the password of a URL or `key=value` connection string, also when it does not parse."""
    for password in url_passwords(text):
        register(password)
        register(unquote(password))
    try:
        parts = urlsplit(text.strip())
        if parts.username and parts.password:  # Basic auth sends base64("user:password")
            register(f"{unquote(parts.username)}:{unquote(parts.password)}")
    except ValueError:
        pass


def url_passwords(text: str) -> list[str]:
    """Passwords in `text`: URL userinfo (`scheme://user:pw@host`, also `user:pw@host` and unparseable URLs) and
    `password=...` of a libpq key/value string."""
    found: list[str] = []
    if "@" in text:
        try:
            parts = urlsplit(text.strip())
            if parts.password:
                found.append(parts.password)
        except ValueError:
            pass
        # Greedy up to the last '@': a password with an unescaped '@' is still one password.
        for match in re.finditer(r"(?:^|[\s/\"'=])[^\s:/@\"']*:(?P<pw>[^\s/]*[^\s/@])@[^\s@]*", text):
            found.append(match.group("pw"))
    for match in re.finditer(r"(?i)\bpassword\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))", text):
        found.append(match.group(1) if match.group(1) is not None else match.group(2))
    return [p for p in dict.fromkeys(found) if p]


def _credential_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            group = "value" if "value" in pattern.groupindex else 0
            if _looks_like_credential(match.group(group)):
                spans.append(match.span(group))
    return spans


def credential_literals(text: str) -> list[str]:
    """The credential-shaped literals in `text` (a JWT, a Bearer token, a value given to an apikey header...)."""
    found = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            value = match.group("value" if "value" in pattern.groupindex else 0)
            if _looks_like_credential(value):
                found.append(value.replace('\\"', '"'))
    return list(dict.fromkeys(found))


def learn_credentials(text: str) -> int:
    """Register every credential-shaped literal in `text` (e.g. a `cron.job` command), so that the value is masked
    in all its forms wherever else it shows up (a queued request's headers, a base64 log line)."""
    literals = credential_literals(text)
    for value in literals:
        register(value)
        if value.lower().startswith(("bearer ", "basic ")):
            register(value.split(None, 1)[1])
    return len(literals)


_TOKEN = re.compile(r"(?i)(?:(?:bearer|basic|token)\s+)?(?P<token>[A-Za-z0-9._~+/=:-]{8,})")


def _looks_like_credential(value: str) -> bool:
    """A token-shaped literal (no spaces, quotes or escapes), not a `$VAR` reference, a mask or an ordinary word."""
    if "%" in value:
        from urllib.parse import unquote

        value = unquote(value)
    match = _TOKEN.fullmatch(value)
    if match is None:
        return False
    value = match.group("token")
    has_digit = any(c.isdigit() for c in value)
    mixed_case = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return has_digit or mixed_case or (len(value) >= 16 and any(c in "_-." for c in value))


def redact(text: str) -> str:
    """Replace every registered secret form and every credential-shaped literal in `text` by the mask."""
    if not text:
        return text
    # A report masks the same cells (job names, states, times) over and over: remember short texts' answers until
    # a new secret is registered (register() empties the memo).
    if len(text) <= _MEMO_TEXT:
        known = _masked.get(text)
        if known is not None:
            return known
        generation = _generation
        masked = _redact(text)
        if len(_masked) >= _MEMO_SIZE:
            _masked.clear()
        if generation == _generation:  # no secret was registered meanwhile (another thread)
            _masked[text] = masked
        return masked
    return _redact(text)


def _redact(text: str) -> str:
    spans = _credential_spans(text) if _may_hold_credentials(text) else []
    for form in _ordered:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    position = 0
    current_start, current_end = spans[0]
    for start, end in spans[1:]:
        if start <= current_end:
            current_end = max(current_end, end)
            continue
        out += [text[position:current_start], MASK]
        position = current_end
        current_start, current_end = start, end
    out += [text[position:current_start], MASK, text[current_end:]]
    return "".join(out)


_HINTS = re.compile(
    r"(?i)eyJ|bearer|basic|token|authorization|apikey|api[-_]key|secret|password|passwd|cookie|x-|key=|sig(?:nature)?="
)


def _may_hold_credentials(text: str) -> bool:
    return _HINTS.search(text) is not None


def mask_preview(value: str | None) -> str:
    """At most the first 4 characters and the length: enough to tell two secrets apart."""
    if not value:
        return "(empty)"
    if len(value) < 12:
        return f"{MASK} ({len(value)} chars)"
    return f"{value[:4]}{MASK} ({len(value)} chars)"


class MaskingStream:
    """A text stream that masks every write before passing it on: the last step before stdout or stderr."""

    def __init__(self, inner: IO[str]) -> None:
        self._inner = inner

    @property
    def inner(self) -> IO[str]:
        return self._inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def clear_for_tests() -> None:
    global _ordered
    with _lock:
        _values.clear()
        _forms.clear()
        _ordered = ()
        _bump()
