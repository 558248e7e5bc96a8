"""Write one incident's database state the way the real systems write it.

Everything is relative to the incident's fixed `now`; nothing here waits for a clock. What the builder imitates:

- **pg_cron 1.4 / 1.6.** The scheduler starts every job due at a minute boundary in one pass: runids in task
  (jobid) order, `start_time` set when the command is sent (tens of ms after the tick, microseconds apart for
  co-firing jobs), a fresh backend per run (`job_pid`), `return_message` "1 row" for `SELECT net.http_post(…)` and
  `ERROR:  …` for SQL errors. `N seconds` jobs fire N seconds after their previous start.
- **pg_net 0.20.** `net.http_post` runs in the job's own backend and takes the next id of
  `net.http_request_queue_id_seq`: co-firing jobs get their ids in the order their backends happen to execute,
  which is not the order of their runids. The worker wakes milliseconds after the first commit, deletes every
  committed queue row (one batch), sends them together and writes every answer of the batch with
  `created` = the batch start; the batch becomes visible when its slowest request ends, and requests queued
  meanwhile wait for the next batch. Timeouts are `timed_out = true`, `status_code` NULL and pg_net's own
  `error_msg`; answers older than `pg_net.ttl` (6 hours) are deleted; a stopped worker leaves rows in the queue.
- **Request tracking** (`cronctl pgcron track install`): `cronctl.pgnet_request_log(request_id, backend_pid,
  queued_at, method, url)` with `backend_pid` = the queuing run's `job_pid`, `queued_at` inside its span.
- **History outside the database** (corpus.vendors: the sandbox's stand-ins of the vendors' APIs). GitHub Actions:
  a workflow's runs (`created_at` when GitHub created the run; a scheduled run is created minutes after its tick,
  later at the top of the hour, and some ticks get no run at all) and its `state`. Vercel: production deployments
  and the requests its cron (`vercel-cron/1.0`) made to a route, with status, duration and stderr lines. Supabase:
  an Edge Function's own log of each request (status, execution time, uncaught exception, how its worker ended);
  `log_edge_functions` writes one for every request pg_net's worker sent, so both sides tell the same story.
  The helpers point the runbook copy at the stand-ins (`runbook_edits`) and set the variables the runbook reads
  (`env`).

The real pg_cron scheduler of the test cluster reads `cron.job` and starts the jobs inserted here, but what it
starts leaves no trace (`QUIET_SCHEDULER` in tests/conftest.py): an incident's history is the rows built here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cronsim import CronSim
from psycopg import sql

from corpus.vendors import (
    GITHUB_TOKEN,
    SUPABASE_TOKEN,
    VERCEL_PROJECT_ID,
    VERCEL_TEAM_ID,
    VERCEL_TOKEN,
    Vendors,
)
from cronctl_sandbox.fixtures import create_pg_net_tables

PG_NET_TTL = timedelta(hours=6)  # pg_net.ttl default
PG_NET_BATCH = 200  # pg_net.batch_size default
PG_NET_DEFAULT_TIMEOUT_MS = 5000  # net.http_post's timeout_milliseconds default
TRACKING_RETENTION = timedelta(hours=24)


def at(text: str) -> datetime:
    """`2026-11-30T05:41:37Z` (or with fractions) as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def jitter(*key: object, lo: float, hi: float) -> float:
    """A deterministic pseudo-random number in [lo, hi) for this key: the same incident builds the same rows."""
    digest = hashlib.sha256(_key_text(key).encode()).digest()
    return lo + (hi - lo) * int.from_bytes(digest[:8], "big") / 2**64


_UTC_REPRS: dict[datetime, str] = {}


