"""Everything triage reads, in one read-only session and two pipelined round trips.

Round trip 1 asks the catalog what exists (server facts, the scheduler backend, the mapped run-log columns and
whether row-level security may hide their rows from this role);
round trip 2 sends every data check at once. Each statement is followed by its own pipeline Sync: an error or a
statement timeout aborts only that statement's implicit transaction, so one failing check is reported as such
and the others still answer (a savepoint would not help: after an error the server skips every message up to
the next Sync). The session is autocommit with default_transaction_read_only, so each check runs in its own
read-only transaction.
"""

from __future__ import annotations

import contextlib
import re
import select
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronctl.errors import CronctlError, SourceUnavailable
from cronctl.evaluate.attribution import Attribution
from cronctl.evaluate.hygiene import CronRow, HygieneFacts
from cronctl.evaluate.silences import Silence
from cronctl.evaluate.triage import FailureCount
from cronctl.records import Lock, QueuedRequest, Run, SourceNote
from cronctl.runbook.env import Environment
from cronctl.runbook.model import BacklogSpec, JobSpec, Runbook

RUNS_PER_JOB = 100  # newest runs per job: strip, durations, streaks, pg_net linking and failure groups
RUN_LOG_PER_JOB = 100
QUEUE_LIMIT = 2000  # queue rows read (id, method, url only: never headers or bodies, which carry secrets)
TRACKING_LIMIT = 20000
SEND_SLACK = 10.0  # seconds beyond the statement timeouts before a round trip is given up


@dataclass(frozen=True)
class Statement:
    key: str
    query: Any  # str or psycopg.sql.Composed
    params: dict[str, Any] | None = None  # None: the text is sent as written (runbook SQL)
    what: str = ""


@dataclass
class Answer:
    key: str
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: CronctlError | None = None
    timed_out: bool = False
    missing: bool = False  # the table, column or schema does not exist

    @property
    def ok(self) -> bool:
        return self.error is None


class Session:
    """Sends batches of statements in pipeline mode, one Sync each, and counts round trips."""

    def __init__(self, conn: Any, statement_timeout: float) -> None:
        self.conn = conn
        self.statement_timeout = statement_timeout
        self.round_trips = 0

    def run(self, statements: Sequence[Statement]) -> dict[str, Answer]:
        if not statements:
            return {}
        from psycopg import ClientCursor

        cursor = ClientCursor(self.conn)
        texts = [
            s.query if s.params is None and isinstance(s.query, str) else cursor.mogrify(s.query, s.params or {})
            for s in statements
        ]
        pg = self.conn.pgconn
        encoding = self.conn.info.encoding
        deadline = time.monotonic() + self.statement_timeout * len(statements) + SEND_SLACK
        self.round_trips += 1
        import psycopg

        from cronctl.db import translate

        pg.enter_pipeline_mode()
        try:
            for text in texts:
                pg.send_query_params(text.encode(encoding), None)
                pg.pipeline_sync()
            _flush(pg, deadline)
            return {s.key: self._read_one(pg, s, deadline) for s in statements}
        except psycopg.Error as exc:
            # The server went away mid-batch: no check can answer, and that is one line, not a traceback.
            raise translate(exc, "triage") from None
        finally:
            with contextlib.suppress(psycopg.Error):
                pg.exit_pipeline_mode()

    def _read_one(self, pg: Any, statement: Statement, deadline: float) -> Answer:
        from psycopg import errors, pq
        from psycopg.adapt import Transformer

        from cronctl.db import translate

        status = pq.ExecStatus
        answer = Answer(statement.key)
        result = _get(pg, deadline)
        while result is not None and result.status == status.PIPELINE_SYNC:
            result = _get(pg, deadline)  # a stray Sync left by an earlier batch
        if result is None:
            answer.error = SourceUnavailable(f"{statement.what or statement.key}: no answer")
        elif result.status == status.TUPLES_OK:
            tx = Transformer(self.conn)
            tx.set_pgresult(result)
            answer.rows = tx.load_rows(0, result.ntuples, tuple)
            answer.columns = [(result.fname(i) or b"").decode(self.conn.info.encoding) for i in range(result.nfields)]
        elif result.status == status.FATAL_ERROR:
            exc = errors.error_from_result(result, encoding=self.conn.info.encoding)
            answer.error = translate(exc, statement.what or statement.key)
            answer.timed_out = isinstance(exc, (errors.QueryCanceled, errors.LockNotAvailable))
            answer.missing = isinstance(exc, (errors.UndefinedTable, errors.UndefinedColumn, errors.InvalidSchemaName))
        elif result.status != status.COMMAND_OK:
            answer.error = SourceUnavailable(f"{statement.what or statement.key}: {result.status.name}")
        if result is not None:
            while True:  # the end of this statement's results, then its Sync
                tail = _get(pg, deadline)
                if tail is None:
                    continue
                if tail.status == status.PIPELINE_SYNC:
                    break
        return answer


