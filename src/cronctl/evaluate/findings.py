"""Observed symptoms matched against the runbook's known failure modes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cronctl.runbook.model import FailureMode

_SEVERITY_ORDER = {"crit": 0, "warn": 1, "info": 2}


@dataclass(frozen=True)
class Symptom:
    """Something a command observed: a failure group, a job state, a trigger verdict, a failed check."""

    kind: str  # failure | state | verdict | check | lock ...
    job: str | None
    group: str | None = None
    state: str | None = None
    verdict: str | None = None
    http_status: int | None = None
    message: str | None = None
    check: str | None = None
    detail: str = ""

    def describe(self) -> str:
        parts = [f"job {self.job}" if self.job else None]
        for label, value in (
            ("group", self.group),
            ("state", self.state),
            ("verdict", self.verdict),
            ("http", self.http_status),
            ("check", self.check),
        ):
            if value is not None:
                parts.append(f"{label} {value}")
        if self.message:
            parts.append(f"message: {self.message}")
        if self.detail:
            parts.append(self.detail)
        return "; ".join(p for p in parts if p) or self.kind


@dataclass(frozen=True)
class Finding:
    """A known failure mode that applies: what it looks like, why, and what to do."""

    severity: str
    job: str | None
    symptom: str  # the runbook's description of the symptom
    cause: str
    action: str
    evidence: str  # what was observed that matched
    kind: str = "runbook"  # runbook: a known failure mode of the runbook; root_cause: a platform cause
    id: str | None = None  # root causes: scheduler_down, pg_net_missing, pg_net_worker_down, ...
    jobs: tuple[str, ...] = ()  # root causes: the jobs whose state it explains
    ruled_out: str | None = None  # evidence that contradicts the stated cause
    # A root cause of what cannot be seen (a vendor token), not of a failure: it ranks by severity among the
    # runbook's modes instead of before them, so a known critical failure still comes first.
    blind_spot: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "severity": self.severity,
            "job": self.job,
            "jobs": list(self.jobs),
            "symptom": self.symptom,
            "cause": self.cause,
            "action": self.action,
            "evidence": self.evidence,
            "ruled_out": self.ruled_out is not None,
            "ruled_out_by": self.ruled_out,
        }


def matches(mode: FailureMode, symptom: Symptom) -> bool:
    """True when every condition the mode sets holds for the symptom (and it sets at least one)."""
    conditions = (mode.group, mode.state, mode.verdict, mode.http_status, mode.message, mode.check)
    if all(c is None for c in conditions):
        return False
    if mode.job is not None and mode.job != symptom.job:
        return False
    for wanted, seen in (
        (mode.group, symptom.group),
        (mode.state, symptom.state),
        (mode.verdict, symptom.verdict),
        (mode.check, symptom.check),
    ):
        if wanted is not None and (seen is None or wanted.casefold() != seen.casefold()):
            return False
    if mode.http_status is not None and mode.http_status != symptom.http_status:
        return False
    if mode.message is not None:
        if symptom.message is None:
            return False
        try:
            if re.search(mode.message, symptom.message, re.IGNORECASE) is None:
                return False
        except re.error:
            return False
    return True


def match(modes: Sequence[FailureMode], symptoms: Sequence[Symptom]) -> list[Finding]:
    """One finding per (mode, symptom) pair that matches, most severe first, then in symptom order."""
    found: list[tuple[int, int, Finding]] = []
    seen: set[tuple[int, str | None, str]] = set()
    for s_index, symptom in enumerate(symptoms):
        for m_index, mode in enumerate(modes):
            if not matches(mode, symptom):
                continue
            evidence = symptom.describe()
            key = (m_index, symptom.job, evidence)
            if key in seen:
                continue
            seen.add(key)
            finding = Finding(
                severity=mode.severity,
                job=symptom.job if symptom.job is not None else mode.job,
                symptom=mode.symptom,
                cause=mode.cause,
                action=mode.action,
                evidence=evidence,
            )
            found.append((_SEVERITY_ORDER.get(mode.severity, 3), s_index, finding))
    found.sort(key=lambda item: (item[0], item[1]))
    return [f for _, _, f in found]
