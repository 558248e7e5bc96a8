"""The database reads of one collection (triage, `logs`, `trigger --verify`, locks), in one read-only session
and two pipelined round trips; `cronctl.services.history` coordinates them. This module builds the statements
and turns their rows into records; it never judges (linking pg_net answers to runs is evaluation's).

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronctl.errors import CronctlError, SourceUnavailable
from cronctl.records import (
    Collected,
    FailureCount,
    JobData,
    NetResponse,
    Run,
    SourceNote,
    StatementAnswer,
    TrackedRequest,
    aware,
    cron_name,
)
from cronctl.runbook.env import Environment
from cronctl.runbook.model import BacklogSpec, JobSpec, Runbook

if TYPE_CHECKING:
    from cronctl.sources.locks.base import LockBackend, LockQuery, LockStatement
    from cronctl.sources.pgnet import FailureKey

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


class Session:
    """Sends batches of statements in pipeline mode, one Sync each, and counts round trips."""

    def __init__(self, conn: Any, statement_timeout: float) -> None:
        self.conn = conn
        self.statement_timeout = statement_timeout
        self.round_trips = 0

    def run(self, statements: Sequence[Statement]) -> dict[str, StatementAnswer]:
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

    def _read_one(self, pg: Any, statement: Statement, deadline: float) -> StatementAnswer:
        from psycopg import errors, pq
        from psycopg.adapt import Transformer

        from cronctl.db import translate

        status = pq.ExecStatus
        answer = StatementAnswer(statement.key)
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


# --- statements and their answers ------------------------------------------------------------------------


def read_silences(out: Collected, runbook: Runbook, answers: dict[str, StatementAnswer]) -> None:
    from cronctl.sources import silences

    answer = answers.get("silences")
    if answer is None:
        return
    if not answer.ok:
        out.silence_notes.append(f"{silences.TABLE}: {_message(answer)}")
        return
    out.silences.extend(silences.parse_active(answer.rows, runbook.name))


def read_hygiene(out: Collected, answers: dict[str, StatementAnswer]) -> None:
    from cronctl.sources import hygiene

    answer = answers.get("hygiene")
    if answer is None:
        return
    row = answer.rows[0] if answer.ok and answer.rows else None
    error = None if answer.ok else _message(answer)
    out.hygiene = hygiene.facts_from(out.facts, row, out.cron_rows, uses_pg_cron=out.uses_pg_cron, error=error)


MIN_LOCK_WAIT_MS = 200


def data_statements(
    out: Collected, runbook: Runbook, jobs: Sequence[JobSpec], history_only: bool, runs_per_job: int, timeout: float
) -> list[Statement]:
    """Round trip 2: every data check the catalog says can answer (`timeout`: the statement timeout)."""
    return _lock_budget(_data_statements(out, runbook, jobs, history_only, runs_per_job), timeout)


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


def catalog_statements(runbook: Runbook, jobs: Sequence[JobSpec], out: Collected) -> list[Statement]:
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


def read_catalog(out: Collected, answers: dict[str, StatementAnswer]) -> None:
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


def _message(answer: StatementAnswer) -> str:
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
        statements.extend(_lock_statements(runbook, jobs, out.now))
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


def _lock_reads(jobs: Sequence[JobSpec], now: datetime) -> list[tuple[LockBackend, LockQuery]]:
    """Each registered lock backend some of `jobs` keep their lock in, with the query for those jobs."""
    from cronctl.sources import locks
    from cronctl.sources.locks.base import LockQuery

    reads = []
    for name in locks.names():
        locked = [j for j in jobs if j.lock is not None and j.lock.backend == name]
        if locked:
            reads.append((locks.backend(name), LockQuery(locked, whole_runbook=False, now=now)))
    return reads


def _batched_lock_statements(
    runbook: Runbook, jobs: Sequence[JobSpec], now: datetime
) -> list[tuple[str, LockStatement]]:
    """(answer key, statement) of every backend whose lock reads are database statements."""
    from cronctl.sources.locks.base import BatchedReads

    return [
        (f"lock:{statement.label}", statement)
        for backend, query in _lock_reads(jobs, now)
        if isinstance(backend, BatchedReads)
        for statement in backend.statements(runbook, query)
    ]


def _lock_statements(runbook: Runbook, jobs: Sequence[JobSpec], now: datetime) -> list[Statement]:
    # In the data batch, so they share its lock-wait budget (a locked lock table costs one share, not a timeout).
    return [Statement(key, s.query, s.params, s.what) for key, s in _batched_lock_statements(runbook, jobs, now)]


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


def _note_all(out: Collected, pred: Any, note: SourceNote) -> None:
    for data in out.jobs.values():
        if pred(data.spec):
            data.notes.append(SourceNote(note.name, note.state, note.message))


@dataclass
class CronRead:
    """pg_cron's answers as records: each cron.job this role sees, by name and by id (active, command), each
    cron job's newest runs, and the runids left in a running status by a backend that is gone."""

    visible: dict[str, tuple[bool, str]]
    runs: dict[str, list[Run]]
    stuck: set[str | None]