def _flush(pg: Any, deadline: float) -> None:
    while pg.flush() == 1:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceUnavailable("database: could not send the checks in time")
        readable, _, _ = select.select([pg.socket], [pg.socket], [], remaining)
        if readable:
            pg.consume_input()


def _get(pg: Any, deadline: float) -> Any:
    while pg.is_busy():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceUnavailable("database: no answer within the statement timeouts")
        select.select([pg.socket], [], [], remaining)
        pg.consume_input()
    return pg.get_result()


# --- what triage collects ---------------------------------------------------------------------------------


@dataclass
class JobData:
    spec: JobSpec
    runs: list[Run] = field(default_factory=list)
    active: bool | None = None
    notes: list[SourceNote] = field(default_factory=list)
    stuck: set[str] = field(default_factory=set)
    window_start: datetime | None = None
    pg_net: bool = False  # the job's outcomes are pg_net answers

    @property
    def readable(self) -> bool:
        return any(n.state == "ok" for n in self.notes)

    def why_unseen(self) -> str | None:
        bad = [n for n in self.notes if n.state != "ok"]
        if not self.notes:
            return "the runbook maps no history source for this job"
        if bad and not self.readable:
            return "; ".join(f"{n.name}: {n.message or n.state}" for n in bad)
        hidden = [n for n in self.notes if n.hidden]
        if hidden and not self.runs:
            return "; ".join(f"{n.name}: {n.message or n.state}" for n in [*bad, *hidden])
        return None


@dataclass
class Collected:
    now: datetime
    jobs: dict[str, JobData] = field(default_factory=dict)
    facts: Any = None  # platform.ServerFacts | None
    scheduler: Any = None  # platform.SchedulerState | None
    backlogs: dict[str, Answer] = field(default_factory=dict)
    runlog_columns: dict[str, Answer] = field(default_factory=dict)
    locks: list[Lock] = field(default_factory=list)
    lock_errors: list[str] = field(default_factory=list)
    secrets: Answer | None = None
    errors: dict[str, str] = field(default_factory=dict)  # check -> one-line reason
    health_unhealthy: dict[str, list[str]] = field(default_factory=dict)  # endpoint -> missing jobs
    health_errors: dict[str, str] = field(default_factory=dict)
    health_status: dict[str, int] = field(default_factory=dict)  # endpoint -> HTTP status of an error answer
    round_trips: int = 0
    uses_pg_net: bool = False
    uses_pg_cron: bool = False
    # Failures each source aggregated over the whole window [failure_since, now]; `aggregated` names the
    # sources whose aggregate answered (the others fall back to the failed runs among the newest runs).
    failure_since: datetime | None = None
    failure_counts: list[FailureCount] = field(default_factory=list)
    aggregated: set[str] = field(default_factory=set)
    # Judging as of a past time (`triage --at`): rows after it are ignored, present-only facts are not read.
    until: datetime | None = None
    attribution: Attribution | None = None
    tracking: bool | None = None  # request tracking installed (None: not asked, e.g. no pg_net job)
    tracking_note: str | None = None
    queue: list[QueuedRequest] = field(default_factory=list)
    queue_read: bool = False
    net_note: str | None = None  # why pg_net's answers cannot be read, when they cannot
    cron_jobs: dict[str, tuple[bool, str]] = field(default_factory=dict)  # cron job → (active, command)
    secrets_table: str | None = None  # the runbook's secrets table, schema-qualified
    runs_per_net_job: int = RUNS_PER_JOB  # the walk's limit for pg_net jobs (a job that hit it has older runs)
    history_only: bool = False  # read for `logs` / `trigger --verify`: no backlogs, locks, silences or hygiene
    cron_rows: list[CronRow] | None = None  # every cron.job row this role sees (None: not read)
    # Silences in force at `now` from both stores; `silence_notes` say what could not be read (never an error).
    silences: list[Silence] = field(default_factory=list)
    silence_notes: list[str] = field(default_factory=list)
    silence_catalog: Any = None  # sources.silences.SilenceCatalog | None
    hygiene: HygieneFacts | None = None  # None: not read (history only, or judging a past time)


