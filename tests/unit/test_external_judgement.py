"""Judgement of history read outside the database, without any I/O: each scheduler's own delays in the default
grace (GitHub Actions 30 minutes, Vercel Hobby an hour), a stopped GitHub workflow as one root cause, a refused
or missing vendor token as one finding, and a snapshot judged with no database read at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cronctl.evaluate import root_causes
from cronctl.evaluate.health import JobFacts, default_grace, judge, scheduler_delay
from cronctl.evaluate.root_causes import Evidence, TokenProblem, Workflow, refused_variable
from cronctl.evaluate.snapshot import judge as judge_snapshot
from cronctl.records import Collected, JobData, Run, SourceNote
from cronctl.runbook.env import Environment
from cronctl.runbook.model import DispatchSpec, HistorySpec, JobSpec, Runbook
from cronctl.sources.external.github import SCHEDULER_DELAY as GITHUB_DELAY
from cronctl.sources.external.vercel import HOBBY_DELAY, VercelSpec

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
HOUR = 3600.0
DISPATCH = DispatchSpec(repo="acme/ops", workflow=".github/workflows/nightly.yml")
HOBBY = {"vercel": VercelSpec(project="p", plan="hobby")}
PRO = {"vercel": VercelSpec(project="p", plan="pro")}


def github_job(name: str = "nightly", **kw: object) -> JobSpec:
    spec: dict[str, object] = {"schedule": "0 * * * *", "scheduler": "github", "dispatch": DISPATCH}
    spec.update(kw)
    spec.setdefault("history", HistorySpec(outside={"github": True}))
    return JobSpec(name=name, **spec)  # type: ignore[arg-type]


def vercel_job(name: str = "sync", **kw: object) -> JobSpec:
    spec: dict[str, object] = {"schedule": "0 * * * *", "scheduler": "vercel", "url": "https://x.example/api/cron/s"}
    spec.update(kw)
    spec.setdefault("history", HistorySpec(outside={"vercel": True}))
    return JobSpec(name=name, **spec)  # type: ignore[arg-type]


def run(job: str, at: datetime, status: str = "succeeded", source: str = "github") -> Run:
    return Run(job=job, source=source, status=status, started_at=at, finished_at=at + timedelta(seconds=40))


# ---------------------------------------------------------------- default grace


def test_github_jobs_get_at_least_thirty_minutes() -> None:
    assert GITHUB_DELAY == 1800.0
    assert default_grace(github_job(), HOUR) == 1800.0
    assert default_grace(github_job(schedule="0 3 * * *"), 86400.0) == 30.0 + 8640.0  # longer already: kept
    # Fired by nobody named, its history GitHub's: GitHub fires it.
    assert default_grace(github_job(scheduler="external"), HOUR) == 1800.0
    # pg_cron fires it on time, whatever else reads its runs.
    assert default_grace(github_job(scheduler="pg_cron"), HOUR) == 30.0 + 360.0
    assert default_grace(github_job(grace=120.0), HOUR) == 120.0  # the job's own grace wins


def test_vercel_hobby_crons_get_their_whole_hour() -> None:
    assert HOBBY_DELAY == 3600.0
    assert default_grace(vercel_job(), HOUR, HOBBY) == 3600.0
    assert default_grace(vercel_job(scheduler="external"), HOUR, HOBBY) == 3600.0
    assert default_grace(vercel_job(), HOUR, PRO) == 30.0 + 360.0
    assert default_grace(vercel_job(), HOUR) == 30.0 + 360.0
    assert default_grace(vercel_job(grace=600.0), HOUR, HOBBY) == 600.0
    assert scheduler_delay(JobSpec(name="plain", schedule="* * * * *"), HOBBY) == 0.0


@pytest.mark.parametrize(("minutes", "state"), [(20, "ok"), (29, "ok"), (31, "missed"), (50, "missed")])
def test_a_dropped_github_tick_is_missed_only_past_thirty_minutes(minutes: int, state: str) -> None:
    job = github_job()
    runs = [run("nightly", NOW - timedelta(hours=h) + timedelta(minutes=6)) for h in (1, 2, 3)]  # 10:00 dropped
    health = judge(job, runs, JobFacts(), NOW + timedelta(minutes=minutes))
    assert health.state == state, health.reason
    assert health.grace == 1800.0
    if state == "missed":
        assert health.missed_runs == 1 and "grace 30m" in health.reason


def test_a_hobby_cron_late_within_its_hour_is_not_missed() -> None:
    job = vercel_job()
    runs = [run("sync", NOW - timedelta(minutes=m), source="vercel") for m in (50, 110)]  # fired late in its hour
    late = judge(job, runs, JobFacts(vendors=HOBBY), NOW + timedelta(minutes=45))
    assert late.state == "ok", late.reason
    on_pro = judge(job, runs, JobFacts(vendors=PRO), NOW + timedelta(minutes=45))
    assert on_pro.state == "missed", on_pro.reason


def test_a_stopped_workflow_leaves_no_grace_to_wait_for() -> None:
    runs = [run("nightly", NOW - timedelta(hours=1) + timedelta(minutes=3))]
    waiting = judge(github_job(), runs, JobFacts(), NOW + timedelta(minutes=5))
    assert waiting.state == "ok"
    stopped = judge(github_job(), runs, JobFacts(explained_by="workflow_disabled"), NOW + timedelta(minutes=5))
    assert stopped.state == "missed" and "explained by root cause workflow_disabled" in stopped.reason


def test_failed_runs_and_a_401_streak_are_failing() -> None:
    gh = [run("nightly", NOW - timedelta(minutes=4), "failed"), run("nightly", NOW - timedelta(hours=1))]
    assert judge(github_job(), gh, JobFacts(), NOW).state == "failing"
    refused = [
        Run(job="sync", source="vercel", status="failed", started_at=NOW - timedelta(hours=h), http_status=401,
            message="the route refused Vercel's cron request (401)")
        for h in (0.1, 1.1, 2.1)
    ]  # fmt: skip
    health = judge(vercel_job(), refused, JobFacts(), NOW)
    assert health.state == "failing" and health.consecutive_failures == 3


# ---------------------------------------------------------------- root causes


def evidence(**kw: object) -> Evidence:
    return Evidence(database="", role="", **kw)  # type: ignore[arg-type]


def workflow(state: str, *, fires: tuple[str, ...] = ("nightly", "report")) -> Workflow:
    url = "https://github.com/acme/ops/actions/workflows/nightly.yml"
    return Workflow("acme/ops", "nightly.yml", state, url, ("nightly", "report"), fires)


def health_of(states: dict[str, str]) -> list[Any]:
    """JobHealth-shaped objects: `find` reads only their name and state (and `unexpected`)."""
    from types import SimpleNamespace

    return [SimpleNamespace(name=n, state=s, unexpected=None) for n, s in states.items()]


@pytest.mark.parametrize("state", ["disabled_inactivity", "disabled_manually", "disabled_fork"])
def test_a_disabled_workflow_is_one_crit_finding_with_the_enable_command(state: str) -> None:
    found = root_causes.find(evidence(workflows=(workflow(state),)), health_of({"nightly": "missed", "report": "ok"}))
    (cause,) = found
    assert cause.id == "workflow_disabled" and cause.severity == "crit" and cause.kind == "root_cause"
    assert cause.jobs == ("nightly", "report")
    assert "`gh workflow enable nightly.yml -R acme/ops`" in cause.action
    assert "https://github.com/acme/ops/actions/workflows/nightly.yml" in cause.evidence
    assert state in cause.evidence


def test_inactivity_names_githubs_sixty_days_and_a_deleted_workflow_has_no_enable() -> None:
    (inactive,) = root_causes.find(evidence(workflows=(workflow("disabled_inactivity"),)), [])
    assert "60 days" in inactive.cause
    (deleted,) = root_causes.find(evidence(workflows=(workflow("deleted"),)), [])
    assert "gh workflow enable" not in deleted.action and ".github/workflows/nightly.yml" in deleted.action


def test_a_workflow_that_only_mirrors_a_job_warns_and_an_active_one_is_no_finding() -> None:
    (twin,) = root_causes.find(
        evidence(workflows=(workflow("disabled_manually", fires=()),)), health_of({"nightly": "missed"})
    )
    assert twin.severity == "warn"
    assert twin.jobs == ()  # a pg_cron job's twin: its own scheduler explains its state, not the workflow
    assert root_causes.find(evidence(workflows=(workflow("active"),)), []) == []
    # Judging a past time: today's workflow state says nothing about it.
    assert root_causes.find(evidence(past=True, workflows=(workflow("disabled_inactivity"),)), []) == []


def test_a_failing_job_is_not_hidden_behind_its_stopped_workflow() -> None:
    (cause,) = root_causes.find(
        evidence(workflows=(workflow("disabled_manually"),)), health_of({"nightly": "missed", "report": "failing"})
    )
    assert cause.jobs == ("nightly",)


def flow(workflow: str, state: str, fires: tuple[str, ...], repo: str = "acme/ops") -> Workflow:
    url = f"https://github.com/{repo}/actions/workflows/{workflow}"
    return Workflow(repo, workflow, state, url, fires, fires)


def test_workflows_of_one_repository_disabled_for_inactivity_are_one_root_cause() -> None:
    """GitHub disables each scheduled workflow of a public repository after 60 days without activity: one cause,
    naming every workflow and job it stops, with every enable command."""
    flows = (flow("escalate.yml", "disabled_inactivity", ("escalate",)),
             flow("zoom.yml", "disabled_inactivity", ("zoom", "zoom-eu")))  # fmt: skip
    (cause,) = root_causes.find(evidence(workflows=flows), health_of({"escalate": "missed", "zoom": "missed"}))
    assert cause.id == "workflow_disabled" and cause.severity == "crit"
    assert cause.jobs == ("escalate", "zoom")  # zoom-eu's state is not one a stopped schedule explains
    assert cause.symptom == (
        "GitHub disabled workflows escalate.yml, zoom.yml in acme/ops for inactivity: their schedules no longer fire"
    )
    assert "`gh workflow enable escalate.yml -R acme/ops`, `gh workflow enable zoom.yml -R acme/ops`" in cause.action
    assert "https://github.com/acme/ops/actions/workflows/zoom.yml" in cause.evidence and "60 days" in cause.cause
    assert cause.evidence.startswith(
        "GitHub says state = disabled_inactivity for each; escalate.yml fires escalate; zoom.yml fires zoom, zoom-eu;"
    )


def test_the_grouped_cause_lists_every_enable_command() -> None:
    from cronctl.reports.triage_view import commands

    flows = (flow("a.yml", "disabled_inactivity", ("a",)), flow("b.yml", "disabled_inactivity", ("b",)))
    (cause,) = root_causes.find(evidence(workflows=flows), health_of({"a": "missed", "b": "missed"}))
    result = snapshot([], {})
    assert commands(cause, result) == ["gh workflow enable a.yml -R acme/ops", "gh workflow enable b.yml -R acme/ops"]


def test_other_repositories_or_states_stay_separate_causes() -> None:
    flows = (
        flow("a.yml", "disabled_inactivity", ("a",)),
        flow("b.yml", "disabled_manually", ("b",)),
        flow("c.yml", "disabled_inactivity", ("c",), repo="acme/web"),
        flow("d.yml", "disabled_inactivity", ("d",), repo="ACME/OPS"),  # GitHub's names ignore case
        flow("e.yml", "active", ("e",)),
    )
    found = root_causes.find(evidence(workflows=flows), health_of(dict.fromkeys("abcde", "missed")))
    assert [(f.id, f.jobs) for f in found] == [
        ("workflow_disabled", ("a", "d")),
        ("workflow_disabled", ("b",)),
        ("workflow_disabled", ("c",)),
    ]
    assert found[1].symptom == "workflow b.yml in acme/ops is disabled: its schedule no longer fires"


@pytest.mark.parametrize(
    ("state", "symptom", "words"),
    [
        ("disabled_manually", "workflows a.yml, b.yml in acme/ops are disabled: their schedules no longer fire",
         'if they should run: `gh workflow enable a.yml -R acme/ops`, `gh workflow enable b.yml -R acme/ops`'),
        ("disabled_fork", "workflows a.yml, b.yml in acme/ops are disabled in this fork: their schedules do not fire",
         "enable them in the fork: `gh workflow enable a.yml"),
        ("deleted", "workflows a.yml, b.yml no longer exist in acme/ops: nothing schedules them",
         "restore .github/workflows/a.yml, .github/workflows/b.yml on the default branch"),
    ],
)  # fmt: skip
def test_every_stopped_state_groups_its_workflows(state: str, symptom: str, words: str) -> None:
    mirror = Workflow("acme/ops", "b.yml", state, None, ("b",), ())  # a pg_cron job's twin
    (cause,) = root_causes.find(evidence(workflows=(flow("a.yml", state, ("a",)), mirror)), health_of({"a": "missed"}))
    assert cause.symptom == symptom and words in cause.action
    assert cause.severity == "crit" and cause.jobs == ("a",)  # b is judged by its own scheduler
    assert "a.yml fires a; b.yml is read as the history of b" in cause.evidence


def test_a_refused_token_is_one_finding_for_the_jobs_it_leaves_unseen() -> None:
    problem = TokenProblem("vercel", "VERCEL_TOKEN", True, "VERCEL_TOKEN was refused (403): …", ("a", "b", "c"))
    (cause,) = root_causes.find(evidence(tokens=(problem,)), health_of({"a": "unknown", "b": "unknown", "c": "ok"}))
    assert cause.id == "vendor_token_refused" and "VERCEL_TOKEN" in cause.symptom
    assert cause.jobs == ("a", "b") and "cronctl doctor" in cause.action
    missing = TokenProblem("supabase", "SUPABASE_ACCESS_TOKEN", False, "SUPABASE_ACCESS_TOKEN is not set", ("f",))
    (unset,) = root_causes.find(evidence(tokens=(missing,)), health_of({"f": "unknown"}))
    assert unset.id == "vendor_token_missing" and unset.symptom.startswith("SUPABASE_ACCESS_TOKEN is not set")


@pytest.mark.parametrize(
    ("message", "variable"),
    [
        ("GitHub token in $GITHUB_TOKEN was refused (401): Bad credentials", "GITHUB_TOKEN"),
        (
            "VERCEL_TOKEN was refused (403): the token is invalid or expired, or lacks access to project x",
            "VERCEL_TOKEN",
        ),
        ("SUPABASE_ACCESS_TOKEN was refused (401): the token is invalid, expired or revoked", "SUPABASE_ACCESS_TOKEN"),
        ("GitHub API rate limit reached; resets at 10:00Z", None),
        ("VERCEL_TOKEN may not read project x (403): create the token with the scope of team t", None),
    ],
)
def test_the_sources_words_for_a_refused_token(message: str, variable: str | None) -> None:
    assert refused_variable(message) == variable


# ---------------------------------------------------------------- a snapshot with no database read


def snapshot(jobs: list[JobSpec], data: dict[str, JobData], facts: dict[str, dict[str, object]] | None = None):  # type: ignore[no-untyped-def]
    runbook = Runbook(name="t", path=Path("t.toml"), jobs={j.name: j for j in jobs}, vendors=HOBBY)
    collected = Collected(now=NOW, jobs=data, failure_since=NOW - timedelta(days=1))
    collected.external_facts = facts or {}
    note = SourceNote("database", "skipped", "not configured — skipped: …")
    return judge_snapshot(collected, runbook, Environment({}), jobs, database=note)


def test_a_snapshot_without_a_database_judges_from_vendors_and_keeps_its_note() -> None:
    job = vercel_job()
    data = JobData(job, runs=[run("sync", NOW - timedelta(minutes=50), source="vercel")],
                   notes=[SourceNote("vercel", "ok")], window_start=NOW - timedelta(days=1))  # fmt: skip
    result = snapshot([job], {"sync": data})
    (health,) = result.health
    assert health.state == "ok" and health.grace == 3600.0  # the runbook's [vercel] plan is hobby
    assert result.status == "ok" and result.findings == [] and result.checks == []
    assert result.database is not None and result.database.state == "skipped"


def test_a_snapshot_finds_the_stopped_workflow_from_the_sources_facts() -> None:
    jobs = [github_job(), github_job("report", scheduler="external"), github_job("off", expect="disabled")]
    old = NOW - timedelta(hours=3)
    data = {
        j.name: JobData(j, runs=[run(j.name, old)] if j.expect != "disabled" else [],
                        notes=[SourceNote("github", "ok")], window_start=NOW - timedelta(days=1))
        for j in jobs
    }  # fmt: skip
    state = {"workflow_state": "disabled_inactivity",
             "workflow_url": "https://github.com/acme/ops/blob/main/.github/workflows/nightly.yml"}  # fmt: skip
    result = snapshot(jobs, data, {j.name: dict(state) for j in jobs})
    (cause,) = [f for f in result.findings if f.kind == "root_cause"]
    assert cause.jobs == ("nightly", "report")  # the job off on purpose is no symptom of it
    assert "https://github.com/acme/ops/actions/workflows/nightly.yml" in cause.evidence
    states = {h.name: h.state for h in result.health}
    assert states == {"nightly": "missed", "report": "missed", "off": "disabled"}
    assert result.status == "crit" and result.reasons[0].startswith("GitHub disabled workflow nightly.yml")


def refused(source: str, variable: str) -> dict[str, object]:
    return {"tokens": [{"source": source, "env": variable, "state": "refused"}]}


def test_a_snapshot_turns_refused_tokens_into_one_finding() -> None:
    jobs = [vercel_job("a"), vercel_job("b")]
    why = "VERCEL_TOKEN was refused (403): the token is invalid or expired, or lacks access to project p"
    data = {j.name: JobData(j, notes=[SourceNote("vercel", "error", why)], window_start=NOW) for j in jobs}
    result = snapshot(jobs, data, {j.name: {"vercel_plan": "hobby", **refused("vercel", "VERCEL_TOKEN")} for j in jobs})
    (cause,) = result.findings
    assert cause.id == "vendor_token_refused" and cause.jobs == ("a", "b") and cause.cause == why
    assert result.status == "unknown" and not any(r.endswith(" unknown") for r in result.reasons)


def test_a_token_problem_is_the_sources_fact_not_its_wording() -> None:
    """The note's words alone are no token problem (an unset dispatch.repo variable reads "… is not set"); the
    fact is, whatever the note says, and its note is the finding's cause."""
    job = github_job()
    unset_repo = "GITHUB_REPOSITORY is not set (needed by job nightly (dispatch.repo)); export it or add it to .env"
    worded = {"nightly": JobData(job, notes=[SourceNote("github", "error", unset_repo)], window_start=NOW)}
    assert [f for f in snapshot([job], worded).findings if f.id and f.id.startswith("vendor_token")] == []
    why = "GitHub token in $GITHUB_TOKEN was refused (401): Bad credentials"
    data = {"nightly": JobData(job, notes=[SourceNote("github", "error", why)], window_start=NOW)}
    (cause,) = snapshot([job], data, {"nightly": refused("github", "GITHUB_TOKEN")}).findings
    assert cause.id == "vendor_token_refused" and cause.cause == why
    assert cause.symptom == "the github API refused the token in GITHUB_TOKEN: github history cannot be read"


