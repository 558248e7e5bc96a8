"""Attribution accuracy: is each pg_net answer of co-firing pg_cron jobs given to the run that queued it?

Builds realistic pg_net histories of several systems of co-firing jobs with the incident corpus's builder
(tests/corpus/builder.py: pg_cron 1.4's scheduler pass — runids in jobid order, a fresh `job_pid` per run —
and pg_net 0.20's worker — request ids taken in whatever order the co-firing backends get there, one batch per
wake-up with `created` = the batch start, a batch's answers visible only when its slowest request ends, pg_net's
own timeout text, answers deleted after pg_net.ttl, requests left in the queue while the worker is busy), loads
each into the sandbox database twice — once with request tracking installed by `cronctl pgcron track install`
(the builder writes `cronctl.pgnet_request_log` as the trigger would: backend_pid = the run's job_pid, queued_at
inside its span), once without — and runs the product's own collection and judgement
(`cronctl.services.history.collect` + `cronctl.evaluate.snapshot.judge`, what `cronctl triage` runs). Every run's
`RunAnswer` is compared with the ground truth the builder generated. Prints one Markdown section.

    .venv/bin/python bench/attribution.py [--systems NAME ...] [--cases 12]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from _common import ROOT, machine

sys.path.insert(0, str(ROOT / "tests"))
from corpus.builder import PG_NET_TTL, Answer, Builder, CronJob, _Request, _Run, http, jitter, ok, timeout
from corpus.systems import SUPABASE, pg_net_command
from cronctl.db import connect
from cronctl.evaluate.snapshot import judge
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import load_runbook
from cronctl.services.history import collect
from cronctl_sandbox.cluster import PgCluster

SINCE = 86400.0  # `cronctl triage`'s default failure window (24 h)
STATEMENT_TIMEOUT = 30.0
CLEARANCE = 20.0  # seconds a system needs before the sandbox scheduler's next tick (it fires cron.job's rows)
Reply = Callable[[datetime], Answer]
HEADERS = [
    ("Content-Type", "'application/json'"),
    ("Authorization", "'Bearer ' || current_setting('app.settings.service_role_key', true)"),
]


# ---------------------------------------------------------------- what the endpoints answer


def good(name: str, lo: float = 0.2, hi: float = 0.9) -> Reply:
    return lambda t: ok(jitter(name, t, lo=lo, hi=hi), processed=int(jitter(name, t, "n", lo=0, hi=5)))


def unauthorized(t: datetime) -> Answer:
    # Supabase's gateway when the service-role key or CRON_SECRET is wrong.
    return http(401, {"code": 401, "message": "Invalid JWT"}, latency=0.05)


def server_error(t: datetime) -> Answer:
    return http(500, {"error": "Internal Server Error"}, latency=0.3)


def not_success(t: datetime) -> Answer:
    # HTTP 200 whose body says the work failed: only the runbook's success rule catches it.
    return http(200, {"success": False, "error": "upstream quota exceeded"}, latency=0.6)


def hang(t: datetime) -> Answer:
    return timeout()


def flaky(name: str, rate: float, failure: Reply, base: Reply | None = None) -> Reply:
    base = base or good(name)
    return lambda t: failure(t) if jitter(name, t, "flaky", lo=0, hi=1) < rate else base(t)


def since(start: datetime, failure: Reply, base: Reply) -> Reply:
    return lambda t: failure(t) if t >= start else base(t)


# ---------------------------------------------------------------- the systems


@dataclass(frozen=True)
class Job:
    name: str
    schedule: str
    timeout_ms: int | None  # None: the command leaves net.http_post's default (5000 ms)
    reply: Reply
    fail: Callable[[datetime], str | None] | None = None  # a pg_cron error for this tick (no request queued)
    command: str | None = None  # the cron.job command, when it is not a plain `SELECT net.http_post(…)`


@dataclass(frozen=True)
class System:
    name: str
    about: str
    now: datetime
    history: timedelta
    jobs: tuple[Job, ...]
    # pg_net requests queued outside pg_cron (database webhooks, app code): (queued at, what it answered)
    foreign: Callable[[System], list[tuple[datetime, Answer]]] | None = None


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def systems() -> list[System]:
    n1 = _t("2026-12-01 09:41:00.600")  # 0.6 s after a tick: the newest batch is still in flight
    n2 = _t("2026-12-01 10:17:37")
    n3 = _t("2026-12-01 11:05:12")
    n4 = _t("2026-12-01 12:33:48")
    n5 = _t("2026-12-01 13:02:21")
    n6 = _t("2026-12-01 14:46:09")
    n7 = _t("2026-12-01 15:20:44")
    n8 = _t("2026-12-01 16:58:30")
    n9 = _t("2026-12-01 17:12:19")
    n10 = _t("2026-12-01 18:31:52")
    n11 = _t("2026-12-01 19:08:27")
    return [
        System("healthy-3", "3 every-minute jobs, all answering `{\"success\": true}`; judged 0.6 s after a tick",
               n1, timedelta(hours=2), (
                   Job("dispatch", "* * * * *", 30000, good("dispatch")),
                   Job("sync-contacts", "* * * * *", None, good("sync-contacts")),
                   Job("notify", "* * * * *", 10000, good("notify")),
               )),
        System("one-401", "4 every-minute jobs (same default timeout); `send-push` answers 401 for the last 40 min",
               n2, timedelta(hours=3), (
                   Job("scheduled-dispatcher", "* * * * *", None, good("scheduled-dispatcher")),
                   Job("send-push", "* * * * *", None,
                       since(n2 - timedelta(minutes=40), unauthorized, good("send-push"))),
                   Job("typing-cleanup", "* * * * *", None, good("typing-cleanup", 0.05, 0.2)),
                   Job("sync-calendar", "* * * * *", None, good("sync-calendar")),
               )),
        System("mixed-5", "3 every-minute + `*/5` + `*/15`; `cleanup` 500 on 30 % of ticks, `report` always "
               "`{\"success\": false}`", n3, timedelta(hours=3), (
                   Job("dispatcher", "* * * * *", 30000, good("dispatcher")),
                   Job("sync", "* * * * *", None, good("sync")),
                   Job("cleanup", "* * * * *", None, flaky("cleanup", 0.3, server_error)),
                   Job("reconcile", "*/5 * * * *", 60000, good("reconcile", 1.0, 3.2)),
                   Job("report", "*/15 * * * *", 30000, not_success),
               )),
        System("timeouts-distinct", "4 every-minute jobs with timeouts 3/5/10/30 s; `export` (10 s) hangs on half "
               "the ticks", n4, timedelta(hours=2), (
                   Job("ping", "* * * * *", 3000, good("ping", 0.05, 0.3)),
                   Job("sync", "* * * * *", None, good("sync")),
                   Job("export", "* * * * *", 10000, flaky("export", 0.5, hang)),
                   Job("digest", "* * * * *", 30000, good("digest", 0.5, 2.0)),
               )),
        System("timeouts-same", "5 every-minute jobs, all with the default 5 s timeout; `ingest` times out on 40 % of "
               "ticks", n5, timedelta(hours=2), (
                   Job("ingest", "* * * * *", None, flaky("ingest", 0.4, hang)),
                   Job("enrich", "* * * * *", None, good("enrich")),
                   Job("index", "* * * * *", None, good("index")),
                   Job("notify", "* * * * *", None, good("notify")),
                   Job("audit", "* * * * *", None, good("audit", 0.05, 0.2)),
               )),
        System("eight", "5 every-minute + `*/5` + `*/15` + `*/30`: one 401 always, one 500 on 20 %, the `*/5` "
               "times out on 60 %, the `*/30` `{\"success\": false}`; `queue-drain` loses its pg_cron connection "
               "twice", n6, timedelta(hours=4), (
                   Job("dispatcher", "* * * * *", 30000, good("dispatcher")),
                   Job("push", "* * * * *", None, unauthorized),
                   Job("sync", "* * * * *", None, flaky("sync", 0.2, server_error)),
                   Job("queue-drain", "* * * * *", None, good("queue-drain"),
                       fail=lambda t: "connection failed" if t.minute in (7, 8) and t.hour == 13 else None),
                   Job("typing-cleanup", "* * * * *", 5000, good("typing-cleanup", 0.05, 0.2)),
                   Job("reconcile", "*/5 * * * *", 15000, flaky("reconcile", 0.6, hang, good("reconcile", 1, 3))),
                   Job("metrics", "*/15 * * * *", 30000, good("metrics", 1.5, 4.0)),
                   Job("payment-reconcile", "*/30 * * * *", 60000, not_success),
               )),
        System("slow-batch", "4 every-minute jobs; `export` takes 65-80 s, so pg_net's worker is busy and the next "
               "ticks' requests wait in the queue and share batches; `sync` 500 on 25 %", n7, timedelta(hours=2), (
                   Job("export", "* * * * *", 120000, good("export", 65.0, 80.0)),
                   Job("sync", "* * * * *", None, flaky("sync", 0.25, server_error)),
                   Job("dispatch", "* * * * *", 30000, good("dispatch")),
                   Job("notify", "* * * * *", 10000, good("notify")),
               )),
        System("full-ttl", "8 every-minute jobs over 7 h (answers older than pg_net.ttl = 6 h are gone): 2,880 "
               "answers; `sync` 500 on 10 %, `digest` `{\"success\": false}` for the last 20 min",
               n8, timedelta(hours=7), (
                   Job("dispatch", "* * * * *", 30000, good("dispatch")),
                   Job("sync", "* * * * *", None, flaky("sync", 0.1, server_error)),
                   Job("digest", "* * * * *", None, since(n8 - timedelta(minutes=20), not_success, good("digest"))),
                   Job("notify", "* * * * *", 10000, good("notify")),
                   Job("index", "* * * * *", None, good("index")),
                   Job("audit", "* * * * *", None, good("audit", 0.05, 0.2)),
                   Job("enrich", "* * * * *", 15000, good("enrich")),
                   Job("cleanup", "* * * * *", None, good("cleanup", 0.05, 0.2)),
               )),
        System("just-broke", "6 every-minute + `*/5`; `billing` answers 500 and `mailer` `{\"success\": false}` "
               "only at the newest two ticks", n9, timedelta(minutes=90), (
                   Job("billing", "* * * * *", None, since(n9 - timedelta(minutes=2), server_error, good("billing"))),
                   Job("mailer", "* * * * *", None, since(n9 - timedelta(minutes=2), not_success, good("mailer"))),
                   Job("dispatch", "* * * * *", 30000, good("dispatch")),
                   Job("notify", "* * * * *", None, good("notify")),
                   Job("sync", "* * * * *", None, good("sync")),
                   Job("typing-cleanup", "* * * * *", None, good("typing-cleanup", 0.05, 0.2)),
                   Job("reconcile", "*/5 * * * *", 60000, good("reconcile", 1.0, 3.2)),
               )),
        System("wrapper", "4 every-minute jobs; `sync-orders` calls pg_net inside a SQL function "
               "(`SELECT public.invoke_edge_function('sync-orders', 3000)`, mapped `pg_net = true` in the runbook) "
               "and times out after its 3 s on 30 % of ticks and at the newest three; `ping` sets "
               "`timeout_milliseconds := 3000` itself",
               n10, timedelta(hours=3), (
                   Job("sync-orders", "* * * * *", 3000,
                       since(n10 - timedelta(minutes=3), hang, flaky("sync-orders", 0.3, hang)),
                       command="SELECT public.invoke_edge_function('sync-orders', 3000);"),
                   Job("ping", "* * * * *", 3000, good("ping", 0.05, 0.3)),
                   Job("dispatch", "* * * * *", None, good("dispatch")),
                   Job("notify", "* * * * *", 10000, good("notify")),
               )),
        System("webhooks", "4 every-minute jobs beside a database webhook (`supabase_functions.http_request`, 1 s "
               "timeout) that an app worker's own every-minute timer fires at the minute on 30 % of ticks and at "
               "random times otherwise; the webhook answers `{\"received\": true}`, 500 on 10 %, times out on 5 %",
               n11, timedelta(hours=2), (
                   Job("dispatcher", "* * * * *", 30000, good("dispatcher")),
                   Job("sync", "* * * * *", None, good("sync")),
                   Job("notify", "* * * * *", 10000, good("notify")),
                   Job("cleanup", "* * * * *", None, good("cleanup", 0.05, 0.2)),
               ), foreign=webhooks),
    ]  # fmt: skip


def webhooks(system: System) -> list[tuple[datetime, Answer]]:
    out = []
    minute = system.now.replace(second=0, microsecond=0) - system.history
    while minute <= system.now:
        if jitter("webhook", minute, "at tick", lo=0, hi=1) < 0.3:
            out.append((minute + timedelta(seconds=jitter("webhook", minute, "offset", lo=0.004, hi=0.020)), minute))
        for k in range(int(jitter("webhook", minute, "count", lo=2, hi=9))):
            out.append((minute + timedelta(seconds=jitter("webhook", minute, k, lo=0.5, hi=59.5)), minute))
        minute += timedelta(minutes=1)
    replies = []
    for at, _key in out:
        roll = jitter("webhook", at, "answer", lo=0, hi=1)
        answer = (
            http(500, {"error": "database error"}, 0.2) if roll < 0.10 else timeout() if roll < 0.15
            else http(200, {"received": True}, jitter("webhook", at, "lat", lo=0.05, hi=0.6))
        )  # fmt: skip
        replies.append((at, answer))
    return [(at, a) for at, a in replies if at <= system.now - timedelta(seconds=0.05)]


def add_foreign(b: Builder, requests: Sequence[tuple[datetime, Answer]]) -> None:
    """pg_net requests no pg_cron run queued, written by the builder beside the runs' own (same ids, same
    batches, tracked with the app backend's pid)."""
    hook = CronJob(0, "(database webhook)", "", "", True, f"{SUPABASE}/functions/v1/on-order-insert", {}, {}, 1000)
    for k, (at, answer) in enumerate(requests):
        run = _Run(hook, at, 0, 12001 + k % 7, "succeeded", None, at - timedelta(milliseconds=2),
                   at + timedelta(milliseconds=1))  # fmt: skip
        b._requests.append(_Request(hook, run, at, answer))


