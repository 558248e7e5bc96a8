"""Benchmark: `cronctl pgcron list` and `cronctl logs <job>` as cron.job_run_details grows.

Starts its own sandbox PostgreSQL + pg_cron cluster, creates 50 jobs, fills job_run_details with
INSERT ... SELECT generate_series up to each size, and times (median of 5 subprocess runs) cronctl's two
commands next to seed 004's "View job history" SQL run with psql. Prints a markdown section.

    .venv/bin/python bench/history.py [--sizes 10000 100000 1000000 5000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from cronctl_sandbox.cluster import PgCluster

JOBS = 50
TARGET_JOB = "job-07"
SEED_004_HISTORY_SQL = """SELECT
    j.jobname,
    jrd.status,
    jrd.start_time,
    jrd.end_time,
    (jrd.end_time - jrd.start_time) as duration,
    LEFT(jrd.return_message, 100) as message_preview
FROM cron.job_run_details jrd
JOIN cron.job j ON j.jobid = jrd.jobid
ORDER BY jrd.start_time DESC
LIMIT 20;"""
RUNBOOK = f"""
[runbook]
name = "bench"
[connection]
database_url = "${{DATABASE_URL}}"
statement_timeout = "60s"

[jobs.{TARGET_JOB}]
url = "https://bench.supabase.co/functions/v1/{TARGET_JOB}"
scheduler = "pg_cron"
[jobs.{TARGET_JOB}.history]
pg_cron = "{TARGET_JOB}"
"""


def fill(conn: psycopg.Connection, jobids: list[int], have: int, want: int) -> float:
    """Add runs have+1..want, spread over the jobs, one second apart, a few failures."""
    began = time.monotonic()
    conn.execute(
        """
        INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,
                                          return_message, start_time, end_time)
        SELECT (%(jobids)s::bigint[])[1 + g %% %(n)s], g, 1000 + g %% 30000, 'cronctl', 'postgres',
               'SELECT net.http_post(url := ''https://bench.supabase.co/functions/v1/job'')',
               CASE WHEN g %% 97 = 0 THEN 'failed' ELSE 'succeeded' END,
               CASE WHEN g %% 97 = 0 THEN 'ERROR:  schema "net" does not exist' ELSE '1 row' END,
               timestamptz '2024-01-01' + g * interval '1 second',
               timestamptz '2024-01-01' + g * interval '1 second' + interval '40 ms'
          FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
        """,
        {"jobids": jobids, "n": len(jobids), "lo": have + 1, "hi": want},
    )
    conn.execute("SELECT setval('cron.runid_seq', %s)", [want])
    conn.execute("VACUUM ANALYZE cron.job_run_details")
    return time.monotonic() - began


def median_seconds(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        times.append(time.perf_counter() - began)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return statistics.median(times)


IN_PROCESS = ("pgcron list SQL only", f"logs {TARGET_JOB} SQL only")


def query_timings(conn: psycopg.Connection, repeat: int) -> dict[str, float]:
    """The queries cronctl sends, timed in-process: the part that depends on history size."""
    from cronctl.sources import pgcron

    def timed(call: object) -> float:
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            call()  # type: ignore[operator]
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    return {
        IN_PROCESS[0]: timed(lambda: pgcron.fetch_jobs(conn)),
        IN_PROCESS[1]: timed(lambda: pgcron.fetch_recent_runs(conn, [TARGET_JOB], 20)),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    with PgCluster.start() as cluster, tempfile.TemporaryDirectory() as tmp:
        runbook = Path(tmp) / "bench.toml"
        runbook.write_text(RUNBOOK)
        env = {**os.environ, "DATABASE_URL": cluster.superuser_dsn, "NO_COLOR": "1", "PGPASSWORD": cluster.password}
        cronctl = [sys.executable, "-m", "cronctl"]
        psql = [
            str(Path(cluster._bin.tool("psql"))),
            "-X",
            "-q",
            "-h",
            cluster.host,
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "-d",
            cluster.dbname,
            "-c",
            SEED_004_HISTORY_SQL,
            "-o",
            os.devnull,
        ]
        commands = {
            "cronctl pgcron list": [*cronctl, "pgcron", "list", "-r", str(runbook), "-f", "json"],
            f"cronctl logs {TARGET_JOB}": [*cronctl, "logs", TARGET_JOB, "-r", str(runbook), "-f", "json"],
            "seed 004 'View job history' (psql)": psql,
        }
        with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
            jobids = [
                int(conn.execute("SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 1')", [f"job-{i:02d}"]).fetchone()[0])
                for i in range(JOBS)
            ]
            results: list[tuple[int, float, dict[str, float]]] = []
            have = 0
            for size in sizes:
                took = fill(conn, jobids, have, size)
                have = size
                print(f"filled {size:,} runs in {took:.1f}s", file=sys.stderr)
                timings = {name: median_seconds(cmd, env, args.repeat) for name, cmd in commands.items()}
                timings.update(query_timings(conn, args.repeat))
                results.append((size, took, timings))
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + SEED_004_HISTORY_SQL).fetchall())
    print(render(results, commands, args.repeat, plan))


def render(
    results: list[tuple[int, float, dict[str, float]]], commands: dict[str, list[str]], repeat: int, plan: str
) -> str:
    names = [*commands, *IN_PROCESS]
    lines = [
        "## History benchmark",
        "",
        f"Machine: {machine()}; PostgreSQL 15 + pg_cron 1.4 sandbox (fsync off).",
        f"{JOBS} jobs; runs spread evenly over them; wall time of a whole subprocess, median of {repeat}.",
        "",
        "| runs in job_run_details | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for size, _took, timings in results:
        lines.append(f"| {size:,} | " + " | ".join(f"{timings[n] * 1000:.1f} ms" for n in names) + " |")
    if len(results) > 1:
        first, last = results[0][2], results[-1][2]
        lines += ["", "Ratio largest/smallest: " + ", ".join(f"{n}: {last[n] / first[n]:.2f}x" for n in names)]
    lines += ["", "Commands:", ""]
    lines += [
        f"- `{name}`: `{' '.join(c if ' ' not in c else repr(c) for c in cmd[:8])} ...`"
        for name, cmd in commands.items()
    ]
    lines += ["", "Plan of the seed 004 query at the largest size:", "", "```", plan, "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