def cron_name(job: JobSpec) -> str | None:
    return job.history.pg_cron or (job.name if job.scheduler == "pg_cron" else None)


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
    runs_per_job: int = RUNS_PER_JOB,
) -> Collected:
    """Read everything triage judges; `since` is the failure window in seconds (per job at least one interval).

    This is the one history path: `logs`, `trigger --verify` and the lock judgement read a job's runs through
    it too (`history_only` skips backlogs, locks and secrets), so every command links and judges alike.
    `until` judges as of a past time: `now` should equal it, and rows after it are ignored.
    """
    from cronctl.evaluate.health import history_window

    session = Session(conn, statement_timeout)
    out = Collected(now=now, failure_since=now - timedelta(seconds=since), until=until, history_only=history_only)
    for job in jobs:
        window = history_window(job, now, since)
        out.jobs[job.name] = JobData(job, window_start=now - timedelta(seconds=window))
    out.uses_pg_cron = any(cron_name(j) for j in jobs)
    out.uses_pg_net = any(cron_name(j) and (j.history.pg_net or j.scheduler == "pg_cron") for j in jobs)
    first = session.run(_catalog_statements(runbook, jobs, out))
    _read_catalog(out, first)
    second = session.run(
        _lock_budget(_data_statements(out, runbook, jobs, history_only, runs_per_job), statement_timeout)
    )
    _read_data(out, runbook, second)
    # Which jobs call pg_net is known once cron.job's commands are read; the platform check follows that.
    out.uses_pg_net = any(d.pg_net or d.spec.history.pg_net for d in out.jobs.values())
    _read_http(out, runbook, env, jobs)
    if not history_only and until is None:
        _read_redis(out, runbook, env, jobs)
    if not history_only:
        _read_local_silences(out, runbook)
    out.round_trips = session.round_trips
    return out


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


def _read_silences(out: Collected, runbook: Runbook, answers: dict[str, Answer]) -> None:
    from cronctl.sources import silences

    answer = answers.get("silences")
    if answer is None:
        return
    if not answer.ok:
        out.silence_notes.append(f"{silences.TABLE}: {_message(answer)}")
        return
    out.silences.extend(silences.parse_active(answer.rows, runbook.name))


def _read_hygiene(out: Collected, answers: dict[str, Answer]) -> None:
    from cronctl.sources import hygiene

    answer = answers.get("hygiene")
    if answer is None:
        return
    row = answer.rows[0] if answer.ok and answer.rows else None
    error = None if answer.ok else _message(answer)
    out.hygiene = hygiene.facts_from(out.facts, row, out.cron_rows, uses_pg_cron=out.uses_pg_cron, error=error)


MIN_LOCK_WAIT_MS = 200


def _lock_budget(statements: list[Statement], statement_timeout: float) -> list[Statement]:
    """One locked table costs one statement timeout per triage, not one per statement that reads it: the
    batch's lock waits share the statement timeout (each check waits at most its share for a lock, then says
    it timed out), while checks that need no lock run as usual."""
    if not statements:
        return statements
    share = max(MIN_LOCK_WAIT_MS, int(statement_timeout * 1000 / len(statements)))
    budget = Statement("lock_budget", _load("triage_lock_budget"), {"ms": str(share)}, "lock wait budget")
    return [budget, *statements]


def _run_logs_used(runbook: Runbook, jobs: Sequence[JobSpec]) -> list[str]:
    return list(dict.fromkeys(j.history.run_log for j in jobs if j.history.run_log))


def _catalog_statements(runbook: Runbook, jobs: Sequence[JobSpec], out: Collected) -> list[Statement]:
    from cronctl.sources import platform, runlog

    # Every check is an index walk over few rows: starting parallel workers (the planner guesses a third of
    # job_run_details for the window's range scan) costs more than it saves. Session-level; read-only allows it.
    statements = [Statement("serial", _load("triage_serial"), None, "session settings")]
    query, params = platform.facts_query()
    statements.append(Statement("facts", query, params, "server facts"))
    query, params = platform.scheduler_query()
    statements.append(Statement("scheduler", query, params, "pg_cron scheduler"))
    for name in _run_logs_used(runbook, jobs):
        query, params = runlog.columns_query(runbook.run_logs[name])
        statements.append(Statement(f"runlog_columns:{name}", query, params, f"run_logs.{name}"))
    if out.uses_pg_net:
        from cronctl.sources import pgnet_tracking

        query, params = pgnet_tracking.tracking_installed_query()
        statements.append(Statement("tracking_installed", query, params, "pg_net request tracking"))
    if not out.history_only:
        from cronctl.sources import silences

        query, params = silences.catalog_query()
        statements.append(Statement("silences_catalog", query, params, "cronctl.silences catalog"))
    return statements


