"""`cronctl trigger`: fire jobs by hand, judge each answer, and build the report.

One *run* is one trigger with its own request id; a run may take several *attempts* (retries of an
idempotent job). `--repeat` / `--until-ok` make several runs per job; several jobs run concurrently.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronctl.evaluate.verdict import (
    Judgement,
    answer_group,
    body_text,
    judge,
    match_failure_modes,
)
from cronctl.output.report import KeyValues, Report, Table, Text, mark
from cronctl.runbook.model import FailureGroupSpec, FailureMode, JobSpec, SuccessRule
from cronctl.sources.http_trigger import Attempt, PreparedRequest

MAX_CONCURRENCY = 32
RESPONSE_JSON_LIMIT = 64 * 1024  # text bodies carried in JSON output
RESPONSE_TEXT_LIMIT = 500  # text bodies shown to people
_RANK = {"ok": 0, "skipped": 1, "failed": 2, "error": 3}


def refuse_sql_jobs(jobs: Sequence[JobSpec]) -> None:
    """A job that is SQL run by pg_cron has no request to send; say which command runs it instead."""
    from cronctl.errors import UsageError

    for job in jobs:
        if job.runs_sql:
            raise UsageError(f"{job.name} runs SQL inside the database; use `cronctl pgcron run {job.name}`")


@dataclass(frozen=True)
class TriggerPlan:
    """A job to fire: how to build each run's request (fresh request id per run) and how to judge it."""

    job: JobSpec
    build: Callable[[], PreparedRequest]
    dispatch: bool = False

    @property
    def rule(self) -> SuccessRule:
        # A workflow dispatch answers 204 or 200 with run details, whatever the job's own endpoint says.
        return SuccessRule() if self.dispatch else self.job.success


@dataclass(frozen=True)
class Context:
    """Where the triggers come from, for the audit record and failure modes."""

    runbook: str | None = None
    profile: str | None = None
    failure_modes: tuple[FailureMode, ...] = ()
    failure_groups: tuple[FailureGroupSpec, ...] = ()


@dataclass(frozen=True)
class Repeat:
    runs: int = 1
    interval: float = 0.0
    until_ok: int | None = None


@dataclass
class RunResult:
    request: PreparedRequest
    attempts: list[tuple[Attempt, Judgement]]
    group: str | None = None
    modes: list[FailureMode] = field(default_factory=list)
    run_url: str | None = None

    @property
    def last(self) -> tuple[Attempt, Judgement]:
        return self.attempts[-1]

    @property
    def verdict(self) -> str:
        return self.last[1].verdict


@dataclass
class JobResult:
    plan: TriggerPlan
    runs: list[RunResult] = field(default_factory=list)
    verdict: str = "error"
    reason: str = ""
    consecutive_ok: int = 0
    verify: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


Progress = Callable[[str, str], None]  # (job, message)


# ---------------------------------------------------------------- running


def run_one(
    client: Any, plan: TriggerPlan, ctx: Context, progress: Progress | None = None, label: str = ""
) -> RunResult:
    """Build, send (with retries for idempotent jobs), judge every attempt, audit every sent request."""
    from cronctl.sources.github_dispatch import run_url
    from cronctl.sources.http_trigger import send_with_retries

    request = plan.build()
    judged: list[tuple[Attempt, Judgement]] = []
    open_audits: dict[int, str] = {}

    def before_attempt(number: int) -> None:
        open_audits[number] = _begin_audit(ctx, plan, request, number)

    def on_attempt(number: int, attempt: Attempt) -> None:
        judgement = judge(plan.rule, attempt.answer)
        judged.append((attempt, judgement))
        interrupted = _complete_audit(open_audits.pop(number), request, plan, number, attempt, judgement)
        if progress is not None:
            line = (
                f"{label}attempt {number}: interrupted"
                if interrupted
                else _attempt_line(label, number, attempt, judgement)
            )
            progress(plan.job.name, line)

    send_with_retries(
        client, request, idempotent=plan.job.idempotent, on_attempt=on_attempt, before_attempt=before_attempt
    )
    attempt, judgement = judged[-1]
    status = attempt.answer.status_code
    group = answer_group(judgement, status, ctx.failure_groups)
    modes = match_failure_modes(ctx.failure_modes, plan.job.name, judgement.verdict, status, judgement.message, group)
    found_url = run_url(judgement.document) if plan.dispatch else None
    return RunResult(request, judged, group, modes, found_url)


