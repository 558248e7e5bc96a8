"""The one history path: every job's runs from every source its runbook maps, read once and linked once.

Triage, `triage --job`, `logs`, `trigger --verify` and the lock judgement all collect through `collect` (or
`collect_history` for one job), so the same database gives the same answer in every command. The database is
read by `sources.triage` in two pipelined round trips; pg_net's answers are linked to their pg_cron runs by
`evaluate.attribution`; health endpoints, Redis locks, local silences and the history sources outside the
database (`sources.external`) are read after it. Each source fails on its own: a missing schema says "not
installed", an error becomes that source's note, and the other sources still answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronctl.errors import CronctlError, SourceUnavailable
from cronctl.records import (
    Attribution,
    Collected,
    HistoryResult,
    JobData,
    Run,
    SourceNote,
    StatementAnswer,
    aware,
    cron_name,
)
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook
from cronctl.sources import triage as database
from cronctl.sources.locks.base import reads_database  # the registry, so a new lock backend needs no edit here

if TYPE_CHECKING:
    from cronctl.sources.external.base import ExternalQuery, ExternalRead

RUN_LOG_FAILED_FACTOR = 10
HISTORY_WINDOW = 24 * 3600.0  # seconds of history `logs` reads without --since


def collect(
    conn: Any,
    runbook: Runbook,
    env: Environment,
    jobs: Sequence[JobSpec],
    now: datetime,
    since: float,
    statement_timeout: float,
    *,
    until: datetime | None = None,
    history_only: bool = False,
    runs_per_job: int = database.RUNS_PER_JOB,
) -> Collected:
    """Read everything triage judges; `since` is the failure window in seconds (per job at least one interval).

    `history_only` reads a job's runs for `logs`, `trigger --verify` and the lock judgement (no backlogs, locks,
    silences or secrets). `until` judges as of a past time: `now` should equal it, and rows after it are ignored.
    `conn` None: no database is read (nothing the jobs need lives there, `database_uses`); `facts` stays None.
    """
    from cronctl.evaluate.health import history_window

    out = Collected(
        now=now,
        failure_since=now - timedelta(seconds=since),
        until=until,
        history_only=history_only,
        runs_per_net_job=database.RUNS_PER_JOB,
    )
    for job in jobs:
        out.jobs[job.name] = JobData(job, window_start=now - timedelta(seconds=history_window(job, now, since)))
    session = database.Session(conn, statement_timeout) if conn is not None else None
    if session is not None:
        out.uses_pg_cron = any(cron_name(j) for j in jobs)
        out.uses_pg_net = any(cron_name(j) and (j.history.pg_net or j.scheduler == "pg_cron") for j in jobs)
        database.read_catalog(out, session.run(database.catalog_statements(runbook, jobs, out)))
        statements = database.data_statements(out, runbook, jobs, history_only, runs_per_job, statement_timeout)
        _read_data(out, runbook, session.run(statements))
        # Which jobs call pg_net is known once cron.job's commands are read; the platform check follows that.
        out.uses_pg_net = any(d.pg_net or d.spec.history.pg_net for d in out.jobs.values())
    database.read_health(out, runbook, env, jobs)
    if not history_only and until is None:
        database.read_other_locks(out, runbook, env, jobs, conn)
    if not history_only:
        _read_local_silences(out, runbook)
    judged = list(out.jobs.values())
    out.external_facts = read_external(judged, runbook, env, now, until, runs_per_job, lookbacks(runbook, judged, now))
    out.round_trips = session.round_trips if session is not None else 0
    return out


def database_uses(
    runbook: Runbook, jobs: Sequence[JobSpec], *, history_only: bool = False
) -> dict[str, tuple[str, ...]]:
    """What a collection for `jobs` reads from the database, each with the jobs it is read for (none for a
    runbook-wide read). Empty: nothing the jobs need lives in the database, and triage runs without one (silences
    then come from the local state file only)."""
    uses: dict[str, list[str]] = {}

    def add(what: str, job: str | None = None) -> None:
        names = uses.setdefault(what, [])
        if job is not None and job not in names:
            names.append(job)

    for job in jobs:
        if cron_name(job):
            add("pg_cron history", job.name)
        if job.history.pg_net:
            add("pg_net answers", job.name)
        if job.history.run_log:
            add(f"run_logs.{job.history.run_log}", job.name)
        if not history_only and job.lock is not None and reads_database(job.lock.backend):
            add(f"{job.lock.backend} locks", job.name)
    if not history_only:
        names = {j.name for j in jobs}
        narrowed = len(jobs) < len(runbook.jobs)  # `--job`: only that job's backlogs, as sources.triage reads them
        for backlog in runbook.backlogs.values():
            if not narrowed or backlog.job in names:
                add(f"backlog {backlog.name}", backlog.job)
        if runbook.secrets_table is not None:
            add("secrets table")
    return {what: tuple(users) for what, users in uses.items()}


def describe_uses(uses: dict[str, tuple[str, ...]]) -> str:
    """`pg_cron history (sync, report); backlog pending`: what needs the database, for one line."""
    return "; ".join(f"{what} ({', '.join(users)})" if users else what for what, users in uses.items())


def _read_data(out: Collected, runbook: Runbook, answers: dict[str, StatementAnswer]) -> None:
    _read_pg_cron(out, answers)
    database.read_run_logs(out, runbook, answers)
    database.read_failure_counts(out, runbook, answers)
    database.read_locks(out, runbook, answers)
    out.secrets = answers.get("secrets")
    if runbook.secrets_table is not None:
        out.secrets_table = f"{runbook.secrets_table.schema}.{runbook.secrets_table.table}"
    out.backlogs = {k.split(":", 1)[1]: a for k, a in answers.items() if k.startswith("backlog:")}
    database.read_silences(out, runbook, answers)
    database.read_hygiene(out, answers)


def _read_local_silences(out: Collected, runbook: Runbook) -> None:
    """Silences kept in this operator's state file (when the role could not write the database's table)."""
    from cronctl.evaluate.silences import active
    from cronctl.sources import silences

    path = silences.local_path(runbook.name, runbook.profile)
    try:
        found = silences.read_local(path, runbook.name)
    except CronctlError as exc:
        out.silence_notes.append(exc.message)
        return
    out.silences.extend(active(found, out.now))


# --- pg_cron runs and the pg_net answers that are their outcomes --------------------------------------------


def is_pg_net_job(spec: JobSpec | None, command: str) -> bool:
    """A job whose outcome is a pg_net answer: its runbook says so, or its command calls net.http_*."""
    from cronctl.evaluate import pgnet_link

    return pgnet_link.uses_pg_net(command) or bool(spec is not None and spec.history.pg_net)


def _read_pg_cron(out: Collected, answers: dict[str, StatementAnswer]) -> None:
    from cronctl.evaluate.attribution import as_runs, unseen_answers

    read = database.read_pg_cron(out, answers)
    if read is None:
        return
    specs = {cron_name(d.spec): d.spec for d in out.jobs.values() if cron_name(d.spec)}
    net_crons = [
        n for n, (_a, command) in read.visible.items() if n in read.runs and is_pg_net_job(specs.get(n), command)
    ]
    for name, spec in specs.items():
        if name and name in read.visible and name not in net_crons and is_pg_net_job(spec, read.visible[name][1]):
            net_crons.append(name)
    attribution = _link_answers(out, answers, {n: read.runs.get(n, []) for n in net_crons}, read.visible, specs)
    for data in out.jobs.values():
        name = cron_name(data.spec)
        if name is None or not database.assign_pg_cron(out, data, read):
            continue
        if not is_pg_net_job(data.spec, read.visible[name][1]):
            continue
        data.pg_net = True
        if attribution is None:
            why = out.net_note or out.errors.get("pg_net", "pg_net's answers could not be read")
            state = "not_installed" if "not installed" in why else "error"
            data.notes.append(SourceNote("pg_net", state, why))
            data.runs.extend(unseen_answers(read.runs.get(name, []), data.spec.name, why))
        else:
            data.notes.append(SourceNote("pg_net", "ok"))
            data.runs.extend(as_runs(attribution.for_job(name), data.spec.name))


def _link_answers(
    out: Collected,
    answers: dict[str, StatementAnswer],
    runs: dict[str, list[Run]],
    visible: dict[str, tuple[bool, str]],
    specs: dict[str | None, JobSpec],
) -> Attribution | None:
    """Each pg_net job's runs linked to their answers (None when pg_net's answers could not be read)."""
    from cronctl.evaluate import attribution, pgnet_link
    from cronctl.evaluate.triage import net_judge
    from cronctl.sources import pgnet

    net = database.read_pg_net(out, answers)
    if net is None:
        return None
    commands = {n: visible.get(n, (True, ""))[1] for n in runs}
    timeouts = {n: pgnet_link.net_timeout(c) for n, c in commands.items()}
    # Only a timeout the command itself states is known; a wrapper function (invoke_edge_function(…)) sets its own.
    stated = frozenset(n for n, c in commands.items() if pgnet_link.states_timeout(c))
    urls = {n: pgnet_link.target_url(c) or _function_path(pgnet_link.target_function(c)) for n, c in commands.items()}
    rules = {n: spec.success for n, spec in specs.items() if n is not None}
    linked = attribution.attribute(
        runs,
        net.responses,
        timeouts,
        out.now,
        net_judge(rules, pgnet.CONTENT_LIMIT),
        tracked=net.tracked,
        queued=out.queue,
        urls=urls,
        horizon=_later(_horizon(runs, out.runs_per_net_job), net.cut_at),
        explicit_timeouts=stated,
    )
    out.attribution = linked
    _count_net_failures(out, answers, linked)
    return linked


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def _function_path(function: str | None) -> str | None:
    """An Edge Function's path, for commands whose host is an expression (get_secret('supabase_url') || …)."""
    if not function or "/" in function:
        return None
    return f"/functions/v1/{function}"


