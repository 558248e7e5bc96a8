"""Secret hygiene, judged without the value leaving this module: placeholders, length, variety.

Vercel asks for a CRON_SECRET of at least 16 characters; `openssl rand -base64 32` (32 random bytes, 44
characters) is the recommendation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_LENGTH = 16
RECOMMENDED_LENGTH = 32
RECOMMENDED_BYTES = 32
_PLACEHOLDER = re.compile(
    r"^\s*(placeholder|change[-_ ]?me|your[-_ ]|<[^>]*>$|x{3,}|todo\b|replace[-_ ]?me|example|dummy|"
    r"new[-_]secret[-_]value|secret$|password$|test$|\.\.\.|\*{3,})",
    re.IGNORECASE,
)

# Ordered from worst to best; doctor and `secrets check` share these words.
LEVELS = ("missing", "placeholder", "weak", "fair", "strong")


@dataclass(frozen=True)
class Strength:
    level: str  # one of LEVELS
    length: int
    detail: str

    @property
    def ok(self) -> bool:
        return self.level in ("fair", "strong")

    @property
    def status(self) -> str:
        """pass / warn / fail for a checklist."""
        return {"strong": "pass", "fair": "warn"}.get(self.level, "fail")


def looks_placeholder(value: str, prefix: str | None = "placeholder") -> bool:
    if prefix and value.startswith(prefix):
        return True
    return bool(_PLACEHOLDER.match(value))


def judge_secret(value: str | None, *, placeholder_prefix: str | None = "placeholder") -> Strength:
    if not value:
        return Strength("missing", 0, "not set")
    length = len(value)
    if looks_placeholder(value, placeholder_prefix):
        return Strength("placeholder", length, "still a placeholder value")
    return judge_shape(length, distinct=len(set(value)), has_edge_space=value != value.strip())


def judge_shape(length: int, *, distinct: int | None = None, has_edge_space: bool = False) -> Strength:
    """What length (and, when known, character variety) say about a secret."""
    if has_edge_space:
        return Strength("weak", length, "starts or ends with whitespace (a pasted newline?)")
    if length < MIN_LENGTH:
        return Strength("weak", length, f"{length} characters; at least {MIN_LENGTH} needed")
    if distinct is not None and distinct < 8:
        return Strength("weak", length, f"only {distinct} distinct characters; not random")
    if length < RECOMMENDED_LENGTH:
        return Strength(
            "fair", length, f"{length} characters; {RECOMMENDED_BYTES} random bytes recommended (secrets generate)"
        )
    return Strength("strong", length, f"{length} characters")


def judge_stored(length: int, placeholder: bool, edge_quote_or_space: bool = False) -> Strength:
    """A secret kept in a database table, known only by its length and flags computed in SQL."""
    if length == 0:
        return Strength("missing", 0, "empty value")
    if placeholder:
        return Strength("placeholder", length, "still a placeholder value")
    if edge_quote_or_space:
        return Strength("weak", length, "starts or ends with a quote or whitespace (no quotes/newlines allowed)")
    return judge_shape(length)
