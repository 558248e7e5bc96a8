"""Judge one collected snapshot: every job's health, failure groups, backlogs, locks, platform checks and the
findings (root causes first), with the silences in force. Pure: (collected, runbook, environment) → Triage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cronctl.evaluate.backlog import BacklogResult
from cronctl.evaluate.findings import Finding
from cronctl.evaluate.health import JobHealth
from cronctl.evaluate.hygiene import HygieneCheck
from cronctl.evaluate.locks import LockVerdict
from cronctl.evaluate.root_causes import TokenProblem, Workflow
from cronctl.evaluate.scheduler import scheduler_alive
from cronctl.evaluate.silences import Silenced
from cronctl.evaluate.triage import FailureGroup, PlatformCheck
from cronctl.records import Collected, JobData, Run, Silence, SourceNote, cron_name
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook


@dataclass
class Triage:
    """Every judgement of one snapshot; the report and `--watch` read it."""

    status: str
    reasons: list[str]
    health: list[JobHealth]
    failures: list[FailureGroup]
    backlogs: list[BacklogResult]
    locks: list[LockVerdict]
    checks: list[PlatformCheck]
    findings: list[Finding]
    collected: Collected
    silenced: Silenced = field(default_factory=Silenced)  # the silences in force; their problems do not count
    silenced_reasons: list[str] = field(default_factory=list)  # what would be in `reasons` but for a silence
    hygiene: list[HygieneCheck] = field(default_factory=list)  # never part of the status
    database: SourceNote | None = None  # the database was not read (not configured, or unreachable): why

    def silence_of_job(self, name: str | None) -> Silence | None:
        return self.silenced.for_job(name)

    def silence_of_finding(self, finding: Finding) -> Silence | None:
        if finding.kind == "root_cause":
            return self.silenced.jobs(finding.jobs)
        return self.silenced.for_job(finding.job)


def judge(
    collected: Collected,
    runbook: Runbook,
    env: Environment,
    jobs: Sequence[JobSpec],
    *,
    database: SourceNote | None = None,
) -> Triage:
    """`database`: why the database was not read, when it was not (nothing the jobs need lives there)."""
    from cronctl.evaluate import health as health_eval
    from cronctl.evaluate import locks as lock_eval
    from cronctl.evaluate import root_causes
    from cronctl.evaluate import triage as triage_eval

    now = collected.now
    down = _scheduler_alive(collected) is False and collected.until is None
    workflows = _workflows(collected, env, jobs)
    # A stopped workflow is a present-tense fact: it explains nothing about a past `--at`.
    stopped = set() if collected.until is not None else {j for w in workflows if w.stopped for j in w.fires}
    unrecorded = _unrecorded(collected)
    health = [
        _job_health(
            collected.jobs[j.name],
            now,
            collected,
            down,
            j.name in stopped,
            runbook.vendors,
            unrecorded=j.name in unrecorded,
        )
        for j in jobs
    ]
    failed: list[Run] = []
    for data in collected.jobs.values():
        assert data.window_start is not None
        runs = triage_eval.failed_runs(health_eval.outcomes(data.runs, data.spec.timeout), data.window_start)
        failed.extend(r for r in runs if not _aggregated(r, collected))
    groups, newest = triage_eval.group_failures(failed, runbook.failure_groups, collected.failure_counts)
    backlogs = _backlogs(collected, runbook)
    running = {h.name for h in health if h.state in ("running", "overrunning")}
    unverified = {h.name: h.reason for h in health if h.state == "unknown"}
    verdicts = _judge_locks(lock_eval, collected, runbook, now, running, unverified)
    checks = platform_checks(collected, runbook, env, jobs)
    evidence = replace(
        _evidence(collected, jobs),
        workflows=tuple(workflows),
        unrecorded=unrecorded,
        tokens=_token_problems(collected),
        outages=_outages(collected),
    )
    causes = root_causes.find(evidence, health)
    observed = triage_eval.symptoms(health, newest, backlogs, verdicts, checks, runbook.failure_groups)
    observed += _unplaced_symptoms(groups)
    found = root_causes.rule_out(triage_eval.findings(runbook.failure_modes, observed), evidence)
    found = root_causes.rank(_below_threshold([*causes, *found], health))
    quiet = Silenced.at(collected.silences, now)
    status, reasons, muted = triage_eval.overall_silenced(health, backlogs, verdicts, checks, found, groups, quiet)
    result = Triage(status, reasons, health, groups, backlogs, verdicts, checks, found, collected, quiet, muted,
                    database=database)  # fmt: skip
    # What to do first comes first: silenced findings after the others (stable otherwise).
    result.findings = sorted(found, key=lambda f: result.silence_of_finding(f) is not None)
    if collected.hygiene is not None:
        from cronctl.evaluate.hygiene import hygiene_checks

        result.hygiene = hygiene_checks(collected.hygiene, jobs, now)
    return result


def _below_threshold(found: Sequence[Finding], health: Sequence[JobHealth]) -> list[Finding]:
    """A runbook mode matched by a job that has failed fewer than `fail_after` times in a row warns: it is not
    critical yet (Sentry's failure threshold)."""
    below = {h.name for h in health if h.threshold == "below_fail_after"}
    return [
        replace(f, severity="warn") if f.kind == "runbook" and f.job in below and f.severity == "crit" else f
        for f in found
    ]


def _unplaced_symptoms(groups: Sequence[FailureGroup]) -> list[Any]:
    """Failures no run could be given (co-firing pg_net answers without tracking) are still symptoms: the
    runbook's modes for their group apply, to one of the candidate jobs."""
    from cronctl.evaluate.findings import Symptom

    out = []
    for group in groups:
        if not group.candidates:
            continue
        sample = (group.sample or "").split(": ", 1)[-1] or None
        out.append(
            Symptom(
                "failure",
                None,
                group=group.group,
                http_status=group.http_statuses[0] if group.http_statuses else None,
                message=sample,
                detail=f"one of {', '.join(group.candidates)} (pg_net answers not attributable to one job)",
            )
        )
    return out


def _judge_locks(
    lock_eval: Any, collected: Collected, runbook: Runbook, now: datetime, running: set[str], unverified: dict[str, str]
) -> list[LockVerdict]:
    """Locks judged from the same runs the jobs were judged from (the one history path)."""
    runs_by_job = {name: data.runs for name, data in collected.jobs.items()}
    verdicts: list[LockVerdict] = lock_eval.judge_all(
        collected.locks, runbook.jobs, now, running, unverified, runs_by_job=runs_by_job
    )
    return verdicts


def _evidence(collected: Collected, jobs: Sequence[JobSpec]) -> Any:
    from cronctl.evaluate.root_causes import Evidence

    facts = collected.facts
    pg_cron_jobs = tuple(j.name for j in jobs if cron_name(j))
    pg_net_jobs = tuple(j.name for j in jobs if collected.jobs[j.name].pg_net)
    stalled: dict[str, int] = {}
    if collected.attribution is not None:
        by_cron = {cron_name(j): j.name for j in jobs if cron_name(j)}
        for answer in collected.attribution.answers.values():
            message = answer.message or ""
            if answer.status == "unverified" and ("still queued after" in message or answer.how == "stalled"):
                name = by_cron.get(answer.cron, answer.cron)
                stalled[name] = stalled.get(name, 0) + 1
    hidden: dict[str, str] = {}
    for data in collected.jobs.values():
        why = data.why_unseen()
        if why and any(n.hidden or "not visible" in (n.message or "") or "permission denied" in (n.message or "")
                       for n in data.notes):  # fmt: skip
            hidden[data.spec.name] = why
    placeholders: dict[str, tuple[str, ...]] = {}
    secrets = collected.secrets
    if secrets is not None and secrets.ok:
        for key, is_placeholder in secrets.rows:
            if not is_placeholder:
                continue
            literal = re.compile(rf"'{re.escape(str(key))}'")
            users = tuple(
                j.name
                for j in jobs
                if cron_name(j) in collected.cron_jobs and literal.search(collected.cron_jobs[cron_name(j) or ""][1])
            )
            placeholders[str(key)] = users
    # No database read (`facts` None): nothing the jobs need lives there, so nothing there is missing.
    net_installed = facts is None or bool(facts.net_schema or facts.net_response_table)
    net_hidden = collected.net_note if net_installed and collected.net_note else None
    return Evidence(
        database=facts.database if facts is not None else "",
        role=facts.role if facts is not None else "",
        past=collected.until is not None,
        pg_cron_jobs=pg_cron_jobs,
        pg_net_jobs=pg_net_jobs,
        cron_installed=facts is None or bool(facts.cron_schema),
        scheduler_alive=_scheduler_alive(collected),
        net_installed=net_installed,
        net_hidden=net_hidden,
        queue_waiting=len(collected.queue) if collected.queue_read else None,
        stalled=stalled,
        hidden=hidden,
        active={d.spec.name: d.active for d in collected.jobs.values()},
        scheduled=frozenset(d.spec.name for d in collected.jobs.values() if cron_name(d.spec) in collected.cron_jobs),
        placeholders=placeholders,
        secrets_table=collected.secrets_table,
        judged_outside=frozenset(
            d.spec.name
            for d in collected.jobs.values()
            if any(n.state == "ok" and n.name in d.spec.history.external for n in d.notes)
        ),
    )


LOG_RUN_OFF = ("off", "false", "no", "0")
UNRECORDED_NOTE = "cron.log_run = off: pg_cron records no runs in cron.job_run_details, so none can be seen"


def _unrecorded(collected: Collected) -> tuple[str, ...]:
    """Jobs whose only run history is pg_cron's run log while pg_cron writes none (cron.log_run = off, a
    present-tense setting: a past `--at` is judged from the rows there are)."""
    facts = collected.facts
    log_run = facts.setting("cron.log_run") if facts is not None else None
    if log_run is None or log_run.strip().lower() not in LOG_RUN_OFF or collected.until is not None:
        return ()
    return tuple(
        d.spec.name
        for d in collected.jobs.values()
        if cron_name(d.spec) and not d.spec.history.outside and {n.name for n in d.notes} <= {"pg_cron", "pg_net"}
    )


def _aggregated(run: Run, collected: Collected) -> bool:
    """True when the run's source counted it in its window aggregate (so it is not counted twice): inside the
    window, and for pg_net only answers that failed at the HTTP level (a 2xx failed by the success rule, or an
    answer pg_net never recorded, is not in the aggregate)."""
    from cronctl.evaluate.triage import run_time

    if run.source not in collected.aggregated:
        return False
    if run.source == "pg_net":
        if run.detail.get("response_id") is None:
            return False
        if run.http_status is not None and 200 <= run.http_status < 300:
            return False
    when = run_time(run)
    since = collected.failure_since
    return when is None or since is None or when >= since


def _job_health(
    data: JobData,
    now: datetime,
    collected: Collected,
    scheduler_down: bool,
    workflow_stopped: bool,
    vendors: Mapping[str, object],
    *,
    unrecorded: bool = False,
) -> JobHealth:
    """`unrecorded`: pg_cron keeps no run log, so rows from before it stopped say nothing about the runs since."""
    from cronctl.evaluate import health as health_eval

    merged = [] if unrecorded else health_eval.merge_sources(data.runs)
    explained_by = "scheduler_down" if scheduler_down and cron_name(data.spec) else None
    facts = health_eval.JobFacts(
        active=data.active,
        readable=data.readable and not unrecorded,
        note=UNRECORDED_NOTE if unrecorded else data.why_unseen(),
        stuck_runs=frozenset(data.stuck),
        timezone=getattr(collected.facts, "cron_timezone", None) if collected.facts else None,
        explained_by=explained_by or ("workflow_disabled" if workflow_stopped else None),
        window_start=data.window_start,
        vendors=vendors,
    )
    return health_eval.judge(data.spec, merged, facts, now)


def _workflows(collected: Collected, env: Environment, jobs: Sequence[JobSpec]) -> list[Workflow]:
    """The GitHub workflows read as the jobs' history, as GitHub described them (one per repository and file)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for job in jobs:
        facts = collected.external_facts.get(job.name, {})
        state = facts.get("workflow_state")
        if job.dispatch is None or not isinstance(state, str) or job.expect == "disabled":
            continue  # a job off on purpose is no symptom of its workflow being off
        repo = _resolved(env, job.dispatch.repo)
        workflow = _resolved(env, job.dispatch.workflow).rsplit("/", 1)[-1]
        entry = found.setdefault(
            (repo.lower(), workflow),
            {"repo": repo, "workflow": workflow, "state": state, "url": _actions_page(facts.get("workflow_url")),
             "jobs": [], "fires": []},
        )  # fmt: skip
        entry["jobs"].append(job.name)
        if _fired_by_github(job):
            entry["fires"].append(job.name)
    return [
        Workflow(e["repo"], e["workflow"], e["state"], e["url"], tuple(e["jobs"]), tuple(e["fires"]))
        for e in found.values()
    ]


def _fired_by_github(job: JobSpec) -> bool:
    """GitHub Actions fires the job, or its workflow's runs are the job's only history."""
    history = job.history
    only_github = history.external == ("github",) and not (cron_name(job) or history.run_log or history.health)
    return job.scheduler == "github" or only_github


def _resolved(env: Environment, template: str) -> str:
    from cronctl.errors import CronctlError

    try:
        return env.resolve(template, "dispatch").strip()
    except CronctlError:
        return template


_BLOB = re.compile(r"^(https?://[^/]+/[^/]+/[^/]+)/blob/[^/]+/\.github/workflows/([^/?#]+)$")


def _actions_page(url: Any) -> str | None:
    """The workflow's Actions page (where GitHub's Enable workflow button is), from its file's `html_url`."""
    if not isinstance(url, str) or not url:
        return None
    match = _BLOB.match(url)
    return f"{match.group(1)}/actions/workflows/{match.group(2)}" if match else url


