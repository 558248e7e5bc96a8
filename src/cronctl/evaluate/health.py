"""A job's state judged against its schedule: (job spec, runs, facts, now) → JobHealth. Pure, no I/O.

States, most telling first: disabled, unknown, stuck, overrunning, running, never_run, missed, failing,
unverified, degraded, ok. `ok` needs a known good outcome of the newest run that has one; a run whose outcome
cannot be seen (a pg_net answer that cannot be told apart from a co-firing job's) makes the job `unverified`.
Inside the grace period a due run is not a problem (Healthchecks' semantics: it may read "due", it raises
nothing); the default grace covers how late the job's own scheduler may fire (GitHub Actions 30 minutes, a
Vercel Hobby cron its whole hour). Missed slots are counted since the newest start and capped (like Kubernetes'
CronJob controller, which gives up counting past 100 missed start times). `N seconds` schedules count from the
previous start, as pg_cron does.

Thresholds follow Sentry Crons: a job with fewer than `fail_after` failures in a row is `failing` at `warn`, not
`crit`; once it reached `fail_after` it stays `failing` (recovering) until `recover_after` ok runs in a row. A job
with `expect = "disabled"` is off on purpose: while off it is `disabled` at tone `ok`; when it runs anyway it is
judged as usual and `unexpected` says why (a root cause finding).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronctl.records import Run, aware
from cronctl.runbook.model import JOB_STATES, JobSpec

STATES = JOB_STATES  # one vocabulary, the runbook's (the loader checks failure modes against it)
STATE_TONE = {
    "ok": "ok",
    "running": "ok",
    "degraded": "warn",
    "overrunning": "warn",
    "never_run": "warn",
    "disabled": "warn",
    "unknown": "warn",
    "unverified": "warn",
    "missed": "crit",
    "failing": "crit",
    "stuck": "crit",
}
MISSED_CAP = 100
STRIP_LENGTH = 20
NEAR_TIMEOUT = 0.9  # a run ending past 90 % of its timeout was nearly cut off
SHORT_FAILURE = 0.3  # a failure ending before 30 % of the timeout was dropped early (EarlyDrop pattern)
SHORT_FAILURE_MIN = 1.0
MIN_GRACE = 60.0
NO_VENDORS: Mapping[str, object] = {}  # a runbook without `[<source>]` tables (`Runbook.vendors`)
# Root causes that stop a job's scheduler: nothing can start the job, so its grace waits for nothing.
STOPPED_SCHEDULER = ("scheduler_down", "workflow_disabled")
STRIP_SYMBOLS = {
    "unverified": "?",
    "succeeded": "✓",
    "failed": "✗",
    "partial": "◐",
    "skipped": "○",
    "running": "▶",
    "unknown": "?",
}


@dataclass(frozen=True)
class JobFacts:
    """What the sources said about a job besides its runs."""

    active: bool | None = None  # pg_cron's cron.job.active; None when not a pg_cron job or not visible
    readable: bool = True  # at least one history source answered
    note: str | None = None  # why the history cannot be seen (row-level security, missing table, ...)
    stuck_runs: frozenset[str] = frozenset()  # run ids left in a non-final state with no live backend
    timezone: str | None = None  # the scheduler's own time zone when visible (pg_cron's cron.timezone)
    explained_by: str | None = None  # a root cause that explains a missed or unknown state (e.g. scheduler_down)
    window_start: datetime | None = None  # start of the judged history window (a run after it is a recent run)
    # The runbook's `[<source>]` tables (`Runbook.vendors`): how late the vendor's scheduler may fire it (`[vercel]
    # plan = "hobby"`).
    vendors: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Durations:
    samples: int
    p50: float | None
    p95: float | None
    max: float | None
    timeout: float
    near_timeout: int  # runs that ended past NEAR_TIMEOUT of the timeout
    short_failures: int  # failures that ended before SHORT_FAILURE of the timeout

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "p50_seconds": self.p50,
            "p95_seconds": self.p95,
            "max_seconds": self.max,
            "timeout_seconds": self.timeout,
            "near_timeout": self.near_timeout,
            "short_failures": self.short_failures,
        }


@dataclass(frozen=True)
class JobHealth:
    name: str
    state: str
    reason: str
    last_run: Run | None
    next_run: datetime | None
    consecutive_failures: int
    missed_runs: int
    durations: Durations
    strip: str
    grace: float | None
    outcomes: tuple[Run, ...] = field(default=(), repr=False)
    fail_after: int = 1
    recover_after: int = 1
    expect: str = "enabled"
    threshold: str | None = None  # below_fail_after (failing, warn) | recovering (failing, crit) | None
    tone_override: str | None = None  # the tone when thresholds or `expect` change what the state alone says
    unexpected: str | None = None  # expect = "disabled" but the job runs (or may run): why

    @property
    def tone(self) -> str:
        if self.tone_override is not None:
            return self.tone_override
        return STATE_TONE.get(self.state, "warn")

    def thresholds_json(self) -> dict[str, Any]:
        return {
            "fail_after": self.fail_after,
            "recover_after": self.recover_after,
            "phase": self.threshold,
            "consecutive_ok": self.consecutive_ok(),
        }

    def consecutive_ok(self) -> int:
        count = 0
        for run in self.outcomes:
            if run.status == "running" and count == 0:
                continue
            if run.status != "succeeded":
                break
            count += 1
        return count


def merge_runs(groups: Sequence[Sequence[Run]]) -> list[Run]:
    """Newest first across sources. A run without times takes the time of its newer neighbour in its own
    source (pg_cron 1.4 leaves early failures with NULL start and end), so it stays where it happened."""
    keyed: list[tuple[datetime, int, int, Run]] = []
    floor = datetime.min.replace(tzinfo=UTC)
    for g, runs in enumerate(groups):
        effective: datetime | None = None
        pending: list[tuple[int, Run]] = []
        for i, run in enumerate(runs):  # each group is newest first
            t = run.sort_time
            if t is None:
                if effective is None:
                    pending.append((i, run))
                    continue
                t = effective
            else:
                effective = t
                for j, early in pending:
                    keyed.append((t, g, j, early))
                pending = []
            keyed.append((t, g, i, run))
        for j, early in pending:
            keyed.append((floor, g, j, early))
    keyed.sort(key=lambda k: (aware(k[0]), -k[1], -k[2]), reverse=True)
    return [k[3] for k in keyed]


def merge_sources(runs: Sequence[Run]) -> list[Run]:
    """A job's runs from all its sources, newest first; each source's runs are grouped in the order read."""
    by_source: dict[str, list[Run]] = {}
    for run in runs:
        by_source.setdefault(run.source, []).append(run)
    return merge_runs(list(by_source.values()))


def outcomes(runs: Sequence[Run], timeout: float = 0.0) -> list[Run]:
    """One entry per run, newest first.

    - A pg_net job's pg_cron row says only that the request was queued: the pg_net entry carrying its
      `pg_cron_runid` replaces it (its answer, or `unverified` when the answer cannot be told apart).
    - An answer not in yet (`pending`) is no outcome.
    - When the application's run log records the job, its rows are the outcomes; a failure of the scheduler or
      of the HTTP call that left no run-log row near its time is kept (the function died before writing).
    - The health endpoint's snapshot counts only when no other source has runs.
    """
    replaced = {
        str(r.detail.get("pg_cron_runid"))
        for r in runs
        if r.source == "pg_net" and r.detail.get("pg_cron_runid") is not None
    }
    others = [r for r in runs if r.source != "health"]
    chosen = others if others else list(runs)
    out: list[Run] = []
    for run in chosen:
        if run.source == "pg_cron" and run.run_id in replaced:
            continue
        if run.source == "pg_net" and (run.status == "pending" or run.detail.get("pg_cron_runid") is None):
            continue
        out.append(run)
    logged = [r for r in out if r.source.startswith("run_log")]
    if not logged:
        return out
    span = timedelta(seconds=max(timeout, 0.0) + 60.0)
    starts = [aware(r.sort_time) for r in logged if r.sort_time is not None]

    def recorded(run: Run) -> bool:
        when = run.sort_time
        if when is None:
            return False
        t = aware(when)
        return any(t - span <= s <= t + span for s in starts)

    kept = [r for r in out if r.source.startswith("run_log") or (r.status in ("failed", "running") and not recorded(r))]
    return kept


# Run statuses that are an outcome: every other status (unverified, unknown) says the outcome is not known.
_KNOWN_OUTCOMES = ("succeeded", "failed", "partial", "skipped")


def default_grace(job: JobSpec, interval: float | None, vendors: Mapping[str, object] = NO_VENDORS) -> float:
    """Timeout plus a tenth of the interval, at least a minute, at most one interval; and at least as long as the
    job's scheduler may be late by its own documentation (`scheduler_delay`). The job's `grace` wins."""
    if job.grace is not None:
        return job.grace
    if interval is None:
        own = max(MIN_GRACE, job.timeout)
    else:
        own = max(MIN_GRACE, min(job.timeout + interval / 10, interval))
    return max(own, scheduler_delay(job, vendors))


def scheduler_delay(job: JobSpec, vendors: Mapping[str, object] = NO_VENDORS) -> float:
    """Seconds the scheduler firing `job` may start a slot late, as the history source of that vendor says from
    the runbook's `[<source>]` table (GitHub Actions 30 minutes, Vercel cron on the Hobby plan an hour). The
    scheduler is the one the job names, or, when it names none, the first of its histories outside the database;
    pg_cron fires on time."""
    from cronctl.sources.external import names, source

    fired_by = job.scheduler if job.scheduler != "external" else next(iter(job.history.external), None)
    if fired_by is None or fired_by not in names():
        return 0.0
    return source(fired_by).scheduler_delay(vendors.get(fired_by))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def durations(runs: Sequence[Run], timeout: float) -> Durations:
    finished = [r for r in runs if r.status != "running" and r.duration is not None]
    values = [max(0.0, float(r.duration or 0.0)) for r in finished]
    near = sum(1 for v in values if timeout > 0 and v >= NEAR_TIMEOUT * timeout)
    short = sum(1 for r in finished if _short_failure(r, timeout))
    return Durations(
        samples=len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        max=max(values) if values else None,
        timeout=timeout,
        near_timeout=near,
        short_failures=short,
    )


def _short_failure(run: Run, timeout: float) -> bool:
    """A failure cut off early: no answer or a 5xx, after at least a second, well before the timeout.
    An instant refusal (401, a lock conflict) is a different problem and is not counted."""
    if run.status != "failed" or timeout <= 0 or run.duration is None:
        return False
    if run.http_status is not None and run.http_status < 500:
        return False
    return SHORT_FAILURE_MIN <= run.duration < SHORT_FAILURE * timeout


def strip(runs: Sequence[Run], length: int = STRIP_LENGTH) -> str:
    """The last `length` outcomes, oldest left, newest right."""
    return "".join(STRIP_SYMBOLS.get(r.status, "?") for r in reversed(runs[:length]))


def consecutive_failures(runs: Sequence[Run]) -> int:
    """Failed runs in a row from the newest finished one (a run in progress is skipped)."""
    count = 0
    for run in runs:
        if run.status == "running" and count == 0:
            continue
        if run.status != "failed":
            break
        count += 1
    return count


def _schedule(job: JobSpec, timezone: str | None = None) -> Any:
    if not job.schedule:
        return None
    from cronctl.errors import ScheduleError
    from cronctl.schedule import Schedule

    # pg_cron reads every schedule of the server in its cron.timezone: when it is visible it wins.
    tz = timezone if timezone and job.scheduler == "pg_cron" else job.timezone
    try:
        return Schedule.parse(job.schedule, tz)
    except ScheduleError:
        return None


def _ago(seconds: float) -> str:
    from cronctl.durations import format_duration

    return format_duration(max(seconds, 0.0))


def judge(
    job: JobSpec, runs: Sequence[Run], facts: JobFacts, now: datetime, failing_after: int | None = None
) -> JobHealth:
    """The state of one job at `now` from its runs (newest first, any sources). `failing_after` overrides the
    job's `fail_after`."""
    now = aware(now)
    fail_after = max(1, failing_after if failing_after is not None else job.fail_after)
    seen = outcomes(runs, job.timeout)
    schedule = _schedule(job, facts.timezone)
    interval = schedule.typical_interval(now) if schedule is not None else None
    grace = default_grace(job, interval, facts.vendors) if schedule is not None else None
    last = seen[0] if seen else None
    failures = consecutive_failures(seen)
    started = latest_start(runs) or last
    base = {
        "name": job.name,
        "last_run": last,
        "next_run": _next_run(schedule, started, now),
        "consecutive_failures": failures,
        "durations": durations(seen, job.timeout),
        "strip": strip(seen),
        "grace": grace,
        "outcomes": tuple(seen),
        "fail_after": fail_after,
        "recover_after": job.recover_after,
        "expect": job.expect,
    }
    unexpected = _unexpected(job, runs, facts)
    # Off on purpose, and nothing says it runs. When its history cannot be seen that is not known: judge as usual.
    blind = facts.active is None and (not facts.readable or facts.note is not None)
    if job.expect == "disabled" and unexpected is None and not blind:
        why = "inactive in cron.job (active = false)" if facts.active is False else "no run in the judged window"
        return JobHealth(state="disabled", reason=f'off on purpose (expect = "disabled"): {why}', missed_runs=0,
                         tone_override="ok", **base)  # type: ignore[arg-type]  # fmt: skip
    state, reason, missed = _state(job, seen, started, facts, now, schedule, grace, failures, 1)
    threshold = tone = None
    if state == "failing":
        count = failures or consecutive_failures([r for r in seen if r.status != "unverified"])
        if count < fail_after:
            threshold, tone = "below_fail_after", "warn"
            reason += f" ({count} of fail_after = {fail_after}: a warning until {fail_after} in a row)"
    elif state == "ok" and job.recover_after > 1:
        streak = _ok_streak(seen)
        before = consecutive_failures(seen[streak:])
        if streak < job.recover_after and before >= fail_after:
            threshold = "recovering"
            failed = seen[streak].message or seen[streak].raw_status or "failed"
            state = "failing"
            reason = (
                f"recovering: {streak} of recover_after = {job.recover_after} ok run(s) in a row after {before} "
                f"failure(s): {_one_line(failed)}"
            )
    if unexpected is not None:
        reason += f'; expect = "disabled" but {unexpected}'
    return JobHealth(state=state, reason=reason, missed_runs=missed, threshold=threshold, tone_override=tone,
                     unexpected=unexpected, **base)  # type: ignore[arg-type]  # fmt: skip