def _attempt_line(label: str, number: int, attempt: Attempt, judgement: Judgement) -> str:
    status = attempt.answer.status_code
    answer = f"HTTP {status}" if status is not None else (attempt.answer.error_kind or "no answer")
    line = f"{label}attempt {number}: {answer} in {attempt.elapsed_ms:.0f} ms → {judgement.verdict}"
    if attempt.next_delay is not None:
        line += f"; retrying in {attempt.next_delay:g}s"
    elif attempt.note:
        line += f"; {attempt.note}"
    return line


def _request_details(plan: TriggerPlan, request: PreparedRequest, number: int) -> dict[str, Any]:
    return {
        "request_id": request.request_id,
        "method": request.method,
        "url": request.display_url,
        "dispatch": plan.dispatch,
        "attempt": number,
    }


def _begin_audit(ctx: Context, plan: TriggerPlan, request: PreparedRequest, number: int) -> str:
    """The `pending` record, written before the request is sent: an interrupted trigger still leaves a trace."""
    from cronctl.audit import begin_audit

    return begin_audit(
        "trigger",
        runbook=ctx.runbook,
        profile=ctx.profile,
        target=plan.job.name,
        details=_request_details(plan, request, number),
    )


def _complete_audit(
    audit_id: str, request: PreparedRequest, plan: TriggerPlan, number: int, attempt: Attempt, judgement: Judgement
) -> bool:
    """Write the attempt's outcome; True when the command is being interrupted (the outcome is `interrupted`)."""
    from cronctl.audit import complete_audit
    from cronctl.sources.http_deadline import aborted

    interrupted = aborted()
    complete_audit(
        audit_id,
        "interrupted" if interrupted else judgement.verdict,
        {
            **_request_details(plan, request, number),
            "status_code": attempt.answer.status_code,
            "latency_ms": round(attempt.elapsed_ms, 1),
            "error": attempt.answer.error,
        },
    )
    return interrupted


def run_job(
    client: Any,
    plan: TriggerPlan,
    ctx: Context,
    repeat: Repeat,
    progress: Progress | None = None,
    sleep: Callable[[float], None] | None = None,
) -> JobResult:
    """One job's runs: once, `--repeat N`, or until K consecutive ok verdicts (at most N runs)."""
    from cronctl.sources.http_deadline import pause

    sleep = sleep or pause
    result = JobResult(plan)
    streak = 0
    for index in range(repeat.runs):
        if index:
            sleep(repeat.interval)
        label = f"run {index + 1}/{repeat.runs} " if repeat.runs > 1 else ""
        run = run_one(client, plan, ctx, progress, label)
        result.runs.append(run)
        streak = streak + 1 if run.verdict == "ok" else 0
        result.consecutive_ok = streak
        if repeat.until_ok is not None and progress is not None:
            progress(plan.job.name, f"{streak}/{repeat.until_ok} ok in a row after {index + 1} run(s)")
        if repeat.until_ok is not None and streak >= repeat.until_ok:
            break
    _settle(result, repeat)
    return result


def _settle(result: JobResult, repeat: Repeat) -> None:
    last = result.runs[-1]
    if repeat.until_ok is not None:
        if result.consecutive_ok >= repeat.until_ok:
            result.verdict, result.reason = "ok", f"{repeat.until_ok} ok in a row"
            return
        if last.verdict != "ok":
            result.verdict, result.reason = last.verdict, last.last[1].reason
            return
        result.verdict = "failed"
        result.reason = f"only {result.consecutive_ok} ok in a row of {repeat.until_ok} within {len(result.runs)} runs"
        return
    worst = max(result.runs, key=lambda r: _RANK.get(r.verdict, 3))
    result.verdict, result.reason = worst.verdict, worst.last[1].reason
    if len(result.runs) > 1 and worst.verdict != "ok":
        result.reason = f"run {result.runs.index(worst) + 1}: {result.reason}"


