"""Triage with pg_net request tracking installed, as pg_net's answers and pg_cron's history grow.

Starts its own sandbox cluster, installs the pg_net stand-in (with the index real pg_net keeps on
`net._http_response(created)`) and request tracking with `cronctl pgcron track install` (its queued_at index
comes from the install), then, for each size, rebuilds the data with INSERT … SELECT generate_series:

- `--jobs` pg_cron jobs, every minute, each calling `net.http_post(…)`, firing in the same second (a fresh
  `job_pid` per run, 40 µs apart); the runs fill cron.job_run_details (every 997th run failed in pg_cron);
- the newest `answers` runs have their answer in net._http_response (`created` = the tick's batch start; every
  101st a 500, every 211th a timeout with pg_net's text) and their row in cronctl.pgnet_request_log
  (backend_pid = the run's job_pid, queued_at inside its span) — the older runs' answers are gone;
- *now* is 30 s after the newest tick.

Times triage in process (connect, both pipelined round trips, attribution, judgement, report; median of
`--repeat` after a warm-up) and prints EXPLAIN (ANALYZE, BUFFERS) summaries of the pg_net, tracking and pg_cron
statements triage sent (captured from its own session, parameters inlined as it sends them).

    .venv/bin/python bench/triage_tracking.py --sizes 10000:10000 5000000:1000000 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from _common import machine

from cronctl.db import connect
from cronctl.evaluate.snapshot import judge
from cronctl.reports.triage import triage_report
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import load_runbook
from cronctl.services import history as history_service
from cronctl.sources import triage as triage_source
from cronctl_sandbox.cluster import PgCluster
from cronctl_sandbox.fixtures import create_pg_net_tables, grant_pg_net_to_public

END = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # the newest tick
NOW = END + timedelta(seconds=30)
SINCE = 86400.0
STATEMENT_TIMEOUT = 60.0
URL = "https://bench.supabase.co/functions/v1/{name}"
EXPLAINED = ("cron_runs", "failures:pg_cron", "net_responses", "failures:pg_net", "net_tracking", "net_queue")
TIMEOUT_TEXT = (
    "Timeout of 5000 ms reached. Total time: 5001.204000 ms (DNS time: 0.041000 ms, TCP/SSL handshake time: "
    "31.502000 ms, HTTP Request/Response time: 4969.661000 ms)"
)


def job_name(i: int) -> str:
    return f"fn-{i:02d}"


def command(i: int) -> str:
    return (
        f"SELECT net.http_post(url := '{URL.format(name=job_name(i))}', "
        "headers := jsonb_build_object('Content-Type', 'application/json'), body := '{}'::jsonb, "
        "timeout_milliseconds := 5000)"
    )


def runbook_text(jobs: int) -> str:
    parts = ['[runbook]\nname = "bench-tracking"\n[connection]\nstatement_timeout = "60s"\n']
    for i in range(jobs):
        name = job_name(i)
        parts.append(
            f'[jobs.{name}]\nschedule = "* * * * *"\nurl = "{URL.format(name=name)}"\nscheduler = "pg_cron"\n'
            'success = { status = [200], require = ["success == true"] }\n'
            f'history = {{ pg_cron = "{name}", pg_net = true }}\n'
        )
    return "\n".join(parts)


def setup(cluster: PgCluster, runbook: Path, jobs: int, tmp: Path) -> list[int]:
    with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
        create_pg_net_tables(conn)
        grant_pg_net_to_public(conn)
        # Real pg_net: `create index on net._http_response (created)`; the sandbox stand-in has none.
        conn.execute("CREATE INDEX IF NOT EXISTS _http_response_created_idx ON net._http_response (created)")
        # A schedule that never fires ('0 0 31 2 *' is valid in pg_cron): the sandbox scheduler must not add
        # runs; the runbook says every minute, which is what triage judges.
        jobids = [
            int(
                conn.execute(
                    "INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, active, jobname)"
                    " VALUES ('0 0 31 2 *', %s, current_setting('cron.host'), inet_server_port(), current_database(),"
                    " 'postgres', true, %s) RETURNING jobid",
                    [command(i), job_name(i)],
                ).fetchone()[0]
            )
            for i in range(jobs)
        ]
    env = {
        **os.environ,
        "DATABASE_URL": cluster.superuser_dsn,
        "CRONCTL_AUDIT_FILE": str(tmp / "audit.jsonl"),
        "NO_COLOR": "1",
    }
    argv = [sys.executable, "-m", "cronctl", "pgcron", "track", "install", "--yes", "-r", str(runbook)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"track install failed ({proc.returncode}): {proc.stderr.strip()}")
    return jobids


FILL_RUNS = """
INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message,
                                  start_time, end_time)
