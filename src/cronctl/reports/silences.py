"""`cronctl silence`, `silence list`, `silence clear` as reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronctl.durations import format_duration
from cronctl.output.report import KeyValues, Report, Section, Table, Text

if TYPE_CHECKING:
    from cronctl.records import Found, Silence, Where


def _rows(silences: Sequence[Silence], now: datetime | None) -> list[list[Any]]:
    rows = []
    for s in silences:
        left = format_duration((s.until - now).total_seconds()) if now is not None else "-"
        rows.append([s.target, s.until, left, s.author, s.store, s.reason])
    return rows


def _table(silences: Sequence[Silence], now: datetime | None, title: str | None = None) -> Table:
    return Table(["job", "until", "left", "author", "store", "reason"], _rows(silences, now), title=title,
                 wrap=(5,), empty="(no silence in force)")  # fmt: skip


def change_report(
    action: str,
    silence: Silence,
    where: Where,
    path: Path,
    statements: list[str],
    *,
    dry_run: bool,
    result: str,
    replaced: Sequence[Silence] = (),
) -> Report:
    """`cronctl silence JOB|--all`: what was (or would be) stored, and where."""
    location = where.describe(path)
    data: dict[str, Any] = {
        "action": f"silence {action}",
        "dry_run": dry_run,
        "result": result,
        "silence": silence.to_json(),
        "store": where.store,
        "where": location,
        "why_local": where.why_local,
        "replaced": [s.to_json() for s in replaced],
        "sql": statements,
    }
    lasts = format_duration((silence.until - silence.created_at).total_seconds())
    items: list[tuple[str, Any]] = [
        ("silenced", silence.target),
        ("runbook", silence.runbook),
        ("until", silence.until),
        ("for", lasts),
        ("author", silence.author),
        ("reason", silence.reason),
        ("stored in", location),
    ]
    if where.why_local:
        items.append(("why not the database", where.why_local))
    sections: list[Section] = [KeyValues(items)]
    for old in replaced:
        sections.append(Text(f"replaces the silence until {old.until:%Y-%m-%d %H:%M}Z by {old.author}", tone="muted"))
    if where.store == "local":
        sections.append(
            Text("Only this user on this machine sees a local silence; other operators' triage does not.", tone="warn")
        )
    if statements:
        label = "SQL that would run" if dry_run else "SQL that ran"
        sections.append(Text(f"{label} (one transaction):\n" + ";\n\n".join(statements) + ";", tone="muted"))
    headline = (
        f"dry run: would silence {silence.target} for {lasts} ({where.store}); nothing changed"
        if dry_run
        else f"silenced {silence.target} until {silence.until:%Y-%m-%d %H:%M}Z ({where.store})"
    )
    return Report(data=data, sections=sections, title=f"silence: {silence.runbook}", headline=headline,
                  tone="info" if dry_run else ("warn" if where.store == "local" else "ok"))  # fmt: skip


def _stores(found: Found) -> dict[str, Any]:
    return {"database": found.database, "local": found.local}


def _store_notes(found: Found) -> list[Section]:
    out: list[Section] = []
    db = found.database
    if db.get("state") not in (None, "ok", "not_installed"):
        out.append(Text(f"database silences: {db.get('detail')}", tone="warn"))
    if found.local.get("state") == "error":
        out.append(Text(f"local silences: {found.local.get('detail')}", tone="warn"))
    return out


def list_report(runbook: str, now: datetime, found: Found) -> Report:
    """`cronctl silence list`: the silences in force, from both stores."""
    data = {
        "runbook": runbook,
        "generated_at": now,
        "silences": [s.to_json() for s in found.silences],
        "stores": _stores(found),
    }
    sections: list[Section] = [_table(found.silences, now)]
    sections += _store_notes(found)
    count = len(found.silences)
    headline = f"{count} silence(s) in force" if count else "no silence in force"
    return Report(data=data, sections=sections, title=f"silences: {runbook}", headline=headline, tone="info")


def clear_report(
    runbook: str,
    job: str | None,
    cleared: Sequence[Silence],
    found: Found,
    path: Path,
    statements: list[str],
    *,
    dry_run: bool,
) -> Report:
    """`cronctl silence clear JOB|--all`: what was (or would be) removed; what still covers the job."""
    left = [s for s in found.silences if s not in cleared]
    data: dict[str, Any] = {
        "action": "silence clear",
        "runbook": runbook,
        "job": job,
        "all": job is None,
        "dry_run": dry_run,
        "cleared": [s.to_json() for s in cleared],
        "remaining": [s.to_json() for s in left],
        "stores": _stores(found),
        "sql": statements,
    }
    sections: list[Section] = [_table(cleared, None, "Would clear" if dry_run else "Cleared")]
    still = [s for s in left if s.job is None and job is not None]
    if still:
        sections.append(Text(f"{job} stays silenced by the silence of all jobs until {still[0].until:%Y-%m-%d %H:%M}Z "
                             "(cronctl silence clear --all removes it)", tone="warn"))  # fmt: skip
    sections += _store_notes(found)
    what = job if job is not None else "every job"
    if not cleared:
        headline = f"no silence of {what} in force: nothing to clear"
    elif dry_run:
        headline = f"dry run: would clear {len(cleared)} silence(s) of {what}; nothing changed"
    else:
        headline = f"cleared {len(cleared)} silence(s) of {what}"
    return Report(data=data, sections=sections, title=f"silence clear: {runbook}", headline=headline,
                  tone="info" if dry_run or not cleared else "ok")  # fmt: skip


def silences_section(silences: Sequence[Silence], muted: Sequence[str], collected: Any) -> list[Section]:
    """Triage's view of the silences in force: who silenced what until when, and what they keep out of the status."""
    out: list[Section] = [_table(silences, collected.now, "Silenced (not counted in the status)")]
    if muted:
        out.append(Text("kept out of the status: " + "; ".join(muted), tone="muted"))
    for note in collected.silence_notes:
        out.append(Text(f"silences: {note}", tone="warn"))
    return out


def hygiene_table(checks: Sequence[Any]) -> Table:
    """Triage's hygiene checks (they never change its status or exit code)."""
    from cronctl.output.report import mark

    rows = [[c.id, mark(c.verdict, "check"), c.detail, c.fix or "-"] for c in checks]
    return Table(["check", "verdict", "detail", "fix"], rows, title="Hygiene (not counted in the status)",
                 wrap=(2, 3), empty="(nothing to check)")  # fmt: skip