def _ok_streak(seen: Sequence[Run]) -> int:
    """Succeeded outcomes in a row from the newest."""
    count = 0
    for run in seen:
        if run.status != "succeeded":
            break
        count += 1
    return count


def _unexpected(job: JobSpec, runs: Sequence[Run], facts: JobFacts) -> str | None:
    """Why a job the runbook expects disabled is not off: pg_cron has it active, or it started a run recently."""
    if job.expect != "disabled":
        return None
    if facts.active is True:
        return "it is active in cron.job: the scheduler starts it"
    if facts.active is False:
        return None
    newest = latest_start(runs)
    when = newest.sort_time if newest is not None else None
    if when is not None and (facts.window_start is None or aware(when) >= aware(facts.window_start)):
        return f"it ran at {aware(when).isoformat().replace('+00:00', 'Z')}"
    return None


def _next_run(schedule: Any, started: Run | None, now: datetime) -> datetime | None:
    if schedule is None:
        return None
    if schedule.every_seconds is not None and started is not None and started.sort_time is not None:
        step = timedelta(seconds=schedule.every_seconds)
        due: datetime = aware(started.sort_time) + step
        while due <= now:
            due += step
        return due
    result: datetime | None = schedule.next_run(now)
    return result


def latest_start(runs: Sequence[Run]) -> Run | None:
    """The newest run the scheduler started, whatever its outcome: whether a run was missed depends on this,
    not on whether its answer has arrived or could be told apart from another job's."""
    started = [r for r in runs if r.source != "health" and r.sort_time is not None]
    return max(started, key=lambda r: aware(r.sort_time), default=None)  # type: ignore[arg-type]


