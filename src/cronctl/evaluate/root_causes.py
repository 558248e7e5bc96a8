"""Platform root causes: one finding per cause, ranked, naming the jobs it explains. Pure.

A dead scheduler is one finding, not N missed jobs; a missing grant is one finding, not N unknown jobs; so are a
GitHub workflow GitHub stopped scheduling (disabled for inactivity, by hand, in a fork, or deleted) and a vendor
token its API refuses. The runbook's own failure modes still match their symptoms, but a mode whose stated cause the
evidence contradicts ("the job is inactive" while cron.job says active) is marked ruled out instead of being offered
as the cause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cronctl.evaluate.findings import Finding
from cronctl.evaluate.health import JobHealth

ROOT_CAUSES = (
    "scheduler_down",
    "pg_cron_missing",
    "pg_net_missing",
    "pg_net_worker_down",
    "secret_placeholder",
    "history_hidden",
    "disabled_job_runs",
    "workflow_disabled",
    "vendor_token_refused",
    "vendor_token_missing",
)
_EXPLAINABLE = ("missed", "never_run", "unknown", "unverified")
# States a stopped schedule leaves a job in, or that it does not contradict (the last run may still be fine).
_STOPPED_EXPLAINS = (*_EXPLAINABLE, "ok", "running", "degraded")


@dataclass(frozen=True)
class Workflow:
    """A GitHub Actions workflow whose runs are some jobs' history, in the state GitHub gives it now."""

    repo: str  # owner/name
    workflow: str  # its file name (or id), as `gh workflow enable` takes it
    state: str  # active | disabled_manually | disabled_inactivity | disabled_fork | deleted
    url: str | None  # its page on GitHub
    jobs: tuple[str, ...]  # the runbook jobs reading its runs
    fires: tuple[str, ...]  # of those, the jobs it fires (scheduler = "github") or whose only history it is

    @property
    def stopped(self) -> bool:
        """GitHub starts none of its scheduled runs."""
        return self.state in WORKFLOW_STOPPED


# GitHub's workflow states in which no scheduled run starts (REST API "Get a workflow", `state`).
WORKFLOW_STOPPED = ("disabled_inactivity", "disabled_manually", "disabled_fork", "deleted")


@dataclass(frozen=True)
class TokenProblem:
    """A history source outside the database that could not read because of its token."""

    source: str  # github | vercel | supabase
    variable: str  # the environment variable holding the token
    refused: bool  # True: the API refused it (401, or Vercel's 403 invalidToken); False: it is not set
    message: str  # the source's own line
    jobs: tuple[str, ...]


@dataclass(frozen=True)
class SourceOutage:
    """A history source outside the database whose API could not be read at all (not a token problem): refused
    connections, timeouts, server errors, unreadable answers."""

    source: str
    state: str  # error | timeout
    message: str  # the source's own line for the first job
    jobs: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    """Platform facts the sources saw, reduced to what root causes are judged from."""

    database: str
    role: str
    past: bool = False  # judging as of a past time: present-tense facts (scheduler, queue) do not apply
    pg_cron_jobs: tuple[str, ...] = ()  # runbook jobs pg_cron starts
    pg_net_jobs: tuple[str, ...] = ()  # runbook jobs whose outcome is a pg_net answer
    cron_installed: bool = True
    scheduler_alive: bool | None = None  # None: not read, or not visible to this role
    net_installed: bool = True
    net_hidden: str | None = None  # pg_net installed but its answers not visible to this role: why
    queue_waiting: int | None = None  # rows waiting in net.http_request_queue (None: not read)
    stalled: Mapping[str, int] = field(default_factory=dict)  # job → requests queued past timeout + stall
    hidden: Mapping[str, str] = field(default_factory=dict)  # job → why its history is hidden from this role
    active: Mapping[str, bool | None] = field(default_factory=dict)  # job → cron.job.active
    scheduled: frozenset[str] = frozenset()  # runbook jobs visible in cron.job
    # Secrets-table keys still holding a placeholder → the jobs whose pg_cron command reads that key.
    placeholders: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    secrets_table: str | None = None
    workflows: tuple[Workflow, ...] = ()  # GitHub workflows read as history (their state is a present-tense fact)
    judged_outside: frozenset[str] = frozenset()  # jobs a history source outside the database answered for
    unrecorded: tuple[str, ...] = ()  # jobs judged from pg_cron's run log alone while cron.log_run = off
    tokens: tuple[TokenProblem, ...] = ()  # vendor tokens refused or not set, one per (source, variable)
    outages: tuple[SourceOutage, ...] = ()  # vendor APIs that could not be read, one per source


