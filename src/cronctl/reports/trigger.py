"""`cronctl trigger`: the report of fired jobs (one row each), of a dry run, and of `--verify`.

The workflow that produces these results (sending, retries, audit, verification) is `cronctl.services.trigger`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cronctl.evaluate.verdict import Judgement, body_text
from cronctl.output.report import KeyValues, Report, Table, Text, mark
from cronctl.records import Attempt, PreparedRequest, Run
from cronctl.runbook.model import FailureMode, JobSpec

RESPONSE_JSON_LIMIT = 64 * 1024  # text bodies carried in JSON output
RESPONSE_TEXT_LIMIT = 500  # text bodies shown to people


@dataclass
class RunResult:
    """One trigger of a job: its request and every attempt with its judgement."""

    request: PreparedRequest
    attempts: list[tuple[Attempt, Judgement]]
    group: str | None = None
    modes: list[FailureMode] = field(default_factory=list)
    run_url: str | None = None
    workflow: Verification | None = None  # `--dispatch --verify`: the workflow run the dispatch created

    @property
    def last(self) -> tuple[Attempt, Judgement]:
        return self.attempts[-1]

    @property
    def verdict(self) -> str:
        """The answer's verdict; for a followed dispatch, its workflow run's."""
        if self.workflow is not None and self.workflow.verdict is not None:
            return self.workflow.verdict
        return self.last[1].verdict

    @property
    def reason(self) -> str:
        if self.workflow is not None and self.workflow.verdict is not None:
            return self.workflow.reason
        return self.last[1].reason


@dataclass(frozen=True)
class Verification:
    """`--verify`: the newest run the job's own history recorded after the request was sent; for a workflow
    dispatch (`dispatch`), the workflow run the dispatch created and the verdict it gives the trigger."""

    confirmed: bool
    newest: Run | None
    can_confirm: bool
    reason: str
    sources: list[dict[str, Any]]  # each history source's JSON: source, state, message
    dispatch: bool = False
    verdict: str | None = None  # ok | failed | skipped | unverified; None when no run was followed
    run_url: str | None = None
    since: str | None = None  # runs created before this (GitHub's clock) are not the dispatch's
    waited: float | None = None  # seconds from the dispatch to the last look at its run
    candidates: list[Run] = field(default_factory=list)  # several runs could be the dispatch's: none was taken


@dataclass
class JobResult:
    """One job's runs and the verdict over them."""

    job: JobSpec
    runs: list[RunResult] = field(default_factory=list)
    verdict: str = "error"
    reason: str = ""
    consecutive_ok: int = 0
    dispatch: bool = False
    verify: Verification | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


@dataclass(frozen=True)
class PlannedRequest:
    """A request a dry run shows instead of sending."""

    job: JobSpec
    request: PreparedRequest
    dispatch: bool = False


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
    attempt, _ = run.last
    out: dict[str, Any] = {
        "request_id": run.request.request_id,
        "verdict": run.verdict,
        "status_code": attempt.answer.status_code,
        "elapsed_ms": round(attempt.elapsed_ms, 1),
        "reason": run.reason,
        "attempts": [attempt_json(a, j) for a, j in run.attempts],
    }
    if run.workflow is not None:
        out["run_url"] = run.run_url
        out["verify"] = verify_json(run.workflow)
    return out


def result_json(result: JobResult) -> dict[str, Any]:
    run = result.runs[-1]
    attempt, judgement = run.last
    request = run.request
    return {
        "job": result.job.name,
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
        "dispatch": result.dispatch,
        "run_url": run.run_url,
        "failure_group": run.group,
        "failure_modes": [_mode_json(m) for m in run.modes],
        "runs": [run_json(r) for r in result.runs],
        "consecutive_ok": result.consecutive_ok,
        "verify": verify_json(result.verify) if result.verify is not None else None,
    }


def _mode_json(mode: FailureMode) -> dict[str, Any]:
    return {"symptom": mode.symptom, "cause": mode.cause, "action": mode.action, "severity": mode.severity}


# ---------------------------------------------------------------- reports


