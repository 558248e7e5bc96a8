"""`cronctl logs <job>`: one job's runs from every source, newest first."""

from __future__ import annotations

from typing import Any

from cronctl.durations import format_duration
from cronctl.output.report import Report, Section, Table, Text, mark
from cronctl.records import HistoryResult, Run

MESSAGE_LIMIT = 120

STATE_TONE = {"ok": "ok", "not_installed": "warn", "error": "crit"}


def trim(message: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    if message is None:
        return None
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_row(run: Run, answered: frozenset[str] = frozenset()) -> list[Any]:
    """One run as a table row. `answered`: pg_cron runids whose outcome is a pg_net answer listed too, so
    pg_cron's `succeeded` for them only means the request was queued, and says so."""
    message = trim(run.message)
    if run.source == "pg_cron" and run.status == "succeeded" and run.run_id in answered:
        message = "request queued (pg_cron's succeeded); the outcome is its pg_net answer"
    source = run.source
    if run.source == "pg_net":
        source = f"pg_net ({run.detail.get('attribution', 'none')})"
    return [
        run.started_at,
        run.finished_at,
        format_duration(run.duration) if run.duration is not None else "-",
        mark(run.status, "run"),
        run.http_status,
        source,
        message,
    ]


def answered_runids(runs: list[Run]) -> frozenset[str]:
    return frozenset(
        str(r.detail["pg_cron_runid"]) for r in runs if r.source == "pg_net" and r.detail.get("pg_cron_runid")
    )


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


def _run_json(run: Run) -> dict[str, Any]:
    """A run as JSON; answers that only could be this run's are listed apart (`ambiguous_answers`)."""
    out = run.to_json()
    if "possible_answers" in out["detail"]:
        out["detail"] = {k: v for k, v in out["detail"].items() if k != "possible_answers"}
    return out


def ambiguous_answers(runs: list[Run]) -> list[dict[str, Any]]:
    """pg_net answers that could belong to this job's unverified runs or to a co-firing job's: not its runs."""
    seen: dict[Any, dict[str, Any]] = {}
    for run in runs:
        for answer in run.detail.get("possible_answers", []) or []:
            entry = seen.setdefault(answer.get("response_id"), {**answer, "runs": [], "candidates": []})
            entry["runs"].append(run.detail.get("pg_cron_runid"))
            for c in run.detail.get("candidates", []):
                if c not in entry["candidates"]:
                    entry["candidates"].append(c)
    return list(seen.values())


def logs_report(result: HistoryResult, *, limit: int, failed_only: bool, since: str | None) -> Report:
    runs = result.runs
    failed = sum(1 for r in runs if r.status == "failed")
    data: dict[str, Any] = {
        "job": result.job,
        "function": result.function,
        "filters": {"limit": limit, "failed_only": failed_only, "since": since},
        "sources": [s.to_json() for s in result.sources],
        "runs": [_run_json(r) for r in runs],
        "ambiguous_answers": ambiguous_answers(runs),
    }
    answered = answered_runids(runs)
    rows = [run_row(r, answered) for r in runs]
    sections: list[Section] = [Table(RUN_COLUMNS, rows, wrap=(6,), empty="(no runs)")]
    sections.extend(source_notes(result))
    ambiguous = [r for r in runs if r.source == "pg_net" and r.detail.get("attribution") == "ambiguous"]
    if ambiguous:
        others = sorted({c for r in ambiguous for c in r.detail.get("candidates", []) if c})
        sections.append(
            Text(
                f"{len(ambiguous)} run(s) unverified: their pg_net answers are ambiguous between co-firing jobs "
                f"({', '.join(others)}); `cronctl pgcron track install` links every answer exactly",
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