def url(job: Job) -> str:
    return f"{SUPABASE}/functions/v1/{job.name}"


def runbook_text(system: System) -> str:
    parts = [f'[runbook]\nname = "attribution-{system.name}"\n[connection]\nstatement_timeout = "30s"\n']
    for job in system.jobs:
        parts.append(
            f'[jobs.{job.name}]\nschedule = "{job.schedule}"\nurl = "{url(job)}"\nscheduler = "pg_cron"\n'
            'success = { status = [200], require = ["success == true"] }\n'
            f'history = {{ pg_cron = "{job.name}", pg_net = true }}\n'
        )
    return "\n".join(parts)


# ---------------------------------------------------------------- ground truth vs what the product says


def truth_status(answer: Answer, timeout_ms: int) -> str:
    if answer.timed_out or answer.latency >= timeout_ms / 1000 or answer.error is not None:
        return "failed"
    body = answer.body if isinstance(answer.body, dict) else {}
    return "succeeded" if answer.status == 200 and body.get("success") is True else "failed"


@dataclass
class Truth:
    job: str
    runid: str
    start: datetime
    request_id: int
    status: str  # what the answer says, judged by the runbook's rule
    visible: bool  # in net._http_response at `now`
    where: str  # answered | in flight | queued | expired
    created: datetime | None