def _read_catalog(out: Collected, answers: dict[str, Answer]) -> None:
    from cronctl.sources import platform

    facts = answers["facts"]
    if not facts.ok:
        assert facts.error is not None
        raise facts.error
    out.facts = platform.parse_facts(facts.rows)
    scheduler = answers["scheduler"]
    if scheduler.ok:
        out.scheduler = platform.parse_scheduler(scheduler.rows)
    else:
        out.errors["scheduler"] = _message(scheduler)
    out.runlog_columns = {k: a for k, a in answers.items() if k.startswith("runlog_columns:")}
    silence_catalog = answers.get("silences_catalog")
    if silence_catalog is not None and silence_catalog.ok:
        from cronctl.sources import silences

        out.silence_catalog = silences.parse_catalog(silence_catalog.rows)
        hidden = out.silence_catalog.why_not_readable()
        if hidden:
            out.silence_notes.append(hidden)
    elif silence_catalog is not None:
        out.silence_notes.append(f"cronctl.silences: {_message(silence_catalog)}")
    tracking = answers.get("tracking_installed")
    if tracking is not None:
        from cronctl.sources import pgnet_tracking

        if tracking.ok:
            state = pgnet_tracking.parse_tracking_installed(tracking.rows)
            out.tracking = state.installed and state.readable
            if state.installed and not state.readable:
                out.tracking_note = f"request tracking is installed but not readable by role {out.facts.role}"
            elif state.installed and not state.trigger_enabled:
                out.tracking_note = (
                    "request tracking is installed but its trigger does not fire (an extension upgrade may have "
                    "recreated net.http_request_queue): run `cronctl pgcron track install` again"
                )
            elif not state.installed:
                out.tracking_note = (
                    "request tracking is not installed: `cronctl pgcron track install` links answers exactly"
                )
        else:
            out.tracking = False
            out.tracking_note = _message(tracking)


def _message(answer: Answer) -> str:
    return answer.error.message if answer.error is not None else "failed"


def _cron_names(jobs: Sequence[JobSpec]) -> list[str]:
    return list(dict.fromkeys(n for n in (cron_name(j) for j in jobs) if n))


def net_readable(facts: Any) -> tuple[bool, str | None]:
    """Can this role read pg_net's answers? (False, why) names the missing piece and the grant."""
    if not facts.net_response_table and not facts.net_schema:
        return False, "pg_net is not installed (no net._http_response)"
    role = facts.role
    if not getattr(facts, "net_usage", True):
        return False, (
            f"pg_net's answers are not visible to role {role}: needs GRANT USAGE ON SCHEMA net TO {role}; "
            f"GRANT SELECT ON net._http_response, net.http_request_queue TO {role}"
        )
    if not facts.net_response_table:
        return False, "pg_net is not installed (no net._http_response)"
    if not getattr(facts, "net_response_readable", True):
        return (
            False,
            f"net._http_response is not visible to role {role}: needs GRANT SELECT ON net._http_response TO {role}",
        )
    return True, None


def _data_statements(
    out: Collected, runbook: Runbook, jobs: Sequence[JobSpec], history_only: bool, runs_per_job: int
) -> list[Statement]:
    from cronctl.sources import pgcron, pgnet, pgnet_tracking, platform, runlog

    statements: list[Statement] = []
    facts = out.facts
    names = _cron_names(jobs)
    readable, out.net_note = net_readable(facts) if out.uses_pg_net else (False, None)
    if names and facts.cron_schema:
        statements.append(Statement("cron_jobs", _load("triage_cron_jobs"), {}, "cron.job"))
        wrapped = [n for n in (cron_name(j) for j in jobs if j.history.pg_net) if n]
        query, params = pgcron.recent_runs_query(
            names, runs_per_job, with_net=readable, until=out.until, net_jobnames=wrapped
        )
        out.runs_per_net_job = max(runs_per_job, pgcron.NET_RUNS_PER_JOB) if readable else runs_per_job
        statements.append(Statement("cron_runs", query, params, "cron.job_run_details"))
        if out.until is None:
            query, params = platform.stuck_runs_query()
            statements.append(Statement("stuck", query, params, "stuck pg_cron runs"))
        query, params = pgcron.failure_groups_query(names, _failure_since(out), out.until)
        statements.append(Statement("failures:pg_cron", query, params, "pg_cron failures in the window"))
    if out.uses_pg_net and readable:
        lower = min((d.window_start for d in out.jobs.values() if d.window_start), default=out.now)
        query, params = pgnet.responses_query(lower, until=out.until)
        statements.append(Statement("net_responses", query, params, "net._http_response"))
        query, params = pgnet.failure_groups_query(_failure_since(out), out.until)
        statements.append(Statement("failures:pg_net", query, params, "pg_net failures in the window"))
        if out.until is None and getattr(facts, "net_queue_readable", True):
            # The queue is a present-tense fact: what waits now says nothing about a past `--at`.
            query, params = pgnet_tracking.queue_query(QUEUE_LIMIT)
            statements.append(Statement("net_queue", query, params, "net.http_request_queue"))
        if out.tracking:
            query, params = pgnet_tracking.tracking_query(lower - timedelta(minutes=5), TRACKING_LIMIT, until=out.until)
            statements.append(Statement("net_tracking", query, params, "pg_net request tracking"))
    columns = out.runlog_columns
    for name in _run_logs_used(runbook, jobs):
        spec = runbook.run_logs[name]
        answer = columns.get(f"runlog_columns:{name}")
        try:
            if answer is None or not answer.ok:
                raise SourceUnavailable(_message(answer) if answer else f"run_logs.{name}: not read")
            runlog.check_columns(spec, answer.rows)
        except CronctlError as exc:
            out.errors[f"run_log:{name}"] = exc.message
            continue
        keys = [
            j.history.run_log_key or (j.name if spec.job_column else "*") for j in jobs if j.history.run_log == name
        ]
        query, params = runlog.recent_runs_query(spec, list(dict.fromkeys(keys)), RUN_LOG_PER_JOB)
        statements.append(Statement(f"run_log:{name}", query, params, f"run_logs.{name}"))
        kind = runlog.order_kind(spec, answer.rows)
        query, params = runlog.failure_groups_query(spec, list(dict.fromkeys(keys)), _failure_since(out), kind)
        statements.append(
            Statement(f"failures:run_log:{name}", query, params, f"run_logs.{name} failures in the window")
        )
    if history_only:
        return statements
    if out.silence_catalog is not None and out.silence_catalog.readable:
        from cronctl.sources import silences

        query, params = silences.active_query(runbook.name, out.now)
        statements.append(Statement("silences", query, params, "cronctl.silences"))
    if out.until is None:  # locks are a present-tense fact: a postmortem `--at` does not judge them
        statements.extend(_lock_statements(runbook, jobs))
        statements.append(Statement("hygiene", _load("hygiene_facts"), {}, "hygiene facts"))
    if runbook.secrets_table is not None:
        statements.append(_secrets_statement(runbook))
    for backlog in _backlogs_for(runbook, jobs):
        statements.append(Statement(f"backlog:{backlog.name}", backlog.sql, None, f"backlog {backlog.name}"))
    return statements


