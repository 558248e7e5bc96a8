"""Job states judged against the schedule: every state, grace, missed-slot cap, durations and the strip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cronctl.evaluate.health import (
    MISSED_CAP,
    STATES,
    JobFacts,
    consecutive_failures,
    default_grace,
    durations,
    judge,
    outcomes,
    percentile,
    strip,
)
from cronctl.records import Run
from cronctl.runbook.model import JobSpec

NOW = datetime(2025, 3, 10, 12, 0, 30, tzinfo=UTC)
EVERY_MINUTE = JobSpec(name="w", schedule="* * * * *", timeout=30.0)
DAILY = JobSpec(name="d", schedule="0 2 * * *", timeout=300.0)


def run(start: datetime, status: str = "succeeded", seconds: float | None = 1.0, **kw: object) -> Run:
    end = start + timedelta(seconds=seconds) if seconds is not None and status != "running" else None
    return Run(job="w", source=kw.pop("source", "pg_cron"), status=status, started_at=start, finished_at=end, **kw)  # type: ignore[arg-type]


def minute(n: int) -> datetime:
    """The minute slot n minutes before NOW's minute."""
    return NOW.replace(second=0) - timedelta(minutes=n)


def test_ok() -> None:
    h = judge(EVERY_MINUTE, [run(minute(0))], JobFacts(), NOW)
    assert h.state == "ok" and h.consecutive_failures == 0 and h.missed_runs == 0


def test_due_within_grace_reads_due_and_stays_ok() -> None:
    # Healthchecks' semantics: inside the grace period a due run is said, not raised.
    h = judge(EVERY_MINUTE, [run(minute(1))], JobFacts(), NOW)
    assert h.state == "ok" and "within grace" in h.reason, h.reason


def test_seconds_after_a_minute_boundary_an_every_minute_job_is_ok() -> None:
    for seconds in (1, 5, 18, 40, 59):
        now = minute(0) + timedelta(seconds=seconds)
        h = judge(EVERY_MINUTE, [run(minute(1) + timedelta(milliseconds=40))], JobFacts(), now)
        assert h.state == "ok" and h.tone == "ok", (seconds, h.reason)


def test_a_slot_only_seconds_old_is_not_late() -> None:
    h = judge(EVERY_MINUTE, [run(minute(1))], JobFacts(), minute(0) + timedelta(seconds=5))
    assert h.state == "ok"


def test_missed_counts_slots() -> None:
    h = judge(EVERY_MINUTE, [run(minute(10))], JobFacts(), NOW)
    assert h.state == "missed"
    assert h.missed_runs == 9  # slots 9..1 minutes ago are past the 60 s grace; the current one is not


def test_missed_is_capped() -> None:
    h = judge(EVERY_MINUTE, [run(NOW - timedelta(days=3))], JobFacts(), NOW)
    assert h.state == "missed" and h.missed_runs == MISSED_CAP and "+" in h.reason


def test_daily_job_grace_scales_with_the_schedule() -> None:
    last = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
    assert judge(DAILY, [run(last)], JobFacts(), NOW).state == "ok"
    h = judge(DAILY, [run(last - timedelta(days=2))], JobFacts(), NOW)
    assert h.state == "missed" and h.missed_runs == 2


def test_runbook_grace_wins() -> None:
    job = JobSpec(name="w", schedule="* * * * *", timeout=30.0, grace=3600.0)
    h = judge(job, [run(minute(10))], JobFacts(), NOW)
    assert h.state == "ok" and "within grace 1h" in h.reason, h.reason


def test_default_grace_bounds() -> None:
    assert default_grace(EVERY_MINUTE, 60.0) == 60.0
    assert default_grace(DAILY, 86400.0) == 300.0 + 8640.0
    assert default_grace(JobSpec(name="x", timeout=10.0), None) == 60.0


def test_failing_counts_consecutive_failures() -> None:
    runs = [run(minute(0), "failed"), run(minute(1), "failed"), run(minute(2))]
    h = judge(EVERY_MINUTE, runs, JobFacts(), NOW)
    assert h.state == "failing" and h.consecutive_failures == 2