@dataclass
class Case:
    system: str
    tracked: bool
    truth: Truth
    got: Any  # RunAnswer | None
    verdict: str  # right | honest | wrong link | wrong status | unlinked | not read
    detail: str = ""


@dataclass
class Outcome:
    system: System
    tracked: bool
    cases: list[Case] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    truth_state: dict[str, str] = field(default_factory=dict)  # failing | healthy | unknown
    seconds: float = 0.0


def classify(truth: Truth, got: Any, read: set[int]) -> tuple[str, str]:
    """right: linked to its own answer (or, for a set inference without a link, the true outcome).
    honest: unverified/pending for a reason that holds (its answer is not readable, or it is among the listed
    candidates). Everything else is wrong (a wrong inferred link counts as wrong)."""
    if got is None:
        return "not read", "triage read no such run (its job's walk of cron.job_run_details stopped before it)"
    response = got.response
    readable = truth.visible and truth.request_id in read
    if got.attribution in ("exact", "inferred"):
        if response is not None:
            if response.id == truth.request_id:
                return "right", ""
            return "wrong link", f"given answer {response.id}, its own is {truth.request_id}"
        if got.status in ("succeeded", "failed", "skipped", "partial"):
            if truth.visible and got.status == truth.status:
                return "right", ""
            return "wrong status", f"{got.status} by set inference, truth {truth.status} ({truth.where})"
        if not truth.visible:
            return "honest", ""
        return "unlinked", f"{got.attribution} {got.status} without an answer, its answer {truth.request_id} is in"
    if got.attribution == "ambiguous":
        possible = {r.id for r in got.possible}
        if truth.request_id in possible or not readable:
            return "honest", ""
        return "unlinked", f"ambiguous; its own answer {truth.request_id} is not among the {len(possible)} listed"
    if not readable:
        return "honest", ""
    return "unlinked", f"none ({got.status}: {got.message}); its answer {truth.request_id} was read"