def _horizon(runs: dict[str, list[Run]], limit: int) -> datetime | None:
    """The oldest time up to which every pg_net job's runs were all read: a job whose walk hit its limit may
    have older runs that compete for older answers."""
    edges = [
        min(aware(r.started_at) for r in job_runs if r.started_at is not None)
        for job_runs in runs.values()
        if len(job_runs) >= limit and any(r.started_at is not None for r in job_runs)
    ]
    return max(edges, default=None)


def _count_net_failures(out: Collected, answers: dict[str, StatementAnswer], linked: Attribution) -> None:
    """The window's failed responses; each group names the jobs that own them (exact or inferred links) and,
    apart, the jobs that could own the answers no run could be given."""
    from cronctl.sources import pgnet

    groups = database.read_net_failures(out, answers)
    if groups is None:
        return
    owners = linked.owners()
    unplaced = linked.unplaced()
    jobs_by_key: dict[pgnet.FailureKey, list[str]] = {}
    candidates_by_key: dict[pgnet.FailureKey, list[str]] = {}
    responses = {a.response.id: a.response for a in linked.answers.values() if a.response is not None}
    for a in linked.answers.values():
        for r in a.possible:
            responses[r.id] = r
    for r in linked.unlinked:
        responses[r.id] = r
    for rid, response in responses.items():
        if response.outcome != "failed":
            continue
        key = pgnet.failure_key(response)
        if rid in owners:
            names = jobs_by_key.setdefault(key, [])
            name = database.job_for_cron(out, owners[rid])
            if name not in names:
                names.append(name)
        for cron in unplaced.get(rid, ()):
            names = candidates_by_key.setdefault(key, [])
            name = database.job_for_cron(out, cron)
            if name not in names:
                names.append(name)
    for key, count in groups:
        out.failure_counts.append(
            replace(count, jobs=tuple(jobs_by_key.get(key, [])), candidates=tuple(candidates_by_key.get(key, [])))
        )
    out.aggregated.add("pg_net")