def _state(
    job: JobSpec,
    seen: Sequence[Run],
    started: Run | None,
    facts: JobFacts,
    now: datetime,
    schedule: Any,
    grace: float | None,
    failures: int,
    failing_after: int,
) -> tuple[str, str, int]:
    if facts.active is False:
        return "disabled", "inactive in cron.job (active = false): the scheduler does not start it", 0
    last = seen[0] if seen else None
    if last is None and not facts.readable:
        return "unknown", facts.note or "no history source answered", 0
    if last is None and facts.note:
        return "unknown", facts.note, 0
    if last is not None and last.status == "running":
        return _running(job, last, facts, now, seen)
    if last is None and started is None:
        if schedule is None:
            return "never_run", "no run recorded", 0
        return "never_run", "no run recorded in any history source", 0
    on_time = started or last
    due_note = ""
    if schedule is not None and grace is not None and on_time is not None:
        missed = _missed(schedule, on_time, now, grace, facts.explained_by)
        if missed is not None:
            return missed
        due_note = _due_within_grace(schedule, on_time, now, grace)
    if last is None:
        return "unverified", "its runs have started but none has a known outcome yet" + due_note, 0
    behind = _live_behind_refusals(job, seen, facts, now)
    if behind is not None:
        return behind
    if failures >= failing_after:
        group = last.message or last.raw_status or "failed"
        return "failing", f"last {failures} run(s) failed: {_one_line(group)}", 0
    if last.status not in _KNOWN_OUTCOMES:
        # An unseen outcome (unverified, or a status no rule maps: GitHub's action_required, an answer without a
        # status code) never makes a job ok; known failures just before it still make it failing.
        known = [r for r in seen if r.status in _KNOWN_OUTCOMES]
        before = consecutive_failures(known)
        why = _one_line(last.message or (f"status {last.raw_status}" if last.raw_status else "no answer"))
        if known and before >= failing_after and not last.detail.get("possible_all_good"):
            failed = known[0].message or known[0].raw_status or "failed"
            return "failing", f"last {before} known run(s) failed: {_one_line(failed)} (newest unverified: {why})", 0
        return "unverified", f"newest run's outcome cannot be seen: {why}", 0
    if last.status == "partial":
        why = f": {_one_line(last.message)}" if last.message else ""
        return "degraded", f"last run only partly succeeded{why}", 0
    if last.status == "skipped":
        # The endpoint answered but did nothing (the runbook's `skipped` rule): alive, not doing its work.
        why = f": {_one_line(last.message)}" if last.message else ""
        return "degraded", f"last run answered but skipped its work{why}", 0
    when = last.sort_time
    ago = f" {_ago((now - aware(when)).total_seconds())} ago" if when is not None else ""
    how = last.detail.get("attribution")
    linked = f" ({how} pg_net link)" if how in ("exact", "inferred") and last.source == "pg_net" else ""
    return "ok", f"last run {last.status}{ago}{linked}{due_note}", 0