def read_pg_cron(out: Collected, answers: dict[str, StatementAnswer]) -> CronRead | None:
    """pg_cron's jobs and runs; None when there are none to give out (each pg_cron job then has a note why)."""
    from cronctl.sources import pgcron, platform
    from cronctl.sources.hygiene import cron_rows

    uses = lambda job: cron_name(job) is not None  # noqa: E731
    if not out.uses_pg_cron:
        return None
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
        return None
    jobs_answer = answers["cron_jobs"]
    runs_answer = answers["cron_runs"]
    if not jobs_answer.ok or not runs_answer.ok:
        bad = jobs_answer if not jobs_answer.ok else runs_answer
        _note_all(out, uses, SourceNote("pg_cron", "timeout" if bad.timed_out else "error", _message(bad)))
        return None
    visible: dict[str, tuple[bool, str]] = {}
    for jobid, jobname, _schedule, command, active, _user in jobs_answer.rows:
        visible[str(jobname or jobid)] = (bool(active), command or "")
        visible[str(jobid)] = (bool(active), command or "")
    out.cron_jobs = visible
    out.cron_rows = cron_rows(jobs_answer.rows)
    runs = {k: _until(v, out.until) for k, v in pgcron.parse_runs(runs_answer.rows).items()}
    stuck_answer = answers.get("stuck")
    stuck = (
        {r.run_id for r in platform.parse_stuck_runs(stuck_answer.rows)}
        if stuck_answer is not None and stuck_answer.ok
        else set()
    )
    return CronRead(visible, runs, stuck)


def assign_pg_cron(out: Collected, data: JobData, read: CronRead) -> bool:
    """Give one pg_cron job its runs, state and note; False when cron.job does not show it to this role."""
    name = cron_name(data.spec)
    assert name is not None
    if name not in read.visible:
        role = out.facts.role
        hidden = f"no job named '{name}' in cron.job visible to role {role}" + (
            "" if _sees_all(out.facts) else " (pg_cron shows a non-superuser only its own jobs: row-level security)"
        )
        state = "error" if _sees_all(out.facts) else "hidden"
        data.notes.append(SourceNote("pg_cron", state, hidden, hidden=state == "hidden"))
        return False
    data.active = read.visible[name][0]
    data.notes.append(SourceNote("pg_cron", "ok"))
    own = read.runs.get(name, [])
    data.stuck = {r.run_id for r in own if r.run_id in read.stuck and r.run_id}
    data.runs.extend(_relabel(own, data.spec.name))
    return True


def _sees_all(facts: Any) -> bool:
    return bool(facts.superuser or getattr(facts, "bypassrls", False))


def _until(runs: list[Run], until: datetime | None) -> list[Run]:
    if until is None:
        return runs
    return [r for r in runs if r.sort_time is None or aware(r.sort_time) <= until]


@dataclass
class NetRead:
    """pg_net's answers and cronctl's request tracking as records, for linking answers to runs."""

    responses: list[NetResponse]
    tracked: list[TrackedRequest] | None  # None: tracking was not read
    cut_at: datetime | None  # the read stopped at its row limit: answers older than this were not read


def read_pg_net(out: Collected, answers: dict[str, StatementAnswer]) -> NetRead | None:
    """pg_net's answers, its queue (into `out.queue`) and the tracked requests; None when the answers were not
    asked for or could not be read (`out.errors` says why)."""
    from cronctl.sources import pgnet, pgnet_tracking

    answer = answers.get("net_responses")
    if answer is None:
        return None
    if not answer.ok:
        out.errors["pg_net"] = _message(answer)
        return None
    responses = [r for r in pgnet.parse_responses(answer.rows) if out.until is None or aware(r.created) <= out.until]
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
            if out.until is None or aware(t.queued_at) <= out.until
        ]
    elif tracking_answer is not None:
        out.tracking_note = _message(tracking_answer)
    return NetRead(responses, tracked, _answers_horizon(answer.rows, responses))


