"""`cronctl locks` and `cronctl locks clear`: reports built from lock verdicts and clear outcomes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cronctl.errors import ExitCode
from cronctl.evaluate.locks import LockVerdict, terminate_sql
from cronctl.output.report import Report, Section, Table, Text, mark
from cronctl.records import BackendRead


def backend_label(verdict: LockVerdict) -> str:
    lock = verdict.lock
    if lock.backend == "table":
        return f"table {lock.detail.get('relation', '')}".strip()
    return lock.backend


def verdict_json(verdict: LockVerdict) -> dict[str, Any]:
    lock = verdict.lock
    return {
        "name": lock.name,
        "backend": lock.backend,
        "key": lock.key,
        "holder": lock.holder,
        "acquired_at": lock.acquired_at,
        "expires_at": lock.expires_at,
        "age_seconds": round(verdict.age, 3) if verdict.age is not None else None,
        "stale": verdict.stale,
        "state": verdict.state,
        "reason": verdict.reason,
        "suspicious": verdict.suspicious,
        "note": verdict.note,
        "pid": lock.detail.get("pid") if lock.backend == "advisory" else None,
        "terminate_sql": terminate_sql(lock) if lock.backend == "advisory" else None,
    }


def _backends_json(reads: Sequence[BackendRead]) -> list[dict[str, Any]]:
    return [
        {
            "backend": r.backend,
            "state": "error" if r.error else "ok",
            "message": r.error,
            "locks": len(r.locks),
        }
        for r in reads
    ]


def _lock_rows(verdicts: Sequence[LockVerdict]) -> list[list[Any]]:
    return [
        [
            v.lock.name,
            mark(v.state, "lock"),
            v.age if v.age is None else _age_cell(v.age),
            v.lock.holder,
            backend_label(v),
        ]
        for v in verdicts
    ]


def _reasons(verdicts: Sequence[LockVerdict]) -> list[Section]:
    """Each lock's reason in full, under the table (it names the evidence: too long for a cell)."""
    return [
        Text(
            f"{v.lock.name} [{backend_label(v)} {v.lock.key}] {v.state}: {v.reason}", tone="warn" if v.stale else "info"
        )
        for v in verdicts
    ]


def _age_cell(age: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=max(age, 0.0))


def _backend_notes(reads: Sequence[BackendRead]) -> list[Section]:
    return [Text(f"{r.backend}: {r.error}", tone="warn") for r in reads if r.error]


def _suspicious_notes(verdicts: Sequence[LockVerdict]) -> list[Section]:
    return [
        Text(f"{v.lock.name} [{backend_label(v)} {v.lock.key}]: {v.note}", tone="warn")
        for v in verdicts
        if v.suspicious and v.note
    ]


def _advisory_notes(verdicts: Sequence[LockVerdict]) -> list[Section]:
    notes: list[Section] = []
    for v in verdicts:
        if v.lock.backend == "advisory" and v.stale:
            notes.append(
                Text(
                    f"{v.lock.name}: advisory locks are not deleted; end the holder with `{terminate_sql(v.lock)}` "
                    f"(or run `cronctl locks clear {v.lock.name} --terminate`)",
                    tone="warn",
                )
            )
    return notes


def list_report(
    verdicts: Sequence[LockVerdict], reads: Sequence[BackendRead], *, stale_only: bool, declared: bool
) -> Report:
    stale = [v for v in verdicts if v.stale]
    shown = stale if stale_only else list(verdicts)
    data = {"locks": [verdict_json(v) for v in shown], "backends": _backends_json(reads)}
    sections: list[Section] = []
    if not declared:
        sections.append(Text("this runbook declares no locks (add [jobs.<name>.lock] tables)", tone="muted"))
    sections.append(
        Table(
            ["job", "state", "age", "holder", "backend"],
            _lock_rows(shown),
            title="Stale locks" if stale_only else "Locks",
            empty="no stale locks" if stale_only else "no locks held",
            wrap=(3, 4),
        )
    )
    sections += _reasons(shown)
    sections += _suspicious_notes(shown)
    sections += _advisory_notes(stale)
    sections += _backend_notes(reads)
    suspicious = sum(1 for v in shown if v.suspicious)
    if stale:
        counts = Counter(v.state for v in stale)
        detail = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        headline, tone = f"{len(stale)} stale lock(s) ({detail}) — clear with `cronctl locks clear --all-stale`", "warn"
    else:
        headline, tone = f"no stale locks ({len(verdicts)} held)", "warn" if suspicious else "ok"
    if suspicious:
        headline += f"; {suspicious} suspicious (see notes)"
    exit_code = ExitCode.NOT_OK if stale else ExitCode.OK
    if reads and all(r.error for r in reads):
        headline, tone, exit_code = "no lock backend could be read", "crit", ExitCode.UNAVAILABLE
    return Report(
        data=data, sections=sections, title="Job locks", headline=headline, tone=tone, exit_code=int(exit_code)
    )


