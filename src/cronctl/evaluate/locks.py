"""Is a lock still protecting a live run, or left behind? Pure: (lock, job spec, now, the job's runs) → verdict.

States: `held` (leave it), `stale` (older than the job could possibly run, and no source shows its run in
progress), `expired` (past its own expiry, and no source shows its run in progress), `orphaned` (its holder is
gone). Only the last three may be cleared without --force.

The evidence rule (DESIGN §4: a lock is stale only when nothing says its job is still running). Every run of the
job from every source is looked at (pg_cron rows, run-log rows, pg_net answers, a health endpoint), not only
the newest: the newest row is often a run the lock itself refused. A run in a non-final state (normalised
`running`, which covers pg_cron's starting/connecting/sending/running; or an unmapped run-log status with no
finish time) keeps the lock `held`, unless it is known not to be running any more:
  - pg_cron says which backend ran it and that backend is gone (`detail["backend_alive"] is False`);
  - or it has been "running" for more than LEFTOVER_FACTOR x (timeout + margin) and started no later than
    TAKER_SLACK after the lock was taken. That is seed 003's crash: the worker died mid-run, its run_log row
    stays RUNNING forever, its job_lock row stays behind, and every later run is refused ("job_lock active").
    The row that started when the lock was taken is the run that took it; one that started before the lock
    is an older leftover (that run's own lock is gone, so it does not hold this one).
A non-final run younger than that (a slow run is not a dead run: a RUNNING row 12 minutes old beside newer
refused runs is a live lock), one that started well after the lock was taken (the lock did not stop it, so
it says nothing about the holder), or one whose start is unknown keeps the lock `held`. Mixed or missing
evidence (a history source that could not be read, runs that do not reach back to when the lock was taken)
is never `stale`: the reason says what is missing, and `--force` remains for the operator who knows better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronctl.durations import format_duration
from cronctl.records import Lock, Run, aware
from cronctl.runbook.model import JobSpec

STATES = ("held", "stale", "expired", "orphaned")
DEFAULT_MARGIN = 300.0
IDLE_IN_TRANSACTION = ("idle in transaction", "idle in transaction (aborted)")
# A non-final run counts as a crashed leftover only once it has been "running" this many times the job's
# timeout + margin: past timeout + margin a run is overrunning, which is not the same as dead.
LEFTOVER_FACTOR = 3.0
# Seconds between a run's start and the lock's acquired time within which that run is the one that took it
# (runs take their lock as they start; this also absorbs clock skew between the app and the database).
TAKER_SLACK = 60.0
MESSAGE_WORDS = 80


@dataclass(frozen=True)
class LockVerdict:
    lock: Lock
    state: str
    reason: str
    age: float | None  # seconds since acquired (Redis: since last touched)
    # Something about the lock contradicts the runbook (a Redis key meant to expire that has no TTL).
    suspicious: bool = False
    note: str | None = None

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

    @property
    def leftover(self) -> float:
        return LEFTOVER_FACTOR * self.total

    def words(self) -> str:
        return f"the job's timeout {_d(self.timeout)} + margin {_d(self.margin)}"


def _d(seconds: float) -> str:
    return format_duration(max(seconds, 0.0))


def _at(when: datetime, now: datetime) -> str:
    """A UTC time, with its date only when it is not today's."""
    utc = aware(when).astimezone(UTC)
    same_day = utc.date() == aware(now).astimezone(UTC).date()
    return utc.strftime("%H:%MZ" if same_day else "%Y-%m-%d %H:%MZ")


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


def lock_taken_at(lock: Lock, now: datetime) -> datetime | None:
    """When the lock was taken, as far as its backend tells (Redis: no later than its last touch)."""
    if lock.backend == "redis":
        idle = lock.detail.get("idle_seconds")
        return now - timedelta(seconds=float(idle)) if isinstance(idle, (int, float)) else None
    return aware(lock.acquired_at) if lock.acquired_at is not None else None


def needs_history(lock: Lock, job: JobSpec | None, now: datetime) -> bool:
    """True when the verdict depends on whether the job is running (so its history is worth reading)."""
    limits = _limits(job)
    if limits is None:
        return False
    if lock.backend == "table" and lock.expires_at is not None and lock.expires_at <= now:
        return True  # expired, yet a run still in progress keeps it held
    if lock.backend == "redis":
        return _ttl(lock) == -1
    if lock.backend == "advisory":
        state = lock.detail.get("state")
        if lock.detail.get("pid") is None or not lock.detail.get("backend_found", True):
            return False  # orphaned: the holder is known to be gone
        if state in IDLE_IN_TRANSACTION:
            idle = _idle(lock, now)
            return idle is not None and idle > limits.timeout
        if state != "idle":
            return False
    age = lock_age(lock, now)
    return age is None or age > limits.total


