"""The five seed systems as the corpus builds them: tables from the seeds, pg_cron jobs with commands like the
seeds', and what each endpoint answers on a good day. Incidents (corpus.incidents) start from these and change
what the seed's own failure modes change.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from corpus.builder import (
    Answer,
    Builder,
    CronCall,
    CronJob,
    EdgeFn,
    WorkflowRun,
    iso,
    jitter,
    ok,
    ticks,
)
from corpus.vendors import GITHUB_TOKEN

SUPABASE_REF = "qzvxkplmnwbtrhga"
SUPABASE = f"https://{SUPABASE_REF}.supabase.co"
# Test values only (the corpus never holds a real secret); shaped like the real ones.
SERVICE_ROLE_KEY = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.corpus-service-role.c2lnbmF0dXJl"
CRON_SECRET = "corpus-cron-secret-6f1d0c"
SCHEDULER_TOKEN = "corpus-scheduler-token-93ab"
Reply = Callable[[datetime], Answer | None]


def pg_net_command(url_sql: str, headers: Sequence[tuple[str, str]], body_sql: str, timeout_ms: int | None) -> str:
    """`SELECT net.http_post(…)` as the seeds' migrations write it (named arguments, one per line)."""
    pairs = ",\n      ".join(f"'{name}', {value}" for name, value in headers)
    lines = [
        f"    url := {url_sql}",
        f"    headers := jsonb_build_object(\n      {pairs}\n    )",
        f"    body := {body_sql}",
    ]
    if timeout_ms is not None:
        lines.append(f"    timeout_milliseconds := {timeout_ms}")
    return "\n  SELECT net.http_post(\n" + ",\n".join(lines) + "\n  );\n  "


def _fire_all(
    b: Builder,
    jobs: dict[str, CronJob],
    defaults: dict[str, Reply],
    replies: dict[str, Reply] | None,
    since: datetime,
    fail: Callable[[str, datetime], str | None] | None = None,
) -> None:
    chosen = {**defaults, **(replies or {})}
    b.fire(
        [j for j in jobs.values() if j.active or j.name in (replies or {})],
        since,
        answer=lambda job, tick: chosen[job.name](tick),
        fail=(lambda job, tick: fail(job.name, tick)) if fail else None,
    )


# ---------------------------------------------------------------- seed 000: messaging-dispatch

_MESSAGES_DDL = """
CREATE TABLE public.messages (
    id bigserial PRIMARY KEY, conversation_id bigint NOT NULL, content text NOT NULL,
    scheduled_at timestamptz, scheduled_status text, sent_at timestamptz, created_at timestamptz NOT NULL
);
CREATE INDEX messages_scheduled_idx ON public.messages (scheduled_status, scheduled_at);
CREATE TABLE public.typing_indicators (
    conversation_id bigint NOT NULL, user_id bigint NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE TABLE public.dt_purchases (
    id bigserial PRIMARY KEY, user_id bigint NOT NULL, order_id text NOT NULL UNIQUE, amount integer NOT NULL,
    status text NOT NULL DEFAULT 'pending', created_at timestamptz NOT NULL, confirmed_at timestamptz
);
"""


