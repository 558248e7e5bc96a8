"""A backlog check's value against its thresholds. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cronctl.runbook.model import BacklogSpec


@dataclass(frozen=True)
class BacklogResult:
    name: str
    value: float | None
    warn: float
    crit: float | None
    verdict: str  # ok | warn | crit | error
    oldest: datetime | None = None
    error: str | None = None
    job: str | None = None
    description: str = ""

    @property
    def ok(self) -> bool | None:
        return None if self.verdict == "error" else self.verdict == "ok"

    @property
    def threshold(self) -> float:
        """The threshold the value is judged against first (warn)."""
        return self.warn

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "crit": self.crit,
            "ok": self.ok,
            "verdict": self.verdict,
            "oldest": self.oldest,
            "job": self.job,
            "error": self.error,
        }


def judge(spec: BacklogSpec, value: Any, oldest: datetime | None = None) -> BacklogResult:
    """`value` reaching `crit` is crit, reaching `warn` is warn; a non-number is an error."""
    number = _number(value)
    if number is None:
        return failed(spec, f"the query returned {value!r} as value, not a number")
    if spec.crit is not None and number >= spec.crit:
        verdict = "crit"
    elif number >= spec.warn:
        verdict = "warn"
    else:
        verdict = "ok"
    return BacklogResult(spec.name, number, spec.warn, spec.crit, verdict, oldest, None, spec.job, spec.description)


def failed(spec: BacklogSpec, error: str) -> BacklogResult:
    return BacklogResult(spec.name, None, spec.warn, spec.crit, "error", None, error, spec.job, spec.description)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if value is None:
        return 0.0  # count(*) over nothing, or max() of nothing: no backlog
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