def _token_problems(collected: Collected) -> tuple[TokenProblem, ...]:
    """Tokens the history sources outside the database could not use, one per (source, variable): each source says
    so as the job's fact `token` (sources.external.base.ExternalRead.facts); its note is the finding's cause."""
    found: dict[tuple[str, str, bool], tuple[str, list[str]]] = {}
    for name, data in collected.jobs.items():
        for token in _tokens(collected, name):
            if token.get("state") not in ("refused", "unset"):
                continue
            source, variable = token.get("source"), token.get("env")
            if not isinstance(source, str) or not isinstance(variable, str):
                continue
            if source not in data.spec.history.external:
                continue
            message = next((n.message for n in data.notes if n.name == source and n.message), "")
            key = (source, variable, token["state"] == "refused")
            users = found.setdefault(key, (message, []))[1]
            if name not in users:
                users.append(name)
    return tuple(
        TokenProblem(source, variable, refused, message, tuple(users))
        for (source, variable, refused), (message, users) in found.items()
    )


def _tokens(collected: Collected, job: str) -> list[dict[str, Any]]:
    """The tokens the job's outside sources could not use, each `{"source", "env", "state"}`."""
    tokens = collected.external_facts.get(job, {}).get("tokens", [])
    return [t for t in tokens if isinstance(t, dict)]


