"""`cronctl doctor`: the checklist as a report. Exit 0 all pass, 1 warnings, 2 failures."""

from __future__ import annotations

from typing import Any

from cronctl.evaluate.doctor import Check, exit_code
from cronctl.output.report import Report, Table, Text, mark


def doctor_report(checks: list[Check], runbook: str | None) -> Report:
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "warn", "fail", "skip")}
    code = exit_code(checks)
    # The shared severity words for the eye (✓ ok, ! warn, ✗ crit, ? unknown); JSON keeps pass/warn/fail/skip.
    rows = [[mark(c.status, "doctor", show="severity"), c.name, c.detail, c.fix or "-"] for c in checks]
    # Stacked on a narrow terminal, each check's block opens with its name and verdict.
    sections: list[Any] = [Table(["status", "check", "detail", "fix"], rows, wrap=(2, 3), head=(1, 0))]
    # Failures first; each fix in full (table cells are trimmed, and a GRANT cut short is no fix).
    fixes = sorted((c for c in checks if c.status in ("fail", "warn") and c.fix), key=lambda c: c.status != "fail")
    for c in fixes:
        sections.append(Text(f"fix {c.name}: {c.fix}", tone="crit" if c.status == "fail" else "warn"))
    if fixes:
        sections.append(Text(f"{len(fixes)} fix(es) listed above; run cronctl doctor again after applying them.",
                             tone="warn" if code == 1 else "crit"))  # fmt: skip
    headline = f"{counts['pass']} passed, {counts['warn']} warning(s), {counts['fail']} failed"
    if counts["skip"]:
        headline += f", {counts['skip']} skipped"
    return Report(
        data={
            "runbook": runbook,
            "summary": counts,
            "exit_code": code,
            "checks": [
                {"id": c.id, "name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix or None}
                for c in checks
            ],
        },
        sections=sections,
        title="cronctl doctor" + (f": {runbook}" if runbook else ""),
        headline=headline,
        tone={0: "ok", 1: "warn", 2: "crit"}[code],
        exit_code=code,
    )
