"""Plain records that sources return and evaluation consumes: every record more than one layer uses lives here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cronctl.errors import CronctlError
    from cronctl.runbook.model import JobSpec


@dataclass(frozen=True)
class Run:
    """One run of a job, from any history source."""

    job: str
    source: str  # pg_cron | pg_net | run_log:<name> | health
    status: str  # normalised: running | succeeded | failed | partial | skipped | unknown
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None
    raw_status: str | None = None
    message: str | None = None
    http_status: int | None = None
    records: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def sort_time(self) -> datetime | None:
        return self.started_at or self.finished_at

    def to_json(self) -> dict[str, Any]:
        out = self._json()
        if self.source == "pg_net":
            # How this outcome was linked to its pg_net answer: exact | inferred | ambiguous | none.
            out["attribution"] = self.detail.get("attribution", "none")
        return out

    def _json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "source": self.source,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration,
            "status": self.status,
            "raw_status": self.raw_status,
            "message": self.message,
            "http_status": self.http_status,
            "records": self.records,
            "detail": self.detail,
        }


@dataclass
class SourceNote:
    """How one history source answered for a job: the evidence behind `unknown` when it did not."""

    name: str
    state: str  # ok | not_installed | error | timeout | hidden (row-level security hides the job from this role)
    message: str | None = None
    hidden: bool = False  # answered, but row-level security may hide this job's rows from the role
    runs: int | None = None  # how many runs it gave (a job's history, `logs`); None: not counted

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.name, "state": self.state, "message": self.message}
        if self.runs is not None:
            out["runs"] = self.runs
        return out


@dataclass(frozen=True)
class Lock:
    """A lock as seen in one backend, before any judgement about staleness."""

    name: str  # the job it belongs to
    backend: str  # table | advisory | redis
    key: str
    holder: str | None = None
    acquired_at: datetime | None = None
    expires_at: datetime | None = None
    # Backend specifics: pid / state / state_change for advisory, ttl_ms / value for redis, raw row for table.
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class BackendRead:
    """What one lock backend answered: its locks, or why it could not be read."""

    backend: str  # table:<name> | advisory | redis
    locks: list[Lock] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class TrackedRequest:
    """A pg_net request as cronctl's tracking trigger recorded it when it was queued: which backend queued it
    and when. `backend_pid` equals the pg_cron run's `job_pid` of the run that called `net.http_*`."""

    request_id: int
    backend_pid: int
    queued_at: datetime
    method: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class QueuedRequest:
    """A row still waiting in `net.http_request_queue` (the worker deletes it when it picks it up)."""

    request_id: int
    method: str | None = None
    url: str | None = None
    timeout_ms: int | None = None


def aware(value: datetime) -> datetime:
    """A timestamp as an aware datetime: psycopg returns `timestamp without time zone` naive, and cronctl reads
    those as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def cron_name(job: JobSpec) -> str | None:
    """The cron.job jobname whose runs are this job's history (None: pg_cron does not run it)."""
    return job.history.pg_cron or (job.name if job.scheduler == "pg_cron" else None)


# --- the server and pg_cron -------------------------------------------------------------------------------------------


Version = tuple[int, int]  # a pg_cron release, (major, minor)
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")