def _failure_since(out: Collected) -> datetime:
    assert out.failure_since is not None
    return out.failure_since


def _load(name: str) -> str:
    from cronctl.queries import load

    return load(name)


def _backlogs_for(runbook: Runbook, jobs: Sequence[JobSpec]) -> list[BacklogSpec]:
    names = {j.name for j in jobs}
    narrowed = len(jobs) < len(runbook.jobs)
    return [b for b in runbook.backlogs.values() if not narrowed or b.job in names]


def _lock_statements(runbook: Runbook, jobs: Sequence[JobSpec]) -> list[Statement]:

    from cronctl.sources import locks

    statements = []
    tables = list(dict.fromkeys(j.lock.table for j in jobs if j.lock and j.lock.backend == "table" and j.lock.table))
    for name in tables:
        spec = runbook.lock_tables[name]
        query, params = locks.table_query(spec)
        statements.append(Statement(f"lock_table:{name}", query, params, f"lock table {spec.table}"))
    if any(j.lock and j.lock.backend == "advisory" for j in jobs):
        statements.append(Statement("advisory", _load("locks_advisory_list"), {}, "advisory locks"))
    return statements


def _secrets_statement(runbook: Runbook) -> Statement:
    from psycopg import sql

    spec = runbook.secrets_table
    assert spec is not None
    query = sql.SQL(_load("triage_secret_placeholders")).format(
        table=sql.Identifier(spec.schema, spec.table),
        key=sql.Identifier(spec.key_column),
        value=sql.Identifier(spec.value_column),
    )
    return Statement("secrets", query, {"prefix": spec.placeholder_prefix}, f"secrets table {spec.table}")


def _read_data(out: Collected, runbook: Runbook, answers: dict[str, Answer]) -> None:
    _read_pg_cron(out, answers)
    _read_run_logs(out, runbook, answers)
    _read_failure_counts(out, runbook, answers)
    _read_locks(out, runbook, answers)
    out.secrets = answers.get("secrets")
    if runbook.secrets_table is not None:
        out.secrets_table = f"{runbook.secrets_table.schema}.{runbook.secrets_table.table}"
    out.backlogs = {k.split(":", 1)[1]: a for k, a in answers.items() if k.startswith("backlog:")}
    _read_silences(out, runbook, answers)
    _read_hygiene(out, answers)


def _note_all(out: Collected, pred: Any, note: SourceNote) -> None:
    for data in out.jobs.values():
        if pred(data.spec):
            data.notes.append(SourceNote(note.name, note.state, note.message))


def is_pg_net_job(spec: JobSpec | None, command: str) -> bool:
    """A job whose outcome is a pg_net answer: its runbook says so, or its command calls net.http_*."""
    from cronctl.evaluate import pgnet_link

    return pgnet_link.uses_pg_net(command) or bool(spec is not None and spec.history.pg_net)


