"""Thresholds and `expect = "disabled"` (issue 16 item 1): Sentry Crons' failure / recovery thresholds judged from the
run history with a fixed `now`, and the runbook keys that set them (closed vocabulary, errors name file and key)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronctl.errors import RunbookError
from cronctl.evaluate.health import JobFacts, judge
from cronctl.evaluate.root_causes import Evidence, find
from cronctl.evaluate.triage import overall, symptoms
from cronctl.records import Run
from cronctl.runbook.loader import parse_runbook
from cronctl.runbook.model import JobSpec

NOW = datetime(2026, 11, 30, 10, 7, tzinfo=UTC)
HOURLY = JobSpec(name="sync", schedule="0 * * * *", timeout=300.0)


def runs(*statuses: str) -> list[Run]:
    """Hourly runs, newest first: statuses[0] ran at 10:00, statuses[1] at 09:00, ..."""
    out = []
    for i, status in enumerate(statuses):
        start = NOW.replace(minute=0) - timedelta(hours=i)
        message = "LMS request failed: HTTP 502 Bad Gateway" if status == "failed" else None
        out.append(Run(job="sync", source="run_log", status=status, started_at=start,
                       finished_at=start + timedelta(seconds=40), message=message))  # fmt: skip
    return out


def test_defaults_keep_todays_behaviour() -> None:
    h = judge(HOURLY, runs("failed", "succeeded"), JobFacts(), NOW)
    assert (h.state, h.tone, h.threshold) == ("failing", "crit", None)
    assert judge(HOURLY, runs("succeeded", "failed"), JobFacts(), NOW).state == "ok"


@pytest.mark.parametrize(("failures", "tone"), [(1, "warn"), (2, "warn"), (3, "crit"), (5, "crit")])
def test_fail_after_three(failures: int, tone: str) -> None:
    job = replace(HOURLY, fail_after=3)
    h = judge(job, runs(*["failed"] * failures, "succeeded"), JobFacts(), NOW)
    assert h.state == "failing" and h.tone == tone and h.consecutive_failures == failures
    assert (h.threshold == "below_fail_after") is (tone == "warn")
    if tone == "warn":
        assert f"{failures} of fail_after = 3" in h.reason


def test_failing_after_argument_overrides_the_job() -> None:
    assert judge(HOURLY, runs("failed", "failed"), JobFacts(), NOW, failing_after=3).tone == "warn"


def test_recover_after_two_needs_two_ok_runs_after_a_critical_streak() -> None:
    job = replace(HOURLY, recover_after=2)
    one = judge(job, runs("succeeded", "failed", "failed", "failed"), JobFacts(), NOW)
    assert (one.state, one.tone, one.threshold) == ("failing", "crit", "recovering")
    assert "1 of recover_after = 2" in one.reason and one.consecutive_failures == 0
    two = judge(job, runs("succeeded", "succeeded", "failed", "failed"), JobFacts(), NOW)
    assert two.state == "ok" and two.threshold is None


def test_no_recovery_needed_when_it_never_reached_fail_after() -> None:
    job = replace(HOURLY, fail_after=3, recover_after=2)
    h = judge(job, runs("succeeded", "failed", "failed", "succeeded"), JobFacts(), NOW)
    assert h.state == "ok"
    reached = judge(job, runs("succeeded", "failed", "failed", "failed"), JobFacts(), NOW)
    assert reached.state == "failing" and reached.threshold == "recovering"


def test_a_warning_below_fail_after_makes_the_status_warn_not_crit() -> None:
    h = judge(replace(HOURLY, fail_after=3), runs("failed", "failed", "succeeded"), JobFacts(), NOW)
    assert overall([h], [], [], [], []) == ("warn", ["sync failing"])


# ---------------------------------------------------------------- expect = "disabled"

PG = JobSpec(name="quotas", schedule="0 0 * * *", scheduler="pg_cron", expect="disabled")


def test_off_on_purpose_is_not_a_problem() -> None:
    h = judge(PG, runs("succeeded"), JobFacts(active=False), NOW)
    assert (h.state, h.tone, h.unexpected) == ("disabled", "ok", None) and "off on purpose" in h.reason
    assert symptoms([h], {}, [], [], []) == [] and overall([h], [], [], [], []) == ("ok", [])
    plain = judge(replace(PG, expect="enabled"), runs("succeeded"), JobFacts(active=False), NOW)
    assert (plain.state, plain.tone) == ("disabled", "warn")


def test_running_anyway_is_a_finding() -> None:
    h = judge(PG, runs("succeeded"), JobFacts(active=True), NOW)
    assert h.state == "ok" and h.unexpected and "active in cron.job" in h.unexpected
    (cause,) = find(Evidence(database="db", role="postgres"), [h])
    assert cause.id == "disabled_job_runs" and cause.jobs == ("quotas",) and cause.severity == "warn"
    assert "cronctl pgcron disable quotas" in cause.action
    assert overall([h], [], [], [], [cause])[0] == "warn"


def test_a_job_pg_cron_does_not_start_is_judged_by_its_recent_runs() -> None:
    vercel = JobSpec(name="report", schedule="0 2 * * *", scheduler="vercel", expect="disabled")
    window = NOW - timedelta(days=1)
    quiet = judge(vercel, [], JobFacts(window_start=window), NOW)
    assert (quiet.state, quiet.tone) == ("disabled", "ok")
    old = judge(vercel, runs(*["succeeded"] * 30)[29:], JobFacts(window_start=window), NOW)
    assert old.state == "disabled"
    ran = judge(vercel, runs("succeeded"), JobFacts(window_start=window), NOW)
    assert ran.state == "ok" and ran.unexpected and "ran at 2026-11-30T10:00:00Z" in ran.unexpected
    (cause,) = find(Evidence(database="db", role="postgres"), [ran])
    assert "vercel.json" in cause.action


def test_hidden_history_is_not_taken_for_off() -> None:
    h = judge(PG, [], JobFacts(active=None, readable=False, note="cron.job not visible"), NOW)
    assert h.state == "unknown"


# ---------------------------------------------------------------- runbook keys


def load(text: str) -> object:
    import tomllib

    return parse_runbook(tomllib.loads(text), Path("rb.toml"))


BASE = '[runbook]\nname = "x"\n'


def test_defaults_apply_to_every_job_that_does_not_set_its_own() -> None:
    rb = load(BASE + '[defaults]\nfail_after = 3\nrecover_after = 2\n[jobs.a]\nurl = "https://a"\n'
              '[jobs.b]\nurl = "https://b"\nfail_after = 1\nexpect = "disabled"\n')  # fmt: skip
    a, b = rb.jobs["a"], rb.jobs["b"]  # type: ignore[attr-defined]
    assert (a.fail_after, a.recover_after, a.expect) == (3, 2, "enabled")
    assert (b.fail_after, b.recover_after, b.expect) == (1, 2, "disabled")


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[jobs.a]\nurl = "https://a"\nexpect = "off"\n', "jobs.a.expect: 'off' is not one of: enabled, disabled"),
        ('[jobs.a]\nurl = "https://a"\nfail_after = 0\n', "rb.toml: jobs.a.fail_after: must be between 1 and 720"),
        ('[jobs.a]\nurl = "https://a"\nrecover_after = 721\n', "rb.toml: jobs.a.recover_after: must be between 1"),
        ('[jobs.a]\nurl = "https://a"\nfail_after = "3"\n', "rb.toml: jobs.a.fail_after: expected an integer"),
        ('[defaults]\nfail_after = 0\n[jobs.a]\nurl = "https://a"\n', "rb.toml: defaults.fail_after: must be"),
        ('[defaults]\nfailafter = 2\n[jobs.a]\nurl = "https://a"\n', "rb.toml: defaults.failafter: unknown key"),
    ],
)  # fmt: skip
def test_bad_threshold_keys_name_file_and_key(toml: str, where: str) -> None:
    with pytest.raises(RunbookError) as info:
        load(BASE + toml)
    assert where in info.value.message