def history_since(lock: Lock, job: JobSpec | None, now: datetime) -> datetime | None:
    """How far back the job's runs must be read to judge this lock (None: as far as they go).

    Runs that started before this are all "running" for longer than LEFTOVER_FACTOR x (timeout + margin) and
    before the lock was taken, so none of them could keep it held; the run that took the lock is included."""
    limits = _limits(job)
    taken = lock_taken_at(lock, now)
    if limits is None or taken is None:
        return None
    floor = aware(now) - timedelta(seconds=limits.leftover)
    return min(taken, floor) - timedelta(seconds=TAKER_SLACK)


def judge(
    lock: Lock,
    job: JobSpec | None,
    now: datetime,
    running_jobs: set[str] | frozenset[str] = frozenset(),
    unverified: Mapping[str, str] | None = None,
    runs_by_job: Mapping[str, Sequence[Run]] | None = None,
) -> LockVerdict:
    """The verdict on one lock.

    `runs_by_job`: each job's runs from every history source (any order), read back to `history_since`; a lock
    is judged from all of them. `running_jobs` (older callers): jobs some summary shows running; for a job
    whose runs are given it only counts when none of those runs explains it. `unverified`: jobs whose history
    could not be (fully) read (job → why), which are never judged stale by age alone."""
    age = lock_age(lock, now)
    limits = _limits(job)
    runs = runs_by_job.get(lock.name) if runs_by_job is not None else None
    facts = _History(lock.name in running_jobs, (unverified or {}).get(lock.name), runs)
    evidence = _evidence(lock, limits, now, facts)
    if lock.backend == "advisory":
        state, reason = _advisory(lock, limits, now, age, evidence)
    elif lock.backend == "redis":
        state, reason = _redis(lock, job, limits, now, age, evidence)
    else:  # a lock table, and any backend whose locks have an acquired time and maybe an expiry
        state, reason = _table(lock, limits, now, age, evidence)
    suspicious, note = _suspicion(lock, job)
    return LockVerdict(lock=lock, state=state, reason=reason, age=age, suspicious=suspicious, note=note)


def judge_all(
    locks: Sequence[Lock],
    jobs: Mapping[str, JobSpec],
    now: datetime,
    running_jobs: set[str] | frozenset[str] = frozenset(),
    unverified: Mapping[str, str] | None = None,
    runs_by_job: Mapping[str, Sequence[Run]] | None = None,
) -> list[LockVerdict]:
    return [judge(lock, jobs.get(lock.name), now, running_jobs, unverified, runs_by_job) for lock in locks]


@dataclass(frozen=True)
class _History:
    flagged: bool  # `running_jobs` names the job
    unreadable: str | None
    runs: Sequence[Run] | None  # None: not given


# --- the evidence of the job's runs -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    live: tuple[str, ...] = ()  # each names a run that may be in progress, and why
    leftovers: tuple[str, ...] = ()  # each names a non-final run that is known not to run any more, and why
    finished: tuple[Run, ...] = ()  # runs since the lock was taken that ended, newest first
    doubt: str | None = None  # why the history cannot rule a run in progress out
    given: bool = False  # the job's runs were given (not only a summary flag)

    def but(self) -> str:
        """The words `, but <the first live run>`, and how many more there are."""
        more = f" (and {len(self.live) - 1} more non-final run(s))" if len(self.live) > 1 else ""
        return f", but {self.live[0]}{more}"

    def nothing_running(self, now: datetime) -> str:
        """Why nothing keeps the lock: the leftovers, then what finished since."""
        if not self.given:
            return "the job's history shows no run in progress"
        parts = [*self.leftovers]
        since = "no other run" if self.leftovers else "no run"
        parts.append(f"{since} in any history source is in progress since the lock was taken{self._finished(now)}")
        return "; ".join(parts)

    def _finished(self, now: datetime) -> str:
        if not self.finished:
            return ""
        newest = self.finished[0]
        what = f"{_run_name(newest)} {newest.status}"
        if newest.sort_time is not None:
            what += f" at {_at(newest.sort_time, now)}"
        if newest.message:
            text = " ".join(newest.message.split())
            what += f": {text[:MESSAGE_WORDS]}{'…' if len(text) > MESSAGE_WORDS else ''}"
        return f" ({len(self.finished)} later run(s) ended; newest: {what})"


