"""`cronctl trigger`: build each job's request as its scheduler would, send it, judge it, audit it, verify it.

One *run* is one trigger with its own request id; a run may take several *attempts* (retries of an
idempotent job). `--repeat` / `--until-ok` make several runs per job; several jobs run concurrently.

A workflow dispatch with `--verify` is judged by the workflow run it created, not by GitHub's 204/200: each run
waits (until the job's timeout has passed since the dispatch) for that run's conclusion, so `--until-ok K` counts
workflow runs that concluded `success`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from cronctl.errors import Aborted, UsageError
from cronctl.records import aware

if TYPE_CHECKING:
    from cronctl.evaluate.verdict import Judgement
    from cronctl.output.report import Report
    from cronctl.records import Attempt, PreparedRequest, Run
    from cronctl.reports.trigger import JobResult, RunResult, Verification
    from cronctl.runbook.env import Environment
    from cronctl.runbook.model import FailureGroupSpec, FailureMode, JobSpec, Runbook, SuccessRule
    from cronctl.services import CommandContext
    from cronctl.sources.github_dispatch import Dispatched, Watch, WatchTarget
    from cronctl.sources.http_trigger import BodyOptions

VERIFY_SLACK = timedelta(seconds=1)  # clock difference tolerated between this host and the job's database
MAX_CONCURRENCY = 32
_RANK = {"ok": 0, "skipped": 1, "unverified": 2, "failed": 3, "error": 4}
# A workflow run's status (as the GitHub history source maps it) → the trigger's verdict.
_WORKFLOW_VERDICT = {"succeeded": "ok", "failed": "failed", "skipped": "skipped"}

Progress = Callable[[str, str], None]  # (job, message)


class TriggerProgress(Protocol):
    """Where each attempt is told as it happens (stderr in the CLI); `finish` clears a live line."""

    def __call__(self, job: str, message: str) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class TriggerPlan:
    """A job to fire: how to build each run's request (fresh request id per run) and how to judge it."""

    job: JobSpec
    build: Callable[[], PreparedRequest]
    dispatch: bool = False
    follow: WatchTarget | None = None  # `--dispatch --verify`: where the workflow run the dispatch made is listed

    @property
    def rule(self) -> SuccessRule:
        from cronctl.runbook.model import SuccessRule

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


def trigger(
    ctx: CommandContext,
    names: Sequence[str],
    *,
    ad_hoc: JobSpec | None,
    body: BodyOptions,
    repeat: Repeat,
    timeout: float | None,
    dispatch: bool,
    dry_run: bool,
    verify: bool,
    confirm: Callable[[str], bool],
    progress: TriggerProgress,
) -> Report:
    """Fire the runbook jobs `names` (or the `ad_hoc` job); a dry run only shows the requests.

    `confirm(question)` approves sending to jobs marked `confirm`; `progress` shows each attempt.
    """
    from cronctl.reports.trigger import PlannedRequest, dry_run_report, trigger_report

    env = ctx.env()
    jobs, context, source = _jobs(ctx, names, ad_hoc, timeout)
    plans = [_plan(job, env, body, dispatch, source, verify) for job in jobs]
    prepared = [(plan, plan.build()) for plan in plans]  # resolves variables and URLs before anything is sent
    if dry_run:
        return dry_run_report([PlannedRequest(plan.job, request, plan.dispatch) for plan, request in prepared])
    _confirm(prepared, confirm)
    started = datetime.now(UTC)
    try:
        tls = any(not request.url.startswith("http://") for _, request in prepared)
        results = run_jobs(plans, context, repeat, progress, tls=tls)
    finally:
        progress.finish()
    if verify:
        if ad_hoc is not None:
            raise UsageError("--verify reads a runbook job's history; it does not apply to --url")
        for result in results:
            if result.dispatch:
                result.verify = result.runs[-1].workflow or _not_dispatched(result.runs[-1])
            else:
                result.verify = _verify(ctx, env, result.job, started - VERIFY_SLACK)
    return trigger_report(results, repeat.until_ok)


def refuse_sql_jobs(jobs: Sequence[JobSpec]) -> None:
    """A job that is SQL run by pg_cron has no request to send; say which command runs it instead."""
    for job in jobs:
        if job.runs_sql:
            raise UsageError(f"{job.name} runs SQL inside the database; use `cronctl pgcron run {job.name}`")