def test_an_unset_token_fact_is_the_missing_token_finding_for_its_source_only() -> None:
    jobs = [
        vercel_job("a", history=HistorySpec(outside={"github": True, "vercel": True}), dispatch=DISPATCH),
        vercel_job("b"),
    ]
    unset = "VERCEL_TOKEN is not set: export it or add it to .env"
    notes = [SourceNote("github", "error", "GitHub API rate limit reached; resets at 10:00Z"),
             SourceNote("vercel", "error", unset)]  # fmt: skip
    data = {
        "a": JobData(jobs[0], notes=notes, window_start=NOW),
        "b": JobData(jobs[1], notes=[SourceNote("vercel", "error", unset)], window_start=NOW),
    }
    fact = {"tokens": [{"source": "vercel", "env": "VERCEL_TOKEN", "state": "unset"}]}
    (cause,) = [f for f in snapshot(jobs, data, {"a": fact, "b": fact}).findings if f.id == "vendor_token_missing"]
    assert cause.jobs == ("a", "b") and cause.cause == unset
    assert cause.symptom == "VERCEL_TOKEN is not set: vercel history cannot be read"


def test_a_token_problem_ranks_after_a_known_critical_failure_and_before_the_rest() -> None:
    from cronctl.evaluate.findings import Finding

    def mode(severity: str) -> Finding:
        return Finding(severity, "sync", f"{severity} mode", "cause", "action", "evidence")

    problem = TokenProblem("supabase", "SUPABASE_ACCESS_TOKEN", False, "SUPABASE_ACCESS_TOKEN is not set", ("f",))
    (spot,) = root_causes.find(evidence(tokens=(problem,)), health_of({"f": "unverified"}))
    (stopped,) = root_causes.find(evidence(workflows=(workflow("disabled_manually"),)), health_of({}))
    ranked = root_causes.rank([stopped, spot, mode("crit"), mode("warn")])
    assert [f.id or f.symptom for f in ranked] == [
        "workflow_disabled",
        "crit mode",
        "vendor_token_missing",
        "warn mode",
    ]
    assert root_causes.rank([spot]) == [spot]


