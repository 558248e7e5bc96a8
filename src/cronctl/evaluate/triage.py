"""Across jobs: failure groups, symptoms → findings, the overall verdict and the exit condition. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronctl.evaluate.backlog import BacklogResult
from cronctl.evaluate.findings import Finding, Symptom, match
from cronctl.evaluate.health import JobHealth
from cronctl.evaluate.locks import LockVerdict
from cronctl.evaluate.silences import Silenced
from cronctl.records import FailureCount, NetResponse, Run, Silence, aware
from cronctl.runbook.model import ExitCondition, FailureGroupSpec, FailureMode, SuccessRule

STATUS_EXIT = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}
_CHECK_OF_CAUSE = {
    "scheduler_down": "scheduler",
    "pg_net_missing": "pg_net",
    "pg_cron_missing": "pg_cron",
    "secret_placeholder": "secrets",
}
_RANK = {"ok": 0, "warn": 1, "crit": 2}
SAMPLE_LIMIT = 300


@dataclass(frozen=True)
class PlatformCheck:
    """One platform fact judged: scheduler alive, pg_net present, variables set, secrets, a source's health."""

    name: str
    verdict: str  # ok | warn | crit | error | skipped
    detail: str
    http_status: int | None = None  # an endpoint that answered with an error status

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "detail": self.detail, "http_status": self.http_status}


@dataclass
class FailureGroup:
    group: str
    count: int = 0
    jobs: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: str | None = None
    http_statuses: list[int] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # could own the failures no run could be given

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "count": self.count,
            "jobs": self.jobs,
            "candidates": self.candidates,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "sample": self.sample,
        }


def run_time(run: Run) -> datetime | None:
    when = run.finished_at or run.started_at
    return aware(when) if when is not None else None


def failed_runs(runs: Iterable[Run], since: datetime) -> list[Run]:
    """Failed runs at or after `since`; a failure without times (pg_cron 1.4 early failures) is kept."""
    out = []
    for run in runs:
        if run.status != "failed":
            continue
        when = run_time(run)
        if when is None or when >= since:
            out.append(run)
    return out


def group_failures(
    runs: Iterable[Run], extra: Sequence[FailureGroupSpec] = (), counts: Iterable[FailureCount] = ()
) -> tuple[list[FailureGroup], dict[tuple[str, str], Run]]:
    """Failure groups, biggest first, and the newest failed run per (job, group) for symptoms.

    `runs` are single failed runs; `counts` are failures a source aggregated over the window (each classified
    once and weighted by its count).
    """
    from cronctl.evaluate.classify import classify

    groups: dict[str, FailureGroup] = {}
    newest: dict[tuple[str, str], Run] = {}
    for item in counts:
        if item.count <= 0:
            continue
        name = classify(item.message, item.http_status, extra)
        entry = groups.setdefault(name, FailureGroup(name))
        entry.count += item.count
        for job in item.jobs:
            if job not in entry.jobs:
                entry.jobs.append(job)
        for job in item.candidates:
            if job not in entry.candidates:
                entry.candidates.append(job)
        if item.http_status is not None and item.http_status not in entry.http_statuses:
            entry.http_statuses.append(item.http_status)
        first = aware(item.first_seen) if item.first_seen is not None else None
        last = aware(item.last_seen) if item.last_seen is not None else None
        if first is not None and (entry.first_seen is None or first < entry.first_seen):
            entry.first_seen = first
        stand_in = item.newest_run(item.jobs[0] if item.jobs else "?")
        if last is not None and (entry.last_seen is None or last >= entry.last_seen):
            entry.last_seen = last
            entry.sample = _sample(stand_in)
        if entry.sample is None:
            entry.sample = _sample(stand_in)
        for job in item.jobs:
            key = (job, name)
            held = newest.get(key)
            held_time = run_time(held) if held is not None else None
            if held is None or (last is not None and (held_time is None or last > held_time)):
                newest[key] = item.newest_run(job)
    for run in runs:
        name = classify(run.message, run.http_status, extra)
        entry = groups.setdefault(name, FailureGroup(name))
        entry.count += 1
        if run.job not in entry.jobs:
            entry.jobs.append(run.job)
        if run.http_status is not None and run.http_status not in entry.http_statuses:
            entry.http_statuses.append(run.http_status)
        when = run_time(run)
        if when is not None:
            if entry.first_seen is None or when < entry.first_seen:
                entry.first_seen = when
            if entry.last_seen is None or when >= entry.last_seen:
                entry.last_seen = when
                entry.sample = _sample(run)
        if entry.sample is None:
            entry.sample = _sample(run)
        key = (run.job, name)
        held = newest.get(key)
        if held is None or (when is not None and (run_time(held) is None or when > run_time(held))):  # type: ignore[operator]
            newest[key] = run
    for entry in groups.values():
        entry.jobs.sort()
        entry.candidates = sorted(c for c in entry.candidates if c not in entry.jobs)
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.group))
    return ordered, newest