def _key_text(key: tuple[object, ...]) -> str:
    """`repr(key)`, with the repr of each UTC time kept: a tick is in several keys, and a datetime's repr is most
    of the cost of the hundreds of thousands of jitter() calls a corpus run makes."""
    parts = []
    for part in key:
        if type(part) is datetime and part.tzinfo is UTC and not part.fold:
            text = _UTC_REPRS.get(part)
            if text is None:
                if len(_UTC_REPRS) >= 100_000:
                    _UTC_REPRS.clear()
                text = _UTC_REPRS[part] = repr(part)
            parts.append(text)
        else:
            parts.append(repr(part))
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def ticks(schedule: str, since: datetime, until: datetime) -> list[datetime]:
    """Fire times of a five-field schedule in (since, until], oldest first (GMT, as pg_cron 1.4 schedules)."""
    out: list[datetime] = []
    for t in CronSim(schedule, since.replace(second=0, microsecond=0)):
        if t > until:
            break
        if t > since:
            out.append(t)
    return out


# ---------------------------------------------------------------- what an HTTP endpoint answers


@dataclass(frozen=True)
class Answer:
    """What a request's endpoint answered, as pg_net records it. `latency` is how long the endpoint took."""

    status: int | None = 200
    body: Any = None  # dict / list: JSON; str: sent as is; None: empty body
    latency: float = 0.4
    timed_out: bool = False
    error: str | None = None  # a libcurl error (curl_easy_strerror), no HTTP answer

    def content(self) -> str | None:
        if self.body is None:
            return None
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


def ok(latency: float = 0.4, **fields: Any) -> Answer:
    """HTTP 200 `{"success": true, …}`: a good answer of the seeds' Edge Functions and routes."""
    return Answer(200, {"success": True, **fields}, latency)


def http(status: int, body: Any, latency: float = 0.2) -> Answer:
    return Answer(status, body, latency)


def timeout() -> Answer:
    """No answer within the request's timeout_milliseconds."""
    return Answer(None, None, 0.0, timed_out=True)


def net_error(message: str, latency: float = 0.02) -> Answer:
    return Answer(None, None, latency, error=message)


def timeout_message(timeout_ms: int, key: object) -> str:
    """pg_net's detailed_timeout_strerror (src/errors.c), for a timeout reached in the HTTP step."""
    total = timeout_ms + jitter(key, "total", lo=0.6, hi=1.9)
    dns = jitter(key, "dns", lo=0.02, hi=0.09)
    handshake = jitter(key, "tls", lo=18.0, hi=64.0)
    return (
        f"Timeout of {timeout_ms} ms reached. Total time: {total:f} ms (DNS time: {dns:f} ms, "
        f"TCP/SSL handshake time: {handshake:f} ms, HTTP Request/Response time: {total - dns - handshake:f} ms)"
    )


# ---------------------------------------------------------------- pg_cron jobs, runs and pg_net requests


@dataclass
class CronJob:
    jobid: int
    name: str
    schedule: str
    command: str
    active: bool
    # For jobs whose command calls net.http_post: what the queue row carries.
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    timeout_ms: int = PG_NET_DEFAULT_TIMEOUT_MS


@dataclass
class _Run:
    job: CronJob
    tick: datetime
    order: int  # task order in its tick: runids follow (tick, order)
    pid: int | None
    status: str
    message: str | None
    start: datetime | None
    end: datetime | None


@dataclass
class _Request:
    job: CronJob
    run: _Run
    queued_at: datetime
    answer: Answer
    id: int = 0
    created: datetime | None = None  # the batch start, once the worker picked it up
    done_at: datetime | None = None  # when its batch ended (answers become visible)

    @property
    def committed(self) -> datetime:
        assert self.run.end is not None
        return self.run.end

    def duration(self) -> float:
        limit = self.job.timeout_ms / 1000
        if self.answer.timed_out or self.answer.latency >= limit:
            return limit + jitter(self.id, "over", lo=0.0006, hi=0.0019)
        return self.answer.latency


AnswerFn = Callable[[CronJob, datetime], Answer | None]
FailFn = Callable[[CronJob, datetime], str | None]


# ---------------------------------------------------------------- history outside the database