class Messaging:
    """Seed 000: scheduled-dispatcher every minute, payment-reconcile every 30 minutes, refresh-fallback-quotas
    daily at 0:00, Supabase Edge Functions called through pg_net."""

    RUNBOOK = "messaging-dispatch"

    def __init__(
        self,
        b: Builder,
        *,
        quotas_active: bool = True,
        pg_net: bool = True,
        supabase: bool = False,
        edge: EdgeFn | None = None,
    ) -> None:
        """`supabase`: the operator can read the project's Edge Function logs (SUPABASE_ACCESS_TOKEN is set) and
        every request pg_net sent is in them (`edge` says what a function logged; default its answer's status).
        Without it the token is not set and the runbook's `history.supabase` reads nothing."""
        self.b = b
        b.sql(_MESSAGES_DDL)
        if pg_net:
            b.install_pg_net()
        if supabase:
            b.supabase_project(SUPABASE_REF, ["scheduled-dispatcher", "payment-reconcile", "refresh-fallback-quotas"])
            b.log_edge_functions(SUPABASE_REF, lambda job: job.name, edge)
        b.env.update(
            SUPABASE_URL=SUPABASE, SUPABASE_SERVICE_ROLE_KEY=SERVICE_ROLE_KEY, CRON_SECRET=CRON_SECRET,
            TOSSPAYMENTS_SECRET_KEY="corpus-toss-key",
        )  # fmt: skip
        # The header expressions of the commands, and the values they resolve to in the queue row.
        secret = [
            ("Content-Type", "'application/json'"),
            ("X-Cron-Secret", "current_setting('app.settings.cron_secret', true)"),
        ]
        bearer = [
            ("Content-Type", "'application/json'"),
            ("Authorization", "'Bearer ' || current_setting('app.settings.service_role_key', true)"),
        ]
        sent = {
            "secret": {"Content-Type": "application/json", "X-Cron-Secret": CRON_SECRET},
            "bearer": {"Content-Type": "application/json", "Authorization": f"Bearer {SERVICE_ROLE_KEY}"},
        }

        def job(name: str, schedule: str, auth: str, timeout_ms: int, *, active: bool = True) -> CronJob:
            url = f"{SUPABASE}/functions/v1/{name}"
            headers = secret if auth == "secret" else bearer
            return b.cron_job(
                name, schedule, pg_net_command(f"'{url}'", headers, "'{}'::jsonb", timeout_ms), active=active,
                url=url, headers=sent[auth], body={}, timeout_ms=timeout_ms,
            )  # fmt: skip

        self.jobs = {
            "scheduled-dispatcher": job("scheduled-dispatcher", "* * * * *", "secret", 30000),
            "payment-reconcile": job("payment-reconcile", "*/30 * * * *", "bearer", 60000),
            "refresh-fallback-quotas": job(
                "refresh-fallback-quotas", "0 0 * * *", "secret", 30000, active=quotas_active
            ),
        }
        self.delivered(hours=6)

    @staticmethod
    def good() -> dict[str, Reply]:
        return {
            # `processed: 0` (nothing waiting) is a healthy answer (seed §2).
            "scheduled-dispatcher": lambda t: ok(jitter(t, lo=0.25, hi=0.9), processed=int(jitter(t, "n", lo=0, hi=3))),
            "payment-reconcile": lambda t: ok(jitter(t, lo=1.0, hi=3.2), reconciled=int(jitter(t, "n", lo=0, hi=4))),
            "refresh-fallback-quotas": lambda t: ok(jitter(t, lo=1.5, hi=2.5), reset=412),
        }

    def fire(
        self,
        replies: dict[str, Reply] | None = None,
        *,
        since: timedelta = timedelta(days=2),
        fail: Callable[[str, datetime], str | None] | None = None,
    ) -> None:
        _fire_all(self.b, self.jobs, self.good(), replies, self.b.now - since, fail)

    def delivered(self, hours: int) -> None:
        """Scheduled messages all sent on time, purchases all confirmed (no backlog, whatever the clock says)."""
        now = self.b.now
        self.b.rows(
            "public.messages",
            ["conversation_id", "content", "scheduled_at", "scheduled_status", "sent_at", "created_at"],
            [
                (100 + i % 5, f"scheduled message {i}", at, "sent", at + timedelta(seconds=20), at - timedelta(hours=1))
                for i in range(hours * 4)
                for at in [now - timedelta(hours=hours) + timedelta(minutes=15 * i)]
            ],
        )
        self.b.rows(
            "public.dt_purchases",
            ["user_id", "order_id", "amount", "status", "created_at", "confirmed_at"],
            [
                (2000 + i, f"order-c{i:04d}", 4900, "confirmed", c, c + timedelta(minutes=3))
                for i in range(12)
                for c in [now - timedelta(hours=6) + timedelta(minutes=25 * i)]
            ],
        )

    def overdue_messages(self, since: datetime, count: int) -> None:
        """Messages whose scheduled_at passed while the dispatcher failed: still `pending`."""
        self.b.rows(
            "public.messages",
            ["conversation_id", "content", "scheduled_at", "scheduled_status", "sent_at", "created_at"],
            [
                (
                    200 + i % 7,
                    f"overdue message {i}",
                    since + timedelta(minutes=i),
                    "pending",
                    None,
                    since - timedelta(hours=1),
                )
                for i in range(count)
            ],
        )

    def pending_purchases(self, ages_minutes: Sequence[int]) -> None:
        self.b.rows(
            "public.dt_purchases",
            ["user_id", "order_id", "amount", "status", "created_at", "confirmed_at"],
            [
                (1000 + i, f"order-p{i:04d}", 9900 + i, "pending", self.b.now - timedelta(minutes=age), None)
                for i, age in enumerate(ages_minutes)
            ],
        )