def _jobs(
    ctx: CommandContext, names: Sequence[str], ad_hoc: JobSpec | None, timeout: float | None
) -> tuple[list[JobSpec], Context, str]:
    """The jobs to fire, where they come from (audit and failure modes) and the source label."""
    from cronctl.runbook.loader import find_job

    if ad_hoc is not None:
        return [ad_hoc], _context(None, None), "--url"
    runbook = ctx.runbook()
    jobs = [_with_timeout(find_job(runbook, n), timeout) for n in names]
    refuse_sql_jobs(jobs)
    return jobs, _context(runbook, ctx.profile), str(runbook.path)


def _with_timeout(job: JobSpec, timeout: float | None) -> JobSpec:
    from dataclasses import replace

    return job if timeout is None else replace(job, timeout=timeout)


def _context(runbook: Runbook | None, profile: str | None) -> Context:
    if runbook is None:
        return Context()
    return Context(runbook=runbook.name, profile=profile, failure_modes=runbook.failure_modes,
                   failure_groups=runbook.failure_groups)  # fmt: skip


def _plan(
    job: JobSpec, env: Environment, body: BodyOptions, dispatch: bool, source: str, verify: bool = False
) -> TriggerPlan:
    from cronctl.output import terminal
    from cronctl.sources.github_dispatch import build_dispatch_request, watch_target
    from cronctl.sources.http_trigger import build_request

    use_dispatch = dispatch or job.url is None
    if use_dispatch:
        if job.dispatch is None:
            raise UsageError(f"job {job.name} has no [jobs.{job.name}.dispatch] table; it cannot use --dispatch")
        if body.has_data:
            raise UsageError("--data does not apply to a workflow dispatch; pass workflow inputs with --set")
        follow = watch_target(job, env, source) if verify else None
        return TriggerPlan(
            job, lambda: build_dispatch_request(job, env, body.sets, source=source), dispatch=True, follow=follow
        )
    if body.trigger_type and not job.trigger_type_field:
        terminal.warn(f"job {job.name} has no trigger_type_field; --trigger-type is ignored for it")
    return TriggerPlan(job, lambda: build_request(job, env, body, source=source))


def _confirm(prepared: list[tuple[TriggerPlan, PreparedRequest]], confirm: Callable[[str], bool]) -> None:
    asking = [(plan, request) for plan, request in prepared if plan.job.confirm]
    if not asking:
        return
    lines = [f"  {plan.job.name}: {request.method} {request.display_url}" for plan, request in asking]
    question = "Send these requests?\n" + "\n".join(lines) + "\n"
    if not confirm(question):
        raise Aborted("trigger cancelled; nothing was sent")


# ---------------------------------------------------------------- running


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
    from concurrent.futures import ThreadPoolExecutor

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
    runs: list[RunResult] = []
    streak = 0
    for index in range(repeat.runs):
        if index:
            sleep(repeat.interval)
        label = f"run {index + 1}/{repeat.runs} " if repeat.runs > 1 else ""
        run = run_one(client, plan, ctx, progress, label, claimed=_claimed(runs))
        runs.append(run)
        streak = streak + 1 if run.verdict == "ok" else 0  # a followed dispatch: its workflow run's verdict
        if repeat.until_ok is not None and progress is not None:
            progress(plan.job.name, f"{streak}/{repeat.until_ok} ok in a row after {index + 1} run(s)")
        if repeat.until_ok is not None and streak >= repeat.until_ok:
            break
    return _settle(plan, runs, streak, repeat)


def _settle(plan: TriggerPlan, runs: list[RunResult], streak: int, repeat: Repeat) -> JobResult:
    """The job's verdict over its runs: the streak with --until-ok, else the worst run."""
    from cronctl.reports.trigger import JobResult

    result = JobResult(plan.job, runs=runs, consecutive_ok=streak, dispatch=plan.dispatch)
    last = result.runs[-1]
    if repeat.until_ok is not None:
        if result.consecutive_ok >= repeat.until_ok:
            result.verdict, result.reason = "ok", f"{repeat.until_ok} ok in a row"
        elif last.verdict != "ok":
            result.verdict, result.reason = last.verdict, last.reason
        else:
            result.verdict = "failed"
            result.reason = (
                f"only {result.consecutive_ok} ok in a row of {repeat.until_ok} within {len(result.runs)} runs"
            )
        return result
    worst = max(result.runs, key=lambda r: _RANK.get(r.verdict, _RANK["error"]))
    result.verdict, result.reason = worst.verdict, worst.reason
    if len(result.runs) > 1 and worst.verdict != "ok":
        result.reason = f"run {result.runs.index(worst) + 1}: {result.reason}"
    return result


def _claimed(runs: Sequence[RunResult]) -> frozenset[int]:
    """The workflow runs earlier dispatches of this job took: never another dispatch's run."""
    ids = (r.workflow.newest.run_id if r.workflow is not None and r.workflow.newest is not None else None for r in runs)
    return frozenset(int(run_id) for run_id in ids if run_id is not None and run_id.isdigit())