@dataclass
class ClearOutcome:
    """What `locks clear` did with each lock it considered."""

    cleared: list[tuple[LockVerdict, str]] = field(default_factory=list)  # (verdict, action done)
    planned: list[tuple[LockVerdict, str]] = field(default_factory=list)  # dry run: (verdict, statement)
    skipped: list[tuple[LockVerdict | None, str, str]] = field(default_factory=list)  # (verdict, name, reason)
    dry_run: bool = False


def _skipped_json(item: tuple[LockVerdict | None, str, str]) -> dict[str, Any]:
    verdict, name, reason = item
    return {
        "name": name,
        "backend": verdict.lock.backend if verdict else None,
        "key": verdict.lock.key if verdict else None,
        "state": verdict.state if verdict else None,
        "reason": reason,
    }


def clear_report(outcome: ClearOutcome, reads: Sequence[BackendRead]) -> Report:
    cleared = [{**verdict_json(v), "action": action} for v, action in outcome.cleared]
    planned = [{**verdict_json(v), "statement": statement} for v, statement in outcome.planned]
    skipped = [_skipped_json(item) for item in outcome.skipped]
    data: dict[str, Any] = {
        "dry_run": outcome.dry_run,
        "cleared": cleared,
        "skipped": skipped,
        "backends": _backends_json(reads),
    }
    if outcome.dry_run:
        data["would_clear"] = planned
    sections: list[Section] = []
    if outcome.dry_run:
        sections.append(
            Table(
                ["job", "backend", "holder", "state"],
                [[v.lock.name, backend_label(v), v.lock.holder, mark(v.state, "lock")] for v, _ in outcome.planned],
                title="Would clear (dry run, nothing changed)",
                empty="nothing to clear",
                wrap=(2,),
            )
        )
        # The exact statements, in full (a table cell would cut them).
        sections += [Text(f"{v.lock.name}: {statement}", tone="muted") for v, statement in outcome.planned]
    else:
        sections.append(
            Table(
                ["job", "backend", "holder", "state", "done"],
                [[v.lock.name, backend_label(v), v.lock.holder, mark(v.state, "lock"), a] for v, a in outcome.cleared],
                title="Cleared",
                empty="nothing cleared",
                wrap=(2, 4),
            )
        )
    if outcome.skipped:
        sections.append(Text("Skipped", tone="info"))
        sections += [
            Text(f"{name} [{backend_label(v) if v else '-'}] {v.state if v else '-'}: {reason}", tone="warn")
            for v, name, reason in outcome.skipped
        ]
    sections += _backend_notes(reads)
    remaining = [v for v, _, _ in outcome.skipped if v is not None and v.stale]
    if outcome.dry_run:
        remaining += [v for v, _ in outcome.planned if v.stale]
    verb = "would clear" if outcome.dry_run else "cleared"
    count = len(outcome.planned) if outcome.dry_run else len(outcome.cleared)
    headline = f"{verb} {count} lock(s); {len(outcome.skipped)} skipped"
    if remaining:
        headline += f"; {len(remaining)} stale lock(s) remain"
    tone = "warn" if remaining else "ok"
    exit_code = ExitCode.NOT_OK if remaining else ExitCode.OK
    if reads and all(r.error for r in reads):
        # Nothing could be seen, so nothing was judged: that is not a clean bill of health.
        headline, tone, exit_code = "no lock backend could be read; nothing was cleared", "crit", ExitCode.UNAVAILABLE
    return Report(
        data=data, sections=sections, title="Clear job locks", headline=headline, tone=tone, exit_code=int(exit_code)
    )