def run_jobs(
    plans: Sequence[TriggerPlan],
    ctx: Context,
    repeat: Repeat,
    progress: Progress | None = None,
    concurrency: int = MAX_CONCURRENCY,
    *,
    tls: bool = True,
) -> list[JobResult]:
    """Every plan concurrently (bounded); results in the order given."""
    from cronctl.sources.http_deadline import abort_all
    from cronctl.sources.http_trigger import make_client

    workers = max(1, min(concurrency, len(plans)))
    client = make_client(workers, tls=tls)
    try:
        if workers == 1:
            return [run_job(client, plan, ctx, repeat, progress) for plan in plans]
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trigger")
        try:
            futures = [pool.submit(run_job, client, plan, ctx, repeat, progress) for plan in plans]
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM reaches the main thread only: shut every socket, so the workers' blocked reads
            # return now and their audit records are completed as interrupted, then let the caller report it.
            abort_all()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        client.close()


class ProgressPrinter:
    """Thread-safe progress on stderr: one rewritten line on a terminal, plain lines otherwise."""

    def __init__(self, write: Callable[[str], None], live: bool) -> None:
        self._write = write
        self._live = live
        self._lock = threading.Lock()

    def __call__(self, job: str, message: str) -> None:
        with self._lock:
            self._write(f"\r\x1b[K{job}: {message}" if self._live else f"{job}: {message}\n")

    def finish(self) -> None:
        if self._live:
            with self._lock:
                self._write("\r\x1b[K")


# ---------------------------------------------------------------- JSON


def attempt_json(attempt: Attempt, judgement: Judgement) -> dict[str, Any]:
    return {
        "status_code": attempt.answer.status_code,
        "elapsed_ms": round(attempt.elapsed_ms, 1),
        "verdict": judgement.verdict,
        "error": attempt.answer.error,
        "retry_after": attempt.retry_after,
        "reason": judgement.reason,
        "next_delay": attempt.next_delay,
        "note": attempt.note,
    }


def response_json(attempt: Attempt, judgement: Judgement) -> Any:
    if judgement.document is not None:
        return judgement.document
    if attempt.answer.status_code is None or not attempt.answer.body:
        return None
    text = attempt.answer.body[:RESPONSE_JSON_LIMIT].decode("utf-8", "replace")
    return text


def run_json(run: RunResult) -> dict[str, Any]:
    attempt, judgement = run.last
    return {
        "request_id": run.request.request_id,
        "verdict": judgement.verdict,
        "status_code": attempt.answer.status_code,
        "elapsed_ms": round(attempt.elapsed_ms, 1),
        "reason": judgement.reason,
        "attempts": [attempt_json(a, j) for a, j in run.attempts],
    }


def result_json(result: JobResult) -> dict[str, Any]:
    run = result.runs[-1]
    attempt, judgement = run.last
    request = run.request
    return {
        "job": result.plan.job.name,
        "url": request.display_url,
        "method": request.method,
        "verdict": result.verdict,
        "ok": result.ok,
        "reason": result.reason,
        "status_code": attempt.answer.status_code,
        "elapsed_ms": round(attempt.elapsed_ms, 1),
        "attempts": [attempt_json(a, j) for a, j in run.attempts],
        "response": response_json(attempt, judgement),
        "response_bytes": attempt.bytes_read,
        "response_truncated": attempt.answer.truncated,
        "summary": judgement.summary,
        "location": judgement.location,
        "request_id": request.request_id,
        "dispatch": result.plan.dispatch,
        "run_url": run.run_url,
        "failure_group": run.group,
        "failure_modes": [_mode_json(m) for m in run.modes],
        "runs": [run_json(r) for r in result.runs],
        "consecutive_ok": result.consecutive_ok,
        "verify": result.verify,
    }


def _mode_json(mode: FailureMode) -> dict[str, Any]:
    return {"symptom": mode.symptom, "cause": mode.cause, "action": mode.action, "severity": mode.severity}


# ---------------------------------------------------------------- reports


def trigger_report(results: Sequence[JobResult], until_ok: int | None = None) -> Report:
    all_ok = all(r.ok for r in results)
    report = _single_report(results[0], until_ok) if len(results) == 1 else _multi_report(results)
    report.tone = "ok" if all_ok else ("warn" if all(r.verdict in ("ok", "skipped") for r in results) else "crit")
    report.exit_code = 0 if all_ok else 1
    return report