# ---------------------------------------------------------------- seed 004: billing-pgcron

_SECRETS_DDL = """
CREATE TABLE public.cron_secrets (
    key text PRIMARY KEY, value text NOT NULL, description text, updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION public.get_secret(p_key text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $fn$ SELECT value FROM public.cron_secrets WHERE key = p_key $fn$;
CREATE OR REPLACE FUNCTION public.rotate_cron_secret(p_key text, p_value text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
  UPDATE public.cron_secrets SET value = p_value, updated_at = NOW() WHERE key = p_key;
END;
$fn$;
REVOKE INSERT, UPDATE, DELETE ON public.cron_secrets FROM PUBLIC;
"""

# name: (schedule, function, body, timeout_milliseconds in the command; None: pg_net's default 5000 ms)
BILLING_JOBS: dict[str, tuple[str, str, Any, int | None]] = {
    "generate-t5-invoices": ("0 1 * * *", "generate-t5-invoices", {}, None),
    "run-escalation-orchestration": ("0 2 * * *", "run-escalation-orchestration", {"force": False}, None),
    "schedule-create-zoom": ("*/15 * * * *", "schedule-create-zoom", {"force_invoke": True}, None),
    "generate-monthly-invoices": ("0 2 * * *", "generate-monthly-invoices", {}, None),
    "escalate-overdue-bookings": ("0 6 * * *", "escalate-overdue-bookings", {}, None),
    # The seed's reschedule: every minute, body {limit: 5, runs: 1}, timeout_milliseconds := 60000.
    "notification-worker": ("* * * * *", "notification-worker", {"limit": 5, "runs": 1}, 60000),
}


# The [dispatch] workflow of each job (the seed's `Path: .github/workflows/...`).
WORKFLOWS = {
    "generate-t5-invoices": "generate-t5-invoices.yaml",
    "run-escalation-orchestration": "run-escalation-orchestration.yaml",
    "schedule-create-zoom": "schedule-create-zoom.yaml",
    "generate-monthly-invoices": "generate-monthly-invoices.yaml",
    "escalate-overdue-bookings": "escalate-overdue-bookings.yaml",
    "notification-worker": "run-worker-queue.yaml",
}
BILLING_REPO = "corpus/billing"
# Runbook edits for jobs fired by their GitHub workflow's schedule instead of pg_cron (Billing(github_scheduled=)).
GITHUB_FIRED = {"history": "{ github = true }", "scheduler": '"github"'}


def github_delay(tick: datetime) -> float:
    """Minutes GitHub Actions takes to create a scheduled run: a few, and more at the top of the hour, its busiest
    time ("The schedule event can be delayed during periods of high loads … High load times include the start of
    every hour")."""
    return jitter(tick, "gh", lo=6.0, hi=17.0) if tick.minute == 0 else jitter(tick, "gh", lo=2.5, hi=9.0)


