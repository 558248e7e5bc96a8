"""`cronctl trigger`: build each job's request as its scheduler would, send it, judge it, verify it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronctl.errors import Aborted, UsageError

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.reports.trigger import Context, JobResult, ProgressPrinter, Repeat, TriggerPlan
    from cronctl.runbook.env import Environment
    from cronctl.runbook.model import JobSpec, Runbook
    from cronctl.services import CommandContext
    from cronctl.sources.http_trigger import BodyOptions, PreparedRequest

VERIFY_SLACK = timedelta(seconds=1)  # clock difference tolerated between this host and the job's database


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
    progress: ProgressPrinter,
) -> Report:
    """Fire the runbook jobs `names` (or the `ad_hoc` job); a dry run only shows the requests.

    `confirm(question)` approves sending to jobs marked `confirm`; `progress` shows each attempt.
    """
    from cronctl.reports.trigger import dry_run_report, run_jobs, trigger_report

    env = ctx.env()
    jobs, context, source = _jobs(ctx, names, ad_hoc, timeout)
    plans = [_plan(job, env, body, dispatch, source) for job in jobs]
    prepared = [(plan, plan.build()) for plan in plans]  # resolves variables and URLs before anything is sent
    if dry_run:
        return dry_run_report(prepared)
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
            result.verify = _verify(ctx, env, result, started - VERIFY_SLACK)
    return trigger_report(results, repeat.until_ok)


def _jobs(
    ctx: CommandContext, names: Sequence[str], ad_hoc: JobSpec | None, timeout: float | None
) -> tuple[list[JobSpec], Context, str]:
    """The jobs to fire, where they come from (audit and failure modes) and the source label."""
    from cronctl.reports.trigger import refuse_sql_jobs
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
    from cronctl.reports.trigger import Context

    if runbook is None:
        return Context()
    return Context(runbook=runbook.name, profile=profile, failure_modes=runbook.failure_modes,
                   failure_groups=runbook.failure_groups)  # fmt: skip


def _plan(job: JobSpec, env: Environment, body: BodyOptions, dispatch: bool, source: str) -> TriggerPlan:
    from cronctl.output import terminal
    from cronctl.reports.trigger import TriggerPlan
    from cronctl.sources.github_dispatch import build_dispatch_request
    from cronctl.sources.http_trigger import build_request

    use_dispatch = dispatch or job.url is None
    if use_dispatch:
        if job.dispatch is None:
            raise UsageError(f"job {job.name} has no [jobs.{job.name}.dispatch] table; it cannot use --dispatch")
        if body.has_data:
            raise UsageError("--data does not apply to a workflow dispatch; pass workflow inputs with --set")
        return TriggerPlan(job, lambda: build_dispatch_request(job, env, body.sets, source=source), dispatch=True)
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


def _verify(ctx: CommandContext, env: Environment, result: JobResult, since: datetime) -> dict[str, Any]:
    from cronctl.reports.trigger import verify_json
    from cronctl.sources.history import collect_history

    history = collect_history(ctx, ctx.runbook(), env, result.plan.job, limit=5)
    return verify_json(history.runs, history.sources, since)