def _read_pg_cron(out: Collected, answers: dict[str, Answer]) -> None:
    from cronctl.sources import pgcron, platform

    uses = lambda job: cron_name(job) is not None  # noqa: E731
    if not out.uses_pg_cron:
        return
    if not out.facts.cron_schema:
        _note_all(
            out,
            uses,
            SourceNote("pg_cron", "not_installed", "pg_cron is not installed in this database (no cron schema)"),
        )
        readable, why = net_readable(out.facts)
        if not readable:
            state = "not_installed" if "not installed" in (why or "") else "error"
            _note_all(out, lambda job: bool(job.history.pg_net), SourceNote("pg_net", state, why))
        return
    jobs_answer = answers["cron_jobs"]
    runs_answer = answers["cron_runs"]
    if not jobs_answer.ok or not runs_answer.ok:
        bad = jobs_answer if not jobs_answer.ok else runs_answer
        _note_all(out, uses, SourceNote("pg_cron", "timeout" if bad.timed_out else "error", _message(bad)))
        return
    visible: dict[str, tuple[bool, str]] = {}
    for jobid, jobname, _schedule, command, active, _user in jobs_answer.rows:
        visible[str(jobname or jobid)] = (bool(active), command or "")
        visible[str(jobid)] = (bool(active), command or "")
    out.cron_jobs = visible
    from cronctl.sources.hygiene import cron_rows

    out.cron_rows = cron_rows(jobs_answer.rows)
    runs = {k: _until(v, out.until) for k, v in pgcron.parse_runs(runs_answer.rows).items()}
    stuck_answer = answers.get("stuck")
    stuck = (
        {r.run_id for r in platform.parse_stuck_runs(stuck_answer.rows)}
        if stuck_answer is not None and stuck_answer.ok
        else set()
    )
    specs = {cron_name(d.spec): d.spec for d in out.jobs.values() if cron_name(d.spec)}
    net_crons = [n for n, (_a, command) in visible.items() if n in runs and is_pg_net_job(specs.get(n), command)]
    for name, spec in specs.items():
        if name and name in visible and name not in net_crons and is_pg_net_job(spec, visible[name][1]):
            net_crons.append(name)
    attribution = _attribute(out, answers, {n: runs.get(n, []) for n in net_crons}, visible, specs)
    role = out.facts.role
    for data in out.jobs.values():
        name = cron_name(data.spec)
        if name is None:
            continue
        if name not in visible:
            hidden = f"no job named '{name}' in cron.job visible to role {role}" + (
                "" if _sees_all(out.facts) else " (pg_cron shows a non-superuser only its own jobs: row-level security)"
            )
            state = "error" if _sees_all(out.facts) else "hidden"
            data.notes.append(SourceNote("pg_cron", state, hidden, hidden=state == "hidden"))
            continue
        data.active = visible[name][0]
        data.notes.append(SourceNote("pg_cron", "ok"))
        own = runs.get(name, [])
        data.stuck = {r.run_id for r in own if r.run_id in stuck and r.run_id}
        data.runs.extend(_relabel(own, data.spec.name))
        if not is_pg_net_job(data.spec, visible[name][1]):
            continue
        data.pg_net = True
        if attribution is None:
            why = out.net_note or out.errors.get("pg_net", "pg_net's answers could not be read")
            state = "not_installed" if "not installed" in why else "error"
            data.notes.append(SourceNote("pg_net", state, why))
            data.runs.extend(_unseen_answers(own, data.spec.name, why))
        else:
            data.notes.append(SourceNote("pg_net", "ok"))
            data.runs.extend(attribution_runs(attribution, name, data.spec.name))


def attribution_runs(attribution: Attribution, cron: str, job: str) -> list[Run]:
    from cronctl.evaluate.attribution import as_runs

    return as_runs(attribution.for_job(cron), job)


def _sees_all(facts: Any) -> bool:
    return bool(facts.superuser or getattr(facts, "bypassrls", False))


def _until(runs: list[Run], until: datetime | None) -> list[Run]:
    if until is None:
        return runs
    return [r for r in runs if r.sort_time is None or _aware(r.sort_time) <= until]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _unseen_answers(runs: Sequence[Run], job: str, why: str) -> list[Run]:
    """pg_cron's `succeeded` for a pg_net job only says the request was queued: without its answer the run's
    outcome is not known."""
    from dataclasses import replace

    return [
        replace(
            r,
            job=job,
            source="pg_net",
            status="unverified",
            finished_at=None,
            message=why,
            raw_status="unverified",
            detail={"attribution": "none", "pg_cron_runid": r.run_id, "how": why, "candidates": []},
        )
        for r in runs
        if r.status == "succeeded"
    ]