class Billing:
    """Seed 004: six Edge Functions fired by pg_cron through pg_net, URLs and keys read from public.cron_secrets.
    Each job's GitHub workflow twin is in GitHub's API (corpus.vendors): with only its manual runs by default (the
    seed moved the schedules to pg_cron), or, for the jobs named in `github_scheduled`, fired by the workflow's
    own schedule (those have no pg_cron job; the incident edits their runbook entry with GITHUB_FIRED)."""

    RUNBOOK = "billing-pgcron"

    def __init__(
        self,
        b: Builder,
        *,
        pg_net: bool = True,
        schedules: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        github_scheduled: Sequence[str] = (),
        public: bool = False,
    ) -> None:
        self.b = b
        self.public = public
        self.github_scheduled = tuple(github_scheduled)
        for workflow in WORKFLOWS.values():
            b.github_runs(BILLING_REPO, workflow, public=public)
        b.sql(_SECRETS_DDL)
        if pg_net:
            b.install_pg_net()
        values = {
            "supabase_url": SUPABASE,
            "service_role_key": SERVICE_ROLE_KEY,
            "cron_secret": CRON_SECRET,
            "edge_function_url": f"{SUPABASE}/functions/v1",
            "scheduler_secret_token": SCHEDULER_TOKEN,
            **(secrets or {}),
        }
        b.rows(
            "public.cron_secrets",
            ["key", "value", "description", "updated_at"],
            [(k, v, f"{k} for the cron jobs", b.now - timedelta(days=41)) for k, v in values.items()],
        )
        b.env.update(
            SUPABASE_URL=SUPABASE, SUPABASE_SERVICE_ROLE_KEY=SERVICE_ROLE_KEY, CRON_SECRET=CRON_SECRET,
            SUPABASE_ANON_KEY="corpus-anon-key", EDGE_FUNCTION_URL=f"{SUPABASE}/functions/v1",
            SCHEDULER_SECRET_TOKEN=SCHEDULER_TOKEN, GITHUB_REPOSITORY=BILLING_REPO, GITHUB_TOKEN=GITHUB_TOKEN,
        )  # fmt: skip
        self.jobs: dict[str, CronJob] = {}
        for name, (schedule, function, body, timeout_ms) in BILLING_JOBS.items():
            if name in self.github_scheduled:
                continue
            schedule = (schedules or {}).get(name, schedule)
            if name == "run-escalation-orchestration":
                key, headers = (
                    "cron_secret",
                    [
                        ("Content-Type", "'application/json'"),
                        ("Authorization", "'Bearer ' || public.get_secret('cron_secret')"),
                    ],
                )
            elif name == "schedule-create-zoom":
                key, headers = (
                    "scheduler_secret_token",
                    [
                        ("Content-Type", "'application/json'"),
                        ("Authorization", "'Bearer ' || public.get_secret('scheduler_secret_token')"),
                    ],
                )
            else:
                key, headers = "service_role_key", [
                    ("Content-Type", "'application/json'"),
                    ("Authorization", "'Bearer ' || public.get_secret('service_role_key')"),
                    ("apikey", "public.get_secret('service_role_key')"),
                ]  # fmt: skip
            base = "public.get_secret('edge_function_url')" if name == "schedule-create-zoom" else (
                "public.get_secret('supabase_url') || '/functions/v1'")  # fmt: skip
            body_sql = f"'{json.dumps(body)}'::jsonb"
            url = f"{SUPABASE}/functions/v1/{function}"
            sent = {"Content-Type": "application/json", "Authorization": f"Bearer {values[key]}"}
            if key == "service_role_key":
                sent["apikey"] = values[key]
            self.jobs[name] = b.cron_job(
                name, schedule, pg_net_command(f"{base} || '/{function}'", headers, body_sql, timeout_ms),
                url=url, headers=sent, body=body, timeout_ms=timeout_ms,
            )  # fmt: skip

    @staticmethod
    def good() -> dict[str, Reply]:
        return {
            "generate-t5-invoices": lambda t: ok(jitter(t, lo=2.5, hi=4.2), invoices=17),
            "run-escalation-orchestration": lambda t: ok(jitter(t, lo=0.8, hi=1.4), escalated=2),
            "schedule-create-zoom": lambda t: ok(jitter(t, lo=1.2, hi=2.8), created=int(jitter(t, lo=0, hi=3))),
            # Runs daily; the function decides whether today is in the monthly window.
            "generate-monthly-invoices": lambda t: ok(jitter(t, lo=0.5, hi=1.0), generated=0, in_window=False),
            "escalate-overdue-bookings": lambda t: ok(jitter(t, lo=0.6, hi=1.1), escalated=0),
            "notification-worker": lambda t: ok(jitter(t, lo=1.5, hi=4.0), processed=int(jitter(t, lo=0, hi=6))),
        }

    def fire(
        self,
        replies: dict[str, Reply] | None = None,
        *,
        since: timedelta = timedelta(days=2),
        fail: Callable[[str, datetime], str | None] | None = None,
        skip: Sequence[str] = (),
    ) -> None:
        jobs = {k: v for k, v in self.jobs.items() if k not in skip}
        _fire_all(self.b, jobs, self.good(), replies, self.b.now - since, fail)

    def github(self, job: str, runs: Sequence[WorkflowRun], *, state: str = "active") -> None:
        """The job's workflow with these runs and this state (replaces what it had)."""
        self.b.github_runs(BILLING_REPO, WORKFLOWS[job], runs, state=state, public=self.public)

    def scheduled_runs(
        self,
        job: str,
        since: timedelta = timedelta(days=2),
        *,
        until: datetime | None = None,
        delay: Callable[[datetime], float | None] = github_delay,
        conclusion: Callable[[datetime], str] = lambda t: "success",
    ) -> list[WorkflowRun]:
        """The runs GitHub's schedule created for the job's ticks in (now - since, until or now]: `delay(tick)`
        minutes late, None for a tick GitHub dropped."""
        schedule = BILLING_JOBS[job][0]
        runs = []
        for tick in ticks(schedule, self.b.now - since, until or self.b.now):
            late = delay(tick)
            if late is not None:
                seconds = jitter(job, tick, "run", lo=24.0, hi=71.0)
                runs.append(WorkflowRun(tick + timedelta(minutes=late), conclusion=conclusion(tick), seconds=seconds))
        return runs