def truth_of(b: Builder, pid_runid: dict[int, str]) -> list[Truth]:
    out = []
    for r in b._requests:  # the builder's ground truth: every request, its run and its answer
        created = r.created
        if r.created is None:
            where = "queued"
        elif r.done_at is None or r.done_at > b.now:
            where = "in flight"
        elif r.created < b.now - PG_NET_TTL:
            where = "expired"
        else:
            where = "answered"
        assert r.run.pid is not None and r.run.start is not None
        if r.run.pid not in pid_runid:
            continue  # queued outside pg_cron (a webhook): no run's answer
        out.append(
            Truth(r.job.name, pid_runid[r.run.pid], r.run.start, r.id, truth_status(r.answer, r.job.timeout_ms),
                  where == "answered", where, created)
        )  # fmt: skip
    return out


def job_truth(b: Builder, truths: Sequence[Truth]) -> dict[str, str]:
    """failing / healthy from the newest run whose outcome is known at `now` (a pg_cron failure or a visible
    answer); unknown when none is."""
    known: dict[str, list[tuple[datetime, str]]] = {}
    for t in truths:
        if t.visible:
            known.setdefault(t.job, []).append((t.start, t.status))
    for run in b._runs:
        if run.status == "failed" and run.start is not None:
            known.setdefault(run.job.name, []).append((run.start, "failed"))
    out = {}
    for job in b._jobs:
        seen = sorted(known.get(job.name, []), reverse=True)
        out[job.name] = "unknown" if not seen else "healthy" if seen[0][1] == "succeeded" else "failing"
    return out


