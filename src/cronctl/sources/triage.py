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
import select
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronctl.errors import CronctlError, SourceUnavailable
from cronctl.evaluate.triage import FailureCount
from cronctl.records import Lock, Run
from cronctl.runbook.env import Environment
from cronctl.runbook.model import BacklogSpec, JobSpec, Runbook

RUNS_PER_JOB = 100  # newest runs per job: strip, durations, streaks, pg_net linking and failure groups
RUN_LOG_PER_JOB = 100
PG_NET_SLACK = 2.0
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
class SourceNote:
    name: str
    state: str  # ok | not_installed | error | timeout
    message: str | None = None
    hidden: bool = False  # answered, but row-level security may hide this job's rows from the role

    def to_json(self) -> dict[str, Any]:
        return {"source": self.name, "state": self.state, "message": self.message}


@dataclass
class JobData:
    spec: JobSpec
    runs: list[Run] = field(default_factory=list)
    active: bool | None = None
    notes: list[SourceNote] = field(default_factory=list)
    stuck: set[str] = field(default_factory=set)
    window_start: datetime | None = None

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
    unlinked_failures: list[Run] = field(default_factory=list)
    health_unhealthy: dict[str, list[str]] = field(default_factory=dict)  # endpoint -> missing jobs
    health_errors: dict[str, str] = field(default_factory=dict)
    round_trips: int = 0
    uses_pg_net: bool = False
    uses_pg_cron: bool = False
    # Failures each source aggregated over the whole window [failure_since, now]; `aggregated` names the
    # sources whose aggregate answered (the others fall back to the failed runs among the newest runs).
    failure_since: datetime | None = None
    failure_counts: list[FailureCount] = field(default_factory=list)
    aggregated: set[str] = field(default_factory=set)


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
) -> Collected:
    """Read everything triage judges; `since` is the failure window in seconds (per job at least one interval)."""
    from cronctl.evaluate.health import history_window

    session = Session(conn, statement_timeout)
    out = Collected(now=now, failure_since=now - timedelta(seconds=since))
    for job in jobs:
        window = history_window(job, now, since)
        out.jobs[job.name] = JobData(job, window_start=now - timedelta(seconds=window))
    out.uses_pg_cron = any(cron_name(j) for j in jobs)
    out.uses_pg_net = any(j.history.pg_net and cron_name(j) for j in jobs)
    first = session.run(_catalog_statements(runbook, jobs))
    _read_catalog(out, first)
    second = session.run(_data_statements(out, runbook, jobs))
    _read_data(out, runbook, second)
    _read_http(out, runbook, env, jobs)
    _read_redis(out, runbook, env, jobs)
    out.round_trips = session.round_trips
    return out


def _run_logs_used(runbook: Runbook, jobs: Sequence[JobSpec]) -> list[str]:
    return list(dict.fromkeys(j.history.run_log for j in jobs if j.history.run_log))


def _catalog_statements(runbook: Runbook, jobs: Sequence[JobSpec]) -> list[Statement]:
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


def _message(answer: Answer) -> str:
    return answer.error.message if answer.error is not None else "failed"


def _cron_names(jobs: Sequence[JobSpec]) -> list[str]:
    return list(dict.fromkeys(n for n in (cron_name(j) for j in jobs) if n))


def _data_statements(out: Collected, runbook: Runbook, jobs: Sequence[JobSpec]) -> list[Statement]:
    from cronctl.sources import pgcron, pgnet, platform, runlog

    statements: list[Statement] = []
    facts = out.facts
    names = _cron_names(jobs)
    if names and facts.cron_schema:
        statements.append(Statement("cron_jobs", _load("triage_cron_jobs"), {}, "cron.job"))
        query, params = pgcron.recent_runs_query(names, RUNS_PER_JOB)
        statements.append(Statement("cron_runs", query, params, "cron.job_run_details"))
        query, params = platform.stuck_runs_query()
        statements.append(Statement("stuck", query, params, "stuck pg_cron runs"))
        query, params = pgcron.failure_groups_query(names, _failure_since(out))
        statements.append(Statement("failures:pg_cron", query, params, "pg_cron failures in the window"))
    if out.uses_pg_net and facts.net_response_table:
        lower = min((d.window_start for d in out.jobs.values() if d.window_start), default=out.now)
        query, params = pgnet.responses_query(lower)
        statements.append(Statement("net_responses", query, params, "net._http_response"))
        query, params = pgnet.failure_groups_query(_failure_since(out))
        statements.append(Statement("failures:pg_net", query, params, "pg_net failures in the window"))
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
    statements.extend(_lock_statements(runbook, jobs))
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
    out.backlogs = {k.split(":", 1)[1]: a for k, a in answers.items() if k.startswith("backlog:")}