# ---------------------------------------------------------------- seed 003: enrolment-sync

_ENROLMENT_DDL = """
CREATE TABLE public.run_log (
    id bigserial PRIMARY KEY,
    trigger_type text NOT NULL CHECK (trigger_type IN ('MANUAL', 'SCHEDULER', 'RETRY')),
    status text NOT NULL,
    total_records integer NOT NULL DEFAULT 0, changed_records integer NOT NULL DEFAULT 0,
    created_alerts integer NOT NULL DEFAULT 0, error_message text,
    started_at timestamptz NOT NULL, finished_at timestamptz, updated_at timestamptz NOT NULL
);
CREATE TABLE public.alert (
    id bigserial PRIMARY KEY, alert_type text NOT NULL, severity text NOT NULL, source_id text, message text,
    resolved boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL
);
CREATE TABLE public.job_lock (
    job_name text PRIMARY KEY, locked_by text NOT NULL, locked_at timestamptz NOT NULL, lock_expires_at timestamptz
);
CREATE TABLE public.source_record (
    id bigserial PRIMARY KEY, source_type text NOT NULL, source_id text NOT NULL, category_id integer NOT NULL,
    user_id text NOT NULL, course_id text NOT NULL, status text, status_msg text, gc_date date, sjc_date date,
    update_time timestamptz, updated_at timestamptz NOT NULL, UNIQUE (source_type, source_id)
);
"""

RunLogRow = tuple[str, str, int, int, int, str | None, datetime, datetime | None]