def test_missed_wins_over_failing() -> None:
    h = judge(EVERY_MINUTE, [run(minute(10), "failed")], JobFacts(), NOW)
    assert h.state == "missed" and h.consecutive_failures == 1


def test_running_and_overrunning() -> None:
    assert judge(EVERY_MINUTE, [run(NOW - timedelta(seconds=10), "running")], JobFacts(), NOW).state == "running"
    h = judge(EVERY_MINUTE, [run(NOW - timedelta(seconds=90), "running")], JobFacts(), NOW)
    assert h.state == "overrunning" and "timeout" in h.reason


def test_stuck_when_no_backend() -> None:
    r = run(NOW - timedelta(seconds=10), "running", run_id="7", raw_status="sending")
    h = judge(EVERY_MINUTE, [r], JobFacts(stuck_runs=frozenset({"7"})), NOW)
    assert h.state == "stuck" and "sending" in h.reason


def test_disabled_wins() -> None:
    h = judge(EVERY_MINUTE, [run(minute(10))], JobFacts(active=False), NOW)
    assert h.state == "disabled"


def test_never_run_and_unknown() -> None:
    assert judge(EVERY_MINUTE, [], JobFacts(), NOW).state == "never_run"
    h = judge(EVERY_MINUTE, [], JobFacts(readable=False, note="row-level security hides it"), NOW)
    assert h.state == "unknown" and "row-level" in h.reason


def test_every_state_is_reachable() -> None:
    seen = {
        judge(EVERY_MINUTE, [run(minute(0))], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [run(minute(0), "partial")], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [unseen(minute(0))], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [run(minute(10))], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [run(minute(0), "failed")], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [run(NOW, "running")], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [run(NOW - timedelta(hours=1), "running")], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [run(NOW, "running", run_id="1")], JobFacts(stuck_runs=frozenset({"1"})), NOW).state,
        judge(EVERY_MINUTE, [], JobFacts(active=False), NOW).state,
        judge(EVERY_MINUTE, [], JobFacts(), NOW).state,
        judge(EVERY_MINUTE, [], JobFacts(readable=False), NOW).state,
    }
    assert seen == set(STATES)


def test_pg_net_outcome_replaces_the_queued_pg_cron_run() -> None:
    cron = run(minute(0), run_id="5")
    net = run(minute(0), "failed", http_status=401, source="pg_net", detail={"pg_cron_runid": "5"})
    seen = outcomes([net, cron])
    assert seen == [net]
    assert judge(EVERY_MINUTE, [net, cron], JobFacts(), NOW).state == "failing"


def test_ambiguous_pg_net_response_is_not_attributed() -> None:
    cron = run(minute(0), run_id="5")
    net = run(minute(0), "failed", source="pg_net", detail={"pg_cron_runid": None, "ambiguous": True})
    assert outcomes([net, cron]) == [cron]


def test_durations_flags_near_timeout_and_early_drop() -> None:
    runs = [
        run(minute(0), seconds=29.0),  # near the 30 s timeout
        run(minute(1), "failed", seconds=5.0),  # dropped early, no answer
        run(minute(2), "failed", seconds=0.2, http_status=401),  # an instant refusal is not an early drop
        run(minute(3), seconds=2.0),
    ]
    d = durations(runs, 30.0)
    assert d.samples == 4 and d.max == 29.0 and d.near_timeout == 1 and d.short_failures == 1
    assert d.p50 == 2.0 and d.p95 == 29.0


def test_strip_is_oldest_first_and_capped() -> None:
    runs = [run(minute(0), "failed")] + [run(minute(i)) for i in range(1, 30)]
    text = strip(runs)
    assert len(text) == 20 and text.endswith("✗") and text.startswith("✓")


