"""Triage speed on the history benchmark's data: 50 pg_cron jobs, 10^4 .. 5x10^6 runs.

Reports triage's wall time (in process: connect, both pipelined round trips, judgement, report) next to seed
004's "View job history" SQL run by psql, and the round trips triage makes through a proxy adding 20 ms each.

    .venv/bin/python bench/triage.py --sizes 10000 100000 1000000 5000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from history import JOBS, SEED_004_HISTORY_SQL, fill
from latency_proxy import LatencyProxy

from cronctl.db import connect
from cronctl.evaluate.snapshot import judge
from cronctl.reports.triage import triage_report
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import load_runbook
from cronctl.services.history import collect
from cronctl_sandbox.cluster import PgCluster

DELAY_MS = 20.0
DATA_START = datetime(2024, 1, 1, tzinfo=UTC)  # bench/history.py's fill: run g starts at DATA_START + g seconds


def runbook_text() -> str:
    parts = ['[runbook]\nname = "bench"\n[connection]\nstatement_timeout = "60s"\n']
    for i in range(JOBS):
        name = f"job-{i:02d}"
        parts.append(
            f'[jobs.{name}]\nschedule = "* * * * *"\nurl = "https://bench.supabase.co/functions/v1/{name}"\n'
            f'scheduler = "pg_cron"\nhistory = {{ pg_cron = "{name}" }}\n'
        )
    return "\n".join(parts)


def triage_once(dsn: str, path: Path, now: datetime | None = None) -> tuple[float, int, str]:
    """One triage; `now` defaults to the wall clock (the benchmark's runs are then all older than the window)."""
    began = time.perf_counter()
    runbook = load_runbook(path)
    env = Environment({})
    conn = connect(dsn, read_only=True, statement_timeout=60, autocommit=True)
    try:
        jobs = list(runbook.jobs.values())
        collected = collect(conn, runbook, env, jobs, now or datetime.now(UTC), 86400.0, 60.0)
    finally:
        conn.close()
    result = judge(collected, runbook, env, jobs)
    triage_report(result, runbook, 86400.0)
    return time.perf_counter() - began, collected.round_trips, result.status


def psql_once(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with PgCluster.start() as cluster:
        path = cluster.data_dir.parent / "triage-bench.toml"
        path.write_text(runbook_text())
        env = {**os.environ, "PGPASSWORD": cluster.password}
        psql = [str(Path(cluster._bin.tool("psql"))), "-X", "-q", "-h", cluster.host, "-p", str(cluster.port),
                "-U", "postgres", "-d", cluster.dbname, "-c", SEED_004_HISTORY_SQL, "-o", os.devnull]  # fmt: skip
        with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
            jobids = [
                int(conn.execute("SELECT cron.schedule(%s, '* * * * *', 'SELECT 1')", [f"job-{i:02d}"]).fetchone()[0])
                for i in range(JOBS)
            ]
            have = 0
            for size in sorted(args.sizes):
                fill(conn, jobids, have, size)
                have = size
                triage_once(cluster.superuser_dsn, path)  # warm-up
                t = statistics.median(triage_once(cluster.superuser_dsn, path)[0] for _ in range(args.repeat))
                # As if now were just after the newest run: the 24 h failure window then holds up to 86,400 runs.
                end = DATA_START + timedelta(seconds=size + 60)
                triage_once(cluster.superuser_dsn, path, end)
                w = statistics.median(triage_once(cluster.superuser_dsn, path, end)[0] for _ in range(args.repeat))
                psql_once(psql, env)
                q = statistics.median(psql_once(psql, env) for _ in range(args.repeat))
                with LatencyProxy(cluster.host, cluster.port, DELAY_MS) as proxy:
                    dsn = cluster.superuser_dsn.replace(f":{cluster.port}/", f":{proxy.port}/")
                    proxy.counter.reset()
                    slow, trips, _status = triage_once(dsn, path)
                    counted = proxy.counter.round_trips
                rows.append((size, t, w, q, counted, trips, slow))
                print(f"{size:>9,} runs: triage {t * 1000:.0f} ms ({w * 1000:.0f} ms with a full window), "
                      f"seed query {q * 1000:.0f} ms, "
                      f"{counted} round trips through the proxy ({trips} for the checks), "
                      f"{slow * 1000:.0f} ms at +{DELAY_MS:g} ms", file=sys.stderr)  # fmt: skip
    print("| runs | triage (median) | triage, full 24 h window | seed 004 'View job history' via psql | ratio "
          "(full window) | round trips incl. connect (checks) at +20 ms | triage at +20 ms |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size, t, w, q, counted, trips, slow in rows:
        print(f"| {size:,} | {t * 1000:.0f} ms | {w * 1000:.0f} ms | {q * 1000:.0f} ms | {t / q:.2f} ({w / q:.2f}) | "
              f"{counted} ({trips}) | {slow * 1000:.0f} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