LIVE_FACTOR = 3.0  # a run in progress this many times past timeout + lock margin is a crashed leftover


def _live_behind_refusals(
    job: JobSpec, seen: Sequence[Run], facts: JobFacts, now: datetime
) -> tuple[str, str, int] | None:
    """Newer runs refused by the job's own lock while an older run is still in progress: the job is running (the
    refusals are the lock doing its work), unless that run is a crashed leftover."""
    from cronctl.evaluate.classify import classify

    refused = 0
    for run in seen:
        if run.status == "failed" and classify(run.message, run.http_status) == "LOCK_CONFLICT":
            refused += 1
            continue
        if refused == 0 or run.status != "running":
            return None
        state, reason, _ = _running(job, run, facts, now)
        if state == "stuck" or run.started_at is None:
            return None
        margin = job.lock.margin if job.lock is not None else 300.0
        elapsed = (now - aware(run.started_at)).total_seconds()
        if elapsed > LIVE_FACTOR * (job.timeout + margin):
            return None  # left behind by a crash: the refusals are failures
        return state, f"{reason}; {refused} newer run(s) refused by its lock", 0
    return None


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _running(job: JobSpec, run: Run, facts: JobFacts, now: datetime, seen: Sequence[Run] = ()) -> tuple[str, str, int]:
    from cronctl.sources.external import names as vendor_sources

    # The newest run may have just started while older ones never finish (GitHub runs queued for hours: no
    # runner takes the workflow's jobs): the oldest unfinished run is the one that says so. A source outside the
    # database reads runs that are all live in the vendor's own account (a queued GitHub run waits for a runner).
    waiting = [r for r in seen if r.status == "running" and r.source in vendor_sources() and r.started_at]
    oldest = min(waiting, key=lambda r: aware(r.started_at or now), default=None)
    if oldest is not None and oldest is not run and oldest.started_at is not None:
        age = (now - aware(oldest.started_at)).total_seconds()
        if age > job.timeout:
            state = oldest.raw_status or "running"
            return (
                "overrunning",
                f"{len(waiting)} runs unfinished, the oldest {state} for {_ago(age)}, longer than its timeout "
                f"{_ago(job.timeout)}",
                0,
            )
    started = run.started_at
    elapsed = (now - aware(started)).total_seconds() if started is not None else None
    since = f" for {_ago(elapsed)}" if elapsed is not None else ""
    if run.run_id in facts.stuck_runs or run.detail.get("backend_alive") is False:
        raw = run.raw_status or "running"
        return "stuck", f"run {run.run_id} left '{raw}'{since} and no backend runs it", 0
    if elapsed is not None and elapsed > job.timeout:
        return "overrunning", f"running{since}, longer than its timeout {_ago(job.timeout)}", 0
    return "running", f"running{since}", 0