def find(evidence: Evidence, health: Sequence[JobHealth]) -> list[Finding]:
    """Root causes, most severe first."""
    states = {h.name: h.state for h in health}
    out: list[Finding] = []

    def explained(jobs: Sequence[str], wanted: Sequence[str] = _EXPLAINABLE) -> tuple[str, ...]:
        return tuple(j for j in jobs if states.get(j) in wanted)

    if evidence.pg_cron_jobs and not evidence.cron_installed:
        jobs = tuple(evidence.pg_cron_jobs)
        out.append(
            _cause(
                "pg_cron_missing", "crit", jobs,
                symptom="pg_cron is not installed in this database",
                cause=f"database {evidence.database} has no cron schema: nothing schedules these jobs here",
                action="connect to the database pg_cron runs in (cron.database_name), or CREATE EXTENSION pg_cron",
                evidence="no schema cron",
            )
        )  # fmt: skip
    elif evidence.pg_cron_jobs and evidence.scheduler_alive is False and not evidence.past:
        jobs = explained(evidence.pg_cron_jobs, ("missed", "never_run", "stuck", "running", "overrunning"))
        out.append(
            _cause(
                "scheduler_down", "crit", jobs or tuple(evidence.pg_cron_jobs),
                symptom="the pg_cron scheduler is not running: no job is being started",
                cause="no backend with application_name 'pg_cron scheduler' in pg_stat_activity",
                action=(
                    "check the server log for pg_cron errors; pg_cron needs shared_preload_libraries = 'pg_cron' "
                    "and cron.database_name set to this database; restart PostgreSQL (Supabase: restart the "
                    "project) to start the scheduler again"
                ),
                evidence=f"{len(jobs)} job(s) missed or not started" if jobs else "no scheduler backend",
            )
        )  # fmt: skip
    if evidence.pg_net_jobs and not evidence.net_installed:
        jobs = tuple(evidence.pg_net_jobs)
        out.append(
            _cause(
                "pg_net_missing", "crit", jobs,
                symptom="pg_net is not installed: pg_net jobs cannot queue their requests",
                cause=f"database {evidence.database} has no net schema: the commands fail with "
                'schema "net" does not exist',
                action="CREATE EXTENSION pg_net (Supabase: Database → Extensions → pg_net)",
                evidence="no schema net",
            )
        )  # fmt: skip
    elif evidence.pg_net_jobs and evidence.net_hidden and _blind_to(evidence):
        jobs = tuple(evidence.pg_net_jobs)
        out.append(
            _cause(
                "history_hidden", "warn", explained(jobs) or _blind_to(evidence),
                symptom="pg_net's answers are not visible to this role: pg_net jobs cannot be judged",
                cause=evidence.net_hidden,
                action=_grant_action(evidence.net_hidden),
                evidence=f"role {evidence.role}",
            )
        )  # fmt: skip
    stalled = {j: n for j, n in evidence.stalled.items() if n}
    if stalled and not evidence.past:
        waiting = f"{evidence.queue_waiting} request(s) waiting" if evidence.queue_waiting else "requests waiting"
        out.append(
            _cause(
                "pg_net_worker_down", "crit", tuple(sorted(stalled)),
                symptom="pg_net's worker is not sending requests: they stay in net.http_request_queue",
                cause=f"{waiting}; {sum(stalled.values())} past their timeout",
                action=(
                    "check the server log for pg_net worker errors; SELECT net.worker_restart() (pg_net 0.8+) or "
                    "restart PostgreSQL; check pg_net.batch_size and that pg_net is in shared_preload_libraries"
                ),
                evidence=", ".join(f"{j}: {n} stalled" for j, n in sorted(stalled.items())),
            )
        )  # fmt: skip
    for key, users in sorted(evidence.placeholders.items()):
        if not users:
            continue
        broken = explained(users, ("failing", "unverified"))
        if not broken:
            continue  # nothing fails while sending it: the secrets check alone reports the placeholder
        out.append(
            _cause(
                "secret_placeholder", "crit", broken,
                symptom=f"secret {key} is still a placeholder, and {', '.join(broken)} fail(s) sending it",
                cause=f"{evidence.secrets_table or 'the secrets table'}.{key} was never set to its real value "
                "(a migration placeholder), and the job's command sends it",
                action=f"cronctl secrets rotate {key}  (then: cronctl trigger {broken[0]} --verify)",
                evidence=f"the pg_cron command of {', '.join(users)} reads '{key}'",
            )
        )  # fmt: skip
    unrecorded = explained(evidence.unrecorded, ("unknown",))
    if unrecorded:
        out.append(
            _cause(
                "pg_cron_log_run_off", "warn", unrecorded,
                symptom="pg_cron records no runs: cron.log_run = off",
                cause="with cron.log_run off pg_cron writes nothing to cron.job_run_details: whether these jobs ran, "
                      "and how, cannot be seen there",
                action="set cron.log_run = on (ALTER SYSTEM SET cron.log_run = on, then restart PostgreSQL), or map "
                       "a run_log table or health endpoint for these jobs in the runbook",
                evidence=f"cron.log_run = off; {len(unrecorded)} job(s) cannot be judged",
            )
        )  # fmt: skip
    hidden = {j: why for j, why in evidence.hidden.items() if states.get(j) in ("unknown", "never_run", "unverified")}
    if hidden:
        first = next(iter(hidden.values()))
        out.append(
            _cause(
                "history_hidden", "warn", tuple(sorted(hidden)),
                symptom="job history is hidden from this role",
                cause=first,
                action=_grant_action(first),
                evidence=f"role {evidence.role}; {len(hidden)} job(s) cannot be judged",
            )
        )  # fmt: skip
    running = [h for h in health if h.unexpected]
    if running:
        names = tuple(h.name for h in running)
        odd = running[0]
        out.append(
            _cause(
                "disabled_job_runs", "warn", names,
                symptom=f"{len(names)} job(s) the runbook marks off on purpose (expect = \"disabled\") run anyway",
                cause=f"{odd.name}: {odd.unexpected}",
                action=(
                    f"if it is meant to run again, remove expect = \"disabled\" from [jobs.{odd.name}]; otherwise "
                    + (f"switch it off: cronctl pgcron disable {odd.name}" if "cron.job" in (odd.unexpected or "")
                       else "switch it off where it is scheduled (vercel.json crons, the workflow's schedule)")
                ),
                evidence="; ".join(f"{h.name}: {h.unexpected}" for h in running),
            )
        )  # fmt: skip
    if not evidence.past:
        out += _workflow_causes(evidence.workflows, states)
    # A token that leaves no job unseen (its jobs judged from other sources) is each job's note, not a finding.
    out += [cause for cause in (_token_cause(t, states) for t in evidence.tokens) if cause.jobs]
    out += [cause for cause in (_outage_cause(o, states) for o in evidence.outages) if cause.jobs]
    order = {"crit": 0, "warn": 1, "info": 2}
    return sorted(out, key=lambda f: order.get(f.severity, 3))


