"""The incidents. Each was written from its seed's own words and the real systems' behaviour first; the expected
verdict is what a correct triage must say, not what cronctl says today.

An incident declares its system (runbook), a fixed `now` (or LIVE: the clock, for present-tense facts such as a
dead scheduler, a stopped pg_net worker, Redis TTLs or a health endpoint read now), the role that triages, the
state of every job, the state of every lock, the first finding (matched against the JSON: `*_contains` keys match
substrings, `jobs_include` a subset of its jobs, `text_contains` anywhere in it, `silenced` whether it is marked
silenced) or None, optionally the overall status, the jobs triage must mark silenced (every other job must not
be), and words a job's reason must contain. A state given as a tuple accepts any of its members (used only where
the issue allows two).

History outside the database (issue 17) comes from the vendors' API stand-ins (corpus.vendors): GitHub Actions
runs and workflow states, Vercel cron invocations, Supabase Edge Function logs. Seed 001 has no database: its
incidents run with `cluster = "none"` and are triaged with DATABASE_URL unset.

Vocabulary: ok, running, degraded, unverified, failing, missed, stuck, overrunning, disabled, never_run, unknown;
locks: held, stale, expired, orphaned; root causes: scheduler_down, pg_net_missing, pg_net_worker_down,
pg_net_queue_growing, history_hidden, workflow_disabled (a GitHub workflow's state `disabled_inactivity` or
`disabled_manually`: its schedule fires nothing), vendor_token_missing and vendor_token_refused (a history source
outside the database cannot read: its token is not set, or refused). What the vendors say: GitHub run conclusions
(success, failure, cancelled, timed_out, startup_failure) and workflow states (active, disabled_inactivity,
disabled_manually); Vercel's cron user agent `vercel-cron/1.0` and FUNCTION_INVOCATION_TIMEOUT (504 at
maxDuration); Supabase shutdown reasons (EventLoopCompleted, EarlyDrop, WallClockTime, CPUTime, Memory,
TerminationRequested) and WORKER_ERROR (500 after an uncaught exception).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from corpus.builder import (
    Answer,
    Builder,
    CronCall,
    CronJob,
    EdgeCall,
    WorkflowRun,
    at,
    http,
    jitter,
    ok,
    ticks,
    timeout,
)
from corpus.systems import GITHUB_FIRED, Ads, Billing, Enrolment, Messaging, Metrics, github_delay

LIVE = None  # `now` is the clock when the incident is loaded
State = str | tuple[str, ...]
NOT_OK = ("unverified", "unknown")  # a pg_net job whose answers this role cannot read (issue 11: never ok)
NO_OUTCOME = ("unverified", "failing")  # requests the pg_net worker never sent


@dataclass(frozen=True)
class Incident:
    id: str
    system: str  # runbooks/<system>.toml
    now: str | None
    jobs: dict[str, State]
    build: Callable[[Builder], dict[str, Any] | None]
    top: dict[str, Any] | None = None
    locks: dict[str, str] = field(default_factory=dict)
    status: str | None = None
    role: str = "superuser"  # superuser | read_only (cronctl_ro) | reader_no_net | auditor_no_net (BYPASSRLS)
    # main | no_scheduler (a cluster whose pg_cron scheduler is not running) | none (no database: DATABASE_URL unset)
    cluster: str = "main"
    healthy: bool = False
    runbook_edits: dict[str, dict[str, str]] = field(default_factory=dict)  # [jobs.x] key = TOML value
    silenced: tuple[str, ...] = ()  # jobs triage must mark silenced (`cronctl silence`)
    reasons: dict[str, str] = field(default_factory=dict)  # job -> words its reason contains (any case)

    @property
    def live(self) -> bool:
        return self.now is None


INCIDENTS: list[Incident] = []


def incident(**spec: Any) -> Callable[[Callable[[Builder], Any]], Callable[[Builder], Any]]:
    def register(build: Callable[[Builder], Any]) -> Callable[[Builder], Any]:
        INCIDENTS.append(Incident(build=build, **spec))
        return build

    return register


def since(b: Builder, hhmm: str) -> datetime:
    """The time `hh:mm` on the day of `now`."""
    h, m = map(int, hhmm.split(":"))
    return b.now.replace(hour=h, minute=m, second=0, microsecond=0)


def from_(
    t0: datetime, bad: Callable[[datetime], Answer], good: Callable[[datetime], Answer]
) -> Callable[[datetime], Answer]:
    """Answer `bad` for ticks at or after t0, `good` before."""
    return lambda t: bad(t) if t >= t0 else good(t)


MD = {"scheduled-dispatcher": "ok", "payment-reconcile": "ok", "refresh-fallback-quotas": "ok"}
BP = {
    "generate-t5-invoices": "ok", "run-escalation-orchestration": "ok", "schedule-create-zoom": "ok",
    "generate-monthly-invoices": "ok", "escalate-overdue-bookings": "ok", "notification-worker": "ok",
}  # fmt: skip
MC = {"collect-daily": "ok", "collect-mixpanel": "ok", "collect-benchmarks": "ok", "sync-notion": "ok"}
ADS = {"refresh-tokens": "ok", "sync-campaigns": "ok", "cleanup-expired-tokens": "ok"}
UNAUTHORIZED = {"msg": "Invalid JWT"}
# What Supabase answers when a function throws: the platform's own 500 body (the function's logs hold the error).
WORKER_ERROR = {"code": "WORKER_ERROR", "message": "Function exited due to an error (please check logs)"}


# ================================================================ seed 000: messaging-dispatch
# Unless an incident says otherwise, its operator has no SUPABASE_ACCESS_TOKEN: the runbook's history.supabase
# reads nothing (one note), and pg_net's answers are the only outcomes of the runs.


# seed 000 §2: "success: HTTP 200 + { "success": true }; scheduled-dispatcher: processed: 0 is normal"
@incident(id="md-healthy", system="messaging-dispatch", now="2026-11-30T05:41:37Z", jobs=MD, status="ok", healthy=True)
def md_healthy(b: Builder) -> None:
    Messaging(b).fire()


# seed 000 §1: dispatcher every minute, reconcile every 30 minutes: they fire in the same second at :00 and :30
@incident(id="md-healthy-tracked", system="messaging-dispatch", now="2026-11-30T05:41:37Z", jobs=MD, status="ok",
          healthy=True)  # fmt: skip
def md_healthy_tracked(b: Builder) -> None:
    m = Messaging(b)
    b.install_tracking()
    m.fire()


# seed 000 §1: "scheduled-dispatcher | every 1 minute": triage 12 s after the boundary sees that minute's answer
@incident(id="md-seconds-after-boundary", system="messaging-dispatch", now="2026-11-30T05:42:12Z", jobs=MD,
          status="ok", healthy=True)  # fmt: skip
def md_seconds_after_boundary(b: Builder) -> None:
    Messaging(b).fire()


# seed 000 §1: "timeout 30s": 0.7 s after the tick this minute's request is still being answered (in flight)
@incident(id="md-answer-in-flight", system="messaging-dispatch", now="2026-11-30T05:42:00.700Z", jobs=MD,
          status="ok", healthy=True)  # fmt: skip
def md_answer_in_flight(b: Builder) -> None:
    slow = since(b, "05:42")
    Messaging(b).fire({"scheduled-dispatcher": lambda t: ok(1.6, processed=2) if t == slow else ok(0.5, processed=0)})


# seed 000 §5: "401 (scheduled-dispatcher) | CRON_SECRET not set or mismatched" — no tracking: the 05:30 401 or 200
# could be either co-firing job's, so payment-reconcile's newest answer is not known good
@incident(
    id="md-dispatcher-401", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing", "payment-reconcile": "unverified"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET is not set or does not match"},
)  # fmt: skip
def md_dispatcher_401(b: Builder) -> None:
    m = Messaging(b)
    broke = since(b, "05:12")
    m.fire(
        {
            "scheduled-dispatcher": from_(
                broke, lambda t: http(401, {"error": "Unauthorized"}), Messaging.good()["scheduled-dispatcher"]
            )
        }
    )
    m.overdue_messages(broke, 29)


# seed 000 §5: the same 401s with request tracking: every answer joins its own run
@incident(
    id="md-dispatcher-401-tracked", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET is not set or does not", "job": "scheduled-dispatcher"},
)  # fmt: skip
def md_dispatcher_401_tracked(b: Builder) -> None:
    m = Messaging(b)
    b.install_tracking()
    broke = since(b, "05:12")
    m.fire(
        {
            "scheduled-dispatcher": from_(
                broke, lambda t: http(401, {"error": "Unauthorized"}), Messaging.good()["scheduled-dispatcher"]
            )
        }
    )
    m.overdue_messages(broke, 29)


# issue 16 thresholds (Sentry's failure_issue_threshold): the dispatcher's secret broke two minutes ago and the runbook
# says fail_after = 3 — two 401s in a row are a warning, not yet critical (the runbook's crit mode is capped at warn)
@incident(
    id="md-dispatcher-401-below-fail-after", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET is not set", "severity": "warn"},
    status="warn",
    runbook_edits={"jobs.scheduled-dispatcher": {"fail_after": "3"}},
)  # fmt: skip
def md_dispatcher_401_below_fail_after(b: Builder) -> None:
    m = Messaging(b)
    b.install_tracking()
    broke = since(b, "05:40")
    m.fire(
        {
            "scheduled-dispatcher": from_(
                broke, lambda t: http(401, {"error": "Unauthorized"}), Messaging.good()["scheduled-dispatcher"]
            )
        }
    )
    m.overdue_messages(broke, 2)


# the same with a third 401 at 05:42: fail_after = 3 is reached, the job is critical
@incident(
    id="md-dispatcher-401-fail-after-reached", system="messaging-dispatch", now="2026-11-30T05:42:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET is not set", "severity": "crit"},
    status="crit",
    runbook_edits={"jobs.scheduled-dispatcher": {"fail_after": "3"}},
)  # fmt: skip
def md_dispatcher_401_fail_after_reached(b: Builder) -> None:
    md_dispatcher_401_below_fail_after(b)


# issue 16 silences: the on-call engineer silenced the dispatcher for 2 h while the secret is rotated; triage still
# says it is failing (marked silenced) and the status is what it would be without it (its backlog is silenced too)
@incident(
    id="md-dispatcher-401-silenced", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET is not set", "silenced": True},
    status="ok", silenced=("scheduled-dispatcher",),
)  # fmt: skip
def md_dispatcher_401_silenced(b: Builder) -> None:
    md_dispatcher_401_tracked(b)
    b.silence("messaging-dispatch", "scheduled-dispatcher", since=timedelta(minutes=20), lasts=timedelta(hours=2),
              author="mina@oncall-laptop", reason="rotating CRON_SECRET (INC-142)")  # fmt: skip


# the silence expired at 05:30: it vanishes by itself and the 401s count again
@incident(
    id="md-dispatcher-401-silence-expired", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET is not set", "silenced": False},
    status="crit",
)  # fmt: skip
def md_dispatcher_401_silence_expired(b: Builder) -> None:
    md_dispatcher_401_tracked(b)
    b.silence("messaging-dispatch", "scheduled-dispatcher", since=timedelta(hours=1, minutes=11),
              lasts=timedelta(hours=1), author="mina@oncall-laptop",
              reason="rotating CRON_SECRET (INC-142)")  # fmt: skip


# seed 000 §5: "200 but skipped (payment-reconcile) | TOSSPAYMENTS_SECRET_KEY not set"; purchases stay pending
@incident(
    id="md-reconcile-skipped-tracked", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "payment-reconcile": "degraded"},
    top={"kind": "runbook", "cause_contains": "TOSSPAYMENTS_SECRET_KEY is not set"},
)  # fmt: skip
def md_reconcile_skipped_tracked(b: Builder) -> None:
    m = Messaging(b)
    b.install_tracking()
    skipped = ok(1.1, skipped=True, reason="TOSSPAYMENTS_SECRET_KEY is not set")
    m.fire({"payment-reconcile": from_(since(b, "03:00"), lambda t: skipped, Messaging.good()["payment-reconcile"])})
    m.pending_purchases([150, 95, 70, 50])


# seed 000 §5: "stops after partial processing | function timeout (over 30/60 s)": only reconcile has a 60000 ms timeout
@incident(
    id="md-reconcile-timeout", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "payment-reconcile": "failing"},
    top={"kind": "runbook", "cause_contains": "Function timeout"},
)  # fmt: skip
def md_reconcile_timeout(b: Builder) -> None:
    Messaging(b).fire(
        {"payment-reconcile": from_(since(b, "05:00"), lambda t: timeout(), Messaging.good()["payment-reconcile"])}
    )


# seed 000 §5: "500 + Failed to fetch messages | DB connection failure or messages table schema change"
@incident(
    id="md-dispatcher-500-tracked", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "schema change of the `messages` table"},
)  # fmt: skip
def md_dispatcher_500_tracked(b: Builder) -> None:
    m = Messaging(b)
    b.install_tracking()
    broke = since(b, "05:20")
    failed = http(500, {"success": False, "error": "Failed to fetch messages"}, 0.3)
    m.fire({"scheduled-dispatcher": from_(broke, lambda t: failed, Messaging.good()["scheduled-dispatcher"])})
    m.overdue_messages(broke, 21)


# seed 000 §5: "Failed to fetch messages", caught by the function and answered as 200 {"success": false} since 05:33:
# not in a co-firing minute, so even without tracking every such answer is the dispatcher's
@incident(
    id="md-dispatcher-success-false", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "schema change of the `messages` table"},
)  # fmt: skip
def md_dispatcher_success_false(b: Builder) -> None:
    m = Messaging(b)
    broke = since(b, "05:33")
    refused = http(200, {"success": False, "processed": 0, "error": "Failed to fetch messages"}, 0.3)
    m.fire({"scheduled-dispatcher": from_(broke, lambda t: refused, Messaging.good()["scheduled-dispatcher"])})
    m.overdue_messages(broke, 8)


# seed 000 §5: "Invocations = 0 (long) | pg_cron job deactivated": refresh-fallback-quotas switched off 3 days ago
@incident(
    id="md-quotas-disabled", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "refresh-fallback-quotas": "disabled"},
    top={"kind": "runbook", "cause_contains": "The pg_cron job is inactive", "job": "refresh-fallback-quotas"},
)  # fmt: skip
def md_quotas_disabled(b: Builder) -> None:
    m = Messaging(b, quotas_active=False)
    m.fire()
    quotas = m.jobs["refresh-fallback-quotas"]
    b.fire([quotas], b.now - timedelta(days=9), b.now - timedelta(days=3), answer=lambda j, t: ok(2.0, reset=412))


# issue 16 `expect = "disabled"`: the same job switched off on purpose and the runbook says so: not a problem
@incident(
    id="md-quotas-off-on-purpose", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs={**MD, "refresh-fallback-quotas": "disabled"}, status="ok",
    runbook_edits={"jobs.refresh-fallback-quotas": {"expect": '"disabled"'}},
)  # fmt: skip
def md_quotas_off_on_purpose(b: Builder) -> None:
    md_quotas_disabled(b)


# issue 16 `expect = "disabled"`: the runbook says off on purpose, but someone re-enabled it and it ran at 00:00
@incident(
    id="md-quotas-expected-off-runs", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    jobs=MD, status="warn",
    top={"kind": "root_cause", "id": "disabled_job_runs", "jobs_include": ["refresh-fallback-quotas"]},
    runbook_edits={"jobs.refresh-fallback-quotas": {"expect": '"disabled"'}},
)  # fmt: skip
def md_quotas_expected_off_runs(b: Builder) -> None:
    Messaging(b).fire()


# seed 000 §1: "refresh-fallback-quotas | daily 0:00": at 09:41 its 00:00 answer is past pg_net.ttl (6 h): deleted.
# The function's own logs would still hold the outcome (history.supabase), but this operator has no token to read
# them: that is the one finding, and it names the job it would settle
@incident(
    id="md-daily-answer-expired", system="messaging-dispatch", now="2026-11-30T09:41:37Z",
    jobs={**MD, "refresh-fallback-quotas": "unverified"},
    top={"kind": "root_cause", "id": "vendor_token_missing", "text_contains": "SUPABASE_ACCESS_TOKEN",
         "jobs_include": ["refresh-fallback-quotas"]},
)  # fmt: skip
def md_daily_answer_expired(b: Builder) -> None:
    Messaging(b).fire()


# seed 000 §6: "whole cron stopped: check pg_cron is active": the scheduler died 65 minutes ago, jobs still active
@incident(
    id="md-dead-scheduler", system="messaging-dispatch", now=LIVE, cluster="no_scheduler",
    jobs={**MD, "scheduled-dispatcher": "missed", "payment-reconcile": "missed"},
    top={"kind": "root_cause", "id": "scheduler_down", "jobs_include": ["scheduled-dispatcher", "payment-reconcile"]},
    status="crit",
)  # fmt: skip
def md_dead_scheduler(b: Builder) -> dict[str, Any]:
    died = b.now - timedelta(minutes=65)
    m = Messaging(b)
    b.fire(list(m.jobs.values()), b.now - timedelta(days=2), died, answer=lambda j, t: Messaging.good()[j.name](t))
    return {"jobs": {"refresh-fallback-quotas": _daily_state(b, "0 0 * * *", died)}}


def _daily_state(b: Builder, schedule: str, stopped: datetime, ttl: timedelta = timedelta(hours=6)) -> State:
    """A daily pg_net job's verdict when nothing ran after `stopped`: missed if its last fire time came after,
    unverified once its answer is past pg_net.ttl, else ok. Within minutes of an edge the incident is skipped."""
    (last,) = ticks(schedule, b.now - timedelta(days=1, minutes=1), b.now)[-1:]
    age = b.now - last
    if last > stopped:
        if age < timedelta(minutes=10):
            pytest.skip("the daily job's fire time is within the grace period now; its verdict is not settled")
        return "missed"
    if abs(age - ttl) < timedelta(minutes=2):
        pytest.skip("the daily job's answer is expiring from net._http_response right now")
    return "unverified" if age > ttl else "ok"


# DESIGN §3 / issue 11 item 7: a read-only role with BYPASSRLS but no USAGE on schema net sees the runs, not the answers
@incident(
    id="md-no-net-usage", system="messaging-dispatch", now="2026-11-30T05:41:37Z", role="auditor_no_net",
    jobs={name: NOT_OK for name in MD},
    top={"kind": "root_cause", "id": "history_hidden"},
)  # fmt: skip
def md_no_net_usage(b: Builder) -> None:
    Messaging(b).fire()


# ---------------------------------------------------------------- seed 000 with the functions' own logs (issue 17)


# seed 000 §2: "Supabase Dashboard → Edge Functions → function → Invocations tab; success: HTTP 200": the operator
# also reads the functions' logs (SUPABASE_ACCESS_TOKEN set); every pg_net request is there, each worker ending with
# EarlyDrop, which Supabase calls the normal end of a worker that finished its work: nothing to report
@incident(id="md-healthy-supabase", system="messaging-dispatch", now="2026-11-30T05:41:37Z", jobs=MD, status="ok",
          healthy=True)  # fmt: skip
def md_healthy_supabase(b: Builder) -> None:
    Messaging(b, supabase=True).fire()


# seed 000 §5: "401 (scheduled-dispatcher) | CRON_SECRET not set or mismatched" and §2 "401/500 repeated in the Edge
# Function Logs": since 05:12 the function refuses X-Cron-Secret. pg_cron says every run `succeeded` ("1 row": the
# request was queued), and this triage role (BYPASSRLS, no USAGE on schema net) cannot read pg_net's answers; the
# function's own logs show the 401s, and the other two functions' 200s
@incident(
    id="md-dispatcher-401-function-side", system="messaging-dispatch", now="2026-11-30T05:41:37Z",
    role="auditor_no_net", jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET is not set or does not", "job": "scheduled-dispatcher"},
    reasons={"scheduled-dispatcher": "401"},
)  # fmt: skip
def md_dispatcher_401_function_side(b: Builder) -> None:
    m = Messaging(b, supabase=True)
    broke = since(b, "05:12")
    m.fire(
        {
            "scheduled-dispatcher": from_(
                broke, lambda t: http(401, {"error": "Unauthorized"}, 0.05), Messaging.good()["scheduled-dispatcher"]
            )
        }
    )
    m.overdue_messages(broke, 29)


def _dispatcher_throws(broke: datetime) -> Callable[[CronJob, datetime, Answer], EdgeCall | None]:
    """The dispatcher's log from `broke` on: the messages query fails, the function throws, Supabase answers 500
    (WORKER_ERROR) and the worker then ends with EarlyDrop (nothing was left to run)."""

    def edge(job: CronJob, tick: datetime, answer: Answer) -> EdgeCall | None:
        if job.name != "scheduled-dispatcher" or tick < broke:
            return None
        error = (
            "Error: Failed to fetch messages\n    at handler (file:///var/tmp/sb-compile-edge-runtime/"
            "scheduled-dispatcher/index.ts:41:11)"
        )
        return EdgeCall(tick, 500, answer.latency, shutdown="EarlyDrop", exception=error)

    return edge


# seed 000 §5: "500 + Failed to fetch messages | DB connection failure or messages schema change", seen where the seed
# looks first (§3 step 1: Edge Functions → Logs): each invocation since 05:20 threw, answered 500 and its worker ended
# with EarlyDrop. The read-only triage role sees no cron.job_run_details row (RLS: not its own) and so cannot place
# any of pg_net's answers; the functions' logs still judge every job
@incident(
    id="md-dispatcher-earlydrop-500", system="messaging-dispatch", now="2026-11-30T05:41:37Z", role="read_only",
    jobs={**MD, "scheduled-dispatcher": "failing"},
    top={"kind": "runbook", "cause_contains": "schema change of the `messages` table"},
    reasons={"scheduled-dispatcher": "EarlyDrop"},
)  # fmt: skip
def md_dispatcher_earlydrop_500(b: Builder) -> None:
    broke = since(b, "05:20")
    m = Messaging(b, supabase=True, edge=_dispatcher_throws(broke))
    failed = http(500, WORKER_ERROR, 0.35)
    m.fire({"scheduled-dispatcher": from_(broke, lambda t: failed, Messaging.good()["scheduled-dispatcher"])})
    m.overdue_messages(broke, 21)


# ================================================================ seed 004: billing-pgcron
# Every job's GitHub workflow twin is in GitHub's API (read as history.github); unless an incident says otherwise the
# workflows are active and have no runs in the window (the schedules moved to pg_cron).


# seed 004: six jobs via pg_net; at 02:00 four fire in the same second (DESIGN §3: "four jobs … in the same second")
@incident(id="bp-healthy", system="billing-pgcron", now="2026-11-30T06:07:30Z", jobs=BP, status="ok", healthy=True)
def bp_healthy(b: Builder) -> None:
    Billing(b).fire()


# seed 004: the same day with request tracking installed
@incident(id="bp-healthy-tracked", system="billing-pgcron", now="2026-11-30T06:07:30Z", jobs=BP, status="ok",
          healthy=True)  # fmt: skip
def bp_healthy_tracked(b: Builder) -> None:
    bp = Billing(b)
    b.install_tracking()
    bp.fire()


# seed 004: "Cron: 0 1 * * * (Daily at 01:00 UTC)": at 00:40 the daily jobs last ran yesterday, their answers are
# past pg_net.ttl (6 h) and deleted: pg_cron's `succeeded` is no outcome, so they cannot be ok
@incident(
    id="bp-daily-answers-expired", system="billing-pgcron", now="2026-11-30T00:40:10Z",
    jobs={**BP, "generate-t5-invoices": "unverified", "run-escalation-orchestration": "unverified",
          "generate-monthly-invoices": "unverified", "escalate-overdue-bookings": "unverified"},
)  # fmt: skip
def bp_daily_answers_expired(b: Builder) -> None:
    Billing(b).fire()


# seed 004 troubleshooting: "If you still observe 401s, re-check …": escalation's 401 at 02:00 came in one batch with
# zoom's, monthly's and the worker's answers; without tracking it cannot be placed (zoom and the worker ran since)
@incident(
    id="bp-escalation-401", system="billing-pgcron", now="2026-11-30T06:07:30Z",
    jobs={**BP, "run-escalation-orchestration": "unverified", "generate-monthly-invoices": "unverified"},
    top={"kind": "runbook", "cause_contains": "service_role JWT"},
)  # fmt: skip
def bp_escalation_401(b: Builder) -> None:
    Billing(b).fire({"run-escalation-orchestration": lambda t: http(401, UNAUTHORIZED)})


# seed 004: the same 401s with tracking: exactly escalation is failing, every other job ok
@incident(
    id="bp-escalation-401-tracked", system="billing-pgcron", now="2026-11-30T06:07:30Z",
    jobs={**BP, "run-escalation-orchestration": "failing"},
    top={"kind": "runbook", "cause_contains": "service_role JWT"},
)  # fmt: skip
def bp_escalation_401_tracked(b: Builder) -> None:
    bp = Billing(b)
    b.install_tracking()
    bp.fire({"run-escalation-orchestration": lambda t: http(401, UNAUTHORIZED)})


# seed 004: "schedule-create-zoom | */15": its answers always share a batch with notification-worker's (every minute)
@incident(
    id="bp-zoom-500", system="billing-pgcron", now="2026-11-30T06:37:20Z",
    jobs={**BP, "schedule-create-zoom": "unverified"},
)  # fmt: skip
def bp_zoom_500(b: Builder) -> None:
    failed = http(500, {"error": "Zoom API: invalid access token"}, 0.9)
    Billing(b).fire(
        {"schedule-create-zoom": from_(since(b, "06:15"), lambda t: failed, Billing.good()["schedule-create-zoom"])}
    )


# seed 004: the same 500s with tracking
@incident(
    id="bp-zoom-500-tracked", system="billing-pgcron", now="2026-11-30T06:37:20Z",
    jobs={**BP, "schedule-create-zoom": "failing"},
)  # fmt: skip
def bp_zoom_500_tracked(b: Builder) -> None:
    bp = Billing(b)
    b.install_tracking()
    failed = http(500, {"error": "Zoom API: invalid access token"}, 0.9)
    bp.fire(
        {"schedule-create-zoom": from_(since(b, "06:15"), lambda t: failed, Billing.good()["schedule-create-zoom"])}
    )


# seed 004: zoom's command sets no timeout (pg_net default 5000 ms), the worker's 60000 ms: "Timeout of 5000" is zoom's
@incident(
    id="bp-zoom-timeout", system="billing-pgcron", now="2026-11-30T06:52:40Z",
    jobs={**BP, "schedule-create-zoom": "failing"},
)  # fmt: skip
def bp_zoom_timeout(b: Builder) -> None:
    Billing(b).fire(
        {"schedule-create-zoom": from_(since(b, "06:15"), lambda t: timeout(), Billing.good()["schedule-create-zoom"])}
    )


# seed 004 EarlyDrop: "Notifications show failed … timeout": worker requests hang to their 60000 ms timeout
@incident(
    id="bp-worker-timeout", system="billing-pgcron", now="2026-11-30T06:37:20Z",
    jobs={**BP, "notification-worker": "failing"},
    top={"kind": "runbook", "cause_contains": "exceeded the runtime allowed", "job": "notification-worker"},
)  # fmt: skip
def bp_worker_timeout(b: Builder) -> None:
    Billing(b).fire(
        {"notification-worker": from_(since(b, "06:20"), lambda t: timeout(), Billing.good()["notification-worker"])}
    )


# seed 004: "Workflow parses response for success": escalation answers 200 {"success": false}
@incident(
    id="bp-escalation-success-false-tracked", system="billing-pgcron", now="2026-11-30T06:07:30Z",
    jobs={**BP, "run-escalation-orchestration": "failing"},
)  # fmt: skip
def bp_escalation_success_false_tracked(b: Builder) -> None:
    bp = Billing(b)
    b.install_tracking()
    refused = http(200, {"success": False, "error": 'relation "escalation_rules" does not exist'}, 0.4)
    bp.fire({"run-escalation-orchestration": lambda t: refused})


# seed 004: 'Common error: "schema net does not exist": Enable pg_net extension' (a restore without pg_net)
@incident(
    id="bp-pg-net-missing", system="billing-pgcron", now="2026-11-30T06:07:30Z",
    jobs={name: "failing" for name in BP},
    top={"kind": "root_cause", "id": "pg_net_missing"},
    status="crit",
)  # fmt: skip
def bp_pg_net_missing(b: Builder) -> None:
    message = 'ERROR:  schema "net" does not exist\nLINE 2:   SELECT net.http_post(\n                 ^\n'
    Billing(b, pg_net=False).fire(fail=lambda name, t: message)


# DESIGN §3: "a non-superuser sees only rows where username = current_user": cronctl_ro sees no job and no run
@incident(
    id="bp-history-hidden", system="billing-pgcron", now="2026-11-30T06:07:30Z", role="read_only",
    jobs={name: "unknown" for name in BP},
    top={"kind": "root_cause", "id": "history_hidden"},
)  # fmt: skip
def bp_history_hidden(b: Builder) -> None:
    Billing(b).fire()


# seed 004 ("keep the worker fast … runs = 1") run as '30 seconds' (pg_cron 1.5+): starts 30 s after the previous
# start, not at :00/:30 (pg_cron 1.4.2 here cannot run it; the history is 1.5's)
@incident(
    id="bp-seconds-schedule", system="billing-pgcron", now="2026-11-30T06:07:20Z", jobs=BP, status="ok", healthy=True,
    runbook_edits={"jobs.notification-worker": {"schedule": '"30 seconds"'}},
)  # fmt: skip
def bp_seconds_schedule(b: Builder) -> None:
    bp = Billing(b, schedules={"notification-worker": "30 seconds"})
    bp.fire(skip=["notification-worker"])
    worker = bp.jobs["notification-worker"]
    b.fire_every(worker, at("2026-11-28T09:00:07.250Z"), 30, b.now - timedelta(days=2),
                 answer=lambda j, t: Billing.good()["notification-worker"](t))  # fmt: skip


# DESIGN §3 pg_net: "the row is deleted when the worker picks it up": the worker stopped 20 minutes ago
@incident(
    id="bp-worker-down", system="billing-pgcron", now=LIVE,
    jobs={**BP, "notification-worker": NO_OUTCOME, "schedule-create-zoom": NO_OUTCOME},
    top={"kind": "root_cause", "id": "pg_net_worker_down", "jobs_include": ["notification-worker"]},
    status="crit",
)  # fmt: skip
def bp_worker_down(b: Builder) -> dict[str, Any]:
    return _worker_down(b, tracking=False)


def _worker_down(b: Builder, *, tracking: bool) -> dict[str, Any]:
    stopped = b.now - timedelta(minutes=20)
    bp = Billing(b)
    if tracking:
        b.install_tracking()
    b.stop_pg_net_worker(stopped)
    bp.fire()
    states: dict[str, State] = {}
    daily = (
        "generate-t5-invoices",
        "run-escalation-orchestration",
        "generate-monthly-invoices",
        "escalate-overdue-bookings",
    )
    for name in daily:
        (last,) = ticks(bp.jobs[name].schedule, b.now - timedelta(days=1, minutes=1), b.now)[-1:]
        if abs(last - stopped) < timedelta(minutes=2) or abs(b.now - last - timedelta(hours=6)) < timedelta(minutes=2):
            pytest.skip("a daily job fired at the edge of the worker outage or of pg_net.ttl")
        states[name] = NO_OUTCOME if last > stopped else ("unverified" if b.now - last > timedelta(hours=6) else "ok")
    return {"jobs": states}


# the same outage with request tracking: every waiting request's queue time is known
@incident(
    id="bp-worker-down-tracked", system="billing-pgcron", now=LIVE,
    jobs={**BP, "notification-worker": NO_OUTCOME, "schedule-create-zoom": NO_OUTCOME},
    top={"kind": "root_cause", "id": "pg_net_worker_down", "jobs_include": ["notification-worker"]},
    status="crit",
)  # fmt: skip
def bp_worker_down_tracked(b: Builder) -> dict[str, Any]:
    return _worker_down(b, tracking=True)


# ---------------------------------------------------------------- seed 004's GitHub workflow twins (issue 17)

# Seed 004 describes two jobs by what their workflow does: run-escalation-orchestration's "Workflow parses response
# for success" and schedule-create-zoom's "runs scheduler.js which invokes edge function(s)". Here those two are still
# fired by their workflows' schedules (`Cron:` in the seed), not by pg_cron; the other four moved to pg_cron and keep
# workflow_dispatch for manual runs.
GH_FIRED = ("run-escalation-orchestration", "schedule-create-zoom")
GH_EDITS = {f"jobs.{name}": GITHUB_FIRED for name in GH_FIRED}


# seed 004: "Example GH CLI: gh workflow run generate-t5-invoices.yaml --ref main": yesterday someone ran the invoices
# workflow by hand, and two days ago the worker's twice (the first run failed, the second passed); pg_cron's runs
# since are good
@incident(id="bp-healthy-dispatch-runs", system="billing-pgcron", now="2026-11-30T06:07:30Z", jobs=BP, status="ok",
          healthy=True)  # fmt: skip
def bp_healthy_dispatch_runs(b: Builder) -> None:
    bp = Billing(b)
    bp.fire()
    bp.github("generate-t5-invoices", [WorkflowRun(at("2026-11-29T10:12:44Z"), "workflow_dispatch", seconds=41)])
    bp.github(
        "notification-worker",
        [
            WorkflowRun(at("2026-11-28T16:03:10Z"), "workflow_dispatch", "failure", seconds=19),
            WorkflowRun(at("2026-11-28T16:09:52Z"), "workflow_dispatch", seconds=23),
        ],
    )


def _github_fired(b: Builder, dropped: datetime | None = None, late: dict[datetime, float] | None = None) -> Billing:
    """Seed 004 with escalation and zoom fired by GitHub's schedule (runs minutes late, `late` minutes for the
    ticks it names, none for `dropped`) and the other four by pg_cron."""
    bp = Billing(b, github_scheduled=GH_FIRED)
    bp.fire()

    def delay(tick: datetime) -> float | None:
        return None if tick == dropped else (late or {}).get(tick, github_delay(tick))

    for name in GH_FIRED:
        bp.github(name, bp.scheduled_runs(name, delay=delay))
    return bp


# GitHub Actions docs: scheduled runs "can be delayed during periods of high loads … the start of every hour": at
# 02:21 the escalation workflow's 02:00 run has not been created yet (GitHub creates it at 02:27). 21 minutes is
# inside GitHub's delays (grace of at least 30 minutes): yesterday's run is the newest due one, and it passed.
# escalate-overdue-bookings' answer (06:00 yesterday) is past pg_net.ttl: pg_cron's `succeeded` is no outcome
@incident(
    id="bp-github-tick-in-grace", system="billing-pgcron", now="2026-11-30T02:21:40Z",
    jobs={**BP, "escalate-overdue-bookings": "unverified"}, runbook_edits=GH_EDITS,
)  # fmt: skip
def bp_github_tick_in_grace(b: Builder) -> None:
    two = since(b, "02:00")
    _github_fired(b, late={two: 27.0, two + timedelta(minutes=15): 11.5})


# GitHub Actions docs: "If the load is sufficiently high enough, some queued jobs may be dropped": the escalation
# workflow's 02:00 run was never created. At 05:47, nearly four hours on, no delay GitHub gives explains it: missed.
# schedule-create-zoom (*/15) lost its 02:00 run too, but its runs since came, a few minutes late each: ok
@incident(
    id="bp-github-tick-dropped", system="billing-pgcron", now="2026-11-30T05:47:10Z",
    jobs={**BP, "run-escalation-orchestration": "missed", "escalate-overdue-bookings": "unverified"},
    top={"text_contains": "run-escalation-orchestration"}, runbook_edits=GH_EDITS,
)  # fmt: skip
def bp_github_tick_dropped(b: Builder) -> None:
    _github_fired(b, dropped=since(b, "02:00"))


# GitHub Actions docs: "In a public repository, scheduled workflows are automatically disabled when no repository
# activity has occurred in 60 days": GitHub disabled both scheduled workflows of this public repository (state
# disabled_inactivity) 37 minutes before the escalation's last 02:00 slot; zoom (*/15) has not run since, nor has the
# escalation at 02:00. One cause for both missed jobs; the pg_cron jobs (their workflows have no schedule) are not
# affected. LIVE: a workflow's state is what GitHub says now, not at a past time
@incident(
    id="bp-workflows-disabled-inactivity", system="billing-pgcron", now=LIVE,
    jobs={**BP, "run-escalation-orchestration": "missed", "schedule-create-zoom": "missed"},
    top={"kind": "root_cause", "id": "workflow_disabled", "text_contains": "inactivity",
         "jobs_include": list(GH_FIRED)},
    runbook_edits=GH_EDITS,
)  # fmt: skip
def bp_workflows_disabled_inactivity(b: Builder) -> dict[str, Any]:
    # The escalation's newest slot past any grace GitHub's delays need. When it is a day old (01:00-04:30 UTC) zoom's
    # last run is older than the day triage judges, yet still read: GitHub's runs are read one interval and grace
    # before the earliest window of its jobs (the daily escalation's: two days and more), so zoom reads missed.
    *_, two = ticks("0 2 * * *", b.now - timedelta(days=2), b.now - timedelta(hours=2, minutes=30))
    disabled = two - timedelta(minutes=37)
    bp = Billing(b, github_scheduled=GH_FIRED, public=True)
    bp.fire()
    for name in GH_FIRED:
        runs = [r for r in bp.scheduled_runs(name, timedelta(days=3)) if r.created < disabled]
        bp.github(name, runs, state="disabled_inactivity")
    pg_cron_daily = ("generate-t5-invoices", "generate-monthly-invoices", "escalate-overdue-bookings")
    for name in pg_cron_daily:
        if ticks(bp.jobs[name].schedule, b.now - timedelta(minutes=3), b.now):
            pytest.skip("a daily pg_cron job fired moments ago: its answer may still be on its way")
    return {"jobs": {name: _daily_state(b, bp.jobs[name].schedule, b.now) for name in pg_cron_daily}}


# ================================================================ seed 003: enrolment-sync

ENROLMENT_NOW = "2026-11-30T10:07:00Z"


# seed 003 §4: "call with category_id; check the latest run_log row is SUCCESS" (an old 409 was retried days ago)
@incident(
    id="es-healthy",
    system="enrolment-sync",
    now=ENROLMENT_NOW,
    jobs={"enrolment-sync": "ok"},
    status="ok",
    healthy=True,
)
def es_healthy(b: Builder) -> None:
    e = Enrolment(b)
    old = since(b, "10:00") - timedelta(days=4)
    conflict = "LMS request failed: HTTP 409 Conflict (course C1101)"
    e.hourly(b.now - timedelta(days=7), status=lambda t: e.failed(t, conflict, 9) if t == old else None)
    e.log.append(e.success(old + timedelta(minutes=10), trigger="RETRY"))
    e.write()
    e.alerts()


# seed 003 §3-1: "order by id desc limit 20": ids past 999 (1012 hourly runs) are numbers, not text
@incident(id="es-ids-past-999", system="enrolment-sync", now=ENROLMENT_NOW, jobs={"enrolment-sync": "ok"},
          status="ok", healthy=True)  # fmt: skip
def es_ids_past_999(b: Builder) -> None:
    e = Enrolment(b)
    e.hourly(since(b, "10:00") - timedelta(hours=1012) + timedelta(minutes=1))
    assert len(e.log) == 1012
    e.write()
    e.alerts()


# DESIGN §4 issue 11 item 7: a read-only role without USAGE on schema net (Supabase has pg_net) triages a runbook
# that never uses pg_net
@incident(id="es-reader-no-net", system="enrolment-sync", now=ENROLMENT_NOW, role="reader_no_net",
          jobs={"enrolment-sync": "ok"}, status="ok", healthy=True)  # fmt: skip
def es_reader_no_net(b: Builder) -> None:
    b.install_pg_net()
    e = Enrolment(b)
    e.hourly(b.now - timedelta(days=3))
    e.write()
    e.alerts()


# seed 003 §3-3 "job_lock active" + issue 11: a manual run holds the lock (RUNNING 12 of 30 min); calls since are
# refused. LIVE: a lock is a present-tense fact.
@incident(
    id="es-live-lock-refused-run", system="enrolment-sync", now=LIVE,
    jobs={"enrolment-sync": "running"}, locks={"enrolment-sync": "held"},
    top={"kind": "runbook", "cause_contains": "A previous run still holds the lock"},
    runbook_edits={"jobs.enrolment-sync": {"timeout": '"30m"'}},
)  # fmt: skip
def es_live_lock_refused_run(b: Builder) -> None:
    e = Enrolment(b)
    manual = b.now - timedelta(minutes=12)
    if ticks("0 * * * *", manual - timedelta(minutes=2), manual):
        pytest.skip("an hourly call fell just before the manual run: the two would overlap")
    refused = "job_lock active: enrolment-sync locked by worker-7f3c:4121"
    e.hourly(b.now - timedelta(days=3), manual - timedelta(minutes=2))
    e.log.append(e.running(manual, trigger="MANUAL"))
    for tick in ticks("0 * * * *", manual, b.now - timedelta(seconds=3)):
        e.log.append(e.failed(tick, refused, 0.12))
    # An operator's second call by hand (seed §2, the PowerShell Invoke-RestMethod) three minutes ago.
    e.log.append(e.failed(b.now - timedelta(minutes=3, seconds=3), refused, 0.12, trigger="MANUAL"))
    e.write()
    e.lock(
        "enrolment-sync", "worker-7f3c:4121", manual + timedelta(seconds=1), manual + timedelta(minutes=30, seconds=1)
    )
    e.alerts()


# seed 003 §3-7 "check leftover locks": a run crashed holding its lock (no expiry) 3 to 4 hours ago; every call since
# is refused. Another job's lock (the seed's next step, the outbox worker) is live. LIVE: locks are present tense.
@incident(
    id="es-crashed-stale-lock", system="enrolment-sync", now=LIVE,
    jobs={"enrolment-sync": "failing"}, locks={"enrolment-sync": "stale", "sheet-outbox": "held"},
    top={"kind": "runbook", "cause_contains": "crashed run left its job_lock row behind"},
)  # fmt: skip
def es_crashed_stale_lock(b: Builder) -> None:
    e = Enrolment(b)
    *_, crashed, t1, t2, t3 = ticks("0 * * * *", b.now - timedelta(hours=5), b.now)
    e.hourly(b.now - timedelta(days=3), crashed - timedelta(minutes=1))
    e.log.append(e.running(crashed + timedelta(seconds=1.2)))
    for tick in (t1, t2, t3):
        if tick + timedelta(seconds=3) < b.now:
            e.log.append(e.failed(tick, "job_lock active: enrolment-sync locked by worker-7f3c:4121", 0.12))
    e.write()
    e.lock("enrolment-sync", "worker-7f3c:4121", crashed + timedelta(seconds=2), None)
    e.lock("sheet-outbox", "worker-a1b2:77", b.now - timedelta(seconds=40), b.now + timedelta(minutes=4))
    e.alerts()


# seed 003 §4: "on failure classify by error_message, then retry with trigger_type = RETRY": the retry succeeded
@incident(
    id="es-409-retried", system="enrolment-sync", now="2026-11-30T10:20:00Z", jobs={"enrolment-sync": "ok"},
    top={"kind": "runbook", "cause_contains": "rejected a write as a conflict"},
)  # fmt: skip
def es_409_retried(b: Builder) -> None:
    e = Enrolment(b)
    ten = since(b, "10:00")
    e.hourly(
        b.now - timedelta(days=3),
        status=lambda t: e.failed(t, "LMS request failed: HTTP 409 Conflict (course C1101)", 9) if t == ten else None,
    )
    e.log.append(e.success(ten + timedelta(minutes=6), trigger="RETRY"))
    e.write()
    e.alerts()


# seed 003 §3-3: "when error_message ilike '% 5__ %' then 'HTTP_5XX'": the last three calls failed with 502
@incident(
    id="es-5xx-failing", system="enrolment-sync", now=ENROLMENT_NOW, jobs={"enrolment-sync": "failing"},
    top={"kind": "runbook", "cause_contains": "The upstream source failed"},
)  # fmt: skip
def es_5xx_failing(b: Builder) -> None:
    e = Enrolment(b)
    broke = since(b, "08:00")
    e.hourly(
        b.now - timedelta(days=3),
        status=lambda t: e.failed(t, "LMS request failed: HTTP 502 Bad Gateway", 3) if t >= broke else None,
    )
    e.write()
    e.alerts()


# issue 16 thresholds (Sentry's recovery_threshold): three 502s from 07:00 to 09:00 made it critical; the 10:00 run
# succeeded, but recover_after = 2 wants two ok runs in a row: still failing (recovering), not ok
@incident(
    id="es-recovering", system="enrolment-sync", now=ENROLMENT_NOW, jobs={"enrolment-sync": "failing"},
    top={"kind": "runbook", "cause_contains": "The upstream source failed"}, status="crit",
    runbook_edits={"jobs.enrolment-sync": {"recover_after": "2"}},
)  # fmt: skip
def es_recovering(b: Builder) -> None:
    e = Enrolment(b)
    broke, fixed = since(b, "07:00"), since(b, "10:00")
    bad = "LMS request failed: HTTP 502 Bad Gateway"
    e.hourly(b.now - timedelta(days=3), status=lambda t: e.failed(t, bad, 3) if broke <= t < fixed else None)
    e.write()
    e.alerts()


# the same an hour later: the 11:00 run is the second ok in a row, recover_after = 2 holds, the job is ok again
@incident(
    id="es-recovered", system="enrolment-sync", now="2026-11-30T11:07:00Z", jobs={"enrolment-sync": "ok"},
    top={"kind": "runbook", "cause_contains": "The upstream source failed"},
    runbook_edits={"jobs.enrolment-sync": {"recover_after": "2"}},
)  # fmt: skip
def es_recovered(b: Builder) -> None:
    es_recovering(b)


# seed 003 §3-5: "unresolved high alerts": the sync works, but three high alerts wait for a human
@incident(
    id="es-unresolved-alerts", system="enrolment-sync", now=ENROLMENT_NOW, jobs={"enrolment-sync": "ok"},
    top={"kind": "runbook", "cause_contains": "nobody has handled yet"},
)  # fmt: skip
def es_unresolved_alerts(b: Builder) -> None:
    e = Enrolment(b)
    e.hourly(b.now - timedelta(days=3))
    e.write()
    e.alerts(unresolved_high=3)


# ================================================================ seed 002: metrics-collectors


# seed 002 §2: "collect-benchmarks runs once a week, so it is checked over 7 days": Sunday night, last run Monday
@incident(id="mc-healthy", system="metrics-collectors", now="2026-11-29T23:40:00Z", jobs=MC, status="ok", healthy=True)
def mc_healthy(b: Builder) -> None:
    m = Metrics(b)
    m.everyday()
    m.write()


# seed 002 §1 cron_name 'sync-notion': at 01:50 it last ran yesterday at 02:00 (daily), collect-daily today at 00:00
@incident(id="mc-daily-ran-yesterday", system="metrics-collectors", now="2026-11-30T01:50:00Z", jobs=MC,
          status="ok", healthy=True)  # fmt: skip
def mc_daily_ran_yesterday(b: Builder) -> None:
    m = Metrics(b)
    m.everyday()
    m.write()


# seed 002 §2: "retries still fail → that account is skipped, whole status = 'partial'"
@incident(
    id="mc-partial", system="metrics-collectors", now="2026-11-30T09:30:00Z", jobs={**MC, "collect-daily": "degraded"},
    top={"kind": "runbook", "cause_contains": "Meta API rate limit", "job": "collect-daily"},
)  # fmt: skip
def mc_partial(b: Builder) -> None:
    m = Metrics(b)
    today = since(b, "00:00")
    message = "Meta API 429 Too Many Requests for act_1029 after 2 retries; account skipped"
    partial = ("collect-daily", today + timedelta(seconds=1), today + timedelta(seconds=141), "partial", 1210, message)
    m.runs("collect-daily", b.now - timedelta(days=15), status=lambda t: partial if t == today else None)
    m.everyday(skip=["collect-daily"])
    m.write()


# seed 002 §2: '"missing": ["collect-daily"] // crons with no run in 24 hours' — here collect-mixpanel, for 3 days
@incident(
    id="mc-mixpanel-missed", system="metrics-collectors", now="2026-11-30T09:30:00Z",
    jobs={**MC, "collect-mixpanel": "missed"},
    top={"kind": "runbook", "cause_contains": "The cron did not fire"},
)  # fmt: skip
def mc_mixpanel_missed(b: Builder) -> None:
    m = Metrics(b)
    m.everyday(skip=["collect-mixpanel"])
    m.runs("collect-mixpanel", b.now - timedelta(days=15))
    m.rows = [r for r in m.rows if not (r[0] == "collect-mixpanel" and r[1] > at("2026-11-27T01:00:00Z"))]
    m.write()


# seed 002 §4: "cron_runs UPDATE failure | console.error only": yesterday's sync-notion row stays 'running'; today's ran
@incident(id="mc-old-running-row", system="metrics-collectors", now="2026-11-30T09:30:00Z", jobs=MC, status="ok",
          healthy=True)  # fmt: skip
def mc_old_running_row(b: Builder) -> None:
    m = Metrics(b)
    yesterday = since(b, "02:00") - timedelta(days=1)
    m.runs(
        "sync-notion",
        b.now - timedelta(days=15),
        status=lambda t: (
            ("sync-notion", t + timedelta(seconds=0.8), None, "running", 0, None) if t == yesterday else None
        ),
    )
    m.everyday(skip=["sync-notion"])
    m.write()


# seed 002 §4: the same UPDATE failure on today's run: 'running' for 7.5 hours, far past the 5-minute maxDuration
@incident(
    id="mc-notion-running-past-timeout", system="metrics-collectors", now="2026-11-30T09:30:00Z",
    jobs={**MC, "sync-notion": "overrunning"},
    top={"kind": "runbook", "cause_contains": "its cron_runs UPDATE failed", "job": "sync-notion"},
)  # fmt: skip
def mc_notion_running_past_timeout(b: Builder) -> None:
    m = Metrics(b)
    today = since(b, "02:00")
    m.runs(
        "sync-notion",
        b.now - timedelta(days=15),
        status=lambda t: ("sync-notion", t + timedelta(seconds=0.8), None, "running", 0, None) if t == today else None,
    )
    m.everyday(skip=["sync-notion"])
    m.write()


# seed 002 §4: "health endpoint DB error | return 500": cron_runs itself is fine
@incident(
    id="mc-health-500", system="metrics-collectors", now=LIVE, jobs=MC,
    top={"kind": "runbook", "cause_contains": "health endpoint could not read the database", "text_contains": "500"},
    status="crit",
)  # fmt: skip
def mc_health_500(b: Builder) -> None:
    m = Metrics(b)
    m.everyday()
    m.write(health_status=500, health_body={"error": "Failed to query cron_runs: connection terminated"})


# seed 002 §1: "RLS: only the service role": a read-only role sees no cron_runs rows; the health endpoint still answers
@incident(
    id="mc-rls-read-only", system="metrics-collectors", now=LIVE, role="read_only",
    jobs={**MC, "sync-notion": "unknown"},
    top={"kind": "root_cause", "id": "history_hidden"},
)  # fmt: skip
def mc_rls_read_only(b: Builder) -> None:
    m = Metrics(b)
    m.everyday()
    m.write()


# ================================================================ seed 001: ads-platform-vercel
# No database: every incident runs with DATABASE_URL unset; the history is Vercel's (corpus.vendors), the locks Redis'.


# seed 001 "Monitoring: Dashboard → Cron Jobs tab, each cron job's runs": Vercel's cron called the three routes at
# every slot (Pro: within the minute) and each answered 200; someone also tested refresh-tokens with curl at 06:52
# (the seed's "curl로 테스트"), which is not one of the scheduler's runs
@incident(id="ads-healthy", system="ads-platform-vercel", now="2026-11-30T07:23:40Z", cluster="none", jobs=ADS,
          status="ok", healthy=True)  # fmt: skip
def ads_healthy(b: Builder) -> None:
    a = Ads(b)
    a.fire()
    a.curl("refresh-tokens", since(b, "06:52") + timedelta(seconds=17), seconds=64.0)


# seed 001 "401 Unauthorized | Authorization header wrong or CRON_SECRET does not match": CRON_SECRET was rotated at
# 02:20 and since then the header Vercel's cron sends no longer matches what the routes check (`authHeader !==
# Bearer ${process.env.CRON_SECRET}` → 401 "Unauthorized" in a few ms). Only the hourly route has fired since: three
# 401s in a row; refresh-tokens (00:00) and cleanup (02:00) last ran before the rotation and passed
@incident(
    id="ads-sync-401-streak", system="ads-platform-vercel", now="2026-11-30T05:41:37Z", cluster="none",
    jobs={**ADS, "sync-campaigns": "failing"},
    top={"kind": "runbook", "cause_contains": "CRON_SECRET does not match", "job": "sync-campaigns"},
    reasons={"sync-campaigns": "401"},
)  # fmt: skip
def ads_sync_401_streak(b: Builder) -> None:
    rotated = since(b, "02:20")
    good = Ads.good()["sync-campaigns"]

    def sync(t: datetime) -> CronCall | None:
        if t < rotated:
            return good(t)
        return CronCall(t + timedelta(seconds=jitter(t, "401", lo=0.2, hi=2.0)), 401, jitter(t, lo=0.011, hi=0.045))

    Ads(b).fire({"sync-campaigns": sync})


# seed 001 "Timeout | the run exceeded maxDuration … export const maxDuration = 300 // 5 minutes": refresh-tokens has
# more tokens to refresh every day; it took 236 s at 12:00 and 271 s at 18:00, and at 00:00 and 06:00 Vercel stopped
# it at 300 s (504 FUNCTION_INVOCATION_TIMEOUT, "Task timed out after 300 seconds")
@incident(
    id="ads-refresh-over-maxduration", system="ads-platform-vercel", now="2026-11-30T06:19:05Z", cluster="none",
    jobs={**ADS, "refresh-tokens": "failing"},
    top={"kind": "runbook", "cause_contains": "longer than the function's maxDuration", "job": "refresh-tokens"},
    reasons={"refresh-tokens": "maxDuration"},
)  # fmt: skip
def ads_refresh_over_maxduration(b: Builder) -> None:
    took = {"12:00": 236.4, "18:00": 271.2}

    def refresh(t: datetime) -> CronCall:
        start = t + timedelta(seconds=jitter(t, "start", lo=0.2, hi=2.5))
        if t >= since(b, "00:00"):
            return CronCall(start, 504, 300.0, logs=("refreshing 1184 expiring credentials",), timed_out=True)
        return CronCall(start, 200, took.get(t.strftime("%H:%M"), 205.0), logs=("refreshing expiring credentials",))

    Ads(b).fire({"refresh-tokens": refresh})


# seed 001 "Cron Job does not run | cause 3: cron jobs are disabled → Enable Cron Jobs": someone pressed "Disable Cron
# Jobs" in Settings → Cron Jobs at 03:10. Vercel calls nothing since: sync-campaigns has missed 04:00 to 07:00 and
# refresh-tokens 06:00; cleanup-expired-tokens last ran at 02:00, as it should
@incident(
    id="ads-crons-disabled", system="ads-platform-vercel", now="2026-11-30T07:23:40Z", cluster="none",
    jobs={**ADS, "sync-campaigns": "missed", "refresh-tokens": "missed"},
    top={"kind": "runbook", "cause_contains": "cron jobs are disabled in the project"},
)  # fmt: skip
def ads_crons_disabled(b: Builder) -> None:
    off = since(b, "03:10")
    good = Ads.good()
    Ads(b).fire({name: (lambda t, f=f: f(t) if t < off else None) for name, f in good.items()})


# seed 001: 'redis.set(lockKey, "1", { ex: 300, nx: true })': someone runs refresh-tokens by hand (a request still in
# flight is not in Vercel's logs yet); its lock expires by itself. The scheduled runs are all good
@incident(
    id="ads-refresh-running", system="ads-platform-vercel", now=LIVE, cluster="none",
    jobs={**ADS, "refresh-tokens": ("ok", "running")}, locks={"refresh-tokens": "held"},
)  # fmt: skip
def ads_refresh_running(b: Builder) -> None:
    Ads(b).fire()
    b.redis_lock("cron:refresh-tokens:lock", ttl_ms=240_000, idle_seconds=60)


# seed 001 "Concurrent runs … Redis Lock": sync-campaigns' key lost its TTL. Its value is the seed's "1", a shared
# integer object in Redis, so OBJECT IDLETIME cannot date it, and this operator has no VERCEL_TOKEN, so no history
# says whether a run holds it: nothing says the lock is stale (a live lock must never be called stale); it stays
# held, its missing TTL reported as suspicious. No job can be judged, and that is one finding: the unset token
@incident(
    id="ads-lock-without-ttl", system="ads-platform-vercel", now=LIVE, cluster="none",
    jobs={name: "unknown" for name in ADS}, locks={"sync-campaigns": "held"},
    top={"kind": "root_cause", "id": "vendor_token_missing", "text_contains": "VERCEL_TOKEN",
         "jobs_include": list(ADS)},
)  # fmt: skip
def ads_lock_without_ttl(b: Builder) -> None:
    Ads(b, vercel=False)
    b.redis_lock("cron:sync-campaigns:lock", ttl_ms=None, idle_seconds=50 * 60)


def by_id() -> dict[str, Incident]:
    ids = [i.id for i in INCIDENTS]
    assert len(ids) == len(set(ids)), "incident ids must be unique"
    return {i.id: i for i in INCIDENTS}