def _attribute(
    out: Collected,
    answers: dict[str, Answer],
    runs: dict[str, list[Run]],
    visible: dict[str, tuple[bool, str]],
    specs: dict[str | None, JobSpec],
) -> Attribution | None:
    from cronctl.evaluate import attribution, pgnet_link
    from cronctl.evaluate.triage import net_judge
    from cronctl.sources import pgnet, pgnet_tracking

    answer = answers.get("net_responses")
    if answer is None:
        return None
    if not answer.ok:
        out.errors["pg_net"] = _message(answer)
        return None
    responses = [r for r in pgnet.parse_responses(answer.rows) if out.until is None or _aware(r.created) <= out.until]
    queue_answer = answers.get("net_queue")
    if queue_answer is not None and queue_answer.ok:
        out.queue = pgnet_tracking.parse_queue(queue_answer.rows)
        out.queue_read = True
    elif queue_answer is not None:
        out.errors["pg_net queue"] = _message(queue_answer)
    tracked = None
    tracking_answer = answers.get("net_tracking")
    if tracking_answer is not None and tracking_answer.ok:
        tracked = [
            t
            for t in pgnet_tracking.parse_tracking(tracking_answer.rows)
            if out.until is None or _aware(t.queued_at) <= out.until
        ]
    elif tracking_answer is not None:
        out.tracking_note = _message(tracking_answer)
    commands = {n: visible.get(n, (True, ""))[1] for n in runs}
    timeouts = {n: pgnet_link.net_timeout(c) for n, c in commands.items()}
    # Only a timeout the command itself states is known; a wrapper function (invoke_edge_function(…)) sets its own.
    stated = frozenset(n for n, c in commands.items() if pgnet_link.states_timeout(c))
    urls = {n: pgnet_link.target_url(c) or _function_path(pgnet_link.target_function(c)) for n, c in commands.items()}
    rules = {n: spec.success for n, spec in specs.items() if n is not None}
    linked = attribution.attribute(
        runs,
        responses,
        timeouts,
        out.now,
        net_judge(rules, pgnet.CONTENT_LIMIT),
        tracked=tracked,
        queued=out.queue,
        urls=urls,
        horizon=_later(_horizon(runs, out.runs_per_net_job), _answers_horizon(answer.rows, responses)),
        explicit_timeouts=stated,
    )
    out.attribution = linked
    _read_net_failure_counts(out, answers, linked)
    return linked


def _answers_horizon(rows: Sequence[Any], responses: Sequence[Any]) -> datetime | None:
    """When the read of net._http_response stopped at its row limit, older answers were not read."""
    from cronctl.sources.pgnet import DEFAULT_LIMIT

    if len(rows) < DEFAULT_LIMIT or not responses:
        return None
    return min(_aware(r.created) for r in responses)


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
        min(_aware(r.started_at) for r in job_runs if r.started_at is not None)
        for job_runs in runs.values()
        if len(job_runs) >= limit and any(r.started_at is not None for r in job_runs)
    ]
    return max(edges, default=None)


def _read_net_failure_counts(out: Collected, answers: dict[str, Answer], linked: Attribution) -> None:
    """The window's failed responses; each group names the jobs that own them (exact or inferred links) and,
    apart, the jobs that could own the answers no run could be given."""
    from dataclasses import replace

    from cronctl.sources import pgnet

    answer = answers.get("failures:pg_net")
    if answer is None:
        return
    if not answer.ok:
        out.errors["failures:pg_net"] = _message(answer)
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
            name = _job_for_cron(out, owners[rid])
            if name not in names:
                names.append(name)
        for cron in unplaced.get(rid, ()):
            names = candidates_by_key.setdefault(key, [])
            name = _job_for_cron(out, cron)
            if name not in names:
                names.append(name)
    for key, count in pgnet.parse_failure_groups(answer.rows):
        out.failure_counts.append(
            replace(count, jobs=tuple(jobs_by_key.get(key, [])), candidates=tuple(candidates_by_key.get(key, [])))
        )
    out.aggregated.add("pg_net")


def _job_for_cron(out: Collected, cron: str) -> str:
    return next((d.spec.name for d in out.jobs.values() if cron_name(d.spec) == cron), cron)


def _read_failure_counts(out: Collected, runbook: Runbook, answers: dict[str, Answer]) -> None:
    """pg_cron's and the run-log tables' failures aggregated over the window, labelled with runbook job names."""
    from dataclasses import replace

    from cronctl.sources import pgcron, runlog

    answer = answers.get("failures:pg_cron")
    if answer is not None and not answer.ok:
        out.errors["failures:pg_cron"] = _message(answer)
    elif answer is not None:
        for count in pgcron.parse_failure_groups(answer.rows):
            out.failure_counts.append(replace(count, jobs=tuple(_job_for_cron(out, j) for j in count.jobs)))
        out.aggregated.add("pg_cron")
    for key, answer in answers.items():
        if not key.startswith("failures:run_log:"):
            continue
        name = key.removeprefix("failures:run_log:")
        if not answer.ok:
            out.errors[key] = _message(answer)
            continue
        spec = runbook.run_logs[name]
        names = {
            d.spec.history.run_log_key or (d.spec.name if spec.job_column else "*"): d.spec.name
            for d in out.jobs.values()
            if d.spec.history.run_log == name
        }
        for count in runlog.parse_failure_groups(spec, answer.rows):
            out.failure_counts.append(replace(count, jobs=tuple(names.get(j, j) for j in count.jobs)))
        out.aggregated.add(runlog.source_name(spec))


