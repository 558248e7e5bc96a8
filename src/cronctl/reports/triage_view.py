"""How a triage snapshot reads at 3 a.m. (issue 14): what to do first comes first.

1. the status line;
2. the findings, ranked: platform root causes first, then the runbook's known failure modes by severity, each as
   what is wrong → why (the cause and the evidence) → what to do, with the exact cronctl command when there is one;
3. the jobs that are not ok, with the reason;
4. the rest: failure groups, backlog, locks and platform checks (the ones that are not ok first), the jobs that
   are ok, durations and outcome strips, the snapshot's parameters;
5. last, marked, the runbook modes the evidence rules out.

Markdown (for the incident channel) keeps the same order, leaves out the healthy detail and stays within one chat
message unless `--full`. The JSON payload is built elsewhere (reports/triage.py) and does not depend on this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cronctl.durations import format_duration
from cronctl.evaluate.findings import Finding
from cronctl.evaluate.health import JobHealth
from cronctl.output.report import Item, Items, KeyValues, Mark, Section, Table, Text, mark
from cronctl.output.severity import LABEL, SYMBOL, severity_of
from cronctl.output.times import when

if TYPE_CHECKING:
    from cronctl.evaluate.snapshot import Triage
    from cronctl.runbook.model import Runbook

RULED_OUT_TITLE = "Ruled out: runbook modes whose stated cause the evidence contradicts"
CHAT_LIMIT = 4000  # characters: under Slack's and Discord's message limits, so one paste is one message
_RANK = {"crit": 0, "warn": 1, "info": 2}
_SEVERITY = {"crit": 0, "warn": 1, "unknown": 2, "ok": 3}

# `cronctl …` inside an action: in backticks, or bare up to punctuation or the next plain-English word.
_BACKTICKED = re.compile(r"`(cronctl [^`]+)`")
_STOP = r"(?:then|until|and|or|if|to|for|with|when|once|first)\b"
_BARE = re.compile(rf"(?<![\w`-])cronctl((?: (?!{_STOP})[\w./:=<>@*+-]+)+)")
# GitHub's CLI, in backticks: the one command that enables a workflow GitHub stopped scheduling.
_GH = re.compile(r"`(gh workflow [^`]+)`")


# ---------------------------------------------------------------- findings


def ordered_findings(findings: Sequence[Finding], result: Triage | None = None) -> list[Finding]:
    """Root causes first, then the runbook's modes by severity (stable; a blind spot among them); silenced findings
    after the others, the ruled-out modes last."""

    def silenced(f: Finding) -> bool:
        return result is not None and result.silence_of_finding(f) is not None

    return sorted(
        findings,
        key=lambda f: (
            f.ruled_out is not None,
            silenced(f),
            f.kind != "root_cause" or f.blind_spot,  # a blind spot ranks among the runbook's modes
            _RANK.get(f.severity, 3),
        ),
    )


def commands(finding: Finding, result: Triage, runbook: Runbook | None = None) -> list[str]:
    """The exact commands for a finding: the cronctl (and `gh workflow`) commands its action names (with `<job>` /
    `<key>` filled in when the snapshot knows them), plus the obvious one the action describes in words (clear
    this job's stale lock, trigger this job by hand)."""
    text = finding.action or ""
    found: list[str] = [m.group(1).strip() for m in _BACKTICKED.finditer(text)]
    found += [m.group(1).strip() for m in _GH.finditer(text)]
    bare = _BACKTICKED.sub(" ", text)
    found += ["cronctl" + m.group(1).rstrip(".,;:") for m in _BARE.finditer(bare)]
    job = finding.job or (finding.jobs[0] if len(finding.jobs) == 1 else None)
    placeholders = _placeholder_keys(result)
    out: list[str] = []
    for command in found:
        if job:
            command = command.replace("<job>", job)
        if len(placeholders) == 1:
            command = command.replace("<key>", placeholders[0])
        out.append(" ".join(command.split()))
    lowered = text.lower()
    stale = {v.lock.name for v in result.locks if v.stale}
    if job and job in stale and "lock" in lowered and not any(c.startswith("cronctl locks clear") for c in out):
        out.append(f"cronctl locks clear {job}")
    spec = runbook.jobs.get(job) if runbook is not None and job else None
    if (
        job
        and "by hand" in lowered
        and "trigger" in lowered
        and not any(c.startswith(("cronctl trigger", "cronctl pgcron run")) for c in out)
    ):
        out.append(f"cronctl pgcron run {job}" if spec is not None and spec.runs_sql else f"cronctl trigger {job}")
    return list(dict.fromkeys(out))


def _placeholder_keys(result: Triage) -> list[str]:
    secrets = result.collected.secrets
    if secrets is None or not secrets.ok:
        return []
    return [str(key) for key, is_placeholder in secrets.rows if is_placeholder]


def finding_item(finding: Finding, result: Triage, runbook: Runbook | None) -> Item:
    ruled_out = finding.ruled_out is not None
    title = f"{finding.job}: {finding.symptom}" if finding.job else finding.symptom
    lines: list[tuple[str, str]] = [("why", finding.cause)]
    if finding.evidence:
        lines.append(("evidence", finding.evidence))
    if finding.kind == "root_cause" and finding.jobs:
        lines.append(("explains", ", ".join(finding.jobs)))
    if ruled_out:
        lines.append(("ruled out", finding.ruled_out or ""))
    lines.append(("do", finding.action))
    silence = result.silence_of_finding(finding)
    if silence is not None:
        lines.append(("silenced", silenced_text(silence)))
    tag = "root cause" if finding.kind == "root_cause" else None
    if silence is not None:
        tag = f"{tag}, silenced" if tag else "silenced"
    return Item(
        severity="unknown" if ruled_out else severity_of(finding.severity, "check"),
        title=title,
        lines=lines,
        commands=[] if ruled_out else commands(finding, result, runbook),
        tag=tag,
        muted=ruled_out,
    )


def silenced_text(silence: Any) -> str:
    """`until 2026-11-30 07:20Z by mina@laptop: rotating CRON_SECRET (database)`."""
    return f"until {silence.until:%Y-%m-%d %H:%M}Z by {silence.author}: {silence.reason} ({silence.store})"


def findings_section(result: Triage, runbook: Runbook | None) -> Items:
    live = [f for f in ordered_findings(result.findings, result) if f.ruled_out is None]
    return Items(
        [finding_item(f, result, runbook) for f in live],
        title="Findings: what to do first",
        empty="(no known failure mode or root cause matches)",
    )


def ruled_out_section(result: Triage, runbook: Runbook | None) -> Items | None:
    ruled = [f for f in ordered_findings(result.findings, result) if f.ruled_out is not None]
    if not ruled:
        return None
    return Items(
        [finding_item(f, result, runbook) for f in ruled],
        title=RULED_OUT_TITLE,
    )


# ---------------------------------------------------------------- jobs


def _result_cell(h: JobHealth) -> str:
    last = h.last_run
    if last is None:
        return "-"
    return last.status + (f" {last.http_status}" if last.http_status else "")


def _not_ok(h: JobHealth) -> bool:
    return h.tone != "ok"


def state_mark(h: JobHealth) -> Mark | None:
    """The job's state with its severity: a threshold or `expect = "disabled"` can make it milder than the word."""
    if h.tone_override is not None:
        return Mark(h.state, h.tone_override)
    return mark(h.state, "job")


def _why(h: JobHealth, result: Triage) -> str:
    silence = result.silence_of_job(h.name)
    return h.reason if silence is None else f"[silenced {silenced_text(silence)}] {h.reason}"


def attention_table(result: Triage) -> Table:
    now = result.collected.now
    rows = [
        [
            h.name,
            state_mark(h),
            # No run seen is "never" only when the history could be read; an unknown job's history could not.
            when(
                h.last_run.sort_time if h.last_run else None, now, empty="unknown" if h.state == "unknown" else "never"
            ),
            _result_cell(h),
            when(h.next_run, now),
            h.consecutive_failures or "-",
            h.missed_runs or "-",
            _why(h, result),
        ]
        for h in result.health
        if _not_ok(h)
    ]
    return Table(
        ["job", "state", "last run", "result", "next run", "fails", "missed", "why"],
        rows,
        title="Jobs that need attention",
        wrap=(7,),
        empty="(every job is ok)",
    )


def ok_table(result: Triage) -> Table:
    now = result.collected.now
    rows = [
        [h.name, state_mark(h), when(h.last_run.sort_time if h.last_run else None, now), _result_cell(h),
         when(h.next_run, now), h.reason]
        for h in result.health
        if not _not_ok(h)
    ]  # fmt: skip
    return Table(
        ["job", "state", "last run", "result", "next run", "why"],
        rows,
        title="Jobs that are ok",
        wrap=(5,),
        empty="(no job is ok)",
    )


def _durations_cell(h: JobHealth) -> str:
    d = h.durations
    if not d.samples:
        return f"- (timeout {format_duration(d.timeout)})"
    text = (
        f"{format_duration(d.p50)} / {format_duration(d.p95)} / {format_duration(d.max)} "
        f"(timeout {format_duration(d.timeout)})"
    )
    flags = []
    if d.near_timeout:
        flags.append(f"{d.near_timeout} near timeout")
    if d.short_failures:
        flags.append(f"{d.short_failures} short failure(s)")
    return text + (f", {', '.join(flags)}" if flags else "")


def history_table(result: Triage) -> Table:
    rows = [[h.name, state_mark(h), _durations_cell(h), h.strip or "-"] for h in result.health]
    return Table(
        ["job", "state", "p50 / p95 / max", "last 20 (old → new)"],
        rows,
        title="Durations and outcomes (✓ ok, ✗ failed, ◐ partial, ○ skipped, ▶ running, ? unverified)",
    )


def ok_summary(result: Triage) -> Text | None:
    names = [h.name for h in result.health if not _not_ok(h)]
    if not names:
        return None
    return Text(f"{SYMBOL['ok']} ok: {', '.join(names)}", tone="ok")


# ---------------------------------------------------------------- the rest


def failures_table(result: Triage) -> Table:
    now = result.collected.now
    rows = [
        [g.group, g.count, ", ".join(g.jobs) or ("one of " + ", ".join(g.candidates) if g.candidates else "-"),
         when(g.first_seen, now), when(g.last_seen, now), g.sample]
        for g in result.failures
    ]  # fmt: skip
    return Table(
        ["group", "count", "jobs", "first seen", "last seen", "sample"],
        rows,
        title="Failures by cause",
        wrap=(2, 5),
        empty="(no failures in the window)",
    )


def _backlog_verdict(b: Any) -> Mark | None:
    verdict = "timeout" if b.error and b.error.startswith("timeout") else b.verdict
    return mark(verdict, "check", show="both")


def backlog_table(result: Triage) -> Table:
    now = result.collected.now
    rows = []
    for b in result.backlogs:
        threshold = f"≥{b.warn:g}" + (f" / ≥{b.crit:g}" if b.crit is not None else "")
        value = "-" if b.value is None else f"{b.value:g}"
        rows.append([b.name, _backlog_verdict(b), value, threshold, when(b.oldest, now), b.error or b.description])
    return Table(
        ["backlog", "verdict", "value", "warn / crit", "oldest", "note"],
        rows,
        title="Backlog",
        wrap=(5,),
        empty="(no backlog checks in the runbook)",
    )


def locks_table(result: Triage) -> Table:
    now = result.collected.now
    rows = [
        [v.lock.name, mark(v.state, "lock"), v.lock.holder, when(v.lock.acquired_at, now), v.lock.backend,
         v.lock.key, v.reason]
        for v in result.locks
    ]  # fmt: skip
    return Table(
        ["lock", "state", "holder", "acquired", "backend", "key", "why"],
        rows,
        title="Locks",
        wrap=(6,),
        empty="(no locks held)",
    )


def checks_table(result: Triage) -> Table:
    return Table(
        ["check", "verdict", "detail"],
        [[c.name, mark(c.verdict, "check", show="both"), c.detail] for c in result.checks],
        title="Platform",
        wrap=(2,),
        empty="(nothing to check)",
    )


def _worst(table: Table) -> int:
    """How urgent a table is: the worst severity among its Marks (ok when it has none)."""
    marks = [cell.severity for row in table.rows for cell in row if isinstance(cell, Mark)]
    return min((_SEVERITY.get(s, 2) for s in marks), default=3)


def headline(result: Triage) -> str:
    """The status line: the verdict, then how much needs attention (every item is listed below, whole)."""
    word = LABEL[result.status]  # the renderer puts the status's symbol in front
    total = len(result.health)
    bad = [h for h in result.health if _not_ok(h) and result.silence_of_job(h.name) is None]
    hushed = [h for h in result.health if _not_ok(h) and result.silence_of_job(h.name) is not None]
    live = [f for f in result.findings if f.ruled_out is None and result.silence_of_finding(f) is None]
    quiet = f" ({len(hushed)} silenced: {', '.join(h.name for h in hushed)})" if hushed else ""
    if not result.reasons and not bad and hushed:
        return f"{word}: nothing unsilenced needs attention{quiet}"
    if not result.reasons and not bad:
        return f"{word}: {total} job(s) healthy"
    parts = [f"{len(bad)} of {total} job(s) need attention{quiet}" if bad else f"{total} job(s) ok{quiet}"]
    if live:
        causes = sum(1 for f in live if f.kind == "root_cause")
        parts.append(f"{len(live)} finding(s)" + (f", {causes} root cause(s)" if causes else ""))
    over = [b for b in result.backlogs if b.verdict in ("warn", "crit")]
    if over:
        parts.append("backlog " + ", ".join(f"{b.name} = {b.value:g}" for b in over))
    stale = sum(1 for v in result.locks if v.stale)
    if stale:
        parts.append(f"{stale} stale lock(s)")
    if not bad and not live and not over and not stale:
        parts += result.reasons[:2]
    return f"{word}: " + "; ".join(parts)


def title(result: Triage, runbook: Runbook, since: float) -> str:
    collected = result.collected
    at = collected.until or collected.now
    stamp = at.strftime("%Y-%m-%d %H:%MZ")
    view = "as of" if collected.until is not None else "at"
    return f"triage: {runbook.name} {view} {stamp} (failure window {format_duration(since)})"


def sections(
    result: Triage, runbook: Runbook, since: float, *, brief: bool = False, changes: Section | None = None
) -> list[Section]:
    """Every human section, most urgent first. `brief` (Markdown for a chat message) leaves the healthy detail out."""
    out: list[Section] = []
    if changes is not None:
        out.append(changes)
    out.append(findings_section(result, runbook))
    out.append(attention_table(result))
    if result.database is not None:
        note = result.database
        out.append(Text(f"database: {note.message}", tone="warn" if note.state == "error" else "muted"))
    for h in result.health:
        for note in result.collected.jobs[h.name].notes:
            if note.state in ("error", "timeout") and h.state != "unknown":
                out.append(Text(f"{h.name}: {note.name}: {note.message}", tone="warn"))
    rest = [failures_table(result), backlog_table(result), locks_table(result), checks_table(result)]
    urgent = sorted((t for t in rest if t.rows and (_worst(t) < 3 or t is rest[0])), key=_worst)
    calm = [t for t in rest if t not in urgent]
    out += urgent
    if brief:
        summary = ok_summary(result)
        if summary is not None:
            out.append(summary)
    else:
        out += calm
        out.append(ok_table(result))
        out.append(history_table(result))
        out.append(
            KeyValues(
                [
                    ("generated", result.collected.now),
                    ("runbook", f"{runbook.name} ({runbook.path.name})"),
                    ("failure window", f"{format_duration(since)} (at least one schedule interval per job)"),
                ],
                title="Snapshot",
            )
        )
    ruled = ruled_out_section(result, runbook)
    if ruled is not None:
        out.append(ruled)
    return out


# ---------------------------------------------------------------- --watch: what changed since the last refresh


@dataclass(frozen=True)
class Change:
    what: str
    was: Any
    now: Any


def _finding_key(f: Finding) -> tuple[Any, ...]:
    return (f.kind, f.id, f.job, f.symptom)


def changes(before: Triage, after: Triage) -> list[Change]:
    """What differs between two snapshots: status, job states, findings, backlog values, locks."""
    out: list[Change] = []
    if before.status != after.status:
        out.append(Change("status", mark(before.status, "check"), mark(after.status, "check")))
    old = {h.name: h for h in before.health}
    for h in after.health:
        prev = old.get(h.name)
        if prev is None:
            continue
        if prev.state != h.state:
            out.append(Change(h.name, mark(prev.state, "job"), mark(h.state, "job")))
        elif h.consecutive_failures != prev.consecutive_failures and h.consecutive_failures:
            out.append(Change(f"{h.name} fails", prev.consecutive_failures, h.consecutive_failures))
    was = {_finding_key(f): f for f in before.findings if f.ruled_out is None}
    now = {_finding_key(f): f for f in after.findings if f.ruled_out is None}
    for key, f in now.items():
        if key not in was:
            out.append(Change(f"finding: {f.job + ': ' if f.job else ''}{f.symptom}", "-", Mark("new", "warn")))
    for key, f in was.items():
        if key not in now:
            out.append(Change(f"finding: {f.job + ': ' if f.job else ''}{f.symptom}", Mark("open", "warn"),
                              Mark("gone", "ok")))  # fmt: skip
    values = {b.name: b for b in before.backlogs}
    for b in after.backlogs:
        prev_b = values.get(b.name)
        if prev_b is not None and prev_b.value != b.value:
            out.append(Change(f"backlog {b.name}", _number(prev_b.value), _number(b.value)))
    locks = {(v.lock.backend, v.lock.key): v for v in before.locks}
    current = {(v.lock.backend, v.lock.key): v for v in after.locks}
    for key, v in current.items():
        prev_v = locks.get(key)
        if prev_v is None:
            out.append(Change(f"lock {v.lock.name}", "-", mark(v.state, "lock")))
        elif prev_v.state != v.state:
            out.append(Change(f"lock {v.lock.name}", mark(prev_v.state, "lock"), mark(v.state, "lock")))
    for key, v in locks.items():
        if key not in current:
            out.append(Change(f"lock {v.lock.name}", mark(v.state, "lock"), Mark("released", "ok")))
    return out


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def changes_section(before: Triage | None, after: Triage) -> Table | Text:
    if before is None:
        return Text("first refresh: changes are shown from the next one on", tone="muted")
    since = before.collected.now.strftime("%H:%M:%SZ")
    found = changes(before, after)
    if not found:
        return Text(f"no change since the last refresh ({since})", tone="muted")
    return Table(
        ["what", "was", "now"],
        [[c.what, c.was, c.now] for c in found],
        title=f"Changed since the last refresh ({since})",
        wrap=(0,),
        head=(0,),
    )