def _parse_version(text: str | None) -> Version | None:
    match = _VERSION.match(text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class ServerFacts:
    """The server, its pg_cron and pg_net, and what the connected role may read (catalog reads only)."""

    server_version: str
    server_version_num: int
    role: str
    superuser: bool
    database: str
    cron_schema: bool
    pg_cron_extversion: str | None
    net_schema: bool
    net_response_table: bool  # net._http_response exists (whether or not this role may read it)
    pg_net_extversion: str | None
    preloaded: bool
    cron_settings: dict[str, str] = field(default_factory=dict)
    # What this role may read. Raw privileges, each checked on its own: reading a table needs USAGE on its
    # schema *and* SELECT on the table (see the *_readable properties). Defaults mean "no known problem".
    bypassrls: bool = False
    cron_usage: bool = True  # USAGE on schema cron
    cron_job_select: bool = True  # SELECT on cron.job
    cron_run_details_select: bool = True  # SELECT on cron.job_run_details
    net_usage: bool = True  # USAGE on schema net
    net_response_select: bool = True  # SELECT on net._http_response
    net_queue_table: bool = False  # net.http_request_queue exists
    net_queue_select: bool = True  # SELECT on net.http_request_queue
    # pg_settings shows some cron.* row. All cron.* settings are superuser-only (or pg_read_all_settings):
    # a plain role sees none, which says nothing about the version.
    cron_settings_visible: bool = False
    cron_timezone: str | None = None  # cron.timezone when visible (pg_cron 1.5+)
    preload_visible: bool = True  # shared_preload_libraries shown by pg_settings

    def __post_init__(self) -> None:
        if self.cron_settings and not self.cron_settings_visible:
            object.__setattr__(self, "cron_settings_visible", True)
        if self.cron_timezone is None and "cron.timezone" in self.cron_settings:
            object.__setattr__(self, "cron_timezone", self.cron_settings["cron.timezone"])

    # -- what the role can read -------------------------------------------------------------------------

    @property
    def sees_all_rows(self) -> bool:
        """Row-level security does not apply (superuser or BYPASSRLS): cron history shows every user's runs."""
        return self.superuser or self.bypassrls

    @property
    def cron_job_readable(self) -> bool:
        return self.cron_schema and self.cron_usage and self.cron_job_select

    @property
    def cron_runs_readable(self) -> bool:
        return self.cron_schema and self.cron_usage and self.cron_run_details_select

    @property
    def cron_readable(self) -> bool:
        """USAGE on cron and SELECT on both cron.job and cron.job_run_details."""
        return self.cron_job_readable and self.cron_runs_readable

    @property
    def net_response_readable(self) -> bool:
        return self.net_response_table and self.net_usage and self.net_response_select

    @property
    def net_queue_readable(self) -> bool:
        return self.net_queue_table and self.net_usage and self.net_queue_select

    # -- pg_cron's feature level ------------------------------------------------------------------------

    @property
    def pg_cron_installed(self) -> bool:
        return self.cron_schema and self.pg_cron_extversion is not None

    @property
    def pg_cron_level(self) -> Version | None:
        """The strongest lower bound of what the loaded pg_cron can do: extversion, or settings seen."""
        bounds = [b for b in (_parse_version(self.pg_cron_extversion), self._settings_lower) if b is not None]
        return max(bounds) if bounds else None

    @property
    def pg_cron_level_known(self) -> bool:
        """True when the settings pin the level down (they are visible and agree with extversion)."""
        upper = self.pg_cron_upper_bound
        level = self.pg_cron_level
        return self.cron_settings_visible and (upper is None or level is None or level <= upper)

    @property
    def pg_cron_version(self) -> str | None:
        """pg_cron's feature level as text: "1.6+", "1.5+", "1.4 or older" when the settings are visible,
        "at least 1.6" (from extversion) when they are not, None without evidence. Absent settings never
        mean "1.4 or older": a non-superuser sees none of them."""
        level = self.pg_cron_level
        if self.pg_cron_level_known:
            if level is not None and level >= (1, 5):
                return f"{level[0]}.{level[1]}+"
            return "1.4 or older"
        if level is None:
            return None
        return f"at least {level[0]}.{level[1]}"

    @property
    def _settings_lower(self) -> Version | None:
        if "cron.launch_active_jobs" in self.cron_settings:
            return (1, 6)
        if "cron.timezone" in self.cron_settings:
            return (1, 5)
        return None

    @property
    def pg_cron_upper_bound(self) -> Version | None:
        """Visible settings without a later release's setting bound the library from above (None: no bound)."""
        if not self.cron_settings_visible or "cron.launch_active_jobs" in self.cron_settings:
            return None
        return (1, 5) if "cron.timezone" in self.cron_settings else (1, 4)

    def setting(self, name: str) -> str | None:
        return self.cron_settings.get(name)


@dataclass(frozen=True)
class SchedulerState:
    """The `pg_cron scheduler` backend as pg_stat_activity shows it to this role (`alive`: a row was seen)."""

    alive: bool
    pid: int | None = None
    backend_type: str | None = None
    database: str | None = None
    since: datetime | None = None
    launcher_seen: bool = False


@dataclass(frozen=True)
class RunDetailsSize:
    """How big cron.job_run_details is, from the catalog."""

    estimated_rows: int
    total_bytes: int
    max_runid: int | None  # None also when this role may not read cron.job_run_details


@dataclass(frozen=True)
class CronJob:
    """A row of cron.job plus its newest run."""

    jobid: int
    jobname: str | None
    schedule: str
    command: str
    database: str
    username: str
    active: bool
    nodename: str | None = None
    nodeport: int | None = None
    last_run: Run | None = None

    @property
    def name(self) -> str:
        return self.jobname or str(self.jobid)

    @property
    def running_now(self) -> bool:
        return self.last_run is not None and self.last_run.status == "running"


@dataclass(frozen=True)
class CronAccess:
    """What this role may do with pg_cron's tables, and whether it is a read-only role (doctor)."""

    cron_job_select: bool
    run_details_select: bool
    read_only_role: bool


@dataclass(frozen=True)
class TableColumns:
    """A table the runbook maps, as the catalog shows it to this role (doctor)."""

    schema: str
    table: str
    present: bool
    selectable: bool  # SELECT on the table
    columns: frozenset[str]
    schema_usage: bool = True  # USAGE on its schema (also needed to read it)


@dataclass(frozen=True)
class SecretRow:
    """One row of the runbook's secrets table, described without its value."""

    key: str
    placeholder: bool
    length: int
    edge_quote_or_space: bool
    updated_at: datetime | None
    description: str | None


@dataclass(frozen=True)
class EndpointProbe:
    url: str
    host: str
    resolved: bool
    tls: bool  # https and the handshake succeeded
    status: int | None = None
    error: str | None = None
    timed_out: bool = False
    elapsed: float = 0.0

    @property
    def answered(self) -> bool:
        return self.status is not None


# --- pg_net: answers, request tracking and linking answers to runs ----------------------------------------------------


@dataclass(frozen=True)
class NetResponse:
    """A row of net._http_response."""

    id: int
    created: datetime
    status_code: int | None = None
    timed_out: bool | None = None
    error_msg: str | None = None
    content: str | None = None
    content_type: str | None = None

    @property
    def failed_request(self) -> bool:
        """Timed out or never answered (timed_out was NULL on errors before pg_net 0.20)."""
        if self.timed_out:
            return True
        return bool(self.error_msg) and self.status_code is None

    @property
    def outcome(self) -> str:
        if self.failed_request:
            return "failed"
        if self.status_code is not None and 200 <= self.status_code < 300:
            return "succeeded"
        return "failed"

    @property
    def message(self) -> str | None:
        if self.timed_out or (self.error_msg or "").startswith("Timeout"):
            return self.error_msg or "request timed out"
        if self.error_msg:
            return self.error_msg
        if self.status_code is not None and not 200 <= self.status_code < 300:
            body = " ".join((self.content or "").split())
            return f"HTTP {self.status_code}" + (f": {body[:120]}" if body else "")
        return None


# pg_trigger.tgenabled: O = fires (origin and local), A = always, R = replica sessions only, D = disabled.
TRIGGER_MODES = {"O": "enabled", "A": "enabled", "R": "replica-only", "D": "disabled"}


@dataclass(frozen=True)
class TrackingSettings:
    """What install wrote into the table comment."""

    retention_seconds: int | None = None
    cleanup_every: int | None = None
    cleanup_batch: int | None = None
    installed_at: datetime | None = None
    installed_by: str | None = None


@dataclass(frozen=True)
class TrackingCatalog:
    """The tracking objects and this role's privileges, as the catalogs show them (`status_query`)."""

    queue_present: bool
    responses_present: bool
    schema_present: bool
    table_present: bool
    function_present: bool
    trigger_present: bool
    trigger_mode: str | None  # pg_trigger.tgenabled
    trigger_calls_function: bool
    function_owner: str | None
    security_definer: bool
    settings: TrackingSettings
    readers: tuple[str, ...]
    function_triggers: tuple[str, ...]
    other_objects: int  # objects in schema cronctl that are not cronctl's
    log_readable: bool
    queue_readable: bool
    responses_readable: bool
    can_trigger_queue: bool
    owns_queue: bool
    can_create: bool
    owns_function: bool
    owns_table: bool
    owns_schema: bool
    role: str
    superuser: bool
    database: str

    @property
    def trigger(self) -> str:
        """`enabled`, `disabled`, `replica-only`, `missing`, or `foreign` (a trigger of that name calls another
        function)."""
        if not self.trigger_present:
            return "missing"
        if not self.trigger_calls_function:
            return "foreign"
        return TRIGGER_MODES.get(self.trigger_mode or "", "disabled")

    @property
    def installed(self) -> bool:
        """Table, function and the trigger calling it are all there (the trigger may be disabled)."""
        return self.table_present and self.function_present and self.trigger_present and self.trigger_calls_function

    @property
    def anything_present(self) -> bool:
        return self.table_present or self.function_present or (self.trigger_present and self.trigger_calls_function)


@dataclass(frozen=True)
class LogStats:
    """What the request tracking log holds: how many rows, and the newest."""

    rows: int
    newest: datetime | None
    newest_id: int | None


@dataclass(frozen=True)
class PgNetNewest:
    """The newest request pg_net knows of, from its queue and its newest answered batch."""

    queue_newest_id: int | None
    response_newest_id: int | None
    response_newest_created: datetime | None

    @property
    def newest_id(self) -> int | None:
        ids = [i for i in (self.queue_newest_id, self.response_newest_id) if i is not None]
        return max(ids) if ids else None


@dataclass(frozen=True)
class RunAnswer:
    """The outcome of one pg_cron run of a pg_net job, and how it was linked to its answer."""

    cron: str
    run: Run
    attribution: str  # exact | inferred | ambiguous | none
    status: str  # succeeded | failed | skipped | pending | unverified
    message: str | None = None
    response: NetResponse | None = None
    candidates: tuple[str, ...] = ()  # ambiguous: every job that could own the answers in question
    possible: tuple[NetResponse, ...] = ()  # ambiguous: the answers that could be this run's
    how: str = ""  # one phrase: why this link (or why none)
    possible_all_good: bool = False  # ambiguous, but every answer it could be is good for this job


@dataclass
class Attribution:
    """Every pg_net job's runs linked to their answers (`evaluate.attribution.attribute`)."""

    answers: dict[tuple[str, str], RunAnswer] = field(default_factory=dict)  # (cron job, runid) → answer
    unlinked: list[NetResponse] = field(default_factory=list)  # answers no run read here could own
    tracking: bool = False
    _by_job: dict[str, list[RunAnswer]] | None = field(default=None, repr=False, compare=False)
    _indexed: int = field(default=-1, repr=False, compare=False)

    def for_job(self, cron: str) -> list[RunAnswer]:
        if self._by_job is None or self._indexed != len(self.answers):
            index: dict[str, list[RunAnswer]] = {}
            for (job, _rid), answer in self.answers.items():
                index.setdefault(job, []).append(answer)
            for found in index.values():
                found.sort(key=lambda a: start_of(a.run), reverse=True)
            self._by_job, self._indexed = index, len(self.answers)
        return list(self._by_job.get(cron, []))

    def owners(self) -> dict[int, str]:
        """Response id → the job that owns it (exact or inferred links only)."""
        return {
            a.response.id: a.cron
            for a in self.answers.values()
            if a.response is not None and a.attribution in ("exact", "inferred")
        }

    def unplaced(self) -> dict[int, tuple[str, ...]]:
        """Response id → candidate jobs, for answers no run could be given."""
        out: dict[int, tuple[str, ...]] = {}
        for answer in self.answers.values():
            if answer.attribution == "ambiguous":
                for response in answer.possible:
                    out[response.id] = tuple(sorted(set(out.get(response.id, ())) | set(answer.candidates)))
        return out


def start_of(run: Run) -> datetime:
    """When a run started, aware; a run without a start sorts before every other."""
    return aware(run.started_at) if run.started_at is not None else datetime.min.replace(tzinfo=UTC)


# --- failures, hygiene and silences -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureCount:
    """Failed runs aggregated by a source over the whole window: one (jobs, message, status) and how many."""

    jobs: tuple[str, ...]
    source: str
    message: str | None
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    http_status: int | None = None
    candidates: tuple[str, ...] = ()  # jobs that could own failures no run could be given (pg_net, no tracking)

    def newest_run(self, job: str) -> Run:
        """A stand-in for the newest failed run of the group, for symptoms."""
        return Run(
            job=job,
            source=self.source,
            status="failed",
            finished_at=self.last_seen,
            message=self.message,
            http_status=self.http_status,
        )


@dataclass(frozen=True)
class CronRow:
    """One cron.job row as this role sees it."""

    name: str
    schedule: str
    command: str
    active: bool


@dataclass(frozen=True)
class HygieneFacts:
    role: str = ""
    cron_installed: bool = False
    cron_jobs: tuple[CronRow, ...] | None = None  # None: cron.job not readable by this role
    sees_all_jobs: bool = True  # superuser / BYPASSRLS: cron.job shows every role's jobs
    run_details_rows: int | None = None  # None: unknown (never analysed, or not read)
    run_details_bytes: int | None = None
    settings_visible: bool = False  # cron.* settings visible (superuser or pg_read_all_settings)
    cron_timezone: str | None = None  # cron.timezone when visible (pg_cron 1.5+)
    log_run: str | None = None  # cron.log_run when visible
    pg_net_installed: bool = False
    pg_net_ttl_seconds: float | None = None  # None: pg_net.ttl is not defined in this session
    pg_net_ttl_text: str | None = None
    error: str | None = None  # the hygiene facts could not be read: why


@dataclass(frozen=True)
class Silence:
    id: str
    runbook: str
    job: str | None  # None: every job and every system-wide problem of the runbook
    created_at: datetime
    until: datetime
    author: str
    reason: str
    store: str  # database | local

    def active(self, at: datetime) -> bool:
        return aware(self.created_at) <= aware(at) < aware(self.until)

    def covers(self, job: str | None) -> bool:
        return self.job is None or self.job == job

    @property
    def target(self) -> str:
        return self.job if self.job is not None else "all jobs"

    def brief(self) -> dict[str, Any]:
        """What a silenced job or finding carries in triage's JSON."""
        return {"until": self.until, "author": self.author, "reason": self.reason, "store": self.store,
                "all": self.job is None}  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "runbook": self.runbook,
            "job": self.job,
            "all": self.job is None,
            "created_at": self.created_at,
            "until": self.until,
            "author": self.author,
            "reason": self.reason,
            "store": self.store,
        }


