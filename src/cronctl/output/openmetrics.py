"""The triage JSON as OpenMetrics text (also read by Prometheus' text parser and node_exporter's textfile
collector, which take `# UNIT` and `# EOF` as comments): what `cronctl triage -f openmetrics` writes
(output/formats/openmetrics.py), and what triage writes for a snapshot it could not collect.

Built from the report's JSON only (the stable contract), for one system or a fleet (`systems`); every series has
the labels `runbook` and `profile` (empty without a profile); per-job series add `job_name` (not `job`, which
Prometheus sets to the scrape job and would rename ours to `exported_job`, as kube-state-metrics avoids too).
Families are written whole, one after another, each with `# HELP` and `# TYPE`; label values are escaped; the
text ends with `# EOF`. Standard library only: nothing here is imported before `-f openmetrics` is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

STATUS_VALUE = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}  # the exit code convention
# Every job state triage knows; a state not listed here is added when it occurs.
JOB_STATES = (
    "ok",
    "running",
    "degraded",
    "unverified",
    "missed",
    "failing",
    "overrunning",
    "stuck",
    "disabled",
    "never_run",
    "unknown",
)
UP_STATES = ("ok", "running")
QUANTILES = (("0.5", "p50_seconds"), ("0.95", "p95_seconds"), ("1.0", "max_seconds"))

# name -> (type, unit, help)
FAMILIES: dict[str, tuple[str, str, str]] = {
    "cronctl_up": ("gauge", "", "1 when cronctl collected this system's snapshot, 0 when it could not"),
    "cronctl_triage_status": ("gauge", "", "Overall triage status: 0 ok, 1 warn, 2 crit, 3 unknown"),
    "cronctl_job_up": ("gauge", "", "1 when the job's state counts as healthy (ok, running, off on purpose), else 0"),
    "cronctl_job_state": ("gauge", "", "1 for the job's current state, 0 for every other state"),
    "cronctl_job_last_success_timestamp_seconds": (
        "gauge",
        "seconds",
        "Unix time of the job's newest successful run among the runs read (absent when none succeeded)",
    ),
    "cronctl_job_missed_runs": ("gauge", "", "Scheduled slots past their grace with no run (capped at 100)"),
    "cronctl_job_consecutive_failures": ("gauge", "", "Newest finished runs that failed, in a row"),
    "cronctl_job_duration_seconds": (
        "summary",
        "seconds",
        "Run durations over the finished runs read (quantile 1.0 is the longest)",
    ),
    "cronctl_backlog_value": ("gauge", "", "The value a backlog check's query returned (absent when it failed)"),
    "cronctl_stale_locks": ("gauge", "", "Locks judged stale, expired or orphaned"),
}


def systems_of(data: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], bool]]:
    """(triage document, collected) for each system: a fleet's `systems`, or the one document."""
    if "systems" in data and "jobs" not in data:
        out: list[tuple[Mapping[str, Any], bool]] = []
        for system in data.get("systems") or []:
            doc = system.get("triage")
            if isinstance(doc, Mapping):
                out.append((doc, True))
            else:
                out.append(({"runbook": system.get("runbook") or system.get("name"),
                             "profile": system.get("profile"), "status": system.get("status") or "unknown"},
                            False))  # fmt: skip
        return out
    return [(data, not data.get("error"))]


def to_openmetrics(data: Mapping[str, Any]) -> str:
    samples: dict[str, list[str]] = {name: [] for name in FAMILIES}
    for doc, collected in systems_of(data):
        base = {"runbook": str(doc.get("runbook") or ""), "profile": str(doc.get("profile") or "")}
        samples["cronctl_up"].append(_sample("cronctl_up", base, 1 if collected else 0))
        status = STATUS_VALUE.get(str(doc.get("status")), 3)
        samples["cronctl_triage_status"].append(_sample("cronctl_triage_status", base, status))
        if not collected:
            continue
        for job in doc.get("jobs") or []:
            _job(samples, base, job)
        for backlog in doc.get("backlog") or []:
            value = _number(backlog.get("value"))
            if value is not None and not backlog.get("error"):
                labels = {**base, "backlog": str(backlog.get("name"))}
                samples["cronctl_backlog_value"].append(_sample("cronctl_backlog_value", labels, value))
        stale = sum(1 for lock in doc.get("locks") or [] if lock.get("stale"))
        samples["cronctl_stale_locks"].append(_sample("cronctl_stale_locks", base, stale))
    lines: list[str] = []
    for name, (kind, unit, text) in FAMILIES.items():
        lines.append(f"# HELP {name} {_escape_help(text)}")
        lines.append(f"# TYPE {name} {kind}")
        if unit:
            lines.append(f"# UNIT {name} {unit}")
        lines.extend(samples[name])
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _job(samples: dict[str, list[str]], base: Mapping[str, str], job: Mapping[str, Any]) -> None:
    labels = {**base, "job_name": str(job.get("name"))}
    state = str(job.get("state"))
    severity = job.get("severity")
    up = severity == "ok" if severity is not None else state in UP_STATES
    samples["cronctl_job_up"].append(_sample("cronctl_job_up", labels, 1 if up else 0))
    states = JOB_STATES if state in JOB_STATES else (*JOB_STATES, state)
    for each in states:
        series = {**labels, "state": each}
        samples["cronctl_job_state"].append(_sample("cronctl_job_state", series, 1 if each == state else 0))
    success = _timestamp(job.get("last_success_at"))
    if success is not None:
        name = "cronctl_job_last_success_timestamp_seconds"
        samples[name].append(_sample(name, labels, success))
    for key, name in (("missed_runs", "cronctl_job_missed_runs"),
                      ("consecutive_failures", "cronctl_job_consecutive_failures")):  # fmt: skip
        value = _number(job.get(key))
        samples[name].append(_sample(name, labels, value if value is not None else 0))
    durations = job.get("durations") or {}
    if durations.get("samples"):
        for quantile, key in QUANTILES:
            value = _number(durations.get(key))
            if value is not None and value >= 0:
                series = {**labels, "quantile": quantile}
                samples["cronctl_job_duration_seconds"].append(_sample("cronctl_job_duration_seconds", series, value))


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value).timestamp()
        except ValueError:
            return None
    return None


def _value(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f'{key}="{_escape_label(value)}"' for key, value in labels.items())


def _sample(name: str, labels: Mapping[str, str], value: float | int) -> str:
    return f"{name}{{{_labels(labels)}}} {_value(value)}"


def metric_names() -> Sequence[str]:
    return tuple(FAMILIES)


def label_names(name: str) -> Iterable[str]:
    """The labels of a family (for the docs test)."""
    base = ("runbook", "profile")
    per_job = (*base, "job_name")
    return {
        "cronctl_job_state": (*per_job, "state"),
        "cronctl_job_duration_seconds": (*per_job, "quantile"),
        "cronctl_backlog_value": (*base, "backlog"),
    }.get(name, per_job if name.startswith("cronctl_job_") else base)