def run_one(
    client: Any,
    plan: TriggerPlan,
    ctx: Context,
    progress: Progress | None = None,
    label: str = "",
    *,
    claimed: frozenset[int] = frozenset(),
) -> RunResult:
    """Build, send (with retries for idempotent jobs), judge every attempt, audit every sent request; with
    `plan.follow`, wait for the workflow run an accepted dispatch created and judge the run by it."""
    import time

    from cronctl.evaluate.verdict import answer_group, judge, match_failure_modes
    from cronctl.reports.trigger import RunResult
    from cronctl.sources.github_dispatch import run_url, send_dispatch
    from cronctl.sources.http_trigger import send_with_retries

    request = plan.build()
    judged: list[tuple[Attempt, Judgement]] = []
    open_audits: dict[int, str] = {}
    sent_at: dict[int, tuple[datetime, float]] = {}

    def before_attempt(number: int) -> None:
        open_audits[number] = _begin_audit(ctx, plan, request, number)
        sent_at[number] = (datetime.now(UTC), time.monotonic())

    def on_attempt(number: int, attempt: Attempt) -> None:
        judgement = judge(plan.rule, attempt.answer)
        if plan.dispatch:
            judgement = _dispatch_reason(judgement, attempt, plan.job, request)
        judged.append((attempt, judgement))
        interrupted = _complete_audit(open_audits.pop(number), request, plan, number, attempt, judgement)
        if progress is not None:
            line = (
                f"{label}attempt {number}: interrupted"
                if interrupted
                else _attempt_line(label, number, attempt, judgement)
            )
            progress(plan.job.name, line)

    # A dispatch a GitHub without `return_run_details` refused is sent once more without it (send_dispatch).
    send = send_dispatch if plan.dispatch else send_with_retries
    send(client, request, idempotent=plan.job.idempotent, on_attempt=on_attempt, before_attempt=before_attempt)
    attempt, judgement = judged[-1]
    status = attempt.answer.status_code
    group = answer_group(judgement, status, ctx.failure_groups)
    modes = match_failure_modes(ctx.failure_modes, plan.job.name, judgement.verdict, status, judgement.message, group)
    found_url = run_url(judgement.document) if plan.dispatch else None
    run = RunResult(request, judged, group, modes, found_url)
    if plan.follow is not None and judgement.verdict == "ok":
        when, started = sent_at[len(judged)]
        run.workflow = _follow(client, plan, attempt, judgement, (when, started), progress, label, claimed)
        run.run_url = run.workflow.run_url or run.run_url
    return run


def _dispatch_reason(judgement: Judgement, attempt: Attempt, job: JobSpec, request: PreparedRequest) -> Judgement:
    """A refused dispatch's reason says what GitHub's answer means (naming the token's variable, never its value)."""
    from dataclasses import replace

    from cronctl.sources.github_dispatch import refusal, workflow_names

    status = attempt.answer.status_code
    if judgement.verdict == "ok" or status is None or job.dispatch is None:
        return judgement
    repo, workflow = workflow_names(request.display_url)
    meaning = refusal(status, job.dispatch, repo, workflow)
    return judgement if meaning is None else replace(judgement, reason=f"{judgement.reason} — {meaning}")


def _follow(
    client: Any,
    plan: TriggerPlan,
    attempt: Attempt,
    judgement: Judgement,
    sent_at: tuple[datetime, float],
    progress: Progress | None,
    label: str,
    claimed: frozenset[int],
) -> Verification:
    """Wait for the workflow run the accepted dispatch created (within the job's timeout) and judge it."""
    from cronctl.sources.github_dispatch import dispatched, watch_run

    target = plan.follow
    assert target is not None
    when, started = sent_at
    sent = dispatched(when, started, attempt.elapsed_ms / 1000, attempt.answer.headers, judgement.document)
    job = plan.job.name

    def say(line: str) -> None:
        if progress is not None:
            progress(job, f"{label}{line}")

    watch = watch_run(client, job, target, sent, plan.job.timeout, say=say, claimed=claimed)
    return workflow_verification(watch, target, sent, plan.job.timeout)


def _attempt_line(label: str, number: int, attempt: Attempt, judgement: Judgement) -> str:
    status = attempt.answer.status_code
    answer = f"HTTP {status}" if status is not None else (attempt.answer.error_kind or "no answer")
    line = f"{label}attempt {number}: {answer} in {attempt.elapsed_ms:.0f} ms → {judgement.verdict}"
    if attempt.next_delay is not None:
        line += f"; retrying in {attempt.next_delay:g}s"
    elif attempt.note:
        line += f"; {attempt.note}"
    return line