# --- HTTP triggers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What came back for one HTTP attempt. `status_code` is None when nothing came back (`error` says why)."""

    status_code: int | None
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    truncated: bool = False
    error: str | None = None
    error_kind: str | None = None  # timeout | refused | dns | tls | reset | protocol


@dataclass(frozen=True)
class PreparedRequest:
    """One request ready to send, plus a display form in which secrets are `$VARNAME` references."""

    job: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    request_id: str
    display_url: str
    display_headers: dict[str, str]
    display_body: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One send: the answer (or why there was none), how long it took, and what happens next."""

    answer: Answer
    elapsed_ms: float
    retry_after: float | None = None
    bytes_read: int = 0
    next_delay: float | None = None  # seconds until the next attempt, None when this was the last
    note: str | None = None  # why no retry followed, when one might have


# --- what one collection read (triage, logs, trigger --verify, locks) -------------------------------------------------


@dataclass
class StatementAnswer:
    """What one statement of a pipelined batch returned: its rows, or why it did not."""

    key: str
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: CronctlError | None = None
    timed_out: bool = False
    missing: bool = False  # the table, column or schema does not exist

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class JobData:
    """One job's history as collected: its runs from every source, and how each source answered."""

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
    """Everything one collection read for the jobs asked about, before any judgement."""

    now: datetime
    jobs: dict[str, JobData] = field(default_factory=dict)
    facts: Any = None  # ServerFacts | None
    scheduler: Any = None  # SchedulerState | None
    backlogs: dict[str, StatementAnswer] = field(default_factory=dict)
    runlog_columns: dict[str, StatementAnswer] = field(default_factory=dict)
    locks: list[Lock] = field(default_factory=list)
    lock_errors: list[str] = field(default_factory=list)
    secrets: StatementAnswer | None = None
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
    runs_per_net_job: int = 0  # the walk's limit for pg_net jobs, set with the walk (a job that hit it has older runs)
    history_only: bool = False  # read for `logs` / `trigger --verify`: no backlogs, locks, silences or hygiene
    cron_rows: list[CronRow] | None = None  # every cron.job row this role sees (None: not read)
    # Silences in force at `now` from both stores; `silence_notes` say what could not be read (never an error).
    silences: list[Silence] = field(default_factory=list)
    silence_notes: list[str] = field(default_factory=list)
    silence_catalog: Any = None  # sources.silences.SilenceCatalog | None
    hygiene: HygieneFacts | None = None  # None: not read (history only, or judging a past time)
    # job -> what its history sources outside the database said about it that is not a run (for root causes);
    # "tokens" lists each source's token it could not use ({"source", "env", "state"}), one per source
    external_facts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class HistoryResult:
    """One job's runs from every history source, newest first, and how each source answered (with its count)."""

    job: str
    runs: list[Run] = field(default_factory=list)
    sources: list[SourceNote] = field(default_factory=list)
    function: str | None = None  # the Edge Function / URL the pg_cron command calls

    @property
    def all_failed(self) -> bool:
        return bool(self.sources) and all(s.state == "error" for s in self.sources)