def net_judge(
    rules: Mapping[str, SuccessRule], content_limit: int
) -> Callable[[str, NetResponse], tuple[str, str | None]]:
    """(cron job, answer) → (status, message) under that job's success rule (pg_net's 2xx default for jobs the
    runbook does not map): a 2xx saying `skipped` is skipped, a 2xx breaking `require` is failed."""
    from cronctl.evaluate.verdict import judge
    from cronctl.records import Answer
    from cronctl.runbook.model import SuccessRule

    default = SuccessRule()

    def verdict(cron: str, response: NetResponse) -> tuple[str, str | None]:
        if response.failed_request or response.status_code is None:
            return "failed", response.message
        rule = rules.get(cron, default)
        content = response.content or ""
        headers = {"content-type": response.content_type} if response.content_type else {}
        answer = Answer(
            status_code=response.status_code,
            headers=headers,
            body=content.encode("utf-8"),
            truncated=len(content) >= content_limit,
        )
        judgement = judge(rule, answer)
        if judgement.verdict == "ok":
            return "succeeded", None
        status = "skipped" if judgement.verdict == "skipped" else "failed"
        return status, judgement.message or judgement.reason

    return verdict


def _sample(run: Run) -> str:
    text = " ".join((run.message or "").split()) or (f"HTTP {run.http_status}" if run.http_status else "failed")
    text = text if len(text) <= SAMPLE_LIMIT else text[: SAMPLE_LIMIT - 1] + "…"
    return f"{run.job}: {text}"


def symptoms(
    health: Sequence[JobHealth],
    newest_failures: dict[tuple[str, str], Run],
    backlogs: Sequence[BacklogResult],
    locks: Sequence[LockVerdict],
    checks: Sequence[PlatformCheck],
    extra: Sequence[FailureGroupSpec] = (),
) -> list[Symptom]:
    from cronctl.evaluate.classify import classify

    out: list[Symptom] = []
    for job in health:
        if job.tone != "ok":  # a job off on purpose (expect = "disabled") is no symptom
            out.append(Symptom("state", job.name, state=job.state, detail=job.reason))
        for run in job.outcomes[:1]:
            if run.status == "skipped":
                out.append(Symptom("verdict", job.name, verdict="skipped", http_status=run.http_status))
            elif run.status == "partial" and run.message:
                # A partial run is not a failure, but what it says (a 429, an upstream error) is a known mode.
                out.append(
                    Symptom(
                        "failure",
                        job.name,
                        group=classify(run.message, run.http_status, extra),
                        http_status=run.http_status,
                        message=run.message,
                    )
                )
    for (job_name, group), run in newest_failures.items():
        out.append(Symptom("failure", job_name, group=group, http_status=run.http_status, message=run.message))
    for backlog in backlogs:
        if backlog.verdict in ("warn", "crit"):
            out.append(Symptom("check", backlog.job, check=backlog.name, detail=f"value {backlog.value}"))
    for verdict in locks:
        if verdict.stale:
            out.append(
                Symptom(
                    "lock",
                    verdict.lock.name,
                    group="LOCK_CONFLICT",
                    check="locks",
                    detail=f"{verdict.state} lock {verdict.lock.key}: {verdict.reason}",
                )
            )
    for check in checks:
        if check.verdict in ("warn", "crit"):
            out.append(Symptom("check", None, check=check.name, detail=check.detail, http_status=check.http_status))
    return out


def findings(modes: Sequence[FailureMode], observed: Sequence[Symptom]) -> list[Finding]:
    """Matched failure modes; one finding per (mode, job) even when several symptoms point to it."""
    found = match(modes, observed)
    out: list[Finding] = []
    seen: set[tuple[str, str, str | None]] = set()
    for finding in found:
        key = (finding.symptom, finding.cause, finding.job)
        if key in seen:
            continue
        seen.add(key)
        out.append(finding)
    return out


def overall(
    health: Sequence[JobHealth],
    backlogs: Sequence[BacklogResult],
    locks: Sequence[LockVerdict],
    checks: Sequence[PlatformCheck],
    found: Sequence[Finding],
    failures: Sequence[FailureGroup] = (),
    silenced: Silenced | None = None,
) -> tuple[str, list[str]]:
    """ok | warn | crit | unknown, and the reasons for it (worst first)."""
    status, reasons, _ = overall_silenced(health, backlogs, locks, checks, found, failures, silenced)
    return status, reasons


def _silenced_note(silence: Silence) -> str:
    until = silence.until.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return f"silenced until {until} by {silence.author}"