SELECT (%(jobids)s::bigint[])[1 + (g - 1) %% %(n)s], g, 1000 + g, 'cronctl', 'postgres', 'SELECT net.http_post(…)',
       CASE WHEN g %% 997 = 0 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN g %% 997 = 0 THEN 'connection failed' ELSE '1 row' END,
       %(t0)s::timestamptz + ((g - 1) / %(n)s) * interval '1 minute' + interval '20 ms'
           + ((g - 1) %% %(n)s) * interval '40 microseconds',
       %(t0)s::timestamptz + ((g - 1) / %(n)s) * interval '1 minute' + interval '23 ms'
           + ((g - 1) %% %(n)s) * interval '40 microseconds'
  FROM generate_series(1, %(runs)s::bigint) g
"""
FILL_ANSWERS = """
INSERT INTO net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg, created)
SELECT 40000000 + g,
       CASE WHEN g %% 211 = 0 THEN NULL WHEN g %% 101 = 0 THEN 500 ELSE 200 END,
       CASE WHEN g %% 211 = 0 THEN NULL ELSE 'application/json' END,
       CASE WHEN g %% 211 = 0 THEN NULL ELSE '{"Content-Type": "application/json"}'::jsonb END,
       CASE WHEN g %% 211 = 0 THEN NULL WHEN g %% 101 = 0 THEN '{"error": "Internal Server Error"}'
            ELSE '{"success": true, "processed": 3}' END,
       g %% 211 = 0,
       CASE WHEN g %% 211 = 0 THEN %(timeout_text)s END,
       %(t0)s::timestamptz + ((g - 1) / %(n)s) * interval '1 minute' + interval '45 ms'
  FROM generate_series(%(lo)s::bigint, %(runs)s::bigint) g
 WHERE g %% 997 <> 0
"""
FILL_TRACKING = """
INSERT INTO cronctl.pgnet_request_log (request_id, backend_pid, queued_at, method, url)
SELECT 40000000 + g, 1000 + g,
       %(t0)s::timestamptz + ((g - 1) / %(n)s) * interval '1 minute' + interval '21 ms'
           + ((g - 1) %% %(n)s) * interval '40 microseconds',
       'POST', 'https://bench.supabase.co/functions/v1/fn-' || lpad(((g - 1) %% %(n)s)::text, 2, '0')
  FROM generate_series(%(lo)s::bigint, %(runs)s::bigint) g
 WHERE g %% 997 <> 0