def _workflow_causes(flows: Sequence[Workflow], states: Mapping[str, str]) -> list[Finding]:
    """Stopped workflows of one repository in one state are one root cause, not one per workflow: GitHub disables
    every scheduled workflow of a public repository after 60 days without activity, and they go back together."""
    groups: dict[tuple[str, str], list[Workflow]] = {}
    for flow in flows:
        if flow.stopped:
            groups.setdefault((flow.repo.lower(), flow.state), []).append(flow)
    return [_workflow_cause(group, states) for group in groups.values()]


def _workflow_cause(flows: Sequence[Workflow], states: Mapping[str, str]) -> Finding:
    """Workflows GitHub no longer schedules: crit when one of them is how its jobs run (or their only history)."""
    repo, state, one = flows[0].repo, flows[0].state, len(flows) == 1

    def say(singular: str, plural: str) -> str:
        return singular if one else plural

    what = say("workflow ", "workflows ") + ", ".join(f.workflow for f in flows)
    enable = ", ".join(f"`gh workflow enable {f.workflow} -R {f.repo}`" for f in flows)
    # The Actions pages go to the evidence: a URL is longer than an 80-column action line can hold whole.
    pages = [f.url for f in flows if f.url]
    stops = say("its schedule no longer fires", "their schedules no longer fire")
    if state == "disabled_inactivity":
        symptom = f"GitHub disabled {what} in {repo} for inactivity: {stops}"
        cause = (
            "GitHub disables scheduled workflows of a public repository after 60 days without activity in it "
            "(workflow state disabled_inactivity); no scheduled run starts until it is enabled again"
        )
        action = f"enable {say('it', 'them')}: {enable}; a commit to the default branch starts GitHub's 60 days again"
    elif state == "disabled_manually":
        symptom = f"{what} in {repo} {say('is', 'are')} disabled: {stops}"
        cause = (
            f"someone disabled {say('the workflow', 'the workflows')} (workflow state disabled_manually): GitHub "
            f"starts none of {say('its', 'their')} runs"
        )
        action = (
            f"if {say('it', 'they')} should run: {enable}; if {say('it is', 'they are')} off on purpose, mark "
            f'{say("its", "their")} jobs expect = "disabled" in the runbook'
        )
    elif state == "disabled_fork":
        symptom = f"{what} in {repo} {say('is', 'are')} disabled in this fork: " + say(
            "its schedule does not fire", "their schedules do not fire"
        )
        cause = "GitHub disables the workflows of a forked repository until they are enabled there (disabled_fork)"
        action = (
            f"enable {say('it', 'them')} in the fork: {enable}, or point the jobs' dispatch.repo at the "
            "upstream repository"
        )
    else:
        symptom = (
            f"{what} {say('no longer exists', 'no longer exist')} in {repo}: nothing schedules {say('it', 'them')}"
        )
        files_were = say("the workflow's file was", "the workflows' files were")
        cause = f"{files_were} deleted from the repository (workflow state deleted)"
        files = ", ".join(f".github/workflows/{f.workflow}" for f in flows)
        action = f"restore {files} on the default branch, or point the jobs' dispatch.workflow at the " + say(
            "file that replaced it", "files that replaced them"
        )
    # A workflow explains the jobs it fires; a job it only mirrors (a pg_cron job's twin) is judged by its own
    # scheduler.
    fires = [j for f in flows for j in f.fires]
    jobs = tuple(dict.fromkeys(j for j in fires if states.get(j) in _STOPPED_EXPLAINS))
    severity = "crit" if fires else "warn"

    def seen(flow: Workflow) -> str:
        how = "fires" if flow.fires else "is read as the history of"
        return f"{how} {', '.join(flow.fires or flow.jobs)}"

    evidence = (
        f"GitHub says state = {state}; it {seen(flows[0])}"
        if one
        else f"GitHub says state = {state} for each; " + "; ".join(f"{f.workflow} {seen(f)}" for f in flows)
    )
    if pages and state != "deleted":
        evidence += f"; or use Enable workflow on {', '.join(pages)}"
    return _cause(
        "workflow_disabled", severity, jobs,
        symptom=symptom,
        cause=cause,
        action=action,
        evidence=evidence,
    )  # fmt: skip