# ---------------------------------------------------------------- audit


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


# ---------------------------------------------------------------- verify


def workflow_verification(watch: Watch, target: WatchTarget, sent: Dispatched, timeout: float) -> Verification:
    """The verdict on a dispatch from the workflow run it created: `ok` only when that run concluded `success`.

    `failed` (failure, timed_out, cancelled, startup_failure) and `skipped` name the conclusion and the run's page;
    a run still going at the deadline, a run that cannot be told apart from others, or no run at all is
    `unverified`, never ok.
    """
    from cronctl.reports.trigger import Verification

    run = watch.run
    url = (run.detail.get("html_url") if run is not None else None) or sent.run_url
    page = url or "(no URL)"
    if run is not None and watch.finished:
        verdict = _WORKFLOW_VERDICT.get(run.status, "unverified")
        said = run.raw_status or run.status
        if verdict == "unverified":
            reason = f"workflow run {run.run_id} ended {said}, which is not an outcome: {page}"
        else:
            reason = f"workflow run {run.run_id} concluded {said}: {page}"
    elif run is not None and not watch.interrupted:
        verdict, reason = "unverified", f"run {run.run_id} still in progress: {page}"
    elif watch.candidates:
        ids = ", ".join(str(r.run_id) for r in watch.candidates[:5])
        verdict = "unverified"
        reason = (
            f"{len(watch.candidates)} runs of {target.workflow} on {target.branch} were created since the dispatch "
            f"({ids}); which one is this dispatch's cannot be told"
        )
    elif watch.note.state != "ok" or watch.interrupted:
        verdict, reason = "unverified", watch.note.message or "the workflow's runs could not be read"
    elif sent.run_id is not None:
        verdict = "unverified"
        reason = (
            f"run {sent.run_id}, which GitHub named, did not show in the workflow's runs within {timeout:g}s: {page}"
        )
    else:
        verdict = "unverified"
        reason = (
            f"no run of {target.workflow} on {target.branch} created since {_stamp(watch.since)} appeared "
            f"within {timeout:g}s"
        )
    return Verification(
        confirmed=verdict == "ok",
        newest=run,
        can_confirm=True,
        reason=reason,
        sources=[watch.note.to_json()],
        dispatch=True,
        verdict=verdict,
        run_url=url,
        since=_stamp(watch.since),
        waited=round(watch.waited, 1),
        candidates=list(watch.candidates),
    )


def _not_dispatched(run: RunResult) -> Verification:
    """`--verify` after a dispatch GitHub did not accept: there is no workflow run to wait for."""
    from cronctl.reports.trigger import Verification

    return Verification(
        confirmed=False,
        newest=None,
        can_confirm=False,
        reason=f"the dispatch was not accepted ({run.reason}); no workflow run was created to verify",
        sources=[],
        dispatch=True,
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _verify(ctx: CommandContext, env: Environment, job: JobSpec, since: datetime) -> Verification:
    from cronctl.services.history import collect_history

    history = collect_history(ctx, ctx.runbook(), env, job, limit=5)
    return verification(history.runs, [s.to_json() for s in history.sources], since)


def verification(runs: Sequence[Run], sources: Sequence[dict[str, Any]], started: datetime) -> Verification:
    """The newest run that started after the request was sent, as the job's own history records it.

    A manual HTTP call creates no pg_cron row (and so no pg_net outcome): pg_cron's and pg_net's entries are
    the scheduler's own runs and never confirm a manual trigger. Only a run-log table or a health endpoint can.
    `sources` are the history sources' JSON (`source`, `state`, `message`).
    """
    from cronctl.reports.trigger import Verification

    own = [r for r in runs if r.source not in ("pg_cron", "pg_net")]
    after_start = [r for r in own if r.sort_time is not None and aware(r.sort_time) >= started]
    newest = after_start[0] if after_start else None
    can_confirm = any(s["source"] not in ("pg_cron", "pg_net") for s in sources)
    if newest is not None and newest.sort_time is not None:
        reason = f"run at {aware(newest.sort_time).isoformat()} in {newest.source}: {newest.status}"
    elif can_confirm:
        reason = "no run in the job's run log or health endpoint started after the request was sent"
    else:
        reason = (
            "pg_cron cannot confirm a manual trigger: the HTTP call made no pg_cron run; map a run-log table "
            "or health endpoint to the job to verify"
        )
    confirmed = bool(newest is not None and newest.status == "succeeded")
    return Verification(confirmed=confirmed, newest=newest, can_confirm=can_confirm, reason=reason,
                        sources=list(sources))  # fmt: skip