@dataclass(frozen=True)
class WorkflowRun:
    """One run of a GitHub Actions workflow as "List workflow runs" shows it. `created` is when GitHub created the
    run (for a scheduled run: its tick plus GitHub's delay); it starts `queued` seconds later and, once completed,
    was last updated `seconds` after its start. `conclusion` None with status `in_progress`/`queued`: not done."""

    created: datetime
    event: str = "schedule"  # schedule | workflow_dispatch
    conclusion: str | None = "success"
    status: str = "completed"
    queued: float = 6.0
    seconds: float = 48.0
    attempt: int = 1


@dataclass(frozen=True)
class CronCall:
    """One request to a Vercel route, as its deployment's runtime events show it: the proxy line at `at`, stderr
    lines, and the closing report after `seconds`. `timed_out`: Vercel stopped the function at maxDuration (504)."""

    at: datetime
    status: int = 200
    seconds: float = 0.4
    user_agent: str | None = "vercel-cron/1.0"
    logs: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    timed_out: bool = False


@dataclass(frozen=True)
class EdgeCall:
    """One invocation of a Supabase Edge Function as the platform logs it: the request reached it at `at`, it
    answered `status` after `seconds`, then its worker ended with `shutdown` (EarlyDrop: the usual end of a worker
    with nothing left to do, as Supabase's "Edge Function shutdown reasons explained" says)."""

    at: datetime
    status: int = 200
    seconds: float = 0.4
    shutdown: str | None = "EarlyDrop"
    exception: str | None = None  # an uncaught exception's text (the function answered 500)
    user_agent: str | None = "pg_net/0.20.0"  # pg_net's own user agent
    logs: tuple[str, ...] = ()


EdgeFn = Callable[[CronJob, datetime, Answer], EdgeCall | None]