# How each history source outside the database words a token its API refused (sources/external/*): GitHub
# "GitHub token in $GITHUB_TOKEN was refused (401)", Vercel and Supabase "VERCEL_TOKEN was refused (403): …".
# Triage reads the sources' fact `token` instead (evaluate.snapshot); `cronctl doctor` still reads this wording.
_REFUSED = re.compile(r"\$?([A-Za-z_][A-Za-z0-9_]*) was refused \((\d{3})\)")


def refused_variable(message: str) -> str | None:
    """The token variable a source's note says its API refused, or None."""
    match = _REFUSED.search(message)
    return match.group(1) if match else None


_WHERE_TOKENS = {
    "github": "a fine-grained token with `actions: read` on the repository (or a classic token with `repo`)",
    "vercel": "a token from Vercel's Account Settings → Tokens, scoped to the project's team",
    "supabase": "a personal access token from the Supabase dashboard (Account → Access Tokens)",
}


def _token_cause(problem: TokenProblem, states: Mapping[str, str]) -> Finding:
    """One token refused (or not set) is one finding for every job whose history it reads, not N unknown jobs."""
    variable, source = problem.variable, problem.source
    where = _WHERE_TOKENS.get(source, "a new token")
    if problem.refused:
        return _vendor_cause(
            "vendor_token_refused", source, problem.jobs, states,
            symptom=f"the {source} API refused the token in {variable}: {source} history cannot be read",
            cause=problem.message,
            action=f"create {where} and set {variable} (export it or add it to .env), then check it: cronctl doctor",
        )  # fmt: skip
    return _vendor_cause(
        "vendor_token_missing", source, problem.jobs, states,
        symptom=f"{variable} is not set: {source} history cannot be read",
        cause=problem.message,
        action=f"set {variable} to {where} (export it or add it to .env), then check it: cronctl doctor",
    )  # fmt: skip