@given(st.lists(st.sampled_from(["succeeded", "failed", "running", "partial"]), max_size=30))
def test_consecutive_failures_counts_the_leading_failures(statuses: list[str]) -> None:
    runs = [run(minute(i), s) for i, s in enumerate(statuses)]
    count = consecutive_failures(runs)
    body = list(statuses)
    while body[:1] == ["running"]:  # runs still in progress are skipped
        body.pop(0)
    expected = 0
    for s in body:
        if s != "failed":
            break
        expected += 1
    assert count == expected


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=50))
def test_percentiles_are_values_in_order(values: list[float]) -> None:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    assert p50 in values and p95 in values and p50 <= p95 <= max(values)


def unseen(when: datetime, run_id: str = "9", attribution: str = "ambiguous", status: str = "unverified") -> Run:
    """A pg_net outcome entry whose answer could not be linked to this run."""
    return run(when, status=status, source="pg_net", detail={"pg_cron_runid": run_id, "attribution": attribution})


def test_pg_cron_runs_still_waiting_for_their_pg_net_answer_are_not_outcomes() -> None:
    from cronctl.evaluate.health import outcomes

    start = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    answered = Run("j", "pg_cron", "succeeded", start, start, run_id="1")
    response = Run("j", "pg_net", "failed", start, None, http_status=401, detail={"pg_cron_runid": "1"})
    waiting = Run("j", "pg_cron", "succeeded", start.replace(minute=1), start.replace(minute=1), run_id="2")
    pending = Run("j", "pg_net", "pending", start.replace(minute=1), None, detail={"pg_cron_runid": "2"})
    kept = outcomes([pending, waiting, response, answered])
    assert kept == [response]


def test_a_pg_net_job_is_never_ok_from_pg_cron_succeeded() -> None:
    """The newest answer cannot be told apart from a co-firing job's: unverified, not ok."""
    cron = run(minute(0), run_id="5")
    h = judge(EVERY_MINUTE, [unseen(minute(0), "5"), cron], JobFacts(), NOW)
    assert h.state == "unverified" and h.tone != "ok"


def test_runs_whose_answer_is_not_attributable_still_count_as_started() -> None:
    """The answers to the two newest runs are ambiguous (another job's window): the scheduler still ran them,
    so the job is failing on its last known answer, not missed."""
    answered = run(minute(3), run_id="1")
    answer = run(minute(3), status="failed", http_status=401, message="HTTP 401", source="pg_net",
                 detail={"pg_cron_runid": "1", "attribution": "exact"})  # fmt: skip
    started = [run(minute(n), run_id=str(10 - n)) for n in (0, 1, 2)]
    unattributed = [unseen(minute(n), str(10 - n)) for n in (0, 1, 2)]
    h = judge(EVERY_MINUTE, [*unattributed, *started, answer, answered], JobFacts(), NOW)
    assert h.state == "failing" and "newest unverified" in h.reason
    assert h.missed_runs == 0


def test_a_newest_run_without_a_known_outcome_is_never_ok() -> None:
    """GitHub's action_required, an answer logged without a status code: `unknown` runs are no good outcome."""
    seen = [run(minute(0), "unknown", raw_status="action_required"), run(minute(1)), run(minute(2))]
    h = judge(EVERY_MINUTE, seen, JobFacts(), NOW)
    assert h.state == "unverified" and "action_required" in h.reason, h.reason
    failed_before = [run(minute(0), "unknown"), run(minute(1), "failed", message="HTTP 500")]
    assert judge(EVERY_MINUTE, failed_before, JobFacts(), NOW).state == "failing"


def test_vendor_runs_queued_for_hours_are_overrunning_even_if_the_newest_just_started() -> None:
    """Six GitHub runs queued since hours ago (no runner takes them): the oldest says so, not the newest."""
    hourly = JobSpec(name="w", schedule="0 * * * *", timeout=600.0, scheduler="github")
    seen = [
        run(NOW - timedelta(hours=n, minutes=-5), "running", source="github", raw_status="queued") for n in range(6)
    ]
    h = judge(hourly, seen, JobFacts(), NOW)
    assert h.state == "overrunning" and "6 runs unfinished" in h.reason and "queued" in h.reason, h.reason
    assert judge(hourly, seen[:1], JobFacts(), NOW).state == "running"