"""


def fill(cluster: PgCluster, jobids: list[int], runs: int, answers: int) -> float:
    began = time.monotonic()
    n = len(jobids)
    t0 = END - timedelta(minutes=(runs - 1) // n)
    params = {"jobids": jobids, "n": n, "t0": t0, "runs": runs, "lo": runs - answers + 1, "timeout_text": TIMEOUT_TEXT}
    with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE cron.job_run_details, net._http_response, cronctl.pgnet_request_log")
        conn.execute("SET session_replication_role = replica")  # no trigger fires on the bench's own inserts
        conn.execute(FILL_RUNS, params)
        conn.execute(FILL_ANSWERS, params)
        conn.execute(FILL_TRACKING, params)
        conn.execute("SELECT setval('cron.runid_seq', %s)", [runs])
        conn.execute("SELECT setval('net.http_request_queue_id_seq', %s)", [40000000 + runs])
        conn.execute("RESET session_replication_role")
        for table in ("cron.job_run_details", "net._http_response", "cronctl.pgnet_request_log"):
            conn.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - began


@dataclass
class Captured:
    statements: list[Any]


def triage_once(dsn: str, path: Path, capture: Captured | None = None) -> tuple[float, float, Any]:
    """(wall seconds, this process's CPU seconds, the judged result)."""
    began = time.perf_counter()
    cpu = time.process_time()
    runbook = load_runbook(path)
    env = Environment({})
    conn = connect(dsn, read_only=True, statement_timeout=STATEMENT_TIMEOUT, autocommit=True)
    original = triage_source.Session.run
    if capture is not None:

        def recording(self: Any, statements: Any) -> Any:
            capture.statements.extend(statements)
            return original(self, statements)

        triage_source.Session.run = recording  # type: ignore[method-assign]
    try:
        jobs = list(runbook.jobs.values())
        collected = history_service.collect(conn, runbook, env, jobs, NOW, SINCE, STATEMENT_TIMEOUT)
    finally:
        triage_source.Session.run = original  # type: ignore[method-assign]
        conn.close()
    result = judge(collected, runbook, env, jobs)
    triage_report(result, runbook, SINCE)
    return time.perf_counter() - began, time.process_time() - cpu, result


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("Plans", []):
        out.extend(_walk(child))
    return out


def explain(dsn: str, statements: list[Any]) -> dict[str, dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the captured statements, with the parameters inlined as triage sends them."""
    from psycopg import ClientCursor

    out: dict[str, dict[str, Any]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")  # as triage's session does
        cursor = ClientCursor(conn)
        for s in statements:
            if s.key not in EXPLAINED:
                continue
            text = s.query if s.params is None and isinstance(s.query, str) else cursor.mogrify(s.query, s.params or {})
            conn.execute(text)  # warm, as the timed triage runs were
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text).fetchone()[0][0]
            top = plan["Plan"]
            nodes = _walk(top)
            scans = [
                f"{n['Node Type']}" + (f" using {n['Index Name']}" if n.get("Index Name") else "")
                + (f" on {n['Relation Name']}" if n.get("Relation Name") and not n.get("Index Name") else "")
                + f" ({n.get('Actual Rows', 0) * n.get('Actual Loops', 1):,.0f} rows)"
                for n in nodes
                if "Scan" in n["Node Type"]
            ]  # fmt: skip
            out[s.key] = {
                "ms": plan["Execution Time"],
                "rows": top.get("Actual Rows", 0),
                "hit": top.get("Shared Hit Blocks", 0),
                "read": top.get("Shared Read Blocks", 0),
                "scans": scans,
            }
    return out


@dataclass
class Row:
    runs: int
    answers: int
    median: float
    low: float
    high: float
    cpu: float
    read_runs: int
    read_answers: int
    exact: int
    states: list[str]
    load: float


@dataclass
class Series:
    jobs: int
    rows: list[Row]
    plans: dict[tuple[int, int], dict[str, dict[str, Any]]]
    profile: list[tuple[str, float]]


def profile(dsn: str, path: Path) -> list[tuple[str, float]]:
    """Client time by product function (cumulative seconds, one triage under cProfile, the slowest first)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    triage_once(dsn, path)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out = []
    for (filename, line, name), (_cc, _nc, _tt, cum, _callers) in stats.items():
        if "/cronctl/" in filename and name not in ("collect", "_read_data"):
            out.append((f"{filename.split('/cronctl/', 1)[1]}:{line} {name}", cum))
    return sorted(out, key=lambda x: -x[1])[:8]


def measure(cluster: PgCluster, tmp: Path, jobs: int, sizes: list[tuple[int, int]], repeat: int) -> Series:
    path = tmp / f"bench-tracking-{jobs}.toml"
    path.write_text(runbook_text(jobs))
    with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM cron.job")
    jobids = setup(cluster, path, jobs, tmp)
    series = Series(jobs, [], {}, [])
    for runs, answers in sizes:
        load = fill(cluster, jobids, runs, answers)
        capture = Captured([])
        _, _, result = triage_once(cluster.superuser_dsn, path, capture)  # warm-up, and the statements sent
        timed = [triage_once(cluster.superuser_dsn, path) for _ in range(repeat)]
        samples = [t[0] for t in timed]
        collected = result.collected
        linked = collected.attribution
        assert collected.tracking, f"tracking not seen: {collected.tracking_note}"
        exact = sum(1 for a in linked.answers.values() if a.attribution == "exact" and a.response is not None)
        read_runs = sum(1 for d in collected.jobs.values() for r in d.runs if r.source == "pg_cron")
        read = {r.id for r in linked.unlinked} | {a.response.id for a in linked.answers.values() if a.response}
        row = Row(runs, answers, statistics.median(samples), min(samples), max(samples),
                  statistics.median(t[1] for t in timed), read_runs, len(read), exact,
                  sorted({h.state for h in result.health}), load)  # fmt: skip
        series.rows.append(row)
        series.plans[(runs, answers)] = explain(cluster.superuser_dsn, capture.statements)
        if (runs, answers) == sizes[-1]:
            series.profile = profile(cluster.superuser_dsn, path)
        print(f"{jobs} jobs, {runs:>9,} runs / {answers:>9,} answers: triage median {row.median * 1000:.0f} ms"
              f" ({', '.join(f'{s * 1000:.0f}' for s in samples)}), {exact} exact links, states {row.states}, "
              f"loaded in {load:.0f}s", file=sys.stderr)  # fmt: skip
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", default=["10000:10000", "5000000:1000000"], metavar="RUNS:ANSWERS",
        help="cron.job_run_details rows : pg_net answers (and tracked requests); the first is the baseline",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, nargs="+", default=[10], help="co-firing every-minute pg_net jobs")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = [(int(r), int(a)) for r, a in (s.split(":") for s in args.sizes)]
    with PgCluster.start() as cluster, tempfile.TemporaryDirectory() as tmp_name:
        series = [measure(cluster, Path(tmp_name), jobs, sizes, args.repeat) for jobs in args.jobs]
    print_report(args.repeat, series)


def print_report(repeat: int, all_series: list[Series]) -> None:
    print("## Triage with request tracking")
    print()
    print(f"Machine: {machine()}; PostgreSQL 15 + pg_cron sandbox (fsync off), pg_net 0.20 stand-in with")
    print("the `_http_response(created)` index real pg_net has, tracking installed by `cronctl pgcron track install`.")
    print("N every-minute pg_net jobs fire in the same second; the newest *answers* runs have their answer and their")
    print("tracked request (older answers are gone); triage runs 30 s after the newest tick (24 h window), in process")
    print(f"(connect, 2 pipelined round trips, attribution, judgement, report): median of {repeat} after a warm-up.")
    print("*runs read* / *answers read* are what triage took in (it walks at most 1000 runs per pg_net job and reads")
    print("the newest 5000 answers).")
    for series in all_series:
        rows = series.rows
        print()
        print(f"### {series.jobs} co-firing pg_net jobs")
        print()
        print("| cron.job_run_details rows | pg_net answers = tracked requests | triage median (min–max) | "
              "client CPU (median) | runs read | answers read | answers linked `exact` | job states | "
              "data load |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for r in rows:
            print(f"| {r.runs:,} | {r.answers:,} | {r.median * 1000:.0f} ms ({r.low * 1000:.0f}–{r.high * 1000:.0f})"
                  f" | {r.cpu * 1000:.0f} ms | {r.read_runs:,} | {r.read_answers:,} | {r.exact:,} | "
                  f"{', '.join(r.states)} | {r.load:.0f} s |")  # fmt: skip
        if len(rows) >= 2:
            small, large = rows[0], rows[-1]
            ratio = large.median / small.median
            verdict = "met" if ratio <= 1.5 else "**MISSED**"
            print()
            print(f"Target: triage at {large.runs:,} runs / {large.answers:,} answers within 1.5x of "
                  f"{small.runs:,} / {small.answers:,}: **{ratio:.2f}x** ({large.median * 1000:.0f} ms vs "
                  f"{small.median * 1000:.0f} ms) — {verdict}. Client CPU ratio (less sensitive to other "
                  f"load on the machine): {large.cpu / small.cpu:.2f}x.")  # fmt: skip
        print()
        print("EXPLAIN (ANALYZE, BUFFERS) of the statements triage sent (parameters as sent; warm cache):")
        print()
        print("| size (runs / answers) | statement | execution | rows out | buffers hit / read | scans |")
        print("|---|---|---:|---:|---:|---|")
        for (runs, answers), found in series.plans.items():
            for key in EXPLAINED:
                p = found.get(key)
                if p is None:
                    continue
                print(f"| {runs:,} / {answers:,} | `{key}` | {p['ms']:.1f} ms | {p['rows']:,} | {p['hit']:,} / "
                      f"{p['read']:,} | {'; '.join(p['scans'])} |")  # fmt: skip
        if series.profile:
            print()
            print("Client time at the largest size by product function (cProfile, cumulative, one triage; "
                  "profiling slows it): " + "; ".join(f"`{name}` {cum * 1000:.0f} ms"
                                                        for name, cum in series.profile))  # fmt: skip


if __name__ == "__main__":
    main()