def _single_report(result: JobResult, until_ok: int | None) -> Report:
    run = result.runs[-1]
    attempt, judgement = run.last
    request = run.request
    status = attempt.answer.status_code
    items: list[tuple[str, Any]] = [
        ("request", f"{request.method} {request.display_url}"),
        ("request id", request.request_id),
        ("status", status if status is not None else "-"),
        ("latency", f"{attempt.elapsed_ms:.0f} ms"),
        ("verdict", mark(result.verdict, "trigger", show="both")),
        ("reason", result.reason),
    ]
    if judgement.location:
        items.append(("location", judgement.location))
    if run.run_url:
        items.append(("workflow run", run.run_url))
    if run.group:
        items.append(("failure group", run.group))
    if attempt.answer.truncated:
        items.append(("response size", f"over {len(attempt.answer.body)} bytes; first {len(attempt.answer.body)} kept"))
    sections: list[Any] = [KeyValues(items)]
    if len(run.attempts) > 1:
        sections.append(_attempts_table(run))
    if len(result.runs) > 1:
        sections.append(_runs_table(result))
    if judgement.summary:
        sections.append(Table(["key", "value"], [[k, v] for k, v in judgement.summary.items()], title="Summary"))
    elif status is not None and attempt.answer.body:
        sections.append(Text("response: " + body_text(attempt.answer.body, RESPONSE_TEXT_LIMIT), tone="muted"))
    sections += _modes_sections([run])
    if result.verify is not None:
        sections.append(_verify_section(result.verify))
    headline = f"{result.plan.job.name}: {result.verdict}"
    if until_ok is not None:
        headline += f" ({result.consecutive_ok}/{until_ok} ok in a row, {len(result.runs)} run(s))"
    elif status is not None:
        headline += f" (HTTP {status}, {attempt.elapsed_ms:.0f} ms)"
    return Report(
        data=result_json(result),
        sections=sections,
        title=f"trigger {result.plan.job.name}" + (" via workflow_dispatch" if result.plan.dispatch else ""),
        headline=headline,
    )


def _attempts_table(run: RunResult) -> Table:
    rows = [
        [
            i + 1,
            a.answer.status_code,
            f"{a.elapsed_ms:.0f} ms",
            mark(j.verdict, "trigger", show="both"),
            a.retry_after,
            f"{a.next_delay:g}s" if a.next_delay is not None else (a.note or "-"),
            j.reason,
        ]
        for i, (a, j) in enumerate(run.attempts)
    ]
    return Table(
        ["#", "status", "latency", "verdict", "retry-after", "next", "reason"], rows, title="Attempts", wrap=(6,)
    )


def _runs_table(result: JobResult) -> Table:
    rows = []
    for i, run in enumerate(result.runs):
        attempt, judgement = run.last
        rows.append(
            [
                i + 1,
                run.request.request_id,
                attempt.answer.status_code,
                f"{attempt.elapsed_ms:.0f} ms",
                len(run.attempts),
                mark(judgement.verdict, "trigger", show="both"),
                judgement.reason,
            ]
        )
    return Table(
        ["#", "request id", "status", "latency", "attempts", "verdict", "reason"], rows, title="Runs", wrap=(6,)
    )


def _modes_sections(runs: Sequence[RunResult]) -> list[Any]:
    seen: list[tuple[str, FailureMode]] = []
    for run in runs:
        for mode in run.modes:
            if all(m is not mode for _, m in seen):
                seen.append((run.request.job, mode))
    if not seen:
        return []
    rows = [[job, m.symptom, m.cause, m.action] for job, m in seen]
    return [Table(["job", "known failure mode", "cause", "action"], rows, title="Known failure modes", wrap=(1, 2, 3))]


def _multi_report(results: Sequence[JobResult]) -> Report:
    rows = []
    for result in results:
        run = result.runs[-1]
        attempt, _ = run.last
        rows.append(
            [
                result.plan.job.name,
                mark(result.verdict, "trigger", show="both"),
                attempt.answer.status_code,
                f"{attempt.elapsed_ms:.0f} ms",
                len(run.attempts),
                len(result.runs),
                result.reason,
            ]
        )
    counts = {v: sum(1 for r in results if r.verdict == v) for v in ("ok", "skipped", "failed", "error")}
    headline = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    sections: list[Any] = [
        Table(["job", "verdict", "status", "latency", "attempts", "runs", "reason"], rows, wrap=(6,)),
        *_modes_sections([r.runs[-1] for r in results]),
    ]
    for result in results:
        if result.verify is not None:
            sections.append(_verify_section(result.verify, result.plan.job.name))
    return Report(
        data={"results": [result_json(r) for r in results]},
        sections=sections,
        title=f"trigger: {len(results)} jobs",
        headline=headline,
    )