def _evidence(lock: Lock, limits: _Limits | None, now: datetime, facts: _History) -> _Evidence:
    doubt = f"the job's history could not be read ({facts.unreadable})" if facts.unreadable else None
    if facts.runs is None:
        flag: tuple[str, ...] = ("the job's history shows a run in progress",) if facts.flagged else ()
        return _Evidence(live=flag, doubt=doubt)
    taken = lock_taken_at(lock, now)
    live: list[str] = []
    leftovers: list[str] = []
    finished: list[Run] = []
    for run in sorted(facts.runs, key=_newest_first, reverse=True):
        if _non_final(run):
            kind, words = _classify(run, taken, limits, now)
            (leftovers if kind == "leftover" else live).append(words)
        elif taken is None or (run.sort_time is not None and aware(run.sort_time) >= taken):
            finished.append(run)
    if facts.flagged and not live and not leftovers:
        live.append("the job's history shows a run in progress, though none of its runs read is in a non-final state")
    return _Evidence(tuple(live), tuple(leftovers), tuple(finished), doubt, given=True)


def _newest_first(run: Run) -> tuple[int, datetime]:
    """Sort key, with reverse=True: newest first, runs without any time last."""
    t = run.sort_time
    return (0, datetime.min.replace(tzinfo=UTC)) if t is None else (1, aware(t))


def _non_final(run: Run) -> bool:
    if run.status == "running":
        return True
    # A run-log or pg_cron status nobody mapped, with no finish time: it may well mean "in progress".
    source_can_say = run.source == "pg_cron" or run.source.startswith("run_log:")
    return run.status == "unknown" and run.finished_at is None and run.raw_status is not None and source_can_say


def _run_name(run: Run) -> str:
    source = run.source.removeprefix("run_log:")
    return f"run {run.run_id} ({source})" if run.run_id else f"a run ({source})"


def _classify(run: Run, taken: datetime | None, limits: _Limits | None, now: datetime) -> tuple[str, str]:
    """("live" | "leftover", words naming the run and the evidence)."""
    name = _run_name(run)
    raw = run.raw_status or run.status
    state = raw if run.status == "running" else f"in unmapped status {raw!r} with no finish time"
    alive = run.detail.get("backend_alive")
    pid = run.detail.get("job_pid")
    backend = f"its backend (pid {pid})" if pid is not None else "its backend"
    started = aware(run.started_at) if run.started_at is not None else None
    if run.source == "pg_cron" and alive is False:
        since = f" since {_at(started, now)}" if started is not None else ""
        return "leftover", f"{name} {state}{since}: {backend} is gone, so it runs no more"
    if started is None:
        return "live", f"{name} {state} with no start time: it may be in progress"
    running_for = (aware(now) - started).total_seconds()
    since = f" for {_d(running_for)} since {_at(started, now)}"
    where = _where(started, taken)
    if run.source == "pg_cron" and alive is True:
        return "live", f"{name} {state}{since}{where}, and {backend} is still connected"
    if limits is None or running_for <= limits.total:
        within = f", within timeout + margin ({_d(limits.total)})" if limits is not None else ""
        return "live", f"{name} {state}{since}{where}{within}"
    if running_for <= limits.leftover:
        return "live", (
            f"{name} {state}{since}{where}: past timeout + margin ({_d(limits.total)}) but not "
            f"{LEFTOVER_FACTOR:g}x that ({_d(limits.leftover)}), so it may still be working"
        )
    far = f"more than {LEFTOVER_FACTOR:g}x timeout + margin ({_d(limits.leftover)})"
    if taken is None:
        return "live", (
            f"{name} {state}{since} ({far}), but when the lock was taken is unknown, so it cannot be told to be "
            "the crashed run that took it"
        )
    gap = (started - taken).total_seconds()
    if gap > TAKER_SLACK:
        return "live", (
            f"{name} {state}{since} ({far}) started {_d(gap)} after the lock was taken: the lock did not stop "
            "it and it is not the run that took the lock, so whether the holder is gone cannot be told"
        )
    if gap >= -TAKER_SLACK:
        return "leftover", (
            f"{name} left {state} since {_at(started, now)} ({_d(running_for)}, {far}) started when the lock was "
            "taken: the run that took it crashed and left both rows behind"
        )
    return "leftover", (
        f"{name} left {state} since {_at(started, now)} ({_d(running_for)}, {far}), {_d(-gap)} before the lock "
        "was taken: an older leftover, not this lock's holder"
    )


def _where(started: datetime, taken: datetime | None) -> str:
    if taken is None:
        return ""
    gap = (started - taken).total_seconds()
    if abs(gap) <= TAKER_SLACK:
        return ", started when the lock was taken"
    if gap > 0:
        return f", started {_d(gap)} after the lock was taken"
    return f", started {_d(-gap)} before the lock was taken"


# --- per backend ------------------------------------------------------------------------------------------