def test_hidden_pg_net_answers_are_no_finding_when_the_functions_own_logs_judge_the_jobs() -> None:
    hidden = "pg_net's answers are not visible to role r: needs GRANT USAGE ON SCHEMA net TO r"
    base = {"pg_net_jobs": ("dispatch", "reconcile"), "net_hidden": hidden}
    judged = {"dispatch": "failing", "reconcile": "ok"}
    assert root_causes.find(evidence(**base, judged_outside=frozenset(judged)), health_of(judged)) == []
    (cause,) = root_causes.find(evidence(**base, judged_outside=frozenset({"dispatch"})), health_of(judged))
    assert cause.id == "history_hidden" and cause.jobs == ("reconcile",)


def test_one_failed_read_of_a_source_is_one_finding_for_its_jobs() -> None:
    jobs = [vercel_job("a"), vercel_job("b")]
    late = "no complete answer from api.vercel.com within 10s"
    data = {j.name: JobData(j, notes=[SourceNote("vercel", "timeout", late)], window_start=NOW) for j in jobs}
    (cause,) = snapshot(jobs, data).findings
    assert (cause.id, cause.jobs, cause.cause) == ("vendor_api_unreachable", ("a", "b"), late)
    assert cause.symptom == "the vercel API did not answer in time: no vercel history for 2 job(s)"
    # Each job's own failure (different words) is that job's reason, not a platform finding.
    apart = {
        "a": JobData(
            jobs[0], notes=[SourceNote("vercel", "error", "route /api/a not in vercel.json")], window_start=NOW
        ),
        "b": JobData(jobs[1], notes=[SourceNote("vercel", "timeout", late)], window_start=NOW),
    }
    assert [f.id for f in snapshot(jobs, apart).findings if f.kind == "root_cause"] == []