# --- history sources outside the database ------------------------------------------------------------------


def read_external(
    jobs: Sequence[JobData],
    runbook: Runbook,
    env: Environment,
    now: datetime,
    until: datetime | None,
    limit: int,
    lookback: dict[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """The runs of every job whose `history` names a source outside the database (GitHub Actions, Vercel,
    Supabase), one read per source for all the jobs naming it. Runs and notes join the job's own; the facts that
    are not runs (a workflow disabled for inactivity) are returned by job, for the root causes. A source that is
    missing or fails is an error note on each of its jobs, never the end of the collection. `lookback`: seconds
    to read before a job's window too (`lookbacks`)."""
    named: dict[str, list[JobData]] = {}
    for data in jobs:
        for name in data.spec.history.external:
            named.setdefault(name, []).append(data)
    facts: dict[str, dict[str, Any]] = {}
    if not named:
        return facts
    from cronctl.sources.external.base import ExternalQuery

    for name, users in named.items():
        starts = [
            d.window_start - timedelta(seconds=(lookback or {}).get(d.spec.name, 0.0))
            for d in users
            if d.window_start is not None
        ]
        query = ExternalQuery(
            runbook=runbook,
            env=env,
            jobs=[d.spec for d in users],
            since=min(starts, default=now - timedelta(seconds=HISTORY_WINDOW)),
            now=now,
            until=until,
            timeout=_external_timeout(runbook, name, ExternalQuery.timeout),
            limit=limit,
        )
        read = _read_external_source(name, query)
        for data in users:
            job = data.spec.name
            data.runs.extend(_relabel(read.runs.get(job, []), job))
            data.notes.append(read.notes.get(job) or SourceNote(name, "error", f"{name}: no answer for job '{job}'"))
            said = read.facts.get(job)
            if not said:
                continue
            merged = facts.setdefault(job, {})
            for key, value in said.items():
                if key == "token":  # each source's own: a job reading two vendors may have two tokens unusable
                    merged.setdefault("tokens", []).append(value)
                else:
                    merged[key] = value
    return facts


def lookbacks(runbook: Runbook, jobs: Sequence[JobData], now: datetime) -> dict[str, float]:
    """A vendor answers only for the window asked (pg_cron's walk has no such bound): ask one interval and grace
    more, so the run before a dropped slot is seen (`evaluate.health.lookback`)."""
    from cronctl.evaluate.health import lookback

    return {d.spec.name: lookback(d.spec, now, runbook.vendors) for d in jobs if d.spec.history.external}


def _read_external_source(name: str, query: ExternalQuery) -> ExternalRead:
    from cronctl.sources import external
    from cronctl.sources.external.base import ExternalRead

    try:
        return external.source(name).read(query)
    except Exception as exc:  # a missing or broken source is a note on its jobs, never the end of a collection
        why = exc.message if isinstance(exc, CronctlError) else f"{name} history: {type(exc).__name__}: {exc}"
        line = " ".join(why.split())
        return ExternalRead(notes={job.name: SourceNote(name, "error", line) for job in query.jobs})


def _external_timeout(runbook: Runbook, name: str, default: float) -> float:
    """The runbook's own deadline for a vendor's reads (`[vercel] timeout`), else the interface's."""
    timeout = getattr(runbook.vendors.get(name), "timeout", None)
    return float(timeout) if isinstance(timeout, (int, float)) else default


def _relabel(runs: Sequence[Run], job: str) -> list[Run]:
    return [r if r.job == job else replace(r, job=job) for r in runs]


# --- one job's history (`logs`, `trigger --verify`, locks) ----------------------------------------------------


class _Lazy:
    """A read-only connection opened on first use; the open error is remembered, not retried."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._conn: Any = None
        self._error: CronctlError | None = None

    def get(self) -> Any:
        if self._error is not None:
            raise self._error
        if self._conn is None:
            try:
                self._conn = self._opener()
            except CronctlError as exc:
                self._error = exc
                raise
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._opener is not _given:
            self._conn.close()


def _given() -> Any:  # marker: the caller owns the connection
    return None


def collect_history(
    inv_or_conn: Any,
    runbook: Runbook,
    env: Environment,
    job: JobSpec,
    limit: int = 20,
    since: datetime | None = None,
    *,
    failed_only: bool = False,
    now: datetime | None = None,
) -> HistoryResult:
    """Every source of `job`'s history, through the same collection triage judges from (the same linking of
    pg_net answers, the same outcome rules). `inv_or_conn` is a command context (connects when needed) or a
    connection the caller owns."""
    if not database_uses(runbook, [job], history_only=True):
        return _without_database(runbook, env, job, limit, since, now)
    if hasattr(inv_or_conn, "connect") and hasattr(inv_or_conn, "runbook"):
        lazy = _Lazy(lambda: inv_or_conn.connect(read_only=True, autocommit=True))
    else:
        lazy = _Lazy(_given)
        lazy._conn = inv_or_conn
    result = HistoryResult(job=job.name)
    try:
        try:
            conn = lazy.get()
        except CronctlError as exc:
            # The sources outside the database still answer: their runs, under the database's error.
            if job.history.health or job.history.external:
                result = _without_database(runbook, env, job, limit, since, now)
            result.sources.insert(0, SourceNote("database", "error", exc.message, runs=0))
            return result
        try:
            _from_collection(result, conn, runbook, env, job, limit, since, failed_only, now)
        except CronctlError as exc:
            result.sources.append(SourceNote("database", "error", exc.message, runs=0))
    finally:
        lazy.close()
    return result


def _from_collection(
    result: HistoryResult,
    conn: Any,
    runbook: Runbook,
    env: Environment,
    job: JobSpec,
    limit: int,
    since: datetime | None,
    failed_only: bool,
    now: datetime | None,
) -> None:
    from cronctl.evaluate import pgnet_link

    at = now or datetime.now(UTC)
    window = max((at - since).total_seconds(), 60.0) if since is not None else HISTORY_WINDOW
    per_job = min(max(limit, 100) * (RUN_LOG_FAILED_FACTOR if failed_only else 1), 2000)
    collected = collect(
        conn,
        runbook,
        env,
        [job],
        at,
        window,
        runbook.connection.statement_timeout,
        until=now,
        history_only=True,
        runs_per_job=per_job,
    )
    data = collected.jobs[job.name]
    cron = cron_name(job)
    if cron and cron in collected.cron_jobs:
        result.function = pgnet_link.target_function(collected.cron_jobs[cron][1])
    _fill(result, data, limit, since, failed_only)


def _fill(result: HistoryResult, data: JobData, limit: int, since: datetime | None, failed_only: bool) -> None:
    """The job's runs, newest first and filtered, and each source's note with how many runs it gave."""
    from cronctl.evaluate.health import merge_sources

    counts: dict[str, int] = {}
    for run in data.runs:
        counts[run.source] = counts.get(run.source, 0) + 1
    for note in data.notes:
        state = "error" if note.state == "timeout" else note.state
        if note.name.startswith("run_log") and state == "not_installed":
            state = "error"  # a mapped table or column that is missing is a runbook or grant problem
        result.sources.append(SourceNote(note.name, state, note.message, runs=counts.get(note.name, 0)))
    merged = merge_sources(data.runs)
    if failed_only:
        merged = [r for r in merged if r.status == "failed"]
    if since is not None:
        merged = [r for r in merged if r.sort_time is None or aware(r.sort_time) >= since]
    result.runs = merged[:limit]
    if not result.sources:
        result.sources.append(SourceNote("runbook", "error", f"job '{result.job}' maps no history source", runs=0))


def _without_database(
    runbook: Runbook, env: Environment, job: JobSpec, limit: int, since: datetime | None, now: datetime | None
) -> HistoryResult:
    """A job recorded only by a health endpoint or by sources outside the database: no connection is needed."""
    result = HistoryResult(job=job.name)
    if not job.history.health and not job.history.external:
        result.sources.append(SourceNote("runbook", "error", f"job '{job.name}' maps no history source", runs=0))
        return result
    at = now or datetime.now(UTC)
    data = JobData(job, window_start=since or at - timedelta(seconds=HISTORY_WINDOW))
    if job.history.health:
        _read_health(data, runbook, env)
    read_external([data], runbook, env, at, now, max(limit, 100), None if since else lookbacks(runbook, [data], at))
    _fill(result, data, limit, since, failed_only=False)
    return result


def _read_health(data: JobData, runbook: Runbook, env: Environment) -> None:
    from cronctl.db import translate
    from cronctl.sources.health import fetch_health

    job = data.spec
    assert job.history.health is not None
    health_spec = runbook.health[job.history.health]
    try:
        checks = fetch_health(health_spec, env)
        key = next((k for k in (job.name, job.history.run_log_key) if k and k in checks), None)
        if key is None:
            raise SourceUnavailable(f"health.{health_spec.name}: no check named '{job.name}' in its answer")
    except CronctlError as exc:
        data.notes.append(SourceNote("health", "error", exc.message))
        return
    except Exception as exc:  # one line, this source only
        data.notes.append(SourceNote("health", "error", translate(exc, "health").message))
        return
    data.notes.append(SourceNote("health", "ok"))
    data.runs.extend(_relabel([checks[key]], job.name))