class Enrolment:
    """Seed 003: a worker endpoint called hourly by an external scheduler, logging to run_log, guarded by
    job_lock, creating alerts for changed enrolments."""

    RUNBOOK = "enrolment-sync"

    def __init__(self, b: Builder, *, first_id: int | None = None) -> None:
        self.b = b
        b.sql(_ENROLMENT_DDL)
        if first_id is not None:
            b.sql(f"ALTER SEQUENCE public.run_log_id_seq RESTART WITH {int(first_id)}")
        b.env.update(WORKER_URL="http://127.0.0.1:9")
        self.log: list[RunLogRow] = []

    def hourly(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        status: Callable[[datetime], RunLogRow | None] | None = None,
    ) -> None:
        """SCHEDULER calls at every hour in (since, until]: SUCCESS with the seed's summary counts unless
        `status(tick)` gives another row (or None: no row at all)."""
        for tick in ticks("0 * * * *", since, until or self.b.now):
            row = status(tick) if status else None
            self.log.append(row if row is not None else self.success(tick))

    def success(self, tick: datetime, trigger: str = "SCHEDULER") -> RunLogRow:
        started = tick + timedelta(seconds=jitter(tick, lo=0.4, hi=2.5))
        changed = 1 if jitter(tick, "c", lo=0, hi=1) < 0.25 else 0
        return (
            trigger,
            "SUCCESS",
            178,
            changed,
            changed,
            None,
            started,
            started + timedelta(seconds=jitter(tick, "d", lo=38, hi=56)),
        )

    def failed(self, tick: datetime, message: str, seconds: float = 3.0, trigger: str = "SCHEDULER") -> RunLogRow:
        started = tick + timedelta(seconds=jitter(tick, lo=0.4, hi=2.5))
        return (trigger, "FAILED", 0, 0, 0, message, started, started + timedelta(seconds=seconds))

    def running(self, started: datetime, trigger: str = "SCHEDULER") -> RunLogRow:
        return (trigger, "RUNNING", 0, 0, 0, None, started, None)

    def write(self) -> None:
        """run_log rows in start order (ids follow), then the sample source records."""
        rows = sorted(self.log, key=lambda r: r[6])
        self.b.rows(
            "public.run_log",
            ["trigger_type", "status", "total_records", "changed_records", "created_alerts", "error_message",
             "started_at", "finished_at", "updated_at"],
            [(*r, r[7] or r[6]) for r in rows],
        )  # fmt: skip

    def lock(self, job: str, holder: str, locked_at: datetime, expires_at: datetime | None) -> None:
        self.b.rows(
            "public.job_lock",
            ["job_name", "locked_by", "locked_at", "lock_expires_at"],
            [(job, holder, locked_at, expires_at)],
        )

    def alerts(self, unresolved_high: int = 0) -> None:
        now = self.b.now
        rows = [
            (
                "CHANGED",
                "low",
                f"303:C1100:U{6000 + i}",
                "enrolment status changed",
                True,
                now - timedelta(hours=3 * i + 2),
            )
            for i in range(6)
        ]
        rows += [
            (
                "CHANGED",
                "high",
                "303:C1001:U4100",
                "enrolment status changed to WITHDRAWN",
                True,
                now - timedelta(days=3),
            )
        ]
        rows += [
            (
                "CHANGED",
                "high",
                f"303:C{1100 + i}:U{5000 + i}",
                "enrolment status changed to DROPPED",
                False,
                now - timedelta(hours=2 * i + 1),
            )
            for i in range(unresolved_high)
        ]
        self.b.rows("public.alert", ["alert_type", "severity", "source_id", "message", "resolved", "created_at"], rows)


# ---------------------------------------------------------------- seed 002: metrics-collectors