def _outage_cause(outage: SourceOutage, states: Mapping[str, str]) -> Finding:
    """An API that cannot be reached is one finding for every job it leaves unseen, not N unknown jobs."""
    source = outage.source
    if outage.state == "timeout":
        what = "did not answer in time"
        action = f"check that this machine reaches the {source} API (network, proxy, DNS, the vendor's status page)"
    else:
        what = "could not be read"
        action = "fix what the cause says (the runbook's settings for the source, the network path, the token)"
    return _vendor_cause(
        "vendor_api_unreachable", source, outage.jobs, states,
        symptom=f"the {source} API {what}: no {source} history for {len(outage.jobs)} job(s)",
        cause=outage.message,
        action=f"{action}, then check it: cronctl doctor",
    )  # fmt: skip


def _vendor_cause(
    cause_id: str,
    source: str,
    jobs: tuple[str, ...],
    states: Mapping[str, str],
    *,
    symptom: str,
    cause: str,
    action: str,
) -> Finding:
    """A history source outside the database that read nothing: a finding for the jobs it leaves unseen (none
    when their other sources judged them), its evidence every job that reads the source."""
    unseen = tuple(j for j in jobs if states.get(j) in ("unknown", "never_run", "unverified"))
    return _cause(
        cause_id, "warn", unseen, symptom=symptom, cause=cause, action=action,
        evidence=f"{len(jobs)} job(s) read {source} history: {', '.join(jobs)}", blind_spot=True,
    )  # fmt: skip


def _blind_to(evidence: Evidence) -> tuple[str, ...]:
    """The pg_net jobs nothing outside the database judges (an Edge Function's own logs are its outcomes too)."""
    return tuple(j for j in evidence.pg_net_jobs if j not in evidence.judged_outside)