def _outages(collected: Collected) -> tuple[Any, ...]:
    """History sources outside the database whose read failed as a whole: every job that reads the source got the
    same error or timeout from it (`note_all`), and there are several (one job's failure is that job's reason). A
    token the source could not use is the token's finding instead."""
    from cronctl.evaluate.root_causes import SourceOutage

    notes: dict[str, list[tuple[str, SourceNote | None]]] = {}
    for name, data in collected.jobs.items():
        for source in data.spec.history.external:
            note = next((n for n in data.notes if n.name == source), None)
            notes.setdefault(source, []).append((name, note))
    out = []
    for source, seen in notes.items():
        failed = [(name, n) for name, n in seen if n is not None and n.state in ("error", "timeout")]
        messages = {(n.state, n.message or "") for _, n in failed}
        if len(seen) < 2 or len(failed) < len(seen) or len(messages) != 1:
            continue
        if any(t.get("source") == source for name, _ in seen for t in _tokens(collected, name)):
            continue
        state, message = messages.pop()
        out.append(SourceOutage(source, state, message, tuple(name for name, _ in seen)))
    return tuple(out)


def _backlogs(collected: Collected, runbook: Runbook) -> list[BacklogResult]:
    from cronctl.evaluate import backlog as backlog_eval

    out = []
    for name, answer in collected.backlogs.items():
        spec = runbook.backlogs[name]
        if not answer.ok:
            reason = _message(answer.error)
            out.append(backlog_eval.failed(spec, ("timeout: " if answer.timed_out else "") + reason))
            continue
        if "value" not in answer.columns:
            out.append(backlog_eval.failed(spec, "the query returns no column named `value`"))
            continue
        if not answer.rows:
            out.append(backlog_eval.judge(spec, 0))
            continue
        row = answer.rows[0]
        value = row[answer.columns.index("value")]
        oldest = row[answer.columns.index("oldest")] if "oldest" in answer.columns else None
        out.append(backlog_eval.judge(spec, value, oldest if isinstance(oldest, datetime) else None))
    return out