# --- fleets -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One system: a runbook file and a profile (None: the runbook without a profile)."""

    path: Path
    profile: str | None = None


@dataclass
class SystemResult:
    """One system of a fleet triage: its report, or the one line that says why there is none."""

    member: Member
    runbook: str | None  # the runbook's name; None when it could not be loaded
    status: str  # ok | warn | crit | unknown
    report: Any = None  # the system's triage Report; None on error
    error: str | None = None
    seconds: float = 0.0
    database: str | None = None  # host:port/dbname, no credentials

    @property
    def label(self) -> str:
        name = self.runbook or str(self.member.path)
        return f"{name} ({self.member.profile})" if self.member.profile else name


SILENCES_TABLE = "cronctl.silences"  # where silences every operator sees are kept


@dataclass(frozen=True)
class SilenceCatalog:
    """What the catalog says about `cronctl.silences` for this role."""

    role: str
    database: str
    schema_present: bool
    schema_usage: bool
    schema_create: bool
    database_create: bool
    table_present: bool
    can_select: bool
    can_insert: bool
    can_delete: bool

    @property
    def readable(self) -> bool:
        return self.table_present and self.schema_usage and self.can_select

    @property
    def writable(self) -> bool:
        return self.readable and self.can_insert and self.can_delete

    @property
    def creatable(self) -> bool:
        """The table is missing and this role may create it (and its schema, when that is missing too)."""
        if self.table_present:
            return False
        if self.schema_present:
            return self.schema_usage and self.schema_create
        return self.database_create

    def why_not_writable(self) -> str:
        role = self.role
        if self.table_present and not self.schema_usage:
            return f"role {role} has no USAGE on schema cronctl"
        if self.table_present:
            missing = [p for p, ok in (("SELECT", self.can_select), ("INSERT", self.can_insert),
                                       ("DELETE", self.can_delete)) if not ok]  # fmt: skip
            return f"role {role} lacks {', '.join(missing)} on {SILENCES_TABLE}"
        if self.schema_present:
            return f"{SILENCES_TABLE} does not exist and role {role} may not create objects in schema cronctl"
        return f"{SILENCES_TABLE} does not exist and role {role} may not create schemas in database {self.database}"

    def why_not_readable(self) -> str | None:
        if not self.table_present:
            return None
        if not self.schema_usage:
            hidden = f"{SILENCES_TABLE} is not visible to role {self.role}"
            return f"{hidden}: needs GRANT USAGE ON SCHEMA cronctl TO {self.role}"
        if not self.can_select:
            hidden = f"{SILENCES_TABLE} is not visible to role {self.role}"
            return f"{hidden}: needs GRANT SELECT ON {SILENCES_TABLE} TO {self.role}"
        return None


@dataclass
class Where:
    """The store chosen for a change, and what the database said."""

    store: str  # database | local
    why_local: str | None = None
    catalog: SilenceCatalog | None = None
    read_only: bool = False
    db_error: str | None = None
    db_silences: list[Silence] = field(default_factory=list)

    def describe(self, path: Path) -> str:
        if self.store == "database":
            database = self.catalog.database if self.catalog else "?"
            return f"database {database}, table cronctl.silences (every operator sees it)"
        return f"local state file {path} (only this user on this machine sees it)"


@dataclass
class Found:
    """The silences in force now, from both stores, and what each store said."""

    silences: list[Silence] = field(default_factory=list)
    database: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)
