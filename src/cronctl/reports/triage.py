"""`cronctl triage`: the judged snapshot (`evaluate.snapshot.Triage`) as a report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cronctl.evaluate.findings import Finding
from cronctl.evaluate.health import JobHealth
from cronctl.evaluate.snapshot import Triage
from cronctl.evaluate.triage import STATUS_EXIT
from cronctl.output.report import Report, Section, Text
from cronctl.records import Collected, Run, Silence
from cronctl.reports.locks import verdict_json
from cronctl.runbook.model import Runbook


def _run_json(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "status": run.status,
        "source": run.source,
        "http_status": run.http_status,
        "message": run.message,
    }


def _last_success(h: JobHealth) -> datetime | None:
    """When the newest successful run among the runs read ended (or started); None when none succeeded."""
    for run in h.outcomes:
        if run.status == "succeeded":
            return run.finished_at or run.started_at
    return None


def to_json(result: Triage, runbook: Runbook, since: float) -> dict[str, Any]:
    collected = result.collected
    return {
        "status": result.status,
        "generated_at": collected.now,
        "runbook": runbook.name,
        "profile": runbook.profile,
        "since_seconds": since,
        "reasons": result.reasons,
        "jobs": [
            {
                "name": h.name,
                "state": h.state,
                "reason": h.reason,
                "last_run": _run_json(h.last_run),
                "next_run": h.next_run,
                "last_success_at": _last_success(h),
                "consecutive_failures": h.consecutive_failures,
                "missed_runs": h.missed_runs,
                "durations": h.durations.to_json(),
                "outcomes": h.strip,
                "grace_seconds": h.grace,
                "sources": [n.to_json() for n in collected.jobs[h.name].notes],
                "severity": h.tone,
                "expect": h.expect,
                "thresholds": h.thresholds_json(),
                "silenced": _silence_json(result.silence_of_job(h.name)),
            }
            for h in result.health
        ],
        "failures": [g.to_json() for g in result.failures],
        "backlog": [{**b.to_json(), "silenced": _silence_json(result.silence_of_job(b.job))} for b in result.backlogs],
        "locks": [
            {**verdict_json(v), "silenced": _silence_json(result.silence_of_job(v.lock.name))} for v in result.locks
        ],
        "checks": [{**c.to_json(), "silenced": _silence_json(result.silenced.everything)} for c in result.checks],
        "findings": [_finding_json(f, result, runbook) for f in result.findings],
        "as_of": collected.until,
        # Sources the snapshot did not read at all, and why (the database, when nothing needs it).
        "sources": [result.database.to_json()] if result.database is not None else [],
        "pg_net": _pg_net_json(collected),
        "round_trips": collected.round_trips,
        "silences": [s.to_json() for s in result.silenced.silences],
        "silenced_reasons": result.silenced_reasons,
        "silence_notes": collected.silence_notes,
        "hygiene": [c.to_json() for c in result.hygiene],
    }


def _silence_json(silence: Silence | None) -> dict[str, Any] | None:
    return silence.brief() if silence is not None else None


def _finding_json(finding: Finding, result: Triage, runbook: Runbook) -> dict[str, Any]:
    """A finding's documented keys, plus `commands`: the exact cronctl commands its action names or implies."""
    from cronctl.reports.triage_view import commands

    return {
        **finding.to_json(),
        "commands": [] if finding.ruled_out else commands(finding, result, runbook),
        "silenced": _silence_json(result.silence_of_finding(finding)),
    }


def _pg_net_json(collected: Collected) -> dict[str, Any] | None:
    if not collected.uses_pg_net:
        return None
    counts: dict[str, int] = {}
    if collected.attribution is not None:
        for answer in collected.attribution.answers.values():
            counts[answer.attribution] = counts.get(answer.attribution, 0) + 1
    return {
        "tracking": collected.tracking,
        "tracking_note": collected.tracking_note,
        "readable": collected.net_note is None,
        "note": collected.net_note,
        "queued": len(collected.queue) if collected.queue_read else None,
        "attribution": counts,
        "unlinked_answers": len(collected.attribution.unlinked) if collected.attribution is not None else None,
    }


def headline(result: Triage) -> str:
    from cronctl.reports.triage_view import headline as status_line

    return status_line(result)


def triage_report(
    result: Triage,
    runbook: Runbook,
    since: float,
    *,
    watch_note: str | None = None,
    brief: bool = False,
    changes: Section | None = None,
) -> Report:
    """The snapshot as a report. `brief`: the Markdown for one chat message (healthy detail left out, at most
    CHAT_LIMIT characters); `changes`: what changed since the previous `--watch` refresh, shown first."""
    from cronctl.reports.triage_view import CHAT_LIMIT, RULED_OUT_TITLE, sections, title

    shown = sections(result, runbook, since, brief=brief, changes=changes)
    # The ruled-out modes stay last (issue 14): silences and hygiene checks go just before them.
    last = len(shown) - 1 if shown and getattr(shown[-1], "title", None) == RULED_OUT_TITLE else len(shown)
    shown[last:last] = _silence_and_hygiene_sections(result, brief=brief)
    if watch_note:
        shown.insert(0, Text(watch_note, tone="info"))
    data = to_json(result, runbook, since)
    return Report(
        data=data,
        sections=shown,
        title=title(result, runbook, since),
        headline=headline(result),
        tone=result.status,
        exit_code=STATUS_EXIT[result.status],
        markdown_limit=CHAT_LIMIT if brief else None,
        markdown_more="`cronctl triage -f markdown --full` has every table" if brief else None,
    )


def _silence_and_hygiene_sections(result: Triage, *, brief: bool) -> list[Section]:
    """The silences in force (what they keep out of the status), and the hygiene checks (never in the status)."""
    from cronctl.reports.silences import hygiene_table, silences_section

    out: list[Section] = []
    if result.silenced or result.collected.silence_notes:
        out += silences_section(result.silenced.silences, result.silenced_reasons, result.collected)
    warned = [c for c in result.hygiene if c.verdict == "warn"]
    if result.hygiene and (warned or not brief):
        out.append(hygiene_table(result.hygiene if not brief else warned))
    return out