# ---------------------------------------------------------------- dry run


def to_curl(request: PreparedRequest) -> str:
    """An equivalent curl command; secrets appear only as `$VARNAME` references."""
    parts = ["curl -i", f"-X {request.method}", f"--max-time {request.timeout:g}", _quote(request.display_url)]
    parts += [f"-H {_quote(f'{name}: {value}')}" for name, value in request.display_headers.items()]
    if request.display_body is not None:
        parts.append(f"--data-raw {_quote(request.display_body)}")
    return " \\\n  ".join(parts)


def _quote(text: str) -> str:
    """Single quotes, unless the text holds `$VAR` references the shell must expand."""
    import re

    if not re.search(r"\$[A-Za-z_]", text):
        return shlex.quote(text)
    escaped = re.sub(r'(["\\`])', r"\\\1", text)
    return f'"{escaped}"'


def dry_run_report(requests: Sequence[tuple[TriggerPlan, PreparedRequest]]) -> Report:
    data_requests = []
    sections: list[Any] = []
    for plan, request in requests:
        curl = to_curl(request)
        data_requests.append(
            {
                "job": plan.job.name,
                "method": request.method,
                "url": request.display_url,
                "headers": request.display_headers,
                "body": request.display_body,
                "timeout": request.timeout,
                "request_id": request.request_id,
                "dispatch": plan.dispatch,
                "idempotent": plan.job.idempotent,
                "curl": curl,
            }
        )
        retry = "retries on 429/5xx/timeout" if plan.job.idempotent else "no retries (not idempotent)"
        sections.append(Text(f"# {plan.job.name}: {retry}; nothing was sent", tone="muted"))
        sections.append(Text(curl))
    return Report(
        data={"dry_run": True, "requests": data_requests},
        sections=sections,
        title="trigger --dry-run",
        headline=f"{len(requests)} request(s) not sent",
    )


# ---------------------------------------------------------------- verify


def verify_json(runs: Sequence[Any], sources: Sequence[Any], started: datetime) -> dict[str, Any]:
    """The newest run that started after the request was sent, as the job's own history records it.

    A manual HTTP call creates no pg_cron row (and so no pg_net outcome): pg_cron's and pg_net's entries are
    the scheduler's own runs and never confirm a manual trigger. Only a run-log table or a health endpoint can.
    """
    own = [r for r in runs if r.source not in ("pg_cron", "pg_net")]
    after_start = [r for r in own if r.sort_time is not None and _utc(r.sort_time) >= started]
    newest = after_start[0] if after_start else None
    confirmed = bool(newest is not None and newest.status == "succeeded")
    can_confirm = any(s.name not in ("pg_cron", "pg_net") for s in sources)
    if newest is not None:
        reason = f"run at {_utc(newest.sort_time).isoformat()} in {newest.source}: {newest.status}"
    elif can_confirm:
        reason = "no run in the job's run log or health endpoint started after the request was sent"
    else:
        reason = (
            "pg_cron cannot confirm a manual trigger: the HTTP call made no pg_cron run; map a run-log table "
            "or health endpoint to the job to verify"
        )
    return {
        "confirmed": confirmed,
        "newest_run": newest.to_json() if newest is not None else None,
        "after_trigger": newest is not None,
        "can_confirm": can_confirm,
        "reason": reason,
        "sources": [s.to_json() for s in sources],
    }


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _verify_section(verify: dict[str, Any], job: str | None = None) -> KeyValues:
    newest = verify.get("newest_run") or {}
    items: list[tuple[str, Any]] = [
        ("confirmed", verify["confirmed"]),
        ("newest run", newest.get("started_at") or "-"),
        ("source", newest.get("source") or "-"),
        ("status", newest.get("raw_status") or newest.get("status") or "-"),
        ("after the trigger", verify.get("after_trigger")),
        ("why", verify.get("reason") or "-"),
    ]
    if newest.get("records") is not None:
        items.append(("records", newest["records"]))
    if newest.get("message"):
        items.append(("message", newest["message"]))
    for key, value in (newest.get("detail") or {}).items():
        items.append((key, value))
    for source in verify.get("sources", []):
        if source["state"] != "ok":
            items.append((f"source {source['source']}", f"{source['state']}: {source['message']}"))
    return KeyValues(items, title=f"Verify{f' {job}' if job else ''}: newest run started after the request")