# Seed 002 §1, verbatim (RLS on, no policy: only the service role, i.e. a bypassing role, sees rows).
_CRON_RUNS_DDL = """
CREATE TABLE cron_runs (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  cron_name TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ,
  status TEXT NOT NULL DEFAULT 'running',
  records_count INT DEFAULT 0,
  error_message TEXT,
  created_at TIMESTAMPTZ DEFAULT now()
);
CREATE INDEX idx_cron_runs_name_started ON cron_runs(cron_name, started_at DESC);
ALTER TABLE cron_runs ENABLE ROW LEVEL SECURITY;
"""

# name: (schedule as the runbook assumes it, run seconds, records)
COLLECTORS: dict[str, tuple[str, float, int]] = {
    "collect-daily": ("0 0 * * *", 95.0, 1840),
    "collect-mixpanel": ("30 0 * * *", 40.0, 322),
    "collect-benchmarks": ("0 1 * * 1", 180.0, 58),
    "sync-notion": ("0 2 * * *", 12.0, 14),
}
HEALTH_WINDOW = {"collect-benchmarks": timedelta(days=7)}  # weekly: checked over 7 days; the others 24 hours
CronRunRow = tuple[str, datetime, datetime | None, str, int, str | None]


class Metrics:
    """Seed 002: Vercel cron routes recording every run in cron_runs; GET /api/cron/health reports the last run
    of collect-daily, collect-mixpanel and collect-benchmarks."""

    RUNBOOK = "metrics-collectors"

    def __init__(self, b: Builder) -> None:
        assert isinstance(b.health, HealthServer), "seed 002 incidents need the health endpoint"
        self.b = b
        self.health = b.health
        b.sql(_CRON_RUNS_DDL)
        b.env.update(APP_URL=b.health.url, CRON_SECRET=CRON_SECRET)
        self.rows: list[CronRunRow] = []

    def runs(
        self, name: str, since: datetime, *, status: Callable[[datetime], CronRunRow | None] | None = None
    ) -> None:
        """One row per fire time in (since, now]: `success` unless `status(tick)` says otherwise. A run whose
        usual length would reach past `now` is shortened (a fixed `now` never sees half-written rows)."""
        schedule, seconds, records = COLLECTORS[name]
        for tick in ticks(schedule, since, self.b.now):
            row = status(tick) if status else None
            if row is None:
                started = tick + timedelta(seconds=jitter(name, tick, lo=0.3, hi=1.8))
                if started >= self.b.now - timedelta(seconds=1):
                    continue  # not started yet
                length = min(
                    seconds * jitter(name, tick, "len", lo=0.85, hi=1.15), (self.b.now - started).total_seconds() * 0.5
                )
                row = (name, started, started + timedelta(seconds=length), "success", records, None)
            self.rows.append(row)

    def everyday(self, since: timedelta = timedelta(days=15), skip: Sequence[str] = ()) -> None:
        for name in COLLECTORS:
            if name not in skip:
                self.runs(name, self.b.now - since)

    def write(self, *, health_status: int = 200, health_body: Any = None) -> None:
        self.b.rows(
            "public.cron_runs",
            ["cron_name", "started_at", "finished_at", "status", "records_count", "error_message", "created_at"],
            [(*r, r[1]) for r in sorted(self.rows, key=lambda r: r[1])],
        )
        self.health.answer(health_status, health_body if health_body is not None else self.health_body())

    def health_body(self) -> dict[str, Any]:
        """What route.ts answers: the last run of each collector it checks, `missing` those without a run in
        24 hours (7 days for collect-benchmarks), `healthy` when every check is ok and none is missing."""
        checks: dict[str, Any] = {}
        missing: list[str] = []
        for name in ("collect-daily", "collect-mixpanel", "collect-benchmarks"):
            mine = [r for r in self.rows if r[0] == name and r[1] <= self.b.now]
            last = max(mine, key=lambda r: r[1], default=None)
            window = HEALTH_WINDOW.get(name, timedelta(hours=24))
            if last is None or last[1] < self.b.now - window:
                missing.append(name)
            if last is not None:
                checks[name] = {"lastRun": iso(last[1]), "status": last[3], "ok": last[3] == "success"}
        healthy = not missing and all(c["ok"] for c in checks.values())
        return {"healthy": healthy, "checks": checks, "missing": missing}