# ---------------------------------------------------------------- one system, one mode

RESET = """
DELETE FROM cron.job;
TRUNCATE cron.job_run_details;
DROP SCHEMA IF EXISTS net CASCADE;
DROP SCHEMA IF EXISTS cronctl CASCADE;
"""


def wait_clear_of_tick(needed: float) -> None:
    """The sandbox's pg_cron scheduler is real: keep a build + judgement clear of its next minute boundary."""
    left = 60 - (time.time() % 60)
    if left < needed:
        time.sleep(left + 1.0)


def install_tracking(cluster: PgCluster, runbook: Path, audit: Path) -> None:
    env = {**os.environ, "DATABASE_URL": cluster.superuser_dsn, "CRONCTL_AUDIT_FILE": str(audit), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "cronctl", "pgcron", "track", "install", "--yes", "-r", str(runbook)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"track install failed ({proc.returncode}): {proc.stderr.strip()}")


def _answer(system: System) -> Callable[[CronJob, datetime], Answer]:
    replies = {j.name: j.reply for j in system.jobs}
    return lambda job, tick: replies[job.name](tick)


def _fail(system: System) -> Callable[[CronJob, datetime], str | None]:
    fails = {j.name: j.fail for j in system.jobs if j.fail is not None}
    return lambda job, tick: fails[job.name](tick) if job.name in fails else None