def _cause(
    cause_id: str,
    severity: str,
    jobs: tuple[str, ...],
    *,
    symptom: str,
    cause: str,
    action: str,
    evidence: str,
    blind_spot: bool = False,
) -> Finding:
    return Finding(
        severity=severity,
        job=None,
        symptom=symptom,
        cause=cause,
        action=action,
        evidence=evidence,
        kind="root_cause",
        id=cause_id,
        jobs=jobs,
        blind_spot=blind_spot,
    )


def rank(found: Sequence[Finding]) -> list[Finding]:
    """Root causes first, then the runbook's modes in their order; a blind spot (`Finding.blind_spot`) goes
    before the first mode that is not more severe than it (the ruled-out modes stay last)."""
    order = {"crit": 0, "warn": 1, "info": 2}
    blind = [f for f in found if f.blind_spot]
    out = [f for f in found if not f.blind_spot]
    for spot in blind:
        level = order.get(spot.severity, 3)
        at = next(
            (i for i, f in enumerate(out)
             if f.kind != "root_cause" and (f.ruled_out is not None or order.get(f.severity, 3) >= level)),
            len(out),
        )  # fmt: skip
        out.insert(at, spot)
    return out


def _grant_action(why: str) -> str:
    grant = re.search(r"(GRANT .*)", why)
    if grant:
        return f"run as the owner: {grant.group(1)} (or triage with a role that has it)"
    return "triage with a role that sees every row (superuser or BYPASSRLS), or grant this role what it lacks"


# --- runbook modes contradicted by evidence ------------------------------------------------------------------

_ASSUMPTIONS = (
    ("scheduler_down", re.compile(r"pg_cron (is )?not running|scheduler (stopped|is not running|is down)", re.I)),
    ("job_unscheduled", re.compile(r"not scheduled|no (such )?job in cron\.job|never scheduled", re.I)),
    ("job_inactive", re.compile(r"\binactive\b|disabled in cron\.job|active\s*=\s*false", re.I)),
    ("pg_net_missing", re.compile(r"pg_net\b.{0,20}\b(not installed|not enabled|missing)", re.I)),
)
_ALTERNATIVES = re.compile(r"\s+or\s+|\s*/\s*|;\s*|,\s*", re.I)


def assumptions(cause: str) -> list[str] | None:
    """The platform facts a mode's cause states, one per alternative; None when some alternative is not a
    platform fact cronctl can check (then the mode can never be ruled out)."""
    found: list[str] = []
    for part in (p for p in _ALTERNATIVES.split(cause) if p.strip()):
        hits = [name for name, pattern in _ASSUMPTIONS if pattern.search(part)]
        if not hits:
            return None
        found.extend(hits)
    return found or None


def rule_out(found: Sequence[Finding], evidence: Evidence) -> list[Finding]:
    """Mark runbook findings whose every stated cause is contradicted by what the sources saw."""
    out: list[Finding] = []
    for finding in found:
        stated = assumptions(finding.cause) if finding.kind == "runbook" else None
        if not stated:
            out.append(finding)
            continue
        against = [_contradiction(name, finding.job, evidence) for name in stated]
        if all(against):
            out.append(replace(finding, ruled_out="; ".join(dict.fromkeys(a for a in against if a))))
        else:
            out.append(finding)
    live = [f for f in out if f.ruled_out is None]
    return live + [f for f in out if f.ruled_out is not None]


def _contradiction(assumption: str, job: str | None, evidence: Evidence) -> str | None:
    jobs = [job] if job else list(evidence.pg_cron_jobs)
    if assumption == "scheduler_down":
        return "the pg_cron scheduler is running" if evidence.scheduler_alive and not evidence.past else None
    if assumption == "job_inactive":
        seen = [evidence.active.get(j) for j in jobs]
        return "cron.job says active = true" if seen and all(a is True for a in seen) else None
    if assumption == "job_unscheduled":
        return "the job is in cron.job" if jobs and all(j in evidence.scheduled for j in jobs) else None
    if assumption == "pg_net_missing":
        return "pg_net is installed" if evidence.net_installed else None
    return None