def _relabel(runs: Sequence[Run], job: str) -> list[Run]:
    from dataclasses import replace

    return [r if r.job == job else replace(r, job=job) for r in runs]


def _read_run_logs(out: Collected, runbook: Runbook, answers: dict[str, Answer]) -> None:
    from cronctl.sources import runlog

    parsed: dict[str, dict[str, list[Run]]] = {}  # each table's answer parsed once, not once per job reading it
    for data in out.jobs.values():
        name = data.spec.history.run_log
        if not name:
            continue
        spec = runbook.run_logs[name]
        source = runlog.source_name(spec)
        if f"run_log:{name}" in out.errors:
            message = out.errors[f"run_log:{name}"]
            state = "not_installed" if "does not exist" in message else "error"
            data.notes.append(SourceNote(source, state, message))
            continue
        answer = answers.get(f"run_log:{name}")
        if answer is None or not answer.ok:
            state = "timeout" if answer is not None and answer.timed_out else "error"
            data.notes.append(SourceNote(source, state, _message(answer) if answer else "not read"))
            continue
        key = data.spec.history.run_log_key or (data.spec.name if spec.job_column else "*")
        if name not in parsed:
            parsed[name] = runlog.parse_runs(spec, answer.rows)
        runs = parsed[name].get(key, [])
        data.runs.extend(_relabel(runs, data.spec.name))
        columns = out.runlog_columns.get(f"runlog_columns:{name}")
        role = runlog.rls_hides_from(columns.rows) if columns is not None and not runs else None
        if role:
            data.notes.append(SourceNote(source, "ok", runlog.rls_note(spec, role), hidden=True))
        else:
            data.notes.append(SourceNote(source, "ok"))


def _read_locks(out: Collected, runbook: Runbook, answers: dict[str, Answer]) -> None:
    from cronctl.sources import locks

    for key, answer in answers.items():
        if key.startswith("lock_table:"):
            name = key.split(":", 1)[1]
            if not answer.ok:
                out.lock_errors.append(_message(answer))
                continue
            spec = runbook.lock_tables[name]
            jobs_by_key = locks.table_jobs(runbook, name)
            out.locks.extend(locks.parse_table(answer.rows, spec, jobs_by_key))
        elif key == "advisory":
            if not answer.ok:
                out.lock_errors.append(_message(answer))
                continue
            out.locks.extend(_advisory_locks(runbook, answer.rows))


def _advisory_locks(runbook: Runbook, rows: list[tuple[Any, ...]]) -> list[Lock]:
    from cronctl.sources import locks

    return locks.parse_advisory(rows, locks.advisory_jobs(runbook))


def _read_http(out: Collected, runbook: Runbook, env: Environment, jobs: Sequence[JobSpec]) -> None:
    from cronctl.sources.health import fetch_health

    endpoints = list(dict.fromkeys(j.history.health for j in jobs if j.history.health))
    for name in endpoints:
        assert name is not None
        spec = runbook.health[name]
        users = [out.jobs[j.name] for j in jobs if j.history.health == name]
        try:
            checks = fetch_health(spec, env)
        except CronctlError as exc:
            out.health_errors[name] = exc.message
            answered = re.search(r": HTTP (\d{3})\b", exc.message)
            if answered:
                out.health_status[name] = int(answered.group(1))
            for data in users:
                data.notes.append(SourceNote("health", "error", exc.message))
            continue
        missing: list[str] = []
        for data in users:
            keys = [k for k in (data.spec.name, data.spec.history.run_log_key, cron_name(data.spec)) if k]
            run = next((checks[k] for k in keys if k in checks), None)
            if run is None:
                data.notes.append(SourceNote("health", "error", f"health.{name}: no check for this job"))
                continue
            data.notes.append(SourceNote("health", "ok"))
            data.runs.append(_relabel([run], data.spec.name)[0])
            if run.detail.get("missing") or run.detail.get("ok") is False:
                missing.append(data.spec.name)
        if missing:
            out.health_unhealthy[name] = missing


def _read_redis(out: Collected, runbook: Runbook, env: Environment, jobs: Sequence[JobSpec]) -> None:
    from cronctl.sources import locks

    keys = {j.name: k for j, k in ((j, locks.redis_keys(runbook).get(j.name)) for j in jobs) if k}
    if not keys:
        return
    url = env.resolve(runbook.connection.redis_url, "connection.redis_url")
    if not url:
        out.lock_errors.append("Redis locks: connection.redis_url is not set")
        return
    try:
        client = locks.redis_connect(url)
        try:
            out.locks.extend(locks.read_redis(client, keys, out.now))
        finally:
            client.close()
    except CronctlError as exc:
        out.lock_errors.append(exc.message)


def utcnow() -> datetime:
    return datetime.now(UTC)
