"""`cronctl logs <job>`: one job's runs from every source, newest first."""

from __future__ import annotations

from typing import Any

from cronctl.durations import format_duration
from cronctl.output.report import Report, Section, Table, Text
from cronctl.records import Run
from cronctl.sources.history import HistoryResult

MESSAGE_LIMIT = 120

STATE_TONE = {"ok": "ok", "not_installed": "warn", "error": "crit"}


def trim(message: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    if message is None:
        return None
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_row(run: Run) -> list[Any]:
    return [
        run.started_at,
        run.finished_at,
        format_duration(run.duration) if run.duration is not None else "-",
        run.status,
        run.http_status,
        run.source,
        trim(run.message),
    ]


RUN_COLUMNS = ["start", "end", "duration", "status", "http", "source", "message"]


def source_notes(result: HistoryResult) -> list[Section]:
    notes: list[Section] = []
    for state in result.sources:
        if state.state == "not_installed":
            notes.append(Text(f"{state.name}: not installed — {state.message}", tone="warn"))
        elif state.state == "error":
            notes.append(Text(f"{state.name}: {state.message}", tone="crit"))
        elif state.message:
            # Read fine but may not show everything, e.g. row-level security hiding rows from this role.
            notes.append(Text(f"{state.name}: {state.message}", tone="warn"))
    return notes


def logs_report(result: HistoryResult, *, limit: int, failed_only: bool, since: str | None) -> Report:
    runs = result.runs
    failed = sum(1 for r in runs if r.status == "failed")
    data: dict[str, Any] = {
        "job": result.job,
        "function": result.function,
        "filters": {"limit": limit, "failed_only": failed_only, "since": since},
        "sources": [s.to_json() for s in result.sources],
        "runs": [r.to_json() for r in runs],
    }
    sections: list[Section] = [Table(RUN_COLUMNS, [run_row(r) for r in runs], wrap=(6,), empty="(no runs)")]
    sections.extend(source_notes(result))
    ambiguous = sum(1 for r in runs if r.detail.get("ambiguous"))
    if ambiguous:
        sections.append(
            Text(
                f"{ambiguous} pg_net response(s) fall in the window of more than one job: link is ambiguous",
                tone="warn",
            )
        )
    headline = f"{len(runs)} run(s)" + (f", {failed} failed" if failed else "")
    if result.function:
        headline += f" — calls {result.function}"
    tone = "crit" if failed and runs and runs[0].status == "failed" else ("warn" if failed else "ok")
    if any(s.state != "ok" for s in result.sources):
        tone = "warn" if tone == "ok" else tone
    return Report(data=data, sections=sections, title=f"logs: {result.job}", headline=headline, tone=tone)