class Builder:
    """One incident's state in one database. Call the system helpers (corpus.systems), then `finish()`."""

    def __init__(
        self, conn: Any, now: datetime, *, live: bool = False, redis: Any = None, vendors: Vendors | None = None
    ) -> None:
        self.conn = conn  # None: an incident with no database (cluster "none")
        self.vendors = vendors
        self.now = now
        self.live = live  # `now` is the clock (present-tense facts apply), not a fixed past time
        self.redis = redis
        self.redis_url: str | None = None
        self.health: Any = None  # seed 002's health endpoint (corpus.systems.HealthServer)
        self.env: dict[str, str] = {}  # variables the runbook needs (no real secrets: test values)
        self.runbook_edits: dict[str, dict[str, str]] = {}  # [section] key -> TOML value, for runbook copies
        self.pg_net = False
        self.tracking = False
        self.worker_stopped_at: datetime | None = None
        self.pg_net_ttl = PG_NET_TTL
        self._jobs: list[CronJob] = []
        self._runs: list[_Run] = []
        self._requests: list[_Request] = []
        self._pid = 31000 + int(jitter(now, "pid", lo=0, hi=9000))
        self._finished = False
        self._edge: tuple[Callable[[CronJob], str | None], EdgeFn | None] | None = None
        self._edge_ref = ""

    # -- SQL helpers -------------------------------------------------------------------------------------------

    def sql(self, statement: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        assert self.conn is not None, "this incident has no database"
        return self.conn.execute(statement, params)

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows into `schema.table` (in the order given: serial ids follow it)."""
        schema, _, name = table.rpartition(".")
        target = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(schema or "public", name), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with self.conn.cursor() as cur, cur.copy(target) as copy:
            for row in rows:
                copy.write_row(row)

    def next_pid(self) -> int:
        self._pid += 1 + int(jitter(self._pid, lo=0, hi=4))
        return self._pid

    # -- pg_net and tracking -----------------------------------------------------------------------------------

    def install_pg_net(self) -> None:
        """pg_net's two tables and http_post / http_get (the sandbox stand-in), as pg_net grants them: ALL on
        the tables to PUBLIC, USAGE on schema net only to roles granted it (Supabase: postgres and its API roles)."""
        create_pg_net_tables(self.conn)
        self.sql("GRANT ALL ON net.http_request_queue, net._http_response TO PUBLIC")
        self.sql("REVOKE ALL ON SCHEMA net FROM PUBLIC")
        self.pg_net = True

    def install_tracking(self) -> None:
        """cronctl's request tracking, with the objects `cronctl pgcron track install` creates (created here
        when missing; the rows are written by `finish()` as the trigger would have written them)."""
        assert self.pg_net, "tracking needs pg_net"
        self.sql("CREATE SCHEMA IF NOT EXISTS cronctl")
        self.sql(
            "CREATE TABLE IF NOT EXISTS cronctl.pgnet_request_log (request_id bigint PRIMARY KEY,"
            " backend_pid integer NOT NULL, queued_at timestamptz NOT NULL, method text, url text)"
        )
        self.sql("CREATE INDEX IF NOT EXISTS pgnet_request_log_queued_at_idx ON cronctl.pgnet_request_log (queued_at)")
        self.sql(
            """
            CREATE OR REPLACE FUNCTION cronctl.record_pgnet_request() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
            BEGIN
                INSERT INTO cronctl.pgnet_request_log (request_id, backend_pid, queued_at, method, url)
                VALUES (NEW.id, pg_backend_pid(), clock_timestamp(), NEW.method, NEW.url)
                ON CONFLICT (request_id) DO NOTHING;
                RETURN NULL;
            END
            $fn$
            """
        )
        exists = self.sql(
            "SELECT 1 FROM pg_trigger WHERE tgname = 'cronctl_track_requests'"
            " AND tgrelid = 'net.http_request_queue'::regclass"
        ).fetchone()
        if not exists:
            self.sql(
                "CREATE TRIGGER cronctl_track_requests AFTER INSERT ON net.http_request_queue"
                " FOR EACH ROW EXECUTE FUNCTION cronctl.record_pgnet_request()"
            )
        self.tracking = True

    def stop_pg_net_worker(self, at: datetime) -> None:
        """From `at` on the worker picks nothing up: requests stay in net.http_request_queue."""
        self.worker_stopped_at = at

    # -- pg_cron -----------------------------------------------------------------------------------------------

    def cron_job(
        self,
        name: str,
        schedule: str,
        command: str,
        *,
        active: bool = True,
        username: str = "postgres",
        url: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        timeout_ms: int | None = None,
    ) -> CronJob:
        """A row of cron.job as `cron.schedule` writes it (inserted directly: 1.4.2 refuses `30 seconds`)."""
        row = self.sql(
            "INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, active, jobname)"
            " VALUES (%s, %s, current_setting('cron.host'), inet_server_port(), current_database(), %s, %s, %s)"
            " RETURNING jobid",
            [schedule, command, username, active, name],
        ).fetchone()
        job = CronJob(
            int(row[0]), name, schedule, command, active, url, dict(headers or {}), body,
            timeout_ms if timeout_ms is not None else PG_NET_DEFAULT_TIMEOUT_MS,
        )  # fmt: skip
        self._jobs.append(job)
        return job

    def fire(
        self,
        jobs: Sequence[CronJob],
        since: datetime,
        until: datetime | None = None,
        *,
        answer: AnswerFn | None = None,
        fail: FailFn | None = None,
    ) -> None:
        """Let the scheduler start every due job at every tick in (since, until]: jobs due at the same tick
        start in the same pass. `answer(job, tick)` is what the endpoint answers (None: the job queues no
        request, e.g. a SQL-only job); `fail(job, tick)` a pg_cron error message for runs that fail."""
        until = min(until or self.now, self.now)
        due: dict[datetime, list[CronJob]] = {}
        for job in jobs:
            for tick in ticks(job.schedule, since, until):
                due.setdefault(tick, []).append(job)
        for tick in sorted(due):
            self._start_tick(tick, sorted(due[tick], key=lambda j: j.jobid), answer, fail)

    def fire_every(
        self, job: CronJob, first: datetime, every: float, since: datetime, *, answer: AnswerFn | None = None
    ) -> None:
        """An `N seconds` job (pg_cron 1.5+): started `every` seconds after its previous start, from `first`."""
        tick = first
        while tick <= self.now:
            if tick > since:
                self._start_tick(tick, [job], answer, None, connect=(0.0008, 0.0030))
            tick += timedelta(seconds=every)

    def run(
        self,
        job: CronJob,
        tick: datetime,
        status: str,
        message: str | None,
        *,
        seconds: float = 0.004,
        pid: int | None = None,
        times: bool = True,
    ) -> None:
        """One run written as is (a failure, a run left `running`, a 1.4 early failure with `times=False`)."""
        start = tick + timedelta(seconds=jitter(job.name, tick, lo=0.012, hi=0.030)) if times else None
        end = (
            start + timedelta(seconds=seconds) if start is not None and status not in ("running", "starting") else None
        )
        self._runs.append(_Run(job, tick, 0, pid if pid is not None else self.next_pid(), status, message, start, end))

    def _start_tick(
        self,
        tick: datetime,
        jobs: Sequence[CronJob],
        answer: AnswerFn | None,
        fail: FailFn | None,
        connect: tuple[float, float] = (0.012, 0.030),
    ) -> None:
        base = jitter(tick, "connect", lo=connect[0], hi=connect[1])
        for order, job in enumerate(jobs):
            start = tick + timedelta(seconds=base + order * 0.00004)
            if start > self.now:
                continue
            pid = self.next_pid()
            error = fail(job, tick) if fail else None
            if error is not None:
                end = start + timedelta(seconds=jitter(job.name, tick, "err", lo=0.0008, hi=0.0030))
                self._runs.append(_Run(job, tick, order, pid, "failed", error, start, min(end, self.now)))
                continue
            reply = answer(job, tick) if answer else None
            # The backend parses, plans and runs the command: http_post takes its id milliseconds after the
            # start, in whatever order the co-firing backends get there.
            queued = start + timedelta(seconds=jitter(job.name, tick, "exec", lo=0.0004, hi=0.0030))
            end = queued + timedelta(seconds=jitter(job.name, tick, "commit", lo=0.0002, hi=0.0009))
            if end > self.now:
                self._runs.append(_Run(job, tick, order, pid, "running", None, start, None))
                continue
            message = "1 row" if reply is not None or job.url else "SELECT 1"
            run = _Run(job, tick, order, pid, "succeeded", message, start, end)
            self._runs.append(run)
            if reply is not None:
                self._requests.append(_Request(job, run, queued, reply))

    # -- write it all ------------------------------------------------------------------------------------------

    def finish(self) -> None:
        """Insert the runs (runid order), the pg_net requests, answers, queue rows and tracking rows; then the Edge
        Function logs of the requests pg_net sent (`log_edge_functions`)."""
        if self._finished:
            return
        self._finished = True
        if self.conn is None:
            assert not self._runs, "pg_cron runs need a database"
            return
        self.sql("SET session_replication_role = replica")  # the tracking trigger must not see the builder
        try:
            self._write_runs()
            if self._requests:
                self._write_pg_net()
        finally:
            self.sql("SET session_replication_role = DEFAULT")
        self._write_edge_logs()

    def _write_runs(self) -> None:
        # Production history is long: runids are in the millions and unrelated to pg_net's request ids.
        first = 2_400_000 + int(jitter(self.now, "runid", lo=0, hi=900_000))
        self.sql("SELECT setval('cron.runid_seq', %s)", [first])
        ordered = sorted(self._runs, key=lambda r: (r.tick, r.order, r.job.jobid))
        database = self.database
        self.rows(
            "cron.job_run_details",
            ["jobid", "job_pid", "database", "username", "command", "status", "return_message", "start_time",
             "end_time"],
            [
                (r.job.jobid, r.pid, database, "postgres", r.job.command, r.status, r.message, r.start, r.end)
                for r in ordered
            ],
        )  # fmt: skip

    @property
    def database(self) -> str:
        return str(self.sql("SELECT current_database()").fetchone()[0])

    def _write_pg_net(self) -> None:
        assert self.pg_net, "a job queued a pg_net request but pg_net is not installed"
        requests = sorted(self._requests, key=lambda r: r.queued_at)
        # pg_net's ids count every request of the database (webhooks, app code): far from the runids.
        base = 41_000_000 + int(jitter(self.now, "request id", lo=0, hi=4_000_000))
        for k, request in enumerate(requests):
            request.id = base + k
        self.sql("SELECT setval('net.http_request_queue_id_seq', %s)", [base + len(requests)])
        self._work(requests)
        visible = [
            r for r in requests
            if r.done_at is not None and r.done_at <= self.now and r.created is not None
            and r.created >= self.now - self.pg_net_ttl
        ]  # fmt: skip
        self.rows(
            "net._http_response",
            ["id", "status_code", "content_type", "headers", "content", "timed_out", "error_msg", "created"],
            [self._response_row(r) for r in sorted(visible, key=lambda r: r.id)],
        )
        waiting = [r for r in requests if r.created is None and r.committed <= self.now]
        self.rows(
            "net.http_request_queue",
            ["id", "method", "url", "headers", "body", "timeout_milliseconds"],
            [
                (r.id, "POST", r.job.url, json.dumps(r.job.headers), json.dumps(r.job.body).encode(), r.job.timeout_ms)
                for r in waiting
            ],
        )
        if self.tracking:
            self.rows(
                "cronctl.pgnet_request_log",
                ["request_id", "backend_pid", "queued_at", "method", "url"],
                [
                    (r.id, r.run.pid, r.queued_at, "POST", r.job.url)
                    for r in requests
                    if r.committed <= self.now and r.queued_at >= self.now - TRACKING_RETENTION
                ],
            )

    def _work(self, requests: Sequence[_Request]) -> None:
        """pg_net's worker: one batch at a time; a batch takes every committed request, starts them together
        (`created` = its start) and ends when its slowest request ends."""
        pending = sorted((r for r in requests if r.committed <= self.now), key=lambda r: (r.committed, r.id))
        free_at: datetime | None = None
        start = 0  # pending[start:] still waits; it is sorted by commit time, so a batch is a prefix of it
        while start < len(pending):
            first = pending[start]
            wake = first.committed + timedelta(seconds=jitter(first.id, "wake", lo=0.006, hi=0.021))
            if free_at is not None and free_at > wake:
                wake = free_at + timedelta(seconds=jitter(first.id, "loop", lo=0.001, hi=0.004))
            if wake > self.now or (self.worker_stopped_at is not None and wake >= self.worker_stopped_at):
                return  # the rest waits in the queue
            stop = start
            while stop < len(pending) and stop - start < PG_NET_BATCH and pending[stop].committed <= wake:
                stop += 1
            batch = pending[start:stop]
            end = wake + timedelta(seconds=max(r.duration() for r in batch))
            for r in batch:
                r.created, r.done_at = wake, end
            free_at = end
            start = stop

    def _response_row(self, r: _Request) -> tuple[Any, ...]:
        a = r.answer
        assert r.created is not None
        if a.timed_out or a.latency >= r.job.timeout_ms / 1000:
            return (r.id, None, None, None, None, True, timeout_message(r.job.timeout_ms, r.id), r.created)
        if a.error is not None:
            return (r.id, None, None, None, None, False, a.error, r.created)
        content = a.content()
        headers = {
            "Content-Type": "application/json" if content and content[:1] in "{[" else "text/plain;charset=UTF-8",
            "Date": (r.created + timedelta(seconds=a.latency)).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "Sb-Request-Id": hashlib.sha256(repr(r.id).encode()).hexdigest()[:32],
        }
        return (r.id, a.status, headers["Content-Type"], json.dumps(headers), content, False, None, r.created)

    # -- history outside the database ---------------------------------------------------------------------------

    def _vendors(self) -> Vendors:
        assert self.vendors is not None, "this incident was loaded without the vendors' stand-ins"
        return self.vendors

    def _edit(self, section: str, key: str, value: str) -> None:
        self.runbook_edits.setdefault(section, {})[key] = json.dumps(value)

    def github_runs(
        self, repo: str, workflow: str, runs: Sequence[WorkflowRun] = (), *, state: str = "active", public: bool = False
    ) -> None:
        """Workflow `.github/workflows/<workflow>` of `repo` in GitHub's API, with these runs and this `state`
        (`disabled_inactivity`: GitHub switched off a public repository's schedules after 60 days without
        activity). Calling it again for the same workflow replaces it. Runs created after `now` are left out, and
        one still running at `now` is listed as in progress. GITHUB_API_URL points at the stand-in."""
        api = self._vendors().github()
        api.add_workflow(repo, workflow, state=state, private=not public)
        for run in runs:
            if run.created > self.now:
                continue
            started = run.created + timedelta(seconds=run.queued)
            ended = started + timedelta(seconds=run.seconds)
            status, conclusion = run.status, run.conclusion
            if status == "completed" and ended > self.now:
                status, conclusion = ("in_progress", None) if started <= self.now else ("queued", None)
            api.add_run(
                repo, workflow, created_at=run.created, event=run.event, status=status, conclusion=conclusion,
                run_started_at=min(started, self.now), updated_at=ended if status == "completed" else None,
                run_attempt=run.attempt,
            )  # fmt: skip
        self.env.update(GITHUB_API_URL=api.url, GITHUB_TOKEN=GITHUB_TOKEN)

    def vercel_deployment(self, created: datetime) -> str:
        """A ready production deployment of the Vercel project (cron runs only against production); requests are
        served by the newest one created before them. Points the runbook's [vercel] at the stand-in."""
        api = self._vendors().vercel()
        self._edit("vercel", "api_url", api.url)
        self.env.update(VERCEL_TOKEN=VERCEL_TOKEN, VERCEL_PROJECT_ID=VERCEL_PROJECT_ID, VERCEL_TEAM_ID=VERCEL_TEAM_ID)
        uid: str = api.add_deployment(created)
        return uid

    def vercel_invocations(self, path: str, calls: Sequence[CronCall]) -> None:
        """Requests to the route `path`; only those finished by `now` are logged (Vercel writes a request's
        status line when it answers)."""
        api = self._vendors().vercel()
        for call in calls:
            if call.at + timedelta(seconds=call.seconds) > self.now:
                continue
            api.add_invocation(
                path, call.at, status=call.status, duration=call.seconds, user_agent=call.user_agent,
                logs=call.logs, errors=call.errors, timed_out=call.timed_out,
            )  # fmt: skip

    def supabase_project(self, project_ref: str, functions: Sequence[str]) -> None:
        """The Supabase project and its deployed Edge Functions, readable with SUPABASE_ACCESS_TOKEN; points the
        runbook's [supabase] at the stand-in."""
        api = self._vendors().supabase(project_ref)
        for function in functions:
            api.add_function(function)
        self._edit("supabase", "api_url", api.url)
        self.env.update(SUPABASE_ACCESS_TOKEN=SUPABASE_TOKEN, SUPABASE_PROJECT_REF=project_ref)

    def supabase_invocations(self, project_ref: str, function: str, calls: Sequence[EdgeCall]) -> None:
        """Invocations of `function` in its logs; one still running at `now` has logged nothing yet."""
        api = self._vendors().supabase(project_ref)
        for call in calls:
            if call.at + timedelta(seconds=call.seconds) > self.now:
                continue
            api.add_invocation(
                function, call.at, status=call.status, execution_time=call.seconds, shutdown=call.shutdown,
                user_agent=call.user_agent, exception=call.exception, logs=call.logs,
            )  # fmt: skip

    def log_edge_functions(
        self, project_ref: str, function_of: Callable[[CronJob], str | None], edge: EdgeFn | None = None
    ) -> None:
        """At finish(), every request pg_net's worker sent to an Edge Function (`function_of(job)`) is also in that
        function's logs: it arrived a few tens of ms after the batch started and answered after the endpoint's
        latency. `edge(job, tick, answer)` says what the function logged (its `at` becomes the arrival); where it
        gives None, the answer's status, then EarlyDrop, and nothing for a request that got no HTTP answer."""
        self._vendors().supabase(project_ref)
        self._edge = (function_of, edge)
        self._edge_ref = project_ref

    def _write_edge_logs(self) -> None:
        if self._edge is None:
            return
        function_of, edge = self._edge
        by_function: dict[str, list[EdgeCall]] = {}
        for r in self._requests:
            function = function_of(r.job)
            if function is None or r.created is None:
                continue
            arrived = r.created + timedelta(seconds=jitter(r.id, "edge", lo=0.018, hi=0.075))
            call = edge(r.job, r.run.tick, r.answer) if edge is not None else None
            if call is not None:
                call = replace(call, at=arrived)
            elif r.answer.status is not None and not r.answer.timed_out:
                call = EdgeCall(arrived, r.answer.status, max(0.01, r.answer.latency - 0.03))
            if call is not None:
                by_function.setdefault(function, []).append(call)
        for function, calls in by_function.items():
            self.supabase_invocations(self._edge_ref, function, calls)

    # -- Redis -------------------------------------------------------------------------------------------------

    def silence(
        self, runbook: str, job: str | None, *, since: timedelta, lasts: timedelta, author: str, reason: str
    ) -> None:
        """A silence written by `cronctl silence` `since` before `now`, lasting `lasts`: a row of cronctl.silences,
        the table created exactly as `cronctl silence` creates it (job None: `--all`)."""
        from cronctl.queries import load
        from cronctl.sources import silences

        for statement in silences.create_statements(silences.fetch_catalog(self.conn)):
            self.sql(statement)
        created = self.now - since
        self.sql(
            load("silences_insert"),
            {"runbook": runbook, "job": job, "created_at": created, "until": created + lasts, "author": author,
             "reason": reason},
        )  # fmt: skip

    def redis_lock(self, key: str, value: str = "1", *, ttl_ms: int | None, idle_seconds: int = 0) -> None:
        """A lock key as `SET key value NX EX …` left it: `ttl_ms` None for a key without expiry; `idle_seconds`
        since it was last touched (OBJECT IDLETIME), set through RESTORE … IDLETIME."""
        assert self.redis is not None, "this incident needs Redis"
        self.redis.delete(key)
        self.redis.set(key, value)
        dump = self.redis.dump(key)
        self.redis.restore(key, ttl_ms or 0, dump, replace=True, idletime=idle_seconds or None)


# ---------------------------------------------------------------- roles


def ensure_role(conn: Any, name: str, password: str, *, bypassrls: bool = False) -> None:
    """A LOGIN role whose transactions are read-only by default (as a triage role would be)."""
    role = sql.Identifier(name)
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone() is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
    conn.execute(
        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER {} PASSWORD {}").format(
            role, sql.SQL("BYPASSRLS" if bypassrls else "NOBYPASSRLS"), sql.Literal(password)
        )
    )
    conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))


def grant_read(conn: Any, name: str, schemas: Sequence[str]) -> None:
    """USAGE on these schemas and SELECT on their tables (and nothing on any other schema)."""
    role = sql.Identifier(name)
    for schema in schemas:
        present = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
        if present:
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), role))
            conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sql.Identifier(schema), role))