def _answers_horizon(rows: Sequence[Any], responses: Sequence[Any]) -> datetime | None:
    """When the read of net._http_response stopped at its row limit, older answers were not read."""
    from cronctl.sources.pgnet import DEFAULT_LIMIT

    if len(rows) < DEFAULT_LIMIT or not responses:
        return None
    return min(aware(r.created) for r in responses)


def job_for_cron(out: Collected, cron: str) -> str:
    """The runbook job a cron.job name belongs to (the name itself when no job maps it)."""
    return next((d.spec.name for d in out.jobs.values() if cron_name(d.spec) == cron), cron)


def read_net_failures(
    out: Collected, answers: dict[str, StatementAnswer]
) -> list[tuple[FailureKey, FailureCount]] | None:
    """pg_net's failed answers over the window, counted by (status, message); None when not asked for or not
    readable (`out.errors` says why)."""
    from cronctl.sources import pgnet

    answer = answers.get("failures:pg_net")
    if answer is None:
        return None
    if not answer.ok:
        out.errors["failures:pg_net"] = _message(answer)
        return None
    return pgnet.parse_failure_groups(answer.rows)


def read_failure_counts(out: Collected, runbook: Runbook, answers: dict[str, StatementAnswer]) -> None:
    """pg_cron's and the run-log tables' failures aggregated over the window, labelled with runbook job names."""
    from dataclasses import replace

    from cronctl.sources import pgcron, runlog

    answer = answers.get("failures:pg_cron")
    if answer is not None and not answer.ok:
        out.errors["failures:pg_cron"] = _message(answer)
    elif answer is not None:
        for count in pgcron.parse_failure_groups(answer.rows):
            out.failure_counts.append(replace(count, jobs=tuple(job_for_cron(out, j) for j in count.jobs)))
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


def read_run_logs(out: Collected, runbook: Runbook, answers: dict[str, StatementAnswer]) -> None:
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


def read_locks(out: Collected, runbook: Runbook, answers: dict[str, StatementAnswer]) -> None:
    """The locks of every backend whose reads went in the data batch, each parsed by its own backend."""
    jobs = [d.spec for d in out.jobs.values()]
    for key, statement in _batched_lock_statements(runbook, jobs, out.now):
        answer = answers.get(key)
        if answer is None:
            continue  # not asked (history only, or judging a past time)
        if not answer.ok:
            out.lock_errors.append(_message(answer))
            continue
        try:
            out.locks.extend(statement.parse(answer.rows))
        except CronctlError as exc:
            out.lock_errors.append(exc.message)


def read_health(out: Collected, runbook: Runbook, env: Environment, jobs: Sequence[JobSpec]) -> None:
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


def read_other_locks(out: Collected, runbook: Runbook, env: Environment, jobs: Sequence[JobSpec], conn: Any) -> None:
    """The locks of every backend read outside the data batch (Redis, anything not a database statement),
    through the backend's own `read`; `conn` is the session's connection, lent to a backend that asks for it."""
    from cronctl.sources.locks.base import BatchedReads, LockSources

    def no_connection() -> Any:
        raise SourceUnavailable("locks: no database connection")

    sources = LockSources(runbook, env, no_connection, no_connection, shared={"db": conn} if conn is not None else {})
    try:
        for backend, query in _lock_reads(jobs, out.now):
            if isinstance(backend, BatchedReads) and conn is not None:
                continue  # read in the data batch (without a connection, its `read` says why it cannot be)
            try:
                reads = backend.read(sources, query)
            except Exception as exc:  # a broken backend is one error line, never the end of the triage
                why = exc.message if isinstance(exc, CronctlError) else f"{type(exc).__name__}: {exc}"
                out.lock_errors.append(f"{backend.name} locks: {' '.join(why.split())}")
                continue
            for answer in reads:
                out.locks.extend(answer.locks)
                if answer.error is not None:
                    out.lock_errors.append(answer.error)
    finally:
        sources.close()  # the backends' own clients; the shared connection stays open