class HealthServer:
    """A real HTTP server on 127.0.0.1 answering GET /api/cron/health like seed 002's route (Bearer CRON_SECRET)."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {"healthy": True, "checks": {}, "missing": []}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/api/cron/health":
                    return self._send(404, "Not Found")
                if self.headers.get("Authorization") != f"Bearer {CRON_SECRET}":
                    return self._send(401, "Unauthorized")
                return self._send(outer.status, outer.body)

            def _send(self, status: int, body: Any) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-cache, no-store, must-revalidate")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, status: int, body: Any) -> None:
        self.status, self.body = status, body

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def health_server() -> Iterator[HealthServer]:
    server = HealthServer()
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------- seed 001: ads-platform-vercel


ADS_JOBS: dict[str, tuple[str, float, float]] = {
    # name: (schedule, seconds a run usually takes: from, to). The seed: refresh-tokens and sync-campaigns "up to 5
    # minutes", cleanup-expired-tokens "up to 1 minute"; refreshing tokens at each platform is the slow one, the
    # sync only queues work.
    "refresh-tokens": ("0 */6 * * *", 38.0, 115.0),
    "sync-campaigns": ("0 */1 * * *", 3.5, 14.0),
    "cleanup-expired-tokens": ("0 2 * * *", 1.4, 6.0),
}
CallFn = Callable[[datetime], CronCall | None]


class Ads:
    """Seed 001: Next.js routes fired by Vercel cron; history lives in Vercel's logs, locks in (Upstash) Redis, no
    database. With `vercel` the operator can read the project (VERCEL_TOKEN is set): two production deployments,
    the newer one from yesterday; without it the token is not set and `history.vercel` reads nothing."""

    RUNBOOK = "ads-platform-vercel"
    JOBS = tuple(ADS_JOBS)

    def __init__(self, b: Builder, *, vercel: bool = True) -> None:
        self.b = b
        b.env.update(APP_URL="https://sivera-alpha.vercel.app", CRON_SECRET=CRON_SECRET)
        if b.redis is not None:
            assert b.redis_url
            b.env.update(REDIS_URL=b.redis_url)
            b.redis.flushdb()
        if vercel:
            b.vercel_deployment(b.now - timedelta(days=3, hours=5, minutes=12))
            b.vercel_deployment(b.now - timedelta(hours=17, minutes=41))

    @staticmethod
    def good() -> dict[str, CallFn]:
        """Vercel (Pro) fires within the minute; each route answers 200 `{"success": true, ...}`."""

        def call(name: str) -> CallFn:
            _, lo, hi = ADS_JOBS[name]
            return lambda t: CronCall(t + timedelta(seconds=jitter(name, t, lo=0.2, hi=3.5)), 200,
                                      jitter(name, t, "took", lo=lo, hi=hi))  # fmt: skip

        return {name: call(name) for name in ADS_JOBS}

    def fire(self, calls: dict[str, CallFn] | None = None, *, since: timedelta = timedelta(hours=25)) -> None:
        """Vercel's cron requests for every tick in (now - since, now] (Pro keeps about a day of runtime logs, so
        the daily route's last run is still there): `calls[job](tick)` instead of a good run, None for a tick with
        no request."""
        chosen = {**self.good(), **(calls or {})}
        for name, (schedule, _, _) in ADS_JOBS.items():
            made = [chosen[name](t) for t in ticks(schedule, self.b.now - since, self.b.now)]
            self.b.vercel_invocations(f"/api/cron/{name}", [c for c in made if c is not None])

    def curl(self, name: str, at: datetime, status: int = 200, seconds: float = 2.0) -> None:
        """Someone testing the route by hand (the seed's `curl -X GET .../api/cron/...`): not Vercel's cron."""
        self.b.vercel_invocations(f"/api/cron/{name}", [CronCall(at, status, seconds, user_agent="curl/8.5.0")])