def trigger_report(results: Sequence[JobResult], until_ok: int | None = None) -> Report:
    all_ok = all(r.ok for r in results)
    report = _single_report(results[0], until_ok) if len(results) == 1 else _multi_report(results)
    calm = ("ok", "skipped", "unverified")
    report.tone = "ok" if all_ok else ("warn" if all(r.verdict in calm for r in results) else "crit")
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
    headline = f"{result.job.name}: {result.verdict}"
    if until_ok is not None:
        headline += f" ({result.consecutive_ok}/{until_ok} ok in a row, {len(result.runs)} run(s))"
    elif run.workflow is not None and run.workflow.newest is not None:
        followed = run.workflow.newest
        headline += f" (workflow run {followed.run_id}: {followed.raw_status or followed.status})"
    elif status is not None:
        headline += f" (HTTP {status}, {attempt.elapsed_ms:.0f} ms)"
    return Report(
        data=result_json(result),
        sections=sections,
        title=f"trigger {result.job.name}" + (" via workflow_dispatch" if result.dispatch else ""),
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
        attempt, _ = run.last
        rows.append(
            [
                i + 1,
                run.request.request_id,
                attempt.answer.status_code,
                f"{attempt.elapsed_ms:.0f} ms",
                len(run.attempts),
                mark(run.verdict, "trigger", show="both"),
                run.reason,
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
                result.job.name,
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
            sections.append(_verify_section(result.verify, result.job.name))
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


def dry_run_report(requests: Sequence[PlannedRequest]) -> Report:
    data_requests = []
    sections: list[Any] = []
    for planned in requests:
        request = planned.request
        curl = to_curl(request)
        data_requests.append(
            {
                "job": planned.job.name,
                "method": request.method,
                "url": request.display_url,
                "headers": request.display_headers,
                "body": request.display_body,
                "timeout": request.timeout,
                "request_id": request.request_id,
                "dispatch": planned.dispatch,
                "idempotent": planned.job.idempotent,
                "curl": curl,
            }
        )
        retry = "retries on 429/5xx/timeout" if planned.job.idempotent else "no retries (not idempotent)"
        sections.append(Text(f"# {planned.job.name}: {retry}; nothing was sent", tone="muted"))
        sections.append(Text(curl))
    return Report(
        data={"dry_run": True, "requests": data_requests},
        sections=sections,
        title="trigger --dry-run",
        headline=f"{len(requests)} request(s) not sent",
    )


# ---------------------------------------------------------------- verify


def verify_json(verify: Verification) -> dict[str, Any]:
    newest = verify.newest
    out: dict[str, Any] = {
        "confirmed": verify.confirmed,
        "newest_run": newest.to_json() if newest is not None else None,
        "after_trigger": newest is not None,
        "can_confirm": verify.can_confirm,
        "reason": verify.reason,
        "sources": verify.sources,
    }
    if verify.dispatch:
        out.update(
            {
                "verdict": verify.verdict,
                "run_url": verify.run_url,
                "created_since": verify.since,
                "waited_s": verify.waited,
                "candidates": [run.to_json() for run in verify.candidates],
            }
        )
    return out


def _dispatch_verify_section(verification: Verification, job: str | None = None) -> KeyValues:
    """The workflow run a dispatch created: its verdict, page, state and why."""
    newest = verification.newest
    title = f"Verify{f' {job}' if job else ''}: the workflow run the dispatch created"
    if verification.verdict is None:  # the dispatch was not accepted: no run to show
        return KeyValues([("why", verification.reason)], title=title)
    items: list[tuple[str, Any]] = [
        ("verdict", mark(verification.verdict, "trigger", show="both")),
        ("workflow run", verification.run_url or "-"),
        ("run id", newest.run_id if newest is not None else "-"),
        ("status", (newest.raw_status or newest.status) if newest is not None else "-"),
        ("why", verification.reason),
    ]
    if verification.since is not None:
        items.append(("created since", verification.since))
    if verification.waited is not None:
        ran_out = verification.verdict == "unverified" and not verification.candidates
        hint = " (the job's timeout; a longer --timeout waits longer)" if ran_out else ""
        items.append(("waited", f"{verification.waited:g}s{hint}"))
    for run in verification.candidates:
        items.append((f"candidate {run.run_id}", run.detail.get("html_url") or run.raw_status or run.status))
    for source in verification.sources:
        if source["state"] != "ok":
            items.append((f"source {source['source']}", f"{source['state']}: {source['message']}"))
    return KeyValues(items, title=title)


def _verify_section(verification: Verification, job: str | None = None) -> KeyValues:
    if verification.dispatch:
        return _dispatch_verify_section(verification, job)
    verify = verify_json(verification)
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