def run_system(cluster: PgCluster, system: System, tracked: bool, tmp: Path) -> Outcome:
    runbook_path = tmp / f"{system.name}.toml"
    runbook_path.write_text(runbook_text(system))
    for attempt in range(3):
        with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
            conn.execute(RESET)
            wait_clear_of_tick(CLEARANCE)
            began_tick = int(time.time() // 60)
            b = Builder(conn, system.now)
            b.install_pg_net()
            # Real pg_net indexes _http_response(created); the sandbox stand-in does not.
            conn.execute("CREATE INDEX IF NOT EXISTS _http_response_created_idx ON net._http_response (created)")
            if tracked:
                install_tracking(cluster, runbook_path, tmp / "audit.jsonl")
                b.tracking = True  # the builder writes the rows the trigger would have written
            jobs = {}
            for job in system.jobs:
                command = job.command or pg_net_command(f"'{url(job)}'", HEADERS, "'{}'::jsonb", job.timeout_ms)
                jobs[job.name] = b.cron_job(
                    job.name, job.schedule, command, url=url(job), headers={"Content-Type": "application/json"},
                    body={}, timeout_ms=job.timeout_ms,
                )  # fmt: skip
            b.fire(list(jobs.values()), system.now - system.history, answer=_answer(system), fail=_fail(system))
            if system.foreign is not None:
                add_foreign(b, system.foreign(system))
            b.finish()
            conn.execute("ANALYZE")
            outcome = judge_system(cluster, system, tracked, runbook_path, b)
            conn.execute("UPDATE cron.job SET active = false")
            written = conn.execute("SELECT count(*) FROM cron.job_run_details").fetchone()[0]
        if written == len(b._runs) and int(time.time() // 60) == began_tick:
            return outcome
        print(f"   {system.name}: the sandbox scheduler ticked during the run, again ({attempt + 1})", file=sys.stderr)
    raise SystemExit(f"{system.name}: could not stay clear of the sandbox scheduler's ticks")


def judge_system(cluster: PgCluster, system: System, tracked: bool, runbook_path: Path, b: Builder) -> Outcome:
    runbook = load_runbook(runbook_path)
    env = Environment({})
    jobs = list(runbook.jobs.values())
    began = time.perf_counter()
    conn = connect(cluster.superuser_dsn, read_only=True, statement_timeout=STATEMENT_TIMEOUT, autocommit=True)
    try:
        collected = collect(conn, runbook, env, jobs, system.now, SINCE, STATEMENT_TIMEOUT)
        pid_runid = {
            int(pid): str(runid)
            for pid, runid in conn.execute("SELECT job_pid, runid FROM cron.job_run_details").fetchall()
        }
    finally:
        conn.close()
    result = judge(collected, runbook, env, jobs)
    seconds = time.perf_counter() - began
    out = Outcome(system, tracked, seconds=seconds)
    assert collected.attribution is not None, f"{system.name}: no attribution ({collected.net_note})"
    assert bool(collected.tracking) == tracked, f"{system.name}: tracking {collected.tracking}, want {tracked}"
    attribution = collected.attribution
    read = {r.id for r in attribution.unlinked}
    for a in attribution.answers.values():
        if a.response is not None:
            read.add(a.response.id)
        read.update(r.id for r in a.possible)
    truths = truth_of(b, pid_runid)
    for t in truths:
        got = attribution.answers.get((t.job, t.runid))
        verdict, detail = classify(t, got, read)
        out.cases.append(Case(system.name, tracked, t, got, verdict, detail))
    out.states = {h.name: h.state for h in result.health}
    out.truth_state = job_truth(b, truths)
    return out


# ---------------------------------------------------------------- report


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "n/a"


def describe(case: Case) -> str:
    t, g = case.truth, case.got
    created = t.created.strftime("%H:%M:%S.%f")[:-3] if t.created else "-"
    got = "nothing" if g is None else (
        f"{g.attribution} {g.status}" + (f", answer {g.response.id}" if g.response is not None else "")
        + (f" — {g.how}" if g.how else "")
    )  # fmt: skip
    mode = "tracked" if case.tracked else "untracked"
    return (
        f"{case.system} ({mode}) `{t.job}` run {t.runid} started {t.start:%H:%M:%S.%f}"[:-3]
        + f": its answer {t.request_id} ({t.where}, {t.status}, created {created}); got {got}. {case.detail}"
    )


CAUSES = (
    ("not read", "", "its job's command does not name `net.http_*` (the call is inside a SQL function), so triage "
     "walks only its newest 100 runs (1000 for jobs whose command names it): older runs are never judged and their "
     "answers stay unlinked, with tracking too; without tracking the read horizon ignores that job, so its older "
     "answers compete for other jobs' runs"),
    ("wrong link", "the timeout only this job's command sets", "a \"Timeout of N ms\" answer went to the only job "
     "whose *command* sets N ms; it belonged to a job whose command hides its timeout (a SQL function), which the "
     "product assumes uses pg_net's 5000 ms default"),
    ("wrong status", "", "outcome inferred from the answers left over after a wrong timeout link took this run's "
     "failing answer away"),
    ("unlinked", "no answer found", "its answer's batch started later than run start + its timeout + 2 s (the "
     "request waited in pg_net's queue while the worker was busy with a slow batch); the window ends at the "
     "request's own timeout, so the answer is left unlinked and the run reads \"no answer recorded\""),
)  # fmt: skip


def cause(case: Case) -> str:
    how = case.got.how if case.got is not None else ""
    for verdict, marker, text in CAUSES:
        if case.verdict == verdict and marker in how:
            return text
    return f"({how or 'no explanation'})"


def report(outcomes: Sequence[Outcome], shown_cases: int) -> str:
    tracked = [o for o in outcomes if o.tracked]
    untracked = [o for o in outcomes if not o.tracked]
    lines = ["## Attribution accuracy", ""]
    lines.append(f"Machine: {machine()}; PostgreSQL 15 + pg_cron sandbox, pg_net 0.20 stand-in.")
    lines += [
        "",
        "Each system is built by `tests/corpus/builder.py` (co-firing jobs start in one scheduler pass, a fresh",
        "`job_pid` per run, request ids taken in the order the backends get there — not the runid order —, one",
        "pg_net batch per worker wake-up with `created` = batch start, answers visible when the batch's slowest",
        "request ends, pg_net's timeout text, answers older than pg_net.ttl deleted), loaded once with request",
        "tracking (`cronctl pgcron track install`) and once without, and judged by `cronctl triage`'s collection and",
        "judgement at the system's fixed *now* (24 h window). Each pg_net run's `RunAnswer` is compared with the",
        "builder's ground truth: *right* = linked to its own answer (a set inference without a link: the true",
        "outcome); *honest* = `pending`/`unverified` while its answer is not readable (in flight, queued, expired,",
        "or beyond what triage reads), or `ambiguous` with its own answer among the listed possibilities; every",
        "other case is wrong (a wrong inferred link counts as wrong, and so does `none`/`ambiguous` that leaves",
        "out an answer that was read).",
        "",
    ]
    # Tracking: every visible answer to its own run.
    visible = [c for o in tracked for c in o.cases if c.truth.visible]
    right_visible = [c for c in visible if c.verdict == "right" and c.got.attribution == "exact"]
    all_tracked = [c for o in tracked for c in o.cases]
    tracked_ok = [c for c in all_tracked if c.verdict in ("right", "honest")]
    met_t = len(right_visible) == len(visible)
    # Without tracking.
    cases_u = [c for o in untracked for c in o.cases]
    good_u = [c for c in cases_u if c.verdict in ("right", "honest")]
    wrong_links = [c for c in cases_u if c.verdict in ("wrong link", "wrong status")]
    failing_ok = [(o.system.name, j) for o in untracked for j, s in o.truth_state.items()
                  if s == "failing" and o.states.get(j) == "ok"]  # fmt: skip
    failing_total = sum(1 for o in untracked for s in o.truth_state.values() if s == "failing")
    failing_ok_t = [(o.system.name, j) for o in tracked for j, s in o.truth_state.items()
                    if s == "failing" and o.states.get(j) == "ok"]  # fmt: skip
    share = len(good_u) / len(cases_u) if cases_u else 0.0
    lines += [
        "| figure | measured | target | result |",
        "|---|---:|---:|---|",
        f"| with tracking: visible pg_net answers of co-firing jobs linked `exact` to their own run | "
        f"{len(right_visible):,} / {len(visible):,} = {pct(len(right_visible), len(visible))} | 100 % | "
        f"{'met' if met_t else '**MISSED**'} |",
        f"| with tracking: every pg_net run right or honestly pending/unverified | "
        f"{len(tracked_ok):,} / {len(all_tracked):,} = {pct(len(tracked_ok), len(all_tracked))} | 100 % | "
        f"{'met' if len(tracked_ok) == len(all_tracked) else '**MISSED**'} |",
        f"| with tracking: failing jobs judged `ok` | {len(failing_ok_t)} of {failing_total} failing | 0 | "
        f"{'met' if not failing_ok_t else '**MISSED**'} |",
        f"| without tracking: failing jobs judged `ok` | {len(failing_ok)} of {failing_total} failing | 0 | "
        f"{'met' if not failing_ok else '**MISSED**'} |",
        f"| without tracking: runs attributed right or correctly `unverified` | {len(good_u):,} / {len(cases_u):,} "
        f"= {pct(len(good_u), len(cases_u))} | ≥ 90 % | {'met' if share >= 0.9 else '**MISSED**'} |",
        f"| without tracking: wrong inferred links (wrong answer or wrong outcome) | {len(wrong_links)} | 0 | "
        f"{'met' if not wrong_links else '**MISSED**'} |",
        "",
    ]
    headers = ["system", "jobs", "pg_net runs", "answers visible", "tracked: exact right", "tracked: honest",
               "tracked: wrong", "untracked: right", "untracked: honest", "untracked: wrong", "job states untracked "
               "(truth failing → judged)"]  # fmt: skip
    lines += ["| " + " | ".join(headers) + " |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    by_name: dict[str, dict[bool, Outcome]] = {}
    for o in outcomes:
        by_name.setdefault(o.system.name, {})[o.tracked] = o
    for name, pair in by_name.items():
        t, u = pair.get(True), pair.get(False)
        any_o = t or u
        assert any_o is not None
        cells: list[object] = [f"`{name}`", len(any_o.system.jobs), len(any_o.cases),
                               sum(1 for c in any_o.cases if c.truth.visible)]  # fmt: skip
        for o in (t, u):
            if o is None:
                cells += ["-", "-", "-"]
                continue
            count = Counter(c.verdict for c in o.cases)
            cells += [count["right"], count["honest"], len(o.cases) - count["right"] - count["honest"]]
        if u is not None:
            failing = [j for j, s in u.truth_state.items() if s == "failing"]
            cells.append(", ".join(f"{j} → {u.states.get(j)}" for j in failing) or "none failing")
        else:
            cells.append("-")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Systems:", ""]
    lines += [f"- `{o.system.name}`: {o.system.about}." for o in untracked or tracked]
    lines += ["", "Job verdicts (not a target of this benchmark, shown so nothing hides behind `unverified`):", ""]
    for mode, group in (("with tracking", tracked), ("without tracking", untracked)):
        states = Counter(
            (o.truth_state[j], s) for o in group for j, s in o.states.items() if j in o.truth_state
        )  # fmt: skip
        lines.append(
            f"- {mode}: " + ", ".join(f"{truth} → {state}: {n}" for (truth, state), n in sorted(states.items()))
        )
        # Verdicts that contradict the truth (beyond an honest `unverified`): a failing job called ok, or a
        # healthy one called failing/missed/stuck.
        contradicted = [
            f"`{o.system.name}` `{j}` ({truth} → {o.states.get(j)})"
            for o in group for j, truth in o.truth_state.items()
            if (truth == "failing" and o.states.get(j) == "ok")
            or (truth == "healthy" and o.states.get(j) not in ("ok", "running", "unverified"))
        ]  # fmt: skip
        if contradicted:
            lines.append(f"  - contradicting the truth: {', '.join(contradicted)}")
    wrong = [c for o in outcomes for c in o.cases if c.verdict not in ("right", "honest")]
    if wrong:
        lines += [
            "",
            f"Runs not right and not honestly unverified ({len(wrong)}), by what the product did "
            f"(first {shown_cases} of each):",
            "",
        ]
        kinds = Counter((c.tracked, c.verdict, cause(c)) for c in wrong)
        for (is_tracked, verdict, why), n in sorted(kinds.items()):
            mode = "with tracking" if is_tracked else "without tracking"
            systems_hit = sorted(
                {c.system for c in wrong if (c.tracked, c.verdict, cause(c)) == (is_tracked, verdict, why)}
            )
            lines.append(f"- {mode}, **{verdict}** ({n} runs; {', '.join(systems_hit)}): {why}")
            same = [c for c in wrong if (c.tracked, c.verdict, cause(c)) == (is_tracked, verdict, why)]
            for c in sorted(same, key=lambda c: c.truth.start, reverse=True)[:shown_cases]:  # newest first
                lines.append(f"  - {describe(c)}")
    lines.append("")
    lines.append(
        "Judgement time per system (collection + judgement, in process): "
        + ", ".join(f"{o.system.name}{' (t)' if o.tracked else ''} {o.seconds * 1000:.0f} ms" for o in outcomes)
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", metavar="NAME", help="only these systems")
    parser.add_argument("--cases", type=int, default=3, help="wrong cases listed per kind (default 3)")
    args = parser.parse_args()
    chosen = [s for s in systems() if not args.systems or s.name in args.systems]
    if not chosen:
        raise SystemExit(f"no such system; have: {', '.join(s.name for s in systems())}")
    outcomes = []
    with PgCluster.start() as cluster, tempfile.TemporaryDirectory() as tmp:
        for system in chosen:
            for tracked in (True, False):
                o = run_system(cluster, system, tracked, Path(tmp))
                count = Counter(c.verdict for c in o.cases)
                print(f"{system.name:>18} {'tracked' if tracked else 'untracked':>9}: {len(o.cases)} runs, "
                      + ", ".join(f"{k} {v}" for k, v in sorted(count.items()))
                      + f"; states {o.states}", file=sys.stderr)  # fmt: skip
                outcomes.append(o)
    print(report(outcomes, args.cases))


if __name__ == "__main__":
    main()
