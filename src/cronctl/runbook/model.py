"""Plain typed objects a runbook is loaded into. Strings may hold `${VAR}` templates, resolved on use.

These dataclasses are also the runbook's schema (runbook/schema.py): every field is a key of its table unless its
metadata says otherwise, and a field with a closed vocabulary names its words (`one_of`), so adding a field here
is what adds a runbook key, and adding a word to a vocabulary is what makes the loader accept it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronctl.auth import names as auth_kinds
from cronctl.evaluate.classify import GROUPS as BUILT_IN_FAILURE_GROUPS
from cronctl.runbook.schema import in_table, keyed_by, keys_of, not_written, one_of, tables_of
from cronctl.sources.external import names as outside_history_names
from cronctl.sources.external import sections as outside_history_sections
from cronctl.sources.locks import names as lock_backend_names

AUTH_KINDS = auth_kinds()  # one module per kind in cronctl/auth/
LOCK_BACKENDS = lock_backend_names()  # one per file in sources/locks/, from its registry
OUTSIDE_HISTORIES = outside_history_names()  # one per file in sources/external/, from its registry
SEVERITIES = ("info", "warn", "crit")
# Normalised run statuses every history source maps into.
RUN_STATUSES = ("running", "succeeded", "failed", "partial", "skipped", "unknown")
NOTIFY_KINDS = ("slack", "webhook")
# `expect`: whether the job is meant to run. `disabled` marks a job that is off on purpose.
EXPECTS = ("enabled", "disabled")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
# `scheduler`: who fires the job normally.
SCHEDULERS = ("pg_cron", "vercel", "github", "external")
# `[queries.<name>] params` types (cli/query.py converts each).
PARAM_TYPES = ("int", "float", "bool", "text", "timestamp", "interval")
# What a failure mode may match on, in words evaluation produces: the built-in failure groups (defined with their
# patterns in evaluate/classify.py, which imports nothing else of cronctl), job states (evaluate/health.py) and
# verdicts (evaluate/verdict.py); the last two are kept here because the loader checks them and must not import
# evaluation (tests/unit/test_import_contract.py).
FAILURE_GROUPS = BUILT_IN_FAILURE_GROUPS
JOB_STATES = (
    "ok",
    "degraded",
    "unverified",
    "missed",
    "failing",
    "running",
    "overrunning",
    "stuck",
    "disabled",
    "never_run",
    "unknown",
)
VERDICTS = ("ok", "skipped", "failed", "error")
THRESHOLD_MAX = 720  # fail_after / recover_after range, as Sentry Crons allows (1-720)


@dataclass(frozen=True)
class AuthSpec:
    kind: str = field(default="none", metadata=one_of("an auth kind", AUTH_KINDS))
    secret_env: str | None = None  # env var holding the token / shared secret / signing key
    header: str | None = None  # header carrying the secret (`header`) or the signature (`hmac`)
    apikey_env: str | None = None  # Supabase: also send `apikey: <value>` (may equal secret_env)
    # Custom HMAC (`hmac`): what is signed, how the digest is written, and the headers that carry it.
    template: str = "{timestamp}.{body}"
    encoding: str = field(default="hex", metadata=one_of("an HMAC digest encoding", ("hex", "base64")))
    prefix: str = ""
    timestamp_header: str | None = None

    def env_vars(self) -> tuple[str, ...]:
        return tuple(v for v in (self.secret_env, self.apikey_env) if v)


@dataclass(frozen=True)
class SuccessRule:
    status: tuple[int, ...] = ()  # empty: any 2xx
    require: tuple[str, ...] = ()  # JSON predicates that must hold, e.g. "success == true"
    skipped: tuple[str, ...] = ()  # JSON predicates that mean "answered but did nothing"
    summary: str | None = None  # JSON key whose object is shown as a table


@dataclass(frozen=True)
class HistorySpec:
    pg_cron: str | None = None  # cron.job jobname
    pg_net: bool = False  # link net._http_response rows to this job's runs
    run_log: str | None = None  # name of a [run_logs.*] entry
    run_log_key: str | None = None  # value of that table's job column for this job
    health: str | None = None  # name of a [health.*] endpoint reporting this job
    # Histories outside the database (sources/external), each a key of this table read by its source: source ->
    # what the key selected, e.g. {"github": True} (the runs of the job's [dispatch] workflow), {"vercel": True}
    # (the invocations of its cron route), {"supabase": "send-emails"} (those of its Edge Function, by name).
    outside: Mapping[str, str | bool] = field(default_factory=dict, metadata=keys_of(OUTSIDE_HISTORIES))

    @property
    def has_any(self) -> bool:
        return bool(self.pg_cron or self.run_log or self.health or self.external)

    @property
    def external(self) -> tuple[str, ...]:
        """The history sources outside the database this job reads, by name (as the loader reads them: in the
        registry's order)."""
        return tuple(self.outside)


@dataclass(frozen=True)
class LockSpec:
    backend: str = field(metadata=one_of("a lock backend", LOCK_BACKENDS))
    key: str  # job_name value, Redis key, or advisory key ("123" or "1:2")
    table: str | None = None  # name of a [lock_tables.*] entry (backend = table)
    margin: float = 300.0  # seconds past the job's timeout before a lock counts as stale
    ttl: float | None = None  # Redis: how long the lock is meant to live (`SET ... NX EX`); no TTL is suspicious


@dataclass(frozen=True)
class DispatchSpec:
    """Fire the job through GitHub's workflow_dispatch API instead of its HTTP endpoint."""

    repo: str
    workflow: str
    ref: str = "main"
    token_env: str = "GITHUB_TOKEN"
    api_url: str = "https://api.github.com"
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobSpec:
    name: str = field(metadata=not_written())  # the table's name: [jobs.<name>]
    description: str = ""
    schedule: str | None = None
    timezone: str = "UTC"
    method: str = field(default="POST", metadata=one_of("an HTTP method", METHODS))
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    timeout: float = 30.0
    env: tuple[str, ...] = ()
    auth: AuthSpec = field(default_factory=AuthSpec)
    success: SuccessRule = field(default_factory=SuccessRule)
    history: HistorySpec = field(default_factory=HistorySpec)
    lock: LockSpec | None = None
    dispatch: DispatchSpec | None = None
    idempotent: bool = False
    confirm: bool = True
    grace: float | None = None  # seconds a run may be late before it counts as missed
    trigger_type_field: str | None = None  # body field that says MANUAL / SCHEDULER / RETRY
    idempotency_header: str | None = None
    # Who fires it normally; the loader's default is pg_cron when history.pg_cron is set.
    scheduler: str = field(default="external", metadata=one_of("a scheduler", SCHEDULERS))
    # Sentry Crons' thresholds: critical only after `fail_after` failures in a row (fewer warn); after that,
    # ok again only after `recover_after` ok runs in a row.
    fail_after: int = 1
    recover_after: int = 1
    # Off on purpose (`disabled`): not a problem while off, a finding when it runs.
    expect: str = field(default="enabled", metadata=one_of("an expect value", EXPECTS))

    @property
    def runs_sql(self) -> bool:
        """No endpoint and no workflow: pg_cron runs the job's SQL inside the database (history.pg_cron names it)."""
        return self.url is None and self.dispatch is None

    def required_env(self) -> tuple[str, ...]:
        """Every variable the job needs: declared ones plus auth secrets, in order, unique."""
        names = [*self.env, *self.auth.env_vars()]
        # The workflow token is needed only when dispatching is the job's one way to be fired.
        if self.dispatch and self.url is None:
            names.append(self.dispatch.token_env)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class RunLogSpec:
    """An application table where jobs log their runs (cron_runs, run_log, ...)."""

    name: str = field(metadata=not_written())
    table: str
    schema: str = "public"
    id_column: str = "id"
    job_column: str | None = None
    started_column: str = "started_at"
    finished_column: str | None = "finished_at"
    status_column: str = "status"
    message_column: str | None = None
    records_column: str | None = None
    extra_columns: dict[str, str] = field(default_factory=dict)  # label -> column, shown as-is
    # raw value -> normalised status; written the other way round: `statuses.failed = ["error"]`
    statuses: dict[str, str] = field(default_factory=dict, metadata=keyed_by("a run status", RUN_STATUSES))
    order_column: str | None = None  # indexed column to walk backwards (defaults to id_column)


@dataclass(frozen=True)
class LockTableSpec:
    name: str = field(metadata=not_written())
    table: str
    schema: str = "public"
    name_column: str = "job_name"
    holder_column: str = "locked_by"
    acquired_column: str = "locked_at"
    expires_column: str | None = "lock_expires_at"


@dataclass(frozen=True)
class HealthSpec:
    """An HTTP endpoint that reports per-job health (seed shape: healthy / checks / missing)."""

    name: str = field(metadata=not_written())
    url: str
    auth: AuthSpec = field(default_factory=AuthSpec)
    timeout: float = 10.0


@dataclass(frozen=True)
class BacklogSpec:
    name: str = field(metadata=not_written())
    sql: str  # read-only query returning a column `value` (and optionally `oldest`)
    description: str = ""
    warn: float = 1
    crit: float | None = None
    job: str | None = None


@dataclass(frozen=True)
class QuerySpec:
    name: str = field(metadata=not_written())
    sql: str
    description: str = ""
    params: dict[str, str] = field(default_factory=dict, metadata=one_of("a parameter type", PARAM_TYPES))
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FailureMode:
    """A known symptom and what to do about it: the runbook's table of failure modes."""

    symptom: str
    cause: str
    action: str
    severity: str = field(default="warn", metadata=one_of("a severity", SEVERITIES))
    job: str | None = None
    # A built-in failure group or one of the runbook's [[failure_groups]], e.g. AUTH.
    group: str | None = field(default=None, metadata=one_of("a failure group", FAILURE_GROUPS))
    state: str | None = field(default=None, metadata=one_of("a job state", JOB_STATES))
    # What one answer was judged (trigger) or the newest run said (triage), e.g. skipped.
    verdict: str | None = field(default=None, metadata=one_of("a verdict", VERDICTS))
    http_status: int | None = None
    message: str | None = None  # regex searched in the failure message
    check: str | None = None  # backlog or platform check name


@dataclass(frozen=True)
class FailureGroupSpec:
    """A runbook-defined failure group, tried before the built-in vocabulary."""

    name: str
    pattern: str | None = None  # regex on the message
    status: tuple[int, ...] = ()


@dataclass(frozen=True)
class SecretsTableSpec:
    table: str = "cron_secrets"
    schema: str = "public"
    key_column: str = "key"
    value_column: str = "value"
    updated_column: str | None = "updated_at"
    description_column: str | None = "description"
    placeholder_prefix: str = "placeholder"
    rotate_function: str | None = "rotate_cron_secret"


@dataclass(frozen=True)
class ExitCondition:
    """When an incident counts as over, e.g. three ok runs in a row and backlogs back to zero."""

    consecutive_ok: int = 3
    backlogs_clear: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobDefaults:
    """Runbook-wide defaults (`[defaults]`) for keys every job may set itself."""

    fail_after: int = 1
    recover_after: int = 1


@dataclass(frozen=True)
class ConnectionSpec:
    database_url: str = "${DATABASE_URL}"
    redis_url: str = "${REDIS_URL:-}"
    statement_timeout: float = 5.0
    connect_timeout: float = 5.0


@dataclass(frozen=True)
class NotifySpec:
    """`[notify]`: where triage posts when the status or the set of problems changes (services/notify.py)."""

    url: str  # a template: `${SLACK_WEBHOOK_URL}` (the URL is a secret; it never appears in output)
    # None: slack for a *.slack.com host, else webhook.
    kind: str | None = field(default=None, metadata=one_of("a notify kind", NOTIFY_KINDS))
    timeout: float = 10.0  # one deadline for the whole request


@dataclass(frozen=True)
class Profile:
    name: str = field(metadata=not_written())
    vars: dict[str, str] = field(default_factory=dict)
    env_file: str | None = None


@dataclass(frozen=True)
class Runbook:
    name: str = field(metadata=in_table("runbook"))  # [runbook] name
    path: Path = field(metadata=not_written())
    description: str = field(default="", metadata=in_table("runbook"))
    connection: ConnectionSpec = field(default_factory=ConnectionSpec)
    profiles: dict[str, Profile] = field(default_factory=dict)
    jobs: dict[str, JobSpec] = field(default_factory=dict)
    run_logs: dict[str, RunLogSpec] = field(default_factory=dict)
    lock_tables: dict[str, LockTableSpec] = field(default_factory=dict)
    health: dict[str, HealthSpec] = field(default_factory=dict)
    backlogs: dict[str, BacklogSpec] = field(default_factory=dict)
    queries: dict[str, QuerySpec] = field(default_factory=dict)
    failure_modes: tuple[FailureMode, ...] = ()
    failure_groups: tuple[FailureGroupSpec, ...] = ()
    secrets_table: SecretsTableSpec | None = None
    exit_condition: ExitCondition = field(default_factory=ExitCondition)
    defaults: JobDefaults = field(default_factory=JobDefaults)
    notify: NotifySpec | None = None
    # The `[<name>]` tables of the history sources outside the database, each read into the dataclass its source
    # declares, e.g. {"vercel": sources.external.vercel.VercelSpec(project=...)}.
    vendors: Mapping[str, object] = field(default_factory=dict, metadata=tables_of(outside_history_sections))
    profile: str | None = field(default=None, metadata=not_written())  # the profile selected at load time
