"""Fleet triage's report: a summary line per system, then one section per system, worst first."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cronctl.durations import format_duration
from cronctl.output.report import KeyValues, Report, Section, Table, Text
from cronctl.records import SystemResult

# Worst wins. `unknown` ranks above `warn` and below `crit`, as in a single triage: unknown is said only when
# nothing critical was found.
RANK = {"ok": 0, "warn": 1, "unknown": 2, "crit": 3}
STATUS_EXIT = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}
STATUS_WORD = {"ok": "OK", "warn": "WARNING", "crit": "CRITICAL", "unknown": "UNKNOWN"}


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=lambda s: RANK.get(s, 2), default="unknown")


def _system_json(result: SystemResult) -> dict[str, Any]:
    return {
        "name": result.label,
        "runbook": result.runbook,
        "path": str(result.member.path),
        "profile": result.member.profile,
        "status": result.status,
        "exit_code": STATUS_EXIT.get(result.status, 3),
        "error": result.error,
        "database": result.database,
        "seconds": round(result.seconds, 3),
        "triage": result.report.data if result.report is not None else None,
    }


def _summary(result: SystemResult) -> str:
    if result.error is not None:
        return result.error
    return str(result.report.headline or "") if result.report is not None else ""


def _shared_databases(results: Sequence[SystemResult]) -> list[str]:
    """Systems that resolve to the same database: usually a variable exported in the shell that wins over every
    profile's own (the environment is never overridden)."""
    by_target: dict[str, list[str]] = {}
    for result in results:
        if result.database:
            by_target.setdefault(result.database, []).append(result.label)
    return [
        f"{', '.join(labels)} read the same database {target}: if they are different systems, give each its own "
        "variable (one exported in the shell or set in .env wins over every profile's vars)"
        for target, labels in by_target.items()
        if len(labels) > 1
    ]


def _prefixed(section: Section, label: str) -> Section:
    title = getattr(section, "title", None)
    if not title or isinstance(section, Text):
        return section
    copy: Section = dataclasses.replace(section)
    copy.title = f"{label} · {title}"  # type: ignore[union-attr]
    return copy


def fleet_report(results: Sequence[SystemResult], since: float, now: datetime | None = None) -> Report:
    status = worst([r.status for r in results])
    not_ok = [r for r in results if r.status != "ok"]
    reasons = [f"{r.label}: {STATUS_WORD.get(r.status, r.status)}" + (f": {r.error}" if r.error else "")
               for r in sorted(not_ok, key=lambda r: -RANK.get(r.status, 2))]  # fmt: skip
    data = {
        "status": status,
        "generated_at": now or datetime.now(UTC),
        "since_seconds": since,
        "reasons": reasons,
        "systems": [_system_json(r) for r in results],
    }
    ordered = sorted(results, key=lambda r: -RANK.get(r.status, 2))  # stable: the order given within a status
    sections: list[Section] = [
        KeyValues(
            [
                ("generated", data["generated_at"]),
                ("systems", f"{len(results)} ({len(not_ok)} not ok)"),
                ("failure window", f"{format_duration(since)} (at least one schedule interval per job)"),
            ]
        ),
        Table(
            ["system", "status", "database", "took", "summary"],
            [
                [r.label, STATUS_WORD.get(r.status, r.status), r.database or "-", f"{r.seconds:.2f}s", _summary(r)]
                for r in ordered
            ],
            title="Systems",
            wrap=(4,),
        ),
    ]
    sections += [Text(text, tone="warn") for text in _shared_databases(results)]
    for result in ordered:
        tone = result.status if result.status in ("ok", "warn", "crit") else "warn"
        if result.report is None:
            sections.append(Text(f"{result.label}: UNKNOWN: {result.error}", tone="warn"))
            continue
        if result.status == "ok":
            # A healthy system is its one line; its jobs are in the JSON (or `cronctl triage` on it alone).
            sections.append(Text(f"{result.label}: {result.report.headline}", tone="ok"))
            continue
        sections.append(Text(f"{result.label}: {result.report.headline}", tone=tone))
        sections += [_prefixed(s, result.label) for s in result.report.sections]
    if not_ok:
        brief = [f"{r.label} {STATUS_WORD.get(r.status, r.status)}" for r in ordered if r.status != "ok"]
        shown = "; ".join(brief[:4]) + (f" (+{len(brief) - 4} more)" if len(brief) > 4 else "")
        headline = f"{STATUS_WORD[status]}: {len(not_ok)} of {len(results)} system(s) not ok: {shown}"
    else:
        headline = f"OK: {len(results)} system(s) healthy"
    return Report(
        data=data,
        sections=sections,
        title=f"triage: {len(results)} systems",
        headline=headline,
        tone=status if status != "unknown" else "warn",
        exit_code=STATUS_EXIT[status],
    )
