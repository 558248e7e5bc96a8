"""Incident scenarios for the sandbox: each runbook system's tables (DDL from its seed) and a history that shows
an incident, written relative to a given `now`.

`load(conn, "billing-pgcron", now)` drops and recreates that system's tables, (re)schedules its pg_cron jobs with
commands like the seed's, and inserts run history straight into `cron.job_run_details`, pg_net responses into
`net._http_response`, run-log rows, locks, backlog rows and secrets. Loading twice gives the same picture.
The connection must belong to a superuser, in the database pg_cron runs in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronctl.schedule import Schedule
from cronctl_sandbox.fixtures import create_pg_net_tables

if TYPE_CHECKING:
    from psycopg import Connection

    Conn = Connection[Any]

__all__ = ["DEMO_LIVE_LOCK", "SYSTEMS", "load", "load_demo"]

# A pid no backend has: runs "left running with no backend" point at it.
DEAD_PID = 999_999
DEMO_LIVE_LOCK = "reindex-search"
_SUPABASE = "https://abcdefghijklmnop.supabase.co"

# ---------------------------------------------------------------- DDL from the seeds

_MESSAGES_DDL = """
DROP TABLE IF EXISTS public.messages CASCADE;
CREATE TABLE public.messages (
    id bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL,
    content text NOT NULL,
    scheduled_at timestamptz,
    scheduled_status text,
    sent_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_scheduled_idx ON public.messages (scheduled_status, scheduled_at);
DROP TABLE IF EXISTS public.typing_indicators CASCADE;
CREATE TABLE public.typing_indicators (
    conversation_id bigint NOT NULL,
    user_id bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
"""

_PURCHASES_DDL = """
DROP TABLE IF EXISTS public.dt_purchases CASCADE;
CREATE TABLE public.dt_purchases (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    order_id text NOT NULL UNIQUE,
    amount integer NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz
);
"""

# Seed 002, verbatim apart from the DROP.
_CRON_RUNS_DDL = """
DROP TABLE IF EXISTS public.cron_runs CASCADE;
CREATE TABLE public.cron_runs (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  cron_name TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ,
  status TEXT NOT NULL DEFAULT 'running',
  records_count INT DEFAULT 0,
  error_message TEXT,
  created_at TIMESTAMPTZ DEFAULT now()
);
CREATE INDEX idx_cron_runs_name_started ON public.cron_runs(cron_name, started_at DESC);
ALTER TABLE public.cron_runs ENABLE ROW LEVEL SECURITY;
"""

# Seed 003: the columns its queries read.
_ENROLMENT_DDL = """
DROP TABLE IF EXISTS public.run_log CASCADE;
CREATE TABLE public.run_log (
    id bigserial PRIMARY KEY,
    trigger_type text NOT NULL CHECK (trigger_type IN ('MANUAL', 'SCHEDULER', 'RETRY')),
    status text NOT NULL,
    total_records integer NOT NULL DEFAULT 0,
    changed_records integer NOT NULL DEFAULT 0,
    created_alerts integer NOT NULL DEFAULT 0,
    error_message text,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
DROP TABLE IF EXISTS public.alert CASCADE;
CREATE TABLE public.alert (
    id bigserial PRIMARY KEY,
    alert_type text NOT NULL,
    severity text NOT NULL,
    source_id text,
    message text,
    resolved boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
DROP TABLE IF EXISTS public.job_lock CASCADE;
CREATE TABLE public.job_lock (
    job_name text PRIMARY KEY,
    locked_by text NOT NULL,
    locked_at timestamptz NOT NULL DEFAULT now(),
    lock_expires_at timestamptz
);
DROP TABLE IF EXISTS public.source_record CASCADE;
CREATE TABLE public.source_record (
    id bigserial PRIMARY KEY,
    source_type text NOT NULL,
    source_id text NOT NULL,
    category_id integer NOT NULL,
    user_id text NOT NULL,
    course_id text NOT NULL,
    status text,
    status_msg text,
    gc_date date,
    sjc_date date,
    update_time timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_type, source_id)
);
"""

# Seed 004: the secrets table, the helper the cron commands call, and the rotation function.
_SECRETS_DDL = """
DROP TABLE IF EXISTS public.cron_secrets CASCADE;
CREATE TABLE public.cron_secrets (
    key text PRIMARY KEY,
    value text NOT NULL,
    description text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION public.get_secret(p_key text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
AS $fn$ SELECT value FROM public.cron_secrets WHERE key = p_key $fn$;
CREATE OR REPLACE FUNCTION public.rotate_cron_secret(p_key text, p_value text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
AS $fn$
BEGIN
  UPDATE public.cron_secrets
  SET value = p_value, updated_at = NOW()
  WHERE key = p_key;
END;
$fn$;
REVOKE INSERT, UPDATE, DELETE ON public.cron_secrets FROM PUBLIC;
"""


# ---------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class _Run:
    """One row for cron.job_run_details; `at` orders rows so runid grows with time."""

    job: str
    at: datetime
    status: str
    message: str
    start: datetime | None
    end: datetime | None
    pid: int | None = None


@dataclass(frozen=True)
class _Response:
    """One row for net._http_response."""

    created: datetime
    status: int | None
    content: str | None = None
    timed_out: bool | None = False
    error: str | None = None


def _ticks(schedule: str, now: datetime, count: int) -> list[datetime]:
    """The last `count` fire times before `now`, oldest first."""
    return list(reversed(Schedule.parse(schedule).previous_runs(now, count)))


def _ok_run(job: str, tick: datetime, seconds: float = 0.03, message: str = "1 row") -> _Run:
    start = tick + timedelta(milliseconds=40)
    return _Run(job, tick, "succeeded", message, start, start + timedelta(seconds=seconds), 40_000)


def _failed_run(job: str, tick: datetime, message: str, seconds: float = 0.01) -> _Run:
    start = tick + timedelta(milliseconds=40)
    return _Run(job, tick, "failed", message, start, start + timedelta(seconds=seconds), 40_000)


def _early_failure(job: str, tick: datetime, message: str) -> _Run:
    # pg_cron 1.4 records runs that fail before starting without start_time / end_time.
    return _Run(job, tick, "failed", message, None, None, None)


def _stuck_run(job: str, tick: datetime) -> _Run:
    return _Run(job, tick, "running", "", tick + timedelta(milliseconds=40), None, DEAD_PID)


def _pg_net_command(url: str, headers: Sequence[tuple[str, str]], body: str, timeout_ms: int) -> str:
    """A pg_cron command calling net.http_post like the seeds do (url / header values are SQL expressions)."""
    pairs = ",\n      ".join(f"'{name}', {value}" for name, value in headers)
    return (
        "SELECT net.http_post(\n"
        f"    url := {url},\n"
        f"    headers := jsonb_build_object(\n      {pairs}\n    ),\n"
        f"    body := {body},\n"
        f"    timeout_milliseconds := {timeout_ms}\n"
        ");"
    )


def _reset_jobs(conn: Conn, names: Iterable[str]) -> None:
    """Forget earlier runs and jobs of these names, so loading again starts from the same picture."""
    names = list(names)
    conn.execute(
        "DELETE FROM cron.job_run_details WHERE jobid IN (SELECT jobid FROM cron.job WHERE jobname = ANY(%s))",
        [names],
    )
    conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = ANY(%s)", [names])


def _schedule(conn: Conn, name: str, schedule: str, command: str, *, active: bool = True) -> int:
    row = conn.execute("SELECT cron.schedule(%s, %s, %s)", [name, schedule, command]).fetchone()
    assert row is not None
    jobid = int(row[0])
    if not active:
        conn.execute("SELECT cron.alter_job(%s, active := false)", [jobid])
    return jobid


def _schedule_fresh(
    conn: Conn, schedules: dict[str, str], command_of: Callable[[str], str]
) -> dict[str, tuple[int, str]]:
    """Schedule these jobs anew (earlier runs forgotten): name -> (jobid, command)."""
    _reset_jobs(conn, schedules)
    return {
        name: (_schedule(conn, name, schedule, command_of(name)), command_of(name))
        for name, schedule in schedules.items()
    }


def _insert_runs(conn: Conn, jobs: dict[str, tuple[int, str]], runs: Iterable[_Run]) -> None:
    """Insert runs oldest first (runid follows time, as it does when pg_cron writes them)."""
    ordered = sorted(runs, key=lambda r: r.at)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO cron.job_run_details"
            " (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)"
            " VALUES (%s, %s, current_database(), current_user, %s, %s, %s, %s, %s)",
            [(jobs[r.job][0], r.pid, jobs[r.job][1], r.status, r.message, r.start, r.end) for r in ordered],
        )


def _insert_responses(conn: Conn, responses: Iterable[_Response]) -> None:
    ordered = sorted(responses, key=lambda r: r.created)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO net._http_response"
            " (id, status_code, content_type, headers, content, timed_out, error_msg, created)"
            " VALUES (nextval('net.http_request_queue_id_seq'), %s, %s, %s::jsonb, %s, %s, %s, %s)",
            [
                (
                    r.status,
                    "application/json" if r.content is not None else None,
                    json.dumps({"content-type": "application/json"}) if r.status is not None else None,
                    r.content,
                    r.timed_out,
                    r.error,
                    r.created,
                )
                for r in ordered
            ],
        )


def _reply(tick: datetime, status: int, payload: dict[str, Any], after: float = 0.4) -> _Response:
    return _Response(tick + timedelta(seconds=after), status, json.dumps(payload))


def _timeout(tick: datetime, timeout_ms: int) -> _Response:
    return _Response(
        tick + timedelta(milliseconds=timeout_ms + 50),
        None,
        None,
        True,
        f"Timeout of {timeout_ms} ms reached. Total time: {timeout_ms + 1}.000000 ms",
    )


def _executemany(conn: Conn, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(sql, rows)


# ---------------------------------------------------------------- shared data loaders


def _messages(conn: Conn, now: datetime, overdue: int) -> None:
    """Sent messages, `overdue` pending ones past scheduled_at, and a few pending in the future."""
    rows: list[tuple[Any, ...]] = []
    for i in range(20):
        at = now - timedelta(hours=3) + timedelta(minutes=6 * i)
        rows.append((100 + i % 4, f"sent message {i}", at, "sent", at + timedelta(seconds=20)))
    for i in range(overdue):
        at = now - timedelta(minutes=1 + i)
        rows.append((200 + i % 7, f"overdue message {i}", at, "pending", None))
    for i in range(5):
        rows.append((300 + i, f"future message {i}", now + timedelta(minutes=10 * (i + 1)), "pending", None))
    _executemany(
        conn,
        "INSERT INTO public.messages (conversation_id, content, scheduled_at, scheduled_status, sent_at, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s - interval '1 day')",
        [(*row, now) for row in rows],
    )


def _purchases(conn: Conn, now: datetime, ages_pending: Sequence[int], confirmed: int) -> None:
    """Pending purchases created `ages_pending` minutes ago, and `confirmed` settled ones."""
    rows: list[tuple[Any, ...]] = []
    for i, age in enumerate(ages_pending):
        rows.append((1000 + i, f"order-p{i:04d}", 9900 + i, "pending", now - timedelta(minutes=age), None))
    for i in range(confirmed):
        created = now - timedelta(hours=6) + timedelta(minutes=15 * i)
        rows.append((2000 + i, f"order-c{i:04d}", 4900, "confirmed", created, created + timedelta(minutes=3)))
    _executemany(
        conn,
        "INSERT INTO public.dt_purchases (user_id, order_id, amount, status, created_at, confirmed_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        rows,
    )


def _secrets(conn: Conn, now: datetime, values: Sequence[tuple[str, str, str]]) -> None:
    _executemany(
        conn,
        "INSERT INTO public.cron_secrets (key, value, description, updated_at) VALUES (%s, %s, %s, %s)",
        [(key, value, description, now - timedelta(days=30)) for key, value, description in values],
    )


def _cron_runs(conn: Conn, rows: Sequence[tuple[str, datetime, datetime | None, str, int, str | None]]) -> None:
    _executemany(
        conn,
        "INSERT INTO public.cron_runs (cron_name, started_at, finished_at, status, records_count, error_message,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [(*row, row[1]) for row in rows],
    )


def _run_log(conn: Conn, rows: Sequence[tuple[str, str, int, int, int, str | None, datetime, datetime | None]]) -> None:
    _executemany(
        conn,
        "INSERT INTO public.run_log (trigger_type, status, total_records, changed_records, created_alerts,"
        " error_message, started_at, finished_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
        " coalesce(%s, %s))",
        [(*row, row[7], row[6]) for row in rows],
    )


def _crashed_then_refused(
    job: str, holder: str, crashed: datetime, ticks: Sequence[datetime], millis: int
) -> list[tuple[Any, ...]]:
    """run_log rows of a run that crashed holding its lock, then of the runs the leftover lock refused."""
    refused = [
        ("SCHEDULER", "FAILED", 0, 0, 0, f"job_lock active: {job} locked by {holder}", tick,
         tick + timedelta(milliseconds=millis))
        for tick in ticks
    ]  # fmt: skip
    return [("SCHEDULER", "RUNNING", 0, 0, 0, None, crashed, None), *refused]


def _locks(conn: Conn, rows: Sequence[tuple[str, str, datetime, datetime | None]]) -> None:
    _executemany(
        conn,
        "INSERT INTO public.job_lock (job_name, locked_by, locked_at, lock_expires_at) VALUES (%s, %s, %s, %s)",
        rows,
    )


def _alerts(conn: Conn, now: datetime, unresolved_high: int) -> None:
    rows: list[tuple[Any, ...]] = []
    for i in range(unresolved_high):
        rows.append(
            (
                "CHANGED",
                "high",
                f"303:C{1100 + i}:U{5000 + i}",
                "enrolment status changed to DROPPED",
                False,
                now - timedelta(hours=2 * i + 1),
            )
        )
    for i in range(6):
        rows.append(
            (
                "CHANGED",
                "low",
                f"303:C1100:U{6000 + i}",
                "enrolment status changed",
                True,
                now - timedelta(hours=3 * i + 2),
            )
        )
    rows.append(
        ("SYNC_FAILED", "medium", None, "enrolment sync failed 3 times in a row", False, now - timedelta(minutes=50))
    )
    rows.append(
        ("CHANGED", "high", "303:C1001:U4100", "enrolment status changed to WITHDRAWN", True, now - timedelta(days=3))
    )
    _executemany(
        conn,
        "INSERT INTO public.alert (alert_type, severity, source_id, message, resolved, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        rows,
    )


def _source_records(conn: Conn, now: datetime) -> None:
    rows: list[tuple[Any, ...]] = []
    for category in (303, 304):
        for i in range(12):
            user, course = f"U{5000 + i}", f"C{1100 + i % 3}"
            rows.append(
                (
                    "enrolment_status",
                    f"{category}:{course}:{user}",
                    category,
                    user,
                    course,
                    "ENROLLED" if i % 5 else "DROPPED",
                    "ok" if i % 5 else "dropped by user",
                    (now - timedelta(days=40)).date(),
                    (now - timedelta(days=38)).date(),
                    now - timedelta(hours=i + 1),
                    now - timedelta(hours=i),
                )
            )
    _executemany(
        conn,
        "INSERT INTO public.source_record (source_type, source_id, category_id, user_id, course_id, status,"
        " status_msg, gc_date, sjc_date, update_time, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " %s)",
        rows,
    )


# ---------------------------------------------------------------- seed 000: messaging-dispatch


def load_messaging_dispatch(conn: Conn, now: datetime) -> None:
    """401s from scheduled-dispatcher every minute for 40 minutes, reconcile answering `skipped`, the daily
    quota job disabled, overdue messages and stale pending purchases."""
    conn.execute(_MESSAGES_DDL)
    conn.execute(_PURCHASES_DDL)
    create_pg_net_tables(conn)
    conn.execute("TRUNCATE net._http_response, net.http_request_queue")
    names = ("scheduled-dispatcher", "payment-reconcile", "refresh-fallback-quotas")
    _reset_jobs(conn, names)
    secret_header = [
        ("Content-Type", "'application/json'"),
        ("X-Cron-Secret", "current_setting('app.settings.cron_secret', true)"),
    ]
    bearer = [
        ("Content-Type", "'application/json'"),
        ("Authorization", "'Bearer ' || current_setting('app.settings.service_role_key', true)"),
    ]
    commands = {
        "scheduled-dispatcher": (
            "* * * * *",
            _pg_net_command(f"'{_SUPABASE}/functions/v1/scheduled-dispatcher'", secret_header, "'{}'::jsonb", 30000),
        ),
        "payment-reconcile": (
            "*/30 * * * *",
            _pg_net_command(f"'{_SUPABASE}/functions/v1/payment-reconcile'", bearer, "'{}'::jsonb", 60000),
        ),
        "refresh-fallback-quotas": (
            "0 0 * * *",
            _pg_net_command(f"'{_SUPABASE}/functions/v1/refresh-fallback-quotas'", secret_header, "'{}'::jsonb", 30000),
        ),
    }
    jobs = {
        name: (_schedule(conn, name, schedule, command, active=name != "refresh-fallback-quotas"), command)
        for name, (schedule, command) in commands.items()
    }
    runs: list[_Run] = []
    responses: list[_Response] = []
    for i, tick in enumerate(_ticks("* * * * *", now, 90)):
        runs.append(_ok_run("scheduled-dispatcher", tick))
        if i < 50:
            responses.append(_reply(tick, 200, {"success": True, "processed": i % 3}))
        else:
            responses.append(_reply(tick, 401, {"error": "unauthorized"}, after=0.2))
    for tick in _ticks("*/30 * * * *", now, 8):
        runs.append(_ok_run("payment-reconcile", tick))
        responses.append(
            _reply(
                tick, 200, {"success": True, "skipped": True, "reason": "TOSSPAYMENTS_SECRET_KEY not set"}, after=1.5
            )
        )
    daily = _ticks("0 0 * * *", now, 6)
    for tick in daily[:3]:
        runs.append(_ok_run("refresh-fallback-quotas", tick))
        responses.append(_reply(tick, 200, {"success": True, "reset": 412}, after=2.0))
    _insert_runs(conn, jobs, runs)
    _insert_responses(conn, responses)
    _messages(conn, now, overdue=37)
    # Three pending for over 2 hours (critical), four between 45 minutes and 2 hours, two recent.
    _purchases(conn, now, ages_pending=[300, 190, 150, 110, 80, 60, 50, 20, 5], confirmed=12)


# ---------------------------------------------------------------- seed 001: ads-platform-vercel


def load_ads_platform(conn: Conn, now: datetime) -> None:
    """Seed 001 keeps no tables cronctl reads: its history is in Vercel's logs and its locks in Redis (see
    `REDIS_LOCKS`). Nothing to create in PostgreSQL."""
    del conn, now


# Redis keys for seed 001's locks: (key, value, TTL in milliseconds or None for a key that never expires).
# refresh-tokens holds a lock that expires normally; sync-campaigns' lock lost its TTL (left behind for good).
REDIS_LOCKS: dict[str, list[tuple[str, str, int | None]]] = {
    "ads-platform-vercel": [
        ("cron:refresh-tokens:lock", "1", 240_000),
        ("cron:sync-campaigns:lock", "1", None),
    ],
}


def load_redis(client: Any, system: str) -> None:
    """Set a system's lock keys in Redis (a `redis.Redis` client), replacing earlier values."""
    for key, value, ttl_ms in REDIS_LOCKS.get(system, []):
        client.delete(key)
        if ttl_ms is None:
            client.set(key, value)
        else:
            client.set(key, value, px=ttl_ms)


# ---------------------------------------------------------------- seed 002: metrics-collectors


def load_metrics_collectors(conn: Conn, now: datetime) -> None:
    """collect-daily failing three days in a row (partial, then errors), collect-mixpanel missed for two days,
    collect-benchmarks fine weekly, sync-notion left `running` since yesterday."""
    conn.execute(_CRON_RUNS_DDL)
    rows: list[tuple[str, datetime, datetime | None, str, int, str | None]] = []
    daily = _ticks("0 0 * * *", now, 10)
    for tick in daily[:-3]:
        rows.append(("collect-daily", tick, tick + timedelta(seconds=95), "success", 1840, None))
    partial, error1, error2 = daily[-3:]
    rows.append(
        (
            "collect-daily",
            partial,
            partial + timedelta(seconds=140),
            "partial",
            1210,
            "Meta API 429 Too Many Requests for act_1029 after 2 retries; account skipped",
        )
    )
    rows.append(
        (
            "collect-daily",
            error1,
            error1 + timedelta(seconds=31),
            "error",
            0,
            "Meta API error: 500 Internal Server Error (act_1029, act_2231)",
        )
    )
    rows.append(
        (
            "collect-daily",
            error2,
            error2 + timedelta(seconds=30),
            "error",
            0,
            "Meta API error: 500 Internal Server Error (act_1029, act_2231)",
        )
    )
    for tick in _ticks("30 0 * * *", now, 10)[:-2]:
        rows.append(("collect-mixpanel", tick, tick + timedelta(seconds=40), "success", 322, None))
    for tick in _ticks("0 1 * * 1", now, 4):
        rows.append(("collect-benchmarks", tick, tick + timedelta(minutes=3), "success", 58, None))
    notion = _ticks("0 2 * * *", now, 7)
    for tick in notion[:-1]:
        rows.append(("sync-notion", tick, tick + timedelta(seconds=12), "success", 14, None))
    rows.append(("sync-notion", notion[-1], None, "running", 0, None))
    _cron_runs(conn, rows)


# ---------------------------------------------------------------- seed 003: enrolment-sync


def load_enrolment_sync(conn: Conn, now: datetime) -> None:
    """Hourly runs: successes, then a 409, a 502 and a timeout, then `job_lock active` refusals behind a stale
    lock left by a crashed run; a live lock of another job; unresolved high alerts."""
    conn.execute(_ENROLMENT_DDL)
    ticks = _ticks("0 * * * *", now, 24)
    rows: list[tuple[str, str, int, int, int, str | None, datetime, datetime | None]] = []
    for i, tick in enumerate(ticks[:-8]):
        changed = 1 if i % 4 == 0 else 0
        rows.append(("SCHEDULER", "SUCCESS", 178, changed, changed, None, tick, tick + timedelta(seconds=48)))
    t409, t5xx, tout, crashed = ticks[-8:-4]
    rows.append(
        (
            "SCHEDULER",
            "FAILED",
            12,
            0,
            0,
            "LMS request failed: HTTP 409 Conflict (course C1101)",
            t409,
            t409 + timedelta(seconds=9),
        )
    )
    rows.append(("RETRY", "SUCCESS", 178, 0, 0, None, t409 + timedelta(minutes=10), t409 + timedelta(minutes=11)))
    rows.append(
        ("SCHEDULER", "FAILED", 0, 0, 0, "LMS request failed: HTTP 502 Bad Gateway", t5xx, t5xx + timedelta(seconds=3))
    )
    rows.append(
        (
            "SCHEDULER",
            "FAILED",
            40,
            0,
            0,
            "LMS request timeout after 30000 ms (course C1102)",
            tout,
            tout + timedelta(seconds=30),
        )
    )
    # The crashed run never finished; its lock stayed behind.
    rows += _crashed_then_refused("enrolment-sync", "worker-7f3c:4121", crashed, ticks[-4:], 120)
    _run_log(conn, rows)
    _locks(
        conn,
        [
            ("enrolment-sync", "worker-7f3c:4121", crashed + timedelta(seconds=1), crashed + timedelta(minutes=30)),
            ("sheet-outbox", "worker-a1b2:77", now - timedelta(seconds=40), now + timedelta(minutes=4)),
        ],
    )
    _alerts(conn, now, unresolved_high=3)
    _source_records(conn, now)


# ---------------------------------------------------------------- seed 004: billing-pgcron


_BILLING_JOBS: dict[str, tuple[str, str, str, int]] = {
    # name: (schedule, function, body, timeout_ms)
    "generate-t5-invoices": ("0 1 * * *", "generate-t5-invoices", "'{}'::jsonb", 30000),
    "run-escalation-orchestration": (
        "0 2 * * *",
        "run-escalation-orchestration",
        "jsonb_build_object('force', false)",
        30000,
    ),
    "schedule-create-zoom": ("*/15 * * * *", "schedule-create-zoom", "jsonb_build_object('force_invoke', true)", 30000),
    "generate-monthly-invoices": ("0 2 * * *", "generate-monthly-invoices", "'{}'::jsonb", 30000),
    "escalate-overdue-bookings": ("0 6 * * *", "escalate-overdue-bookings", "'{}'::jsonb", 30000),
    "notification-worker": ("* * * * *", "notification-worker", "jsonb_build_object('limit', 5, 'runs', 1)", 60000),
}


def _billing_command(name: str) -> str:
    _, function, body, timeout_ms = _BILLING_JOBS[name]
    if name == "run-escalation-orchestration":
        headers = [
            ("Content-Type", "'application/json'"),
            ("Authorization", "'Bearer ' || public.get_secret('cron_secret')"),
        ]
    elif name == "schedule-create-zoom":
        headers = [
            ("Content-Type", "'application/json'"),
            ("Authorization", "'Bearer ' || public.get_secret('scheduler_secret_token')"),
        ]
    else:
        headers = [
            ("Content-Type", "'application/json'"),
            ("Authorization", "'Bearer ' || public.get_secret('service_role_key')"),
            ("apikey", "public.get_secret('service_role_key')"),
        ]
    base = (
        "public.get_secret('edge_function_url')"
        if name == "schedule-create-zoom"
        else ("public.get_secret('supabase_url') || '/functions/v1'")
    )
    return _pg_net_command(f"{base} || '/{function}'", headers, body, timeout_ms)


def load_billing_pgcron(conn: Conn, now: datetime) -> None:
    """notification-worker answered 401 every minute for 30 minutes (a service_role_key with a trailing newline)
    after EarlyDrop timeouts; t5 invoices failed while pg_net was missing; a startup timeout with NULL times; a
    schedule-create-zoom run left `running` with no backend; placeholder secrets."""
    conn.execute(_SECRETS_DDL)
    create_pg_net_tables(conn)
    conn.execute("TRUNCATE net._http_response, net.http_request_queue")
    _secrets(
        conn,
        now,
        [
            ("supabase_url", _SUPABASE, "Supabase project URL"),
            (
                "service_role_key",
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.sandbox-service-role.c2lnbmF0dXJl\n",
                "Supabase service_role JWT",
            ),
            ("cron_secret", "placeholder-cron-secret", "Shared secret for cron-invoked functions"),
            ("edge_function_url", f"{_SUPABASE}/functions/v1", "Base URL of the Edge Functions"),
            ("scheduler_secret_token", "placeholder-scheduler-token", "Token for the scheduler endpoints"),
        ],
    )
    jobs = _schedule_fresh(conn, {name: spec[0] for name, spec in _BILLING_JOBS.items()}, _billing_command)
    runs: list[_Run] = []
    responses: list[_Response] = []
    for i, tick in enumerate(_ticks("* * * * *", now, 60)):
        if i < 20:
            runs.append(_ok_run("notification-worker", tick))
            responses.append(_reply(tick, 200, {"success": True, "processed": 5}, after=3.0))
        elif i < 30:
            # EarlyDrop: the function is shut down after ~15 s; pg_net sees no answer.
            runs.append(_ok_run("notification-worker", tick))
            responses.append(_timeout(tick, 15000))
        else:
            runs.append(_ok_run("notification-worker", tick))
            responses.append(_reply(tick, 401, {"error": "unauthorized", "debugUnauthorized": "bad jwt"}, 0.2))
    t5 = _ticks("0 1 * * *", now, 6)
    for tick in t5[:2]:
        runs.append(_failed_run("generate-t5-invoices", tick, 'ERROR:  schema "net" does not exist'))
    for tick in t5[2:]:
        runs.append(_ok_run("generate-t5-invoices", tick))
        responses.append(_reply(tick, 200, {"success": True, "invoices": 17}, after=4.0))
    escalation = _ticks("0 2 * * *", now, 5)
    for tick in escalation[:-1]:
        runs.append(_ok_run("run-escalation-orchestration", tick))
        responses.append(_reply(tick, 200, {"success": True, "escalated": 2}, after=1.1))
    runs.append(_early_failure("run-escalation-orchestration", escalation[-1], "job startup timeout"))
    monthly = _ticks("0 2 * * *", now, 5)
    for tick in monthly:
        runs.append(_ok_run("generate-monthly-invoices", tick))
        responses.append(_reply(tick, 200, {"success": True, "skipped": True, "reason": "outside window"}, 0.9))
    overdue = _ticks("0 6 * * *", now, 5)
    runs.append(_failed_run("escalate-overdue-bookings", overdue[0], "connection failed"))
    for tick in overdue[1:]:
        runs.append(_ok_run("escalate-overdue-bookings", tick))
        responses.append(_reply(tick, 200, {"success": True, "escalated": 0}, after=0.8))
    zoom = _ticks("*/15 * * * *", now, 12)
    for tick in zoom[:-3]:
        runs.append(_ok_run("schedule-create-zoom", tick))
        responses.append(_reply(tick, 200, {"success": True, "created": 1}, after=2.5))
    runs.append(
        _Run(
            "schedule-create-zoom",
            zoom[-3],
            "failed",
            "server restarted",
            zoom[-3] + timedelta(milliseconds=40),
            zoom[-3] + timedelta(minutes=2),
            40_000,
        )
    )
    runs.append(_stuck_run("schedule-create-zoom", zoom[-2]))
    _insert_runs(conn, jobs, runs)
    _insert_responses(conn, responses)


# ---------------------------------------------------------------- the demo system


_DEMO_PG_CRON: dict[str, tuple[str, str, int]] = {
    # name: (schedule, secret header kind, timeout_ms)
    "dispatch-messages": ("* * * * *", "header", 30000),
    "reconcile-payments": ("*/30 * * * *", "service", 60000),
    "refresh-quotas": ("0 0 * * *", "header", 30000),
}


def _demo_command(name: str) -> str:
    _, kind, timeout_ms = _DEMO_PG_CRON[name]
    if kind == "header":
        headers = [("Content-Type", "'application/json'"), ("X-Cron-Secret", "public.get_secret('cron_secret')")]
    else:
        headers = [
            ("Content-Type", "'application/json'"),
            ("Authorization", "'Bearer ' || public.get_secret('service_role_key')"),
            ("apikey", "public.get_secret('service_role_key')"),
        ]
    return _pg_net_command(
        f"public.get_secret('supabase_url') || '/functions/v1/{name}'", headers, "'{}'::jsonb", timeout_ms
    )


@dataclass(frozen=True)
class _Call:
    """One pg_cron run of a pg_net job and the answer its endpoint gives after `seconds`."""

    job: str
    tick: datetime
    status: int
    payload: dict[str, Any]
    seconds: float = 0.3


def _install_tracking(conn: Conn, installed_at: datetime) -> None:
    """cronctl's request tracking, installed the way `cronctl pgcron track install` installs it."""
    from cronctl.sources import pgnet_tracking

    query, params = pgnet_tracking.status_query()
    catalog = pgnet_tracking.parse_status(conn.execute(query, params).fetchall())
    for statement in pgnet_tracking.install_statements(
        conn, catalog, retention_seconds=86_400, readers=["PUBLIC"], installed_at=installed_at
    ):
        conn.execute(statement)
    conn.execute("TRUNCATE cronctl.pgnet_request_log")  # loading again starts from the same picture


def _pg_net_calls(conn: Conn, calls: Sequence[_Call], now: datetime) -> list[_Run]:
    """pg_cron runs whose commands queued pg_net requests, shaped as real pg_net 0.20 leaves them: every job
    that fires in a tick queues in its own backend within milliseconds, request ids come in whatever order the
    backends reached the sequence, the worker takes them all into one batch whose start is every answer's
    `created`, and the batch's answers appear together once its slowest request is done. The tracking trigger
    recorded each request's backend pid and queue time (it fires only on real queue inserts, so it is written
    here as it would have been)."""
    runs: list[_Run] = []
    answers: list[tuple[int, _Call, datetime]] = []
    tracked: list[tuple[int, int, datetime, str]] = []
    by_tick: dict[datetime, list[_Call]] = {}
    for call in calls:
        by_tick.setdefault(call.tick, []).append(call)
    pid = 41_000
    for tick in sorted(by_tick):
        batch = sorted(by_tick[tick], key=lambda c: c.job)
        batch_start = tick + timedelta(milliseconds=90)
        done = max(c.seconds for c in batch)
        for offset, call in enumerate(reversed(batch)):  # later runids queue first: ids and runids disagree
            row = conn.execute("SELECT nextval('net.http_request_queue_id_seq')").fetchone()
            assert row is not None
            request_id = int(row[0])
            start = tick + timedelta(milliseconds=20 + 7 * (len(batch) - offset))
            pid += 1
            runs.append(_Run(call.job, start, "succeeded", "1 row", start, start + timedelta(milliseconds=14), pid))
            tracked.append((request_id, pid, start + timedelta(milliseconds=5), call.job))
            if now - tick > timedelta(seconds=done + 0.2):
                answers.append((request_id, call, batch_start))
    _executemany(
        conn,
        "INSERT INTO cronctl.pgnet_request_log (request_id, backend_pid, queued_at, method, url)"
        " VALUES (%s, %s, %s, 'POST', 'http://127.0.0.1:8787/functions/v1/' || %s)",
        tracked,
    )
    _executemany(
        conn,
        "INSERT INTO net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg,"
        " created) VALUES (%s, %s, 'application/json', %s::jsonb, %s, false, NULL, %s)",
        [
            (rid, call.status, json.dumps({"content-type": "application/json"}), json.dumps(call.payload), created)
            for rid, call, created in answers
        ],
    )
    return runs


def _load_demo(conn: Conn, now: datetime) -> None:
    """runbooks/demo.toml's incident: dispatch-messages answering 401 through pg_net every minute for 25 minutes,
    reconcile-payments answering 200 but `skipped` for its last three runs, nightly-report missed for three
    nights, 42 overdue messages, a stale job_lock left by a crashed sync-enrolments run (which now fails with
    `job_lock active`), and `cron_secret` still a placeholder."""
    conn.execute(_MESSAGES_DDL)
    conn.execute(_PURCHASES_DDL)
    conn.execute(_CRON_RUNS_DDL)
    conn.execute(_ENROLMENT_DDL)
    conn.execute(_SECRETS_DDL)
    create_pg_net_tables(conn)
    conn.execute("TRUNCATE net._http_response, net.http_request_queue")
    _secrets(
        conn,
        now,
        [
            ("supabase_url", "http://127.0.0.1:8787", "Base URL of the sandbox functions"),
            ("service_role_key", "sandbox-service-role-key-0b7e5d", "Service key for reconcile-payments"),
            ("cron_secret", "placeholder-set-me", "Shared secret for dispatch-messages and refresh-quotas"),
        ],
    )
    jobs = _schedule_fresh(conn, {name: spec[0] for name, spec in _DEMO_PG_CRON.items()}, _demo_command)
    _install_tracking(conn, now - timedelta(days=2))
    runs: list[_Run] = []
    calls: list[_Call] = []
    for i, tick in enumerate(_ticks("* * * * *", now, 60)):
        if i < 35:
            calls.append(_Call("dispatch-messages", tick, 200, {"success": True, "processed": i % 4}))
        else:
            calls.append(_Call("dispatch-messages", tick, 401, {"error": "unauthorized"}))
    # reconcile-payments answers 200 but `skipped` since the gateway key went missing (seed 000's failure mode).
    # It fires with dispatch-messages, in the same pg_net batch: only request tracking tells their answers apart.
    for i, tick in enumerate(_ticks("*/30 * * * *", now, 6)):
        if i < 3:
            calls.append(_Call("reconcile-payments", tick, 200, {"success": True, "reconciled": 3}, seconds=40.0))
        else:
            payload = {"success": False, "skipped": True, "reason": "TOSSPAYMENTS_SECRET_KEY is not set"}
            calls.append(_Call("reconcile-payments", tick, 200, payload, seconds=40.0))
    quotas = _ticks("0 0 * * *", now, 5)
    runs.append(_early_failure("refresh-quotas", quotas[0], "job startup timeout"))
    runs.append(_failed_run("refresh-quotas", quotas[1], 'ERROR:  schema "net" does not exist'))
    for tick in quotas[2:]:
        calls.append(_Call("refresh-quotas", tick, 200, {"success": True, "reset": 120}, seconds=2.0))
    runs.extend(_pg_net_calls(conn, calls, now))
    _insert_runs(conn, jobs, runs)

    _messages(conn, now, overdue=42)
    _purchases(conn, now, ages_pending=[20, 10], confirmed=8)

    reports = _ticks("0 2 * * *", now, 10)
    _cron_runs(
        conn, [("nightly-report", tick, tick + timedelta(seconds=75), "success", 640, None) for tick in reports[:-3]]
    )

    ticks = _ticks("*/15 * * * *", now, 16)
    log: list[tuple[str, str, int, int, int, str | None, datetime, datetime | None]] = [
        ("SCHEDULER", "SUCCESS", 178, int(i % 3 == 0), int(i % 3 == 0), None, tick, tick + timedelta(seconds=41))
        for i, tick in enumerate(ticks[:-6])
    ]
    crashed = ticks[-6]
    log += _crashed_then_refused("sync-enrolments", "worker-3:912", crashed, ticks[-5:], 90)
    _run_log(conn, log)
    _locks(
        conn,
        [
            ("sync-enrolments", "worker-3:912", crashed + timedelta(seconds=1), crashed + timedelta(minutes=10)),
            (DEMO_LIVE_LOCK, "worker-5:1280", now - timedelta(seconds=30), now + timedelta(minutes=5)),
        ],
    )
    _alerts(conn, now, unresolved_high=2)
    _source_records(conn, now)


# ---------------------------------------------------------------- public API

SYSTEMS: dict[str, Callable[[Conn, datetime], None]] = {
    "messaging-dispatch": load_messaging_dispatch,
    "ads-platform-vercel": load_ads_platform,
    "metrics-collectors": load_metrics_collectors,
    "enrolment-sync": load_enrolment_sync,
    "billing-pgcron": load_billing_pgcron,
    "demo": _load_demo,
}


def load(conn: Conn, system: str, now: datetime) -> None:
    """Load the incident scenario of one runbook system (`SYSTEMS` keys) in a single transaction."""
    loader = SYSTEMS.get(system)
    if loader is None:
        raise KeyError(f"no scenario for system '{system}' (known: {', '.join(SYSTEMS)})")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    with conn.transaction():
        loader(conn, now)


def load_demo(conn: Conn, now: datetime) -> None:
    """Load runbooks/demo.toml's incident scenario."""
    load(conn, "demo", now)