def _note_all(out: Collected, pred: Any, note: SourceNote) -> None:
    for data in out.jobs.values():
        if pred(data.spec):
            data.notes.append(SourceNote(note.name, note.state, note.message))


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
        return
    jobs_answer = answers["cron_jobs"]
    runs_answer = answers["cron_runs"]
    if not jobs_answer.ok or not runs_answer.ok:
        bad = jobs_answer if not jobs_answer.ok else runs_answer
        _note_all(out, uses, SourceNote("pg_cron", "timeout" if bad.timed_out else "error", _message(bad)))
        return
    visible: dict[str, tuple[bool, str]] = {}
    for _jobid, jobname, _schedule, command, active, _user in jobs_answer.rows:
        visible[str(jobname or _jobid)] = (bool(active), command or "")
        visible[str(_jobid)] = (bool(active), command or "")
    runs = pgcron.parse_runs(runs_answer.rows)
    # A walk for failed runs only would cover far more rows for a rarely failing job; the newest runs suffice.
    failed: dict[str, list[Run]] = {}
    stuck_answer = answers["stuck"]
    stuck = {r.run_id for r in platform.parse_stuck_runs(stuck_answer.rows)} if stuck_answer.ok else set()
    combined: dict[str, list[Run]] = {}
    for key in set(runs) | set(failed):
        by_id = {r.run_id: r for r in [*failed.get(key, []), *runs.get(key, [])]}
        combined[key] = sorted(by_id.values(), key=lambda r: int(r.run_id or 0), reverse=True)
    net_runs = _link_pg_net(out, answers, combined, visible)
    role = out.facts.role
    for data in out.jobs.values():
        cron = cron_name(data.spec)
        if cron is None:
            continue
        name = cron
        if name not in visible:
            hidden = f"no job named '{name}' in cron.job visible to role {role}" + (
                "" if out.facts.superuser else " (pg_cron shows a non-superuser only its own jobs: row-level security)"
            )
            data.notes.append(SourceNote("pg_cron", "error", hidden))
            continue
        data.active = visible[name][0]
        data.notes.append(SourceNote("pg_cron", "ok"))
        data.stuck = {r.run_id for r in combined.get(name, []) if r.run_id in stuck and r.run_id}
        data.runs.extend(_relabel(combined.get(name, []), data.spec.name))
        if data.spec.history.pg_net:
            if not out.facts.net_response_table:
                data.notes.append(
                    SourceNote("pg_net", "not_installed", "pg_net is not installed (no net._http_response)")
                )
            elif net_runs is None:
                data.notes.append(SourceNote("pg_net", "error", out.errors.get("pg_net", "not read")))
            else:
                data.notes.append(SourceNote("pg_net", "ok"))
                data.runs.extend(_relabel(net_runs.get(name, []), data.spec.name))


def _link_pg_net(
    out: Collected, answers: dict[str, Answer], runs: dict[str, list[Run]], visible: dict[str, tuple[bool, str]]
) -> dict[str, list[Run]] | None:
    from cronctl.evaluate import pgnet_link
    from cronctl.sources import pgnet

    answer = answers.get("net_responses")
    if answer is None:
        return None
    if not answer.ok:
        out.errors["pg_net"] = _message(answer)
        return None
    responses = pgnet.parse_responses(answer.rows)
    net_jobs = {name for name, (_a, command) in visible.items() if pgnet_link.uses_pg_net(command) and name in runs}
    for data in out.jobs.values():
        name = cron_name(data.spec)
        if name and data.spec.history.pg_net and name in runs:
            net_jobs.add(name)
    timeouts = {n: pgnet_link.net_timeout(visible.get(n, (True, ""))[1]) for n in net_jobs}
    linked = pgnet_link.link({n: runs[n] for n in net_jobs}, responses, timeouts, PG_NET_SLACK)
    functions = {n: pgnet_link.target_function(visible.get(n, (True, ""))[1]) for n in net_jobs}
    by_cron = {cron_name(d.spec): d.spec for d in out.jobs.values() if cron_name(d.spec)}
    judged = {n: _judged(pgnet_link.response_runs(linked, n, functions), by_cron.get(n), responses) for n in net_jobs}
    _read_net_failure_counts(out, answers, linked, judged)
    if "pg_net" in out.aggregated:
        return judged
    for item in linked.unlinked:
        if item.response.outcome == "failed":
            out.unlinked_failures.append(
                Run(
                    job="(unlinked pg_net)",
                    source="pg_net",
                    status="failed",
                    finished_at=item.response.created,
                    run_id=str(item.response.id),
                    message=item.response.message,
                    http_status=item.response.status_code,
                )
            )
    return judged


def _judged(runs: list[Run], spec: JobSpec | None, responses: Sequence[Any]) -> list[Run]:
    """Responses judged by the job's success rule (a 2xx saying `skipped`, or breaking `require`)."""
    from cronctl.evaluate.triage import judge_net_run
    from cronctl.sources.pgnet import CONTENT_LIMIT

    if spec is None:
        return runs
    by_id = {r.id: r for r in responses}
    return [judge_net_run(spec.success, run, by_id.get(int(run.run_id or 0)), CONTENT_LIMIT) for run in runs]


def _read_net_failure_counts(
    out: Collected, answers: dict[str, Answer], linked: Any, judged: dict[str, list[Run]]
) -> None:
    """The window's failed responses; each group names the jobs its recent responses are linked to."""
    from dataclasses import replace

    from cronctl.sources import pgnet

    answer = answers.get("failures:pg_net")
    if answer is None:
        return
    if not answer.ok:
        out.errors["failures:pg_net"] = _message(answer)
        return
    jobs_by_key: dict[pgnet.FailureKey, list[str]] = {}
    for item in linked.links:
        if item.job is not None and item.response.outcome == "failed":
            names = jobs_by_key.setdefault(pgnet.failure_key(item.response), [])
            spec_name = _job_for_cron(out, item.job)
            if spec_name not in names:
                names.append(spec_name)
    for key, count in pgnet.parse_failure_groups(answer.rows):
        jobs = tuple(jobs_by_key.get(key, [])) or ("(unlinked pg_net)",)
        out.failure_counts.append(replace(count, jobs=jobs))
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
        runs = runlog.parse_runs(spec, answer.rows).get(key, [])
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