def overall_silenced(
    health: Sequence[JobHealth],
    backlogs: Sequence[BacklogResult],
    locks: Sequence[LockVerdict],
    checks: Sequence[PlatformCheck],
    found: Sequence[Finding],
    failures: Sequence[FailureGroup] = (),
    silenced: Silenced | None = None,
) -> tuple[str, list[str], list[str]]:
    """The overall status and its reasons (worst first), and the reasons silences kept out of it: a silenced
    problem counts as if it were absent."""
    quiet = silenced or Silenced()
    reasons: list[tuple[int, str]] = []
    muted: list[tuple[int, str]] = []

    def note(level: str, text: str, silence: Silence | None = None) -> None:
        if silence is not None:
            muted.append((_RANK[level], f"{text} ({_silenced_note(silence)})"))
        else:
            reasons.append((_RANK[level], text))

    causes = [f for f in found if f.kind == "root_cause"]
    explained = {job for f in causes for job in f.jobs}
    for cause in causes:
        shown = f" ({len(cause.jobs)} job(s))" if cause.jobs else ""
        level = cause.severity if cause.severity in _RANK else "warn"
        note(level, f"{cause.symptom}{shown}", quiet.jobs(cause.jobs))
    for job in health:
        if job.tone != "ok" and job.name not in explained:
            note(job.tone, f"{job.name} {job.state}", quiet.for_job(job.name))
    for backlog in backlogs:
        if backlog.verdict in ("warn", "crit"):
            note(backlog.verdict, f"backlog {backlog.name} = {backlog.value:g}", quiet.for_job(backlog.job))
        elif backlog.verdict == "error":
            note("warn", f"backlog {backlog.name} could not be checked", quiet.for_job(backlog.job))
    stale = [v for v in locks if v.stale and quiet.for_job(v.lock.name) is None]
    if stale:
        note("warn", f"{len(stale)} stale lock(s)")
    for verdict in locks:
        silence = quiet.for_job(verdict.lock.name)
        if verdict.stale and silence is not None:
            note("warn", f"stale lock of {verdict.lock.name}", silence)
    superseded = {_CHECK_OF_CAUSE.get(c.id or "") for c in causes}
    for check in checks:
        if check.name in superseded:
            continue  # said once, by its root cause
        if check.verdict in ("warn", "crit"):
            note(check.verdict, check.detail, quiet.everything)
        elif check.verdict == "error":
            note("warn", f"{check.name} could not be checked", quiet.everything)
    for finding in found:
        if finding.kind == "runbook" and finding.ruled_out is None and finding.severity in ("warn", "crit"):
            note(finding.severity, f"known failure: {finding.symptom}", quiet.for_job(finding.job))
    loud = [f for f in failures if quiet.jobs([*f.jobs, *f.candidates]) is None]
    if loud and not reasons:
        note("warn", f"{sum(f.count for f in loud)} failure(s) in the window")
    silenced_reasons = list(dict.fromkeys(r[1] for r in sorted(muted, key=lambda r: -r[0])))
    considered = [j for j in health if quiet.for_job(j.name) is None]
    knowable = [j for j in considered if j.state != "unknown"]
    if considered and not knowable and not any(b.verdict != "error" for b in backlogs):
        worst = max((r[0] for r in reasons), default=0)
        if worst < _RANK["crit"]:
            listed = [r[1] for r in sorted(reasons, key=lambda r: -r[0])]
            return "unknown", ["no job's history is visible", *listed], silenced_reasons
    if not reasons:
        return "ok", [], silenced_reasons
    reasons.sort(key=lambda r: -r[0])
    worst = reasons[0][0]
    status = "crit" if worst == 2 else "warn" if worst == 1 else "ok"
    return status, list(dict.fromkeys(r[1] for r in reasons)), silenced_reasons


def exit_condition_met(
    condition: ExitCondition, health: Sequence[JobHealth], backlogs: Sequence[BacklogResult], job: str | None = None
) -> tuple[bool, str]:
    """The runbook's end of incident: every judged job with N ok runs in a row, and the named backlogs at zero."""
    waiting: list[str] = []
    for item in health:
        if job is not None and item.name != job:
            continue
        if item.state in ("unknown", "disabled") and not item.outcomes:
            continue
        streak = item.consecutive_ok()
        if streak < condition.consecutive_ok:
            waiting.append(f"{item.name} {streak}/{condition.consecutive_ok} ok in a row")
    named = set(condition.backlogs_clear)
    for backlog in backlogs:
        if backlog.name in named and (backlog.value is None or backlog.value > 0):
            shown = "unknown" if backlog.value is None else f"{backlog.value:g}"
            waiting.append(f"backlog {backlog.name} = {shown}")
    if waiting:
        return False, "waiting for: " + "; ".join(waiting)
    return True, f"exit condition holds ({condition.consecutive_ok} ok run(s) in a row, backlogs clear)"