def _message(error: Any) -> str:
    return getattr(error, "message", None) or str(error)


def platform_checks(
    collected: Collected, runbook: Runbook, env: Environment, jobs: Sequence[JobSpec]
) -> list[PlatformCheck]:
    checks: list[PlatformCheck] = []
    facts = collected.facts
    if collected.uses_pg_cron:
        if not facts.cron_schema:
            checks.append(PlatformCheck("pg_cron", "crit", f"pg_cron is not installed in database {facts.database}"))
        else:
            checks.append(_scheduler_check(collected))
    if collected.uses_pg_net:
        if facts.net_response_table:
            checks.append(PlatformCheck("pg_net", "ok", "pg_net's net._http_response is present"))
        else:
            checks.append(
                PlatformCheck("pg_net", "crit", "jobs call pg_net but it is not installed (no net._http_response)")
            )
    needed = list(dict.fromkeys(name for job in jobs for name in job.required_env()))
    unset = [name for name in needed if not env.is_set(name)]
    if needed:
        checks.append(
            PlatformCheck("env", "warn", "not set: " + ", ".join(unset))
            if unset
            else PlatformCheck("env", "ok", f"{len(needed)} required variable(s) set")
        )
    if collected.secrets is not None:
        checks.append(_secrets_check(collected, runbook))
    for name, message in collected.health_errors.items():
        status = collected.health_status.get(name)
        if status is not None and status >= 500:
            checks.append(PlatformCheck(f"health.{name}", "crit", f"endpoint answers: {message}", http_status=status))
        else:
            checks.append(PlatformCheck(f"health.{name}", "error", message, http_status=status))
    for name, missing in collected.health_unhealthy.items():
        checks.append(PlatformCheck(f"health.{name}", "warn", f"endpoint reports unhealthy: {', '.join(missing)}"))
    for message in collected.lock_errors:
        checks.append(PlatformCheck("locks", "error", message))
    for name, message in collected.errors.items():
        if name.startswith("run_log:") or name == "scheduler":
            continue  # shown with the job or the scheduler check
        checks.append(PlatformCheck(name, "error", message))
    return checks