def _aged_out(limits: _Limits, age: float, evidence: _Evidence, what: str, now: datetime) -> tuple[str, str]:
    """The age rule: older than timeout + margin is stale only if no source shows a run in progress."""
    base = f"{what} {_d(age)}, longer than {limits.words()}"
    if evidence.live:
        return "held", base + evidence.but()
    if evidence.doubt:
        return "held", f"{base}, but {evidence.doubt}"
    return "stale", f"{base}; {evidence.nothing_running(now)}"


def _table(
    lock: Lock, limits: _Limits | None, now: datetime, age: float | None, evidence: _Evidence
) -> tuple[str, str]:
    if lock.expires_at is not None and lock.expires_at <= now:
        expired = f"past its expiry ({_d((now - lock.expires_at).total_seconds())} ago)"
        if evidence.live:
            # The app may not honour its own expiry (seed 003's worker refused runs long after it): a live
            # run's lock still protects it.
            return "held", f"{expired}{evidence.but()}; the run may still rely on it"
        if evidence.doubt:
            return "held", f"{expired}, but {evidence.doubt}, so a run in progress cannot be ruled out"
        if evidence.given:
            return "expired", f"{expired}; {evidence.nothing_running(now)}"
        return "expired", expired
    if limits is None:
        return "held", "no job in this runbook uses this lock; only its expiry is judged"
    if age is not None and age > limits.total:
        return _aged_out(limits, age, evidence, "held for", now)
    holder = f" by {lock.holder}" if lock.holder else ""
    held = f"held{holder} for {_d(age)}" if age is not None else f"held{holder} (acquired time unknown)"
    if lock.expires_at is not None:
        held += f"; expires in {_d((lock.expires_at - now).total_seconds())}"
    if evidence.live:
        held += f"; {evidence.live[0]}"
    return "held", held


def _idle(lock: Lock, now: datetime) -> float | None:
    changed = lock.detail.get("state_change")
    return (now - changed).total_seconds() if isinstance(changed, datetime) else None


def _advisory(
    lock: Lock, limits: _Limits | None, now: datetime, age: float | None, evidence: _Evidence
) -> tuple[str, str]:
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
        idle = _idle(lock, now)
        for_how_long = f" for {_d(idle)}" if idle is not None else ""
        if limits is not None and idle is not None and idle > limits.timeout:
            base = (
                f"pid {pid} ({app}) has been {state}{for_how_long}, longer than the job's timeout {_d(limits.timeout)}"
            )
            if evidence.live:
                return "held", base + evidence.but()
            return "stale", base
        return "held", f"pid {pid} ({app}) is {state}{for_how_long}"
    if state == "idle" and limits is not None and age is not None and age > limits.total:
        return _aged_out(limits, age, evidence, f"pid {pid} ({app}) has kept it while idle for", now)
    return "held", f"held by pid {pid} ({app}), {state}"


def _ttl(lock: Lock) -> int | None:
    ttl = lock.detail.get("ttl_ms")
    return int(ttl) if isinstance(ttl, int) else None


def _redis(
    lock: Lock, job: JobSpec | None, limits: _Limits | None, now: datetime, age: float | None, evidence: _Evidence
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
    if evidence.live:
        return "held", never + evidence.but()
    if evidence.doubt:
        return "held", f"{never}, but {evidence.doubt}"
    touched = f"untouched for {_d(age)}, longer than {limits.words()}" if age is not None else "age unknown"
    return "stale", f"{never}; {touched}; {evidence.nothing_running(now)}"


def _suspicion(lock: Lock, job: JobSpec | None) -> tuple[bool, str | None]:
    """A Redis key that contradicts the runbook's lock TTL (`lock.ttl`): no TTL at all, or a longer one."""
    spec = job.lock if job is not None else None
    if lock.backend != "redis" or spec is None or spec.ttl is None:
        return False, None
    ttl = _ttl(lock)
    meant = _d(spec.ttl)
    if ttl == -1:
        return True, (
            f"suspicious: the runbook says this lock expires {meant} after it is taken, but the key has no TTL "
            "(set without EX/PX, or its TTL was removed): it is never released by itself, and a crashed run "
            "blocks the job for good"
        )
    if ttl is not None and ttl > spec.ttl * 1000 + 1000:
        return True, f"suspicious: expires in {_d(ttl / 1000)}, later than the runbook's lock TTL {meant}"
    return False, None


def terminate_sql(lock: Lock) -> str | None:
    """The exact statement that ends an advisory lock's holder session."""
    pid = lock.detail.get("pid")
    return f"SELECT pg_terminate_backend({int(pid)});" if isinstance(pid, int) else None
