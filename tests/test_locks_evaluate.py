"""Lock staleness judgement (pure) and advisory key mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cronctl.evaluate.locks import judge, needs_history, terminate_sql
from cronctl.records import Lock
from cronctl.runbook.model import JobSpec, LockSpec
from cronctl.sources.locks import advisory_ids

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
    assert not needs_history(table_lock(9999, expires_in=-1), JOB, NOW)
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