def _scheduler_alive(collected: Collected) -> bool | None:
    return scheduler_alive(collected.facts, collected.scheduler)


def _scheduler_check(collected: Collected) -> PlatformCheck:
    state = collected.scheduler
    if state is None:
        return PlatformCheck("scheduler", "error", collected.errors.get("scheduler", "not read"))
    alive = _scheduler_alive(collected)
    if alive:
        return PlatformCheck(
            "scheduler", "ok", f"pg_cron scheduler running (pid {state.pid}, database {state.database})"
        )
    if alive is None:
        return PlatformCheck(
            "scheduler", "warn", "no pg_cron scheduler visible to this role (needs pg_read_all_stats to be sure)"
        )
    return PlatformCheck("scheduler", "crit", "no pg_cron scheduler backend: no job is being started")


def _secrets_check(collected: Collected, runbook: Runbook) -> PlatformCheck:
    answer = collected.secrets
    assert answer is not None and runbook.secrets_table is not None
    table = runbook.secrets_table.table
    if not answer.ok:
        if answer.missing:
            return PlatformCheck("secrets", "skipped", f"secrets table {table} does not exist")
        return PlatformCheck("secrets", "error", _message(answer.error))
    placeholders = [str(key) for key, is_placeholder in answer.rows if is_placeholder]
    if placeholders:
        return PlatformCheck(
            "secrets", "crit", f"{len(placeholders)} placeholder value(s) in {table}: {', '.join(placeholders)}"
        )
    return PlatformCheck("secrets", "ok", f"{len(answer.rows)} secret(s) in {table}, none a placeholder")