def _slots_after(schedule: Any, last: datetime, now: datetime, cap: int) -> list[datetime]:
    """Fire times after `last` up to `now`. `N seconds` jobs fire N seconds after their previous start."""
    if schedule.every_seconds is not None:
        step = timedelta(seconds=schedule.every_seconds)
        out: list[datetime] = []
        due = last + step
        while due <= now and len(out) < cap:
            out.append(due)
            due += step
        return out
    found: list[datetime] = schedule.runs_between(last, now, cap=cap)
    return found


def _missed(
    schedule: Any, last: Run, now: datetime, grace: float, explained_by: str | None = None
) -> tuple[str, str, int] | None:
    when = last.sort_time
    if when is None:
        return None
    due = _slots_after(schedule, aware(when), now, MISSED_CAP + 1)
    if explained_by in STOPPED_SCHEDULER:
        grace = min(grace, MIN_GRACE)  # nothing can start it while its scheduler is stopped: grace waits for nothing
    overdue = [slot for slot in due if (now - slot).total_seconds() > grace]
    if not overdue:
        return None
    count = min(len(overdue), MISSED_CAP)
    more = "+" if len(overdue) > MISSED_CAP else ""
    first = overdue[0]
    cause = f"; explained by root cause {explained_by}" if explained_by else ""
    return (
        "missed",
        f"{count}{more} scheduled run(s) missed since the last run; first due {_ago((now - first).total_seconds())}"
        f" ago (grace {_ago(grace)}){cause}",
        count,
    )


