"""Lock staleness judgement (pure) and advisory key mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cronctl.evaluate.locks import history_since, judge, judge_all, needs_history, terminate_sql
from cronctl.records import Lock, Run
from cronctl.runbook.model import HistorySpec, JobSpec, LockSpec
from cronctl.sources.locks.advisory import advisory_ids

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
JOB = JobSpec(name="sync", url="http://x", timeout=60.0, lock=LockSpec(backend="table", key="sync", margin=300))


def table_lock(age: float, expires_in: float | None = None) -> Lock:
    return Lock(
        name="sync",
        backend="table",
        key="sync",
        holder="worker-1",
        acquired_at=NOW - timedelta(seconds=age),
        expires_at=NOW + timedelta(seconds=expires_in) if expires_in is not None else None,
    )


def test_expired_wins_even_when_young() -> None:
    v = judge(table_lock(10, expires_in=-5), JOB, NOW)
    assert (v.state, v.stale) == ("expired", True)
    assert "past its expiry (5s ago)" in v.reason


def test_young_lock_is_held() -> None:
    v = judge(table_lock(30, expires_in=270), JOB, NOW)
    assert (v.state, v.stale) == ("held", False)
    assert "worker-1" in v.reason and "expires in" in v.reason


def test_timeout_plus_margin_boundary() -> None:
    assert judge(table_lock(360), JOB, NOW).state == "held"
    stale = judge(table_lock(361), JOB, NOW)
    assert stale.state == "stale"
    assert "timeout 1m + margin 5m" in stale.reason
    assert "no run in progress" in stale.reason


def test_old_lock_with_run_in_progress_is_held() -> None:
    v = judge(table_lock(3600), JOB, NOW, running_jobs={"sync"})
    assert v.state == "held"
    assert "shows a run in progress" in v.reason


def test_old_lock_with_unreadable_history_is_held() -> None:
    v = judge(table_lock(3600), JOB, NOW, unverified={"sync": "run_log: relation does not exist"})
    assert v.state == "held"
    assert "could not be read (run_log: relation does not exist)" in v.reason


def test_lock_of_unknown_job_judged_by_expiry_only() -> None:
    lock = Lock(name="gone-job", backend="table", key="gone-job", acquired_at=NOW - timedelta(days=9))
    assert judge(lock, None, NOW).state == "held"
    expired = Lock(name="gone-job", backend="table", key="gone-job", expires_at=NOW - timedelta(seconds=1))
    assert judge(expired, None, NOW).state == "expired"


def advisory(state: str | None, idle: float, found: bool = True, pid: int | None = 4242) -> Lock:
    return Lock(
        name="sync",
        backend="advisory",
        key="42",
        holder=f"pid {pid}",
        acquired_at=NOW - timedelta(seconds=idle + 1),
        detail={
            "pid": pid,
            "backend_found": found,
            "state": state,
            "application_name": "worker",
            "state_change": NOW - timedelta(seconds=idle),
        },
    )


def test_advisory_idle_in_transaction_past_timeout_is_stale() -> None:
    v = judge(advisory("idle in transaction", 61), JOB, NOW)
    assert v.state == "stale"
    assert "pid 4242" in v.reason and "idle in transaction for 1m01s" in v.reason
    assert judge(advisory("idle in transaction", 59), JOB, NOW).state == "held"
    assert terminate_sql(v.lock) == "SELECT pg_terminate_backend(4242);"


def test_advisory_active_and_orphaned() -> None:
    assert judge(advisory("active", 9999), JOB, NOW).state == "held"
    assert judge(advisory(None, 0, found=False), JOB, NOW).state == "orphaned"
    prepared = judge(advisory(None, 0, pid=None), JOB, NOW)
    assert prepared.state == "orphaned" and "prepared transaction" in prepared.reason
    assert terminate_sql(prepared.lock) is None
    hidden = judge(advisory(None, 0), JOB, NOW)
    assert hidden.state == "held" and "not visible" in hidden.reason


def test_advisory_session_lock_on_idle_connection() -> None:
    assert judge(advisory("idle", 400), JOB, NOW).state == "stale"
    assert judge(advisory("idle", 400), JOB, NOW, running_jobs={"sync"}).state == "held"
    assert judge(advisory("idle", 100), JOB, NOW).state == "held"


def redis_lock(ttl_ms: int, idle: int | None) -> Lock:
    return Lock(
        name="sync", backend="redis", key="cron:sync:lock", holder="1", detail={"ttl_ms": ttl_ms, "idle_seconds": idle}
    )


def test_redis_expiring_key_is_held_and_persistent_key_ages_out() -> None:
    assert judge(redis_lock(120_000, 99999), JOB, NOW).state == "held"
    assert not needs_history(redis_lock(120_000, 99999), JOB, NOW)
    young = judge(redis_lock(-1, 30), JOB, NOW)
    assert young.state == "held" and "no expiry" in young.reason
    old = judge(redis_lock(-1, 3600), JOB, NOW)
    assert old.state == "stale" and old.age == 3600
    assert judge(redis_lock(-1, 3600), JOB, NOW, running_jobs={"sync"}).state == "held"
    assert needs_history(redis_lock(-1, 3600), JOB, NOW)


def test_needs_history_only_when_age_decides() -> None:
    assert not needs_history(table_lock(10), JOB, NOW)
    # Expired, yet a run still in progress keeps it held: its runs are worth reading too.
    assert needs_history(table_lock(9999, expires_in=-1), JOB, NOW)
    assert not needs_history(table_lock(9999, expires_in=-1), None, NOW)
    assert needs_history(table_lock(9999), JOB, NOW)
    assert not needs_history(table_lock(9999), None, NOW)


@pytest.mark.parametrize(
    ("key", "ids"),
    [
        ("42", (0, 42, 1)),
        (str(2**40 + 3), (256, 3, 1)),
        ("-1", (0xFFFFFFFF, 0xFFFFFFFF, 1)),
        ("7:9", (7, 9, 2)),
        ("-2:5", (0xFFFFFFFE, 5, 2)),
    ],
)
def test_advisory_ids(key: str, ids: tuple[int, int, int]) -> None:
    assert advisory_ids(key) == ids


# ---------------------------------------------------------------- judged from all of the job's runs
# Seed 003's system: an hourly sync with a 5-minute timeout, logging to run_log, guarded by job_lock. A refused
# run is logged FAILED "job_lock active: ... locked by <holder>", so the newest row is often a refused run.

SYNC = JobSpec(
    name="enrolment-sync",
    url="http://x",
    timeout=300.0,
    history=HistorySpec(run_log="run_log"),
    lock=LockSpec(backend="table", key="enrolment-sync", margin=300),
)
T0 = datetime(2025, 3, 1, 21, 22, 30, tzinfo=UTC)  # "now" in these tests
HOLDER = "worker-7f3c:4121"


def sync_lock(taken: datetime, expires: datetime | None = None) -> Lock:
    return Lock(
        name="enrolment-sync", backend="table", key="enrolment-sync", holder=HOLDER, acquired_at=taken,
        expires_at=expires,
    )  # fmt: skip


def log_run(
    run_id: int, status: str, started: datetime, minutes: float | None = None, message: str | None = None
) -> Run:
    normalised = {"RUNNING": "running", "FAILED": "failed", "SUCCESS": "succeeded"}.get(status, "unknown")
    return Run(
        job="enrolment-sync",
        source="run_log:run_log",
        status=normalised,
        raw_status=status,
        run_id=str(run_id),
        started_at=started,
        finished_at=started + timedelta(minutes=minutes) if minutes is not None else None,
        message=message,
    )


def refused(run_id: int, started: datetime) -> Run:
    return log_run(run_id, "FAILED", started, 0.002, f"job_lock active: enrolment-sync locked by {HOLDER}")


def verdict(lock: Lock, runs: list[Run], **kw: object) -> tuple[str, str]:
    v = judge(lock, SYNC, T0, runs_by_job={"enrolment-sync": runs}, **kw)  # type: ignore[arg-type]
    return v.state, v.reason


def test_live_run_beside_newer_refused_runs_keeps_the_lock_held() -> None:
    """The incident: run 1042 RUNNING for 12 minutes, newer runs refused by its lock. It was called stale
    because the newest row is a refused run, and `locks clear --all-stale --yes` deleted a live lock."""
    started = datetime(2025, 3, 1, 21, 10, 30, tzinfo=UTC)
    lock = sync_lock(started + timedelta(seconds=1))
    runs = [
        log_run(1041, "SUCCESS", started - timedelta(hours=1), 0.8),
        log_run(1042, "RUNNING", started),
        refused(1043, started + timedelta(minutes=4)),
        refused(1044, started + timedelta(minutes=8)),
        refused(1045, started + timedelta(minutes=11)),
    ]
    state, reason = verdict(lock, runs)
    assert state == "held"
    assert "run 1042 (run_log) RUNNING for 12m since 21:10Z, started when the lock was taken" in reason
    assert "may still be working" in reason
    # Whatever order the sources hand the runs over in.
    assert verdict(lock, list(reversed(runs)))[0] == "held"
    # The old single flag said "not running" (the newest run failed); the runs say otherwise.
    assert judge(lock, SYNC, T0, frozenset(), None, {"enrolment-sync": runs}).state == "held"


def test_live_run_keeps_even_an_expired_lock_held() -> None:
    started = T0 - timedelta(minutes=12)
    lock = sync_lock(started, expires=started + timedelta(minutes=10))
    state, reason = verdict(lock, [log_run(1042, "RUNNING", started), refused(1043, T0 - timedelta(minutes=1))])
    assert state == "held"
    assert reason.startswith("past its expiry (2m ago), but run 1042 (run_log) RUNNING for 12m")


def test_crashed_leftover_hours_old_with_refused_runs_is_stale() -> None:
    """Seed 003: the run crashed hours ago; its run_log row stays RUNNING forever, its job_lock row stays behind,
    and every later run is refused. That lock must be clearable."""
    crashed = T0 - timedelta(hours=4)
    lock = sync_lock(crashed + timedelta(seconds=1))
    runs = [
        log_run(1016, "SUCCESS", crashed - timedelta(hours=1), 0.8),
        log_run(1017, "RUNNING", crashed),
        *(refused(1018 + i, crashed + timedelta(hours=i + 1)) for i in range(3)),
    ]
    state, reason = verdict(lock, runs)
    assert state == "stale"
    assert "run 1017 (run_log) left RUNNING since 17:22Z (4h, more than 3x timeout + margin (30m))" in reason
    assert "started when the lock was taken: the run that took it crashed" in reason
    assert "3 later run(s) ended; newest: run 1020 (run_log) failed at 20:22Z: job_lock active" in reason
    # The seed's own lock row also expired 30 minutes after it was taken: expired, with the same evidence.
    expired = sync_lock(crashed + timedelta(seconds=1), expires=crashed + timedelta(minutes=30))
    state, reason = verdict(expired, runs)
    assert state == "expired" and "the run that took it crashed" in reason


def test_overrunning_but_not_far_past_the_budget_is_held() -> None:
    started = T0 - timedelta(minutes=25)  # past 5m + 5m, not yet 3x that
    state, reason = verdict(sync_lock(started), [log_run(1042, "RUNNING", started)])
    assert state == "held" and "not 3x that (30m)" in reason
    started = T0 - timedelta(minutes=31)
    assert verdict(sync_lock(started), [log_run(1042, "RUNNING", started)])[0] == "stale"


def test_any_non_final_run_counts_not_only_the_newest() -> None:
    """An old crashed leftover from before this lock beside a live run: the live one keeps the lock held."""
    taken = T0 - timedelta(minutes=15)
    runs = [
        log_run(900, "RUNNING", T0 - timedelta(days=2)),  # an older crash whose lock was cleared back then
        log_run(1042, "RUNNING", taken),
        refused(1043, T0 - timedelta(minutes=2)),
    ]
    state, reason = verdict(sync_lock(taken), runs)
    assert state == "held" and "run 1042" in reason
    # Without the live run, the older leftover is named and does not keep this lock.
    state, reason = verdict(sync_lock(taken), [runs[0], runs[2]])
    assert state == "stale"
    assert "run 900 (run_log) left RUNNING" in reason and "before the lock was taken: an older leftover" in reason


def test_far_overrun_run_that_started_after_the_lock_is_mixed_evidence() -> None:
    taken = T0 - timedelta(hours=6)
    state, reason = verdict(sync_lock(taken), [log_run(1050, "RUNNING", T0 - timedelta(hours=2))])
    assert state == "held"
    assert "started 4h after the lock was taken" in reason and "cannot be told" in reason


def test_run_without_start_time_or_with_unmapped_status_is_held() -> None:
    taken = T0 - timedelta(hours=1)
    no_start = Run(job="enrolment-sync", source="run_log:run_log", status="running", raw_status="RUNNING", run_id="7")
    assert verdict(sync_lock(taken), [no_start]) == (
        "held",
        "held for 1h, longer than the job's timeout 5m + margin 5m, but run 7 (run_log) RUNNING with no start "
        "time: it may be in progress",
    )
    processing = log_run(1060, "PROCESSING", T0 - timedelta(minutes=20))
    state, reason = verdict(sync_lock(taken), [processing])
    assert state == "held" and "unmapped status 'PROCESSING' with no finish time" in reason


def pg_cron_run(runid: int, raw: str, started: datetime, alive: bool | None) -> Run:
    detail: dict[str, object] = {"runid": runid, "job_pid": 4121}
    if alive is not None:
        detail["backend_alive"] = alive
    return Run(
        job="enrolment-sync", source="pg_cron", status="running", raw_status=raw, run_id=str(runid),
        started_at=started, detail=detail,
    )  # fmt: skip


def test_pg_cron_run_whose_backend_is_gone_runs_no_more() -> None:
    taken = T0 - timedelta(minutes=15)
    gone = pg_cron_run(881, "sending", taken, alive=False)
    state, reason = verdict(sync_lock(taken), [gone])
    assert state == "stale"
    assert "run 881 (pg_cron) sending since 21:07Z: its backend (pid 4121) is gone, so it runs no more" in reason
    # The same run with its backend still connected is alive, however long it has been running.
    alive = pg_cron_run(881, "running", T0 - timedelta(hours=5), alive=True)
    state, reason = verdict(sync_lock(T0 - timedelta(hours=5)), [alive])
    assert state == "held" and "its backend (pid 4121) is still connected" in reason
    # Unknown liveness: judged by age like any other source.
    assert verdict(sync_lock(taken), [pg_cron_run(881, "running", taken, alive=None)])[0] == "held"


def test_unreadable_history_is_held() -> None:
    taken = T0 - timedelta(hours=4)
    leftover = log_run(1017, "RUNNING", taken)
    state, reason = verdict(sync_lock(taken), [leftover], unverified={"enrolment-sync": "run_log: timeout"})
    assert state == "held"
    assert "could not be read (run_log: timeout)" in reason
    # Even an expired lock: its run may ignore the expiry, so it cannot be ruled out.
    expired = sync_lock(taken, expires=taken + timedelta(minutes=30))
    state, reason = verdict(expired, [leftover], unverified={"enrolment-sync": "run_log: timeout"})
    assert state == "held" and reason.startswith("past its expiry (3h30m ago), but the job's history could not")
    # Nothing read at all.
    v = judge(sync_lock(taken), SYNC, T0, unverified={"enrolment-sync": "cannot connect"}, runs_by_job={})
    assert v.state == "held" and "cannot connect" in v.reason


def test_running_flag_of_older_callers() -> None:
    taken = T0 - timedelta(hours=4)
    leftover = log_run(1017, "RUNNING", taken)
    # Explained by the runs (it was the crashed leftover): the runs decide.
    assert verdict(sync_lock(taken), [leftover], running_jobs={"enrolment-sync"})[0] == "stale"
    # Not explained by any run read: mixed evidence, held.
    state, reason = verdict(sync_lock(taken), [refused(1018, T0)], running_jobs={"enrolment-sync"})
    assert state == "held" and "none of its runs read is in a non-final state" in reason
    # Without runs, the flag alone still holds it (as before).
    assert judge(sync_lock(taken), SYNC, T0, running_jobs={"enrolment-sync"}).state == "held"
    assert [v.state for v in judge_all([sync_lock(taken)], {"enrolment-sync": SYNC}, T0)] == ["stale"]


def test_history_since_reaches_the_run_that_took_the_lock() -> None:
    taken = T0 - timedelta(hours=4)
    assert history_since(sync_lock(taken), SYNC, T0) == taken - timedelta(seconds=60)
    young = T0 - timedelta(minutes=5)  # any run younger than 3 x (timeout + margin) may matter
    assert history_since(sync_lock(young), SYNC, T0) == T0 - timedelta(minutes=31)
    assert history_since(sync_lock(taken), None, T0) is None


def test_advisory_idle_in_transaction_with_a_live_run_is_held() -> None:
    lock = advisory("idle in transaction", 400)
    live = Run(job="sync", source="run_log:run_log", status="running", raw_status="RUNNING", run_id="5",
               started_at=NOW - timedelta(seconds=200))  # fmt: skip
    v = judge(lock, JOB, NOW, runs_by_job={"sync": [live]})
    assert v.state == "held" and "run 5 (run_log) RUNNING" in v.reason
    assert needs_history(lock, JOB, NOW)


REDIS_JOB = JobSpec(
    name="refresh-tokens",
    url="http://x",
    timeout=300.0,
    history=HistorySpec(run_log="cron_runs"),
    lock=LockSpec(backend="redis", key="cron:refresh-tokens:lock", ttl=300.0),
)


def test_redis_key_without_ttl_when_the_lock_should_expire_is_suspicious() -> None:
    key = Lock(name="refresh-tokens", backend="redis", key="cron:refresh-tokens:lock", holder="1",
               detail={"ttl_ms": -1, "idle_seconds": 30})  # fmt: skip
    v = judge(key, REDIS_JOB, NOW)
    assert (v.state, v.suspicious) == ("held", True)
    assert v.note is not None and "expires 5m after it is taken, but the key has no TTL" in v.note
    old = judge(
        Lock(**{**key.__dict__, "detail": {"ttl_ms": -1, "idle_seconds": 7200}}), REDIS_JOB, NOW, runs_by_job={}
    )
    assert (old.state, old.suspicious) == ("stale", True)
    fine = judge(Lock(**{**key.__dict__, "detail": {"ttl_ms": 200_000, "idle_seconds": 100}}), REDIS_JOB, NOW)
    assert (fine.state, fine.suspicious, fine.note) == ("held", False, None)
    longer = judge(Lock(**{**key.__dict__, "detail": {"ttl_ms": 3_600_000, "idle_seconds": 1}}), REDIS_JOB, NOW)
    assert longer.suspicious and "later than the runbook's lock TTL 5m" in str(longer.note)
    # No TTL declared in the runbook: nothing to contradict.
    assert not judge(key, JOB, NOW).suspicious
