"""Plain typed objects a runbook is loaded into. Strings may hold `${VAR}` templates, resolved on use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUTH_KINDS = (
    "none",
    "bearer",
    "apikey",
    "header",
    "standard-webhooks",
    "stripe",
    "github",
    "hmac",
)
LOCK_BACKENDS = ("table", "advisory", "redis")
SEVERITIES = ("info", "warn", "crit")
# Normalised run statuses every history source maps into.
RUN_STATUSES = ("running", "succeeded", "failed", "partial", "skipped", "unknown")
NOTIFY_KINDS = ("slack", "webhook")
VERCEL_PLANS = ("hobby", "pro", "enterprise")
# `expect`: whether the job is meant to run. `disabled` marks a job that is off on purpose.
EXPECTS = ("enabled", "disabled")
THRESHOLD_MAX = 720  # fail_after / recover_after range, as Sentry Crons allows (1-720)


@dataclass(frozen=True)
class AuthSpec:
    kind: str = "none"
    secret_env: str | None = None  # env var holding the token / shared secret / signing key
    header: str | None = None  # header carrying the secret (`header`) or the signature (`hmac`)
    apikey_env: str | None = None  # Supabase: also send `apikey: <value>` (may equal secret_env)
    # Custom HMAC (`hmac`): what is signed, how the digest is written, and the headers that carry it.
    template: str = "{timestamp}.{body}"
    encoding: str = "hex"
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
    # Histories outside the database (sources/external): the runs of the job's [dispatch] workflow, the
    # invocations of its Vercel cron route, the invocations of its Supabase Edge Function (by function name).
    github: bool = False
    vercel: bool = False
    supabase: str | None = None

    @property
    def has_any(self) -> bool:
        return bool(self.pg_cron or self.run_log or self.health or self.external)

    @property
    def external(self) -> tuple[str, ...]:
        """The history sources outside the database this job reads, by name."""
        flags = {"github": self.github, "vercel": self.vercel, "supabase": self.supabase is not None}
        return tuple(name for name, on in flags.items() if on)


@dataclass(frozen=True)
class LockSpec:
    backend: str  # table | advisory | redis
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
    name: str
    description: str = ""
    schedule: str | None = None
    timezone: str = "UTC"
    method: str = "POST"
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
    scheduler: str = "external"  # pg_cron | vercel | github | external: who fires it normally
    # Sentry Crons' thresholds: critical only after `fail_after` failures in a row (fewer warn); after that,
    # ok again only after `recover_after` ok runs in a row.
    fail_after: int = 1
    recover_after: int = 1
    expect: str = "enabled"  # enabled | disabled (off on purpose: not a problem while off, a finding when it runs)

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

    name: str
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
    statuses: dict[str, str] = field(default_factory=dict)  # raw value -> normalised status
    order_column: str | None = None  # indexed column to walk backwards (defaults to id_column)


@dataclass(frozen=True)
class LockTableSpec:
    name: str
    table: str
    schema: str = "public"
    name_column: str = "job_name"
    holder_column: str = "locked_by"
    acquired_column: str = "locked_at"
    expires_column: str | None = "lock_expires_at"


@dataclass(frozen=True)
class HealthSpec:
    """An HTTP endpoint that reports per-job health (seed shape: healthy / checks / missing)."""

    name: str
    url: str
    auth: AuthSpec = field(default_factory=AuthSpec)
    timeout: float = 10.0


@dataclass(frozen=True)
class BacklogSpec:
    name: str
    sql: str  # read-only query returning a column `value` (and optionally `oldest`)
    description: str = ""
    warn: float = 1
    crit: float | None = None
    job: str | None = None


@dataclass(frozen=True)
class QuerySpec:
    name: str
    sql: str
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)  # name -> int | float | bool | text | timestamp
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FailureMode:
    """A known symptom and what to do about it: the runbook's table of failure modes."""

    symptom: str
    cause: str
    action: str
    severity: str = "warn"
    job: str | None = None
    group: str | None = None  # failure group, e.g. AUTH
    state: str | None = None  # job state, e.g. missed
    verdict: str | None = None  # trigger verdict, e.g. skipped
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
    kind: str | None = None  # slack | webhook; None: slack for a *.slack.com host, else webhook
    timeout: float = 10.0  # one deadline for the whole request


@dataclass(frozen=True)
class VercelSpec:
    """`[vercel]`: the project whose cron invocations `history = { vercel = true }` reads (Vercel REST API)."""

    project: str  # project id or name
    team: str | None = None  # teamId (or team slug) the project belongs to
    token_env: str = "VERCEL_TOKEN"
    api_url: str = "https://api.vercel.com"
    plan: str = "pro"  # hobby | pro | enterprise: on Hobby a cron fires anywhere within its hour
    timeout: float = 10.0  # one deadline for the whole read


@dataclass(frozen=True)
class SupabaseSpec:
    """`[supabase]`: the project whose Edge Function invocations `history = { supabase = ... }` reads."""

    project_ref: str
    token_env: str = "SUPABASE_ACCESS_TOKEN"
    api_url: str = "https://api.supabase.com"
    timeout: float = 10.0  # one deadline for the whole read


@dataclass(frozen=True)
class Profile:
    name: str
    vars: dict[str, str] = field(default_factory=dict)
    env_file: str | None = None


@dataclass(frozen=True)
class Runbook:
    name: str
    path: Path
    description: str = ""
    connection: ConnectionSpec = field(default_factory=ConnectionSpec)
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
    profiles: dict[str, Profile] = field(default_factory=dict)
    profile: str | None = None  # the profile selected at load time
    notify: NotifySpec | None = None
    defaults: JobDefaults = field(default_factory=JobDefaults)
    vercel: VercelSpec | None = None
    supabase: SupabaseSpec | None = None