def _due_within_grace(schedule: Any, last: Run, now: datetime, grace: float) -> str:
    """A slot that passed but is still inside its grace: worth saying, not a problem."""
    when = last.sort_time
    if when is None:
        return ""
    due = _slots_after(schedule, aware(when), now, 2)
    if not due:
        return ""
    return f"; next run due {_ago((now - due[0]).total_seconds())} ago, within grace {_ago(grace)}"


def history_window(job: JobSpec, now: datetime, default: float) -> float:
    """Seconds of history worth judging: at least one schedule interval (a weekly job looks back 7 days)."""
    schedule = _schedule(job)
    if schedule is None:
        return default
    interval: float = schedule.typical_interval(aware(now))
    return max(default, interval)


def lookback(job: JobSpec, now: datetime, vendors: Mapping[str, object] = NO_VENDORS) -> float:
    """Seconds before the judged window worth reading from a source that answers only for the time asked (a
    vendor's API): one more interval and grace, so the run before a dropped slot (or before a slot still inside
    its grace) is seen and the job reads `missed` (or due), not `never_run`. 0 without a schedule."""
    schedule = _schedule(job)
    if schedule is None:
        return 0.0
    interval: float = schedule.typical_interval(aware(now))
    return interval + default_grace(job, interval, vendors)
