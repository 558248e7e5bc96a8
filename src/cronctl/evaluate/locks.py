"""Is a lock still protecting a live run, or left behind? Pure: (lock, job spec, now, history facts) → verdict.

States: `held` (leave it), `stale` (older than the job could possibly run, nothing running), `expired` (past
its own expiry), `orphaned` (its holder is gone). Only the last three may be cleared without --force.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cronctl.durations import format_duration
from cronctl.records import Lock
from cronctl.runbook.model import JobSpec

STATES = ("held", "stale", "expired", "orphaned")
DEFAULT_MARGIN = 300.0
IDLE_IN_TRANSACTION = ("idle in transaction", "idle in transaction (aborted)")


@dataclass(frozen=True)
class LockVerdict:
    lock: Lock
    state: str
    reason: str
    age: float | None  # seconds since acquired (Redis: since last touched)

    @property
    def stale(self) -> bool:
        return self.state != "held"


@dataclass(frozen=True)
class _Limits:
    timeout: float
    margin: float

    @property
    def total(self) -> float:
        return self.timeout + self.margin

    def words(self) -> str:
        return f"the job's timeout {_d(self.timeout)} + margin {_d(self.margin)}"


def _d(seconds: float) -> str:
    return format_duration(max(seconds, 0.0))


def _limits(job: JobSpec | None) -> _Limits | None:
    if job is None:
        return None
    margin = job.lock.margin if job.lock is not None else DEFAULT_MARGIN
    return _Limits(job.timeout, margin)


def lock_age(lock: Lock, now: datetime) -> float | None:
    if lock.backend == "redis":
        idle = lock.detail.get("idle_seconds")
        return float(idle) if isinstance(idle, (int, float)) else None
    if lock.backend == "advisory" and lock.detail.get("state") == "idle":
        # A session lock kept by an idle connection: how long nothing has happened on it.
        changed = lock.detail.get("state_change")
        if isinstance(changed, datetime):
            return (now - changed).total_seconds()
    if lock.acquired_at is None:
        return None
    return (now - lock.acquired_at).total_seconds()


def needs_history(lock: Lock, job: JobSpec | None, now: datetime) -> bool:
    """True when the verdict depends on whether the job is running (so its history is worth reading)."""
    limits = _limits(job)
    if limits is None:
        return False
    if lock.backend == "table" and lock.expires_at is not None and lock.expires_at <= now:
        return False
    if lock.backend == "redis":
        return _ttl(lock) == -1
    if lock.backend == "advisory" and lock.detail.get("state") != "idle":
        return False
    age = lock_age(lock, now)
    return age is None or age > limits.total


def judge(
    lock: Lock,
    job: JobSpec | None,
    now: datetime,
    running_jobs: set[str] | frozenset[str] = frozenset(),
    unverified: Mapping[str, str] | None = None,
) -> LockVerdict:
    """The verdict on one lock. `running_jobs`: jobs whose history shows a run in progress; `unverified`:
    jobs whose history could not be read (job → why), which are never judged stale by age alone."""
    age = lock_age(lock, now)
    facts = _History(lock.name in running_jobs, (unverified or {}).get(lock.name))
    if lock.backend == "advisory":
        state, reason = _advisory(lock, _limits(job), now, age, facts)
    elif lock.backend == "redis":
        state, reason = _redis(lock, job, _limits(job), age, facts)
    else:
        state, reason = _table(lock, _limits(job), now, age, facts)
    return LockVerdict(lock=lock, state=state, reason=reason, age=age)


def judge_all(
    locks: Sequence[Lock],
    jobs: Mapping[str, JobSpec],
    now: datetime,
    running_jobs: set[str] | frozenset[str] = frozenset(),
    unverified: Mapping[str, str] | None = None,
) -> list[LockVerdict]:
    return [judge(lock, jobs.get(lock.name), now, running_jobs, unverified) for lock in locks]


@dataclass(frozen=True)
class _History:
    running: bool
    unreadable: str | None


def _aged_out(limits: _Limits, age: float, facts: _History, what: str) -> tuple[str, str]:
    """The age rule: older than timeout + margin is stale only if the history shows nothing running."""
    base = f"{what} {_d(age)}, longer than {limits.words()}"
    if facts.running:
        return "held", f"{base}, but the job's history shows a run in progress"
    if facts.unreadable:
        return "held", f"{base}, but the job's history could not be read ({facts.unreadable})"
    return "stale", f"{base}, and the job's history shows no run in progress"


def _table(lock: Lock, limits: _Limits | None, now: datetime, age: float | None, facts: _History) -> tuple[str, str]:
    if lock.expires_at is not None and lock.expires_at <= now:
        return "expired", f"past its expiry ({_d((now - lock.expires_at).total_seconds())} ago)"
    if limits is None:
        return "held", "no job in this runbook uses this lock; only its expiry is judged"
    if age is not None and age > limits.total:
        return _aged_out(limits, age, facts, "held for")
    holder = f" by {lock.holder}" if lock.holder else ""
    held = f"held{holder} for {_d(age)}" if age is not None else f"held{holder} (acquired time unknown)"
    if lock.expires_at is not None:
        held += f"; expires in {_d((lock.expires_at - now).total_seconds())}"
    return "held", held


def _advisory(lock: Lock, limits: _Limits | None, now: datetime, age: float | None, facts: _History) -> tuple[str, str]:
    pid = lock.detail.get("pid")
    if pid is None:
        return "orphaned", "held by a prepared transaction with no session (see pg_prepared_xacts)"
    if not lock.detail.get("backend_found", True):
        return "orphaned", f"holder backend pid {pid} is gone"
    state = lock.detail.get("state")
    app = lock.detail.get("application_name") or "unnamed application"
    if state is None:
        return "held", f"held by pid {pid} ({app}); its state is not visible to this role"
    if state in IDLE_IN_TRANSACTION:
        changed = lock.detail.get("state_change")
        idle = (now - changed).total_seconds() if isinstance(changed, datetime) else None
        if limits is not None and idle is not None and idle > limits.timeout:
            return "stale", (
                f"pid {pid} ({app}) has been {state} for {_d(idle)}, longer than the job's timeout {_d(limits.timeout)}"
            )
        for_how_long = f" for {_d(idle)}" if idle is not None else ""
        return "held", f"pid {pid} ({app}) is {state}{for_how_long}"
    if state == "idle" and limits is not None and age is not None and age > limits.total:
        return _aged_out(limits, age, facts, f"pid {pid} ({app}) has kept it while idle for")
    return "held", f"held by pid {pid} ({app}), {state}"


def _ttl(lock: Lock) -> int | None:
    ttl = lock.detail.get("ttl_ms")
    return int(ttl) if isinstance(ttl, int) else None


def _redis(
    lock: Lock, job: JobSpec | None, limits: _Limits | None, age: float | None, facts: _History
) -> tuple[str, str]:
    ttl = _ttl(lock)
    if ttl is not None and ttl >= 0:
        return "held", f"expires by itself in {_d(ttl / 1000)}"
    never = "has no expiry, so it is never released by itself"
    if limits is None:
        return "held", f"{never}; no job in this runbook uses it"
    if age is not None and age <= limits.total:
        return "held", f"{never}; last touched {_d(age)} ago, within {limits.words()}"
    if age is None and job is not None and not (job.history.has_any or job.scheduler == "pg_cron"):
        return "held", (
            f"{never}; its age cannot be told (small integer values share one Redis object) and nothing "
            "records this job's runs; clear it with --force once no run is active"
        )
    if facts.running:
        return "held", f"{never}, but the job's history shows a run in progress"
    if facts.unreadable:
        return "held", f"{never}, but the job's history could not be read ({facts.unreadable})"
    touched = f"untouched for {_d(age)}, longer than {limits.words()}" if age is not None else "age unknown"
    return "stale", f"{never}; {touched}; the job's history shows no run in progress"


def terminate_sql(lock: Lock) -> str | None:
    """The exact statement that ends an advisory lock's holder session."""
    pid = lock.detail.get("pid")
    return f"SELECT pg_terminate_backend({int(pid)});" if isinstance(pid, int) else None
