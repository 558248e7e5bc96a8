"""Fleet triage: 20 systems against one, through a proxy that adds latency to every round trip.

Each system is its own database on one sandbox cluster with a run-log table (5 jobs, 200 runs each) and a backlog
check, and its own runbook; every connection goes through bench/latency_proxy.py (+20 ms per round trip, as a
database in another region). Measured: the fleet service in process (connect, both pipelined round trips, judgement
and report per system, all systems concurrently) and the whole CLI as a subprocess (`cronctl triage -r ... -r ...`).
Target: 20 systems take at most 2x the wall time of one.

    .venv/bin/python bench/fleet.py --systems 20 --repeat 5 --delay-ms 20 50
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cronctl, machine, markdown_table, ms, time_command

from cronctl_sandbox.cluster import PgCluster

JOBS = 5
RUNS_PER_JOB = 200
TARGET = 2.0

TABLE = """
CREATE TABLE IF NOT EXISTS ops_runs (
  id bigserial PRIMARY KEY, cron_name text NOT NULL, started_at timestamptz NOT NULL,
  finished_at timestamptz, status text NOT NULL, error_message text)
"""


def runbook_text(name: str, variable: str) -> str:
    parts = [
        f'[runbook]\nname = "{name}"\n[connection]\ndatabase_url = "${{{variable}}}"\n',
        '[run_logs.runs]\ntable = "ops_runs"\njob_column = "cron_name"\nmessage_column = "error_message"\n'
        'order_column = "started_at"\n'
        'statuses = { running = ["running"], succeeded = ["success"], failed = ["error"] }\n',
        "[backlogs.pending]\nsql = \"SELECT count(*) AS value FROM ops_runs WHERE status = 'running'\"\nwarn = 5\n",
    ]
    for j in range(JOBS):
        parts.append(f'[jobs.job-{j}]\nschedule = "*/5 * * * *"\nurl = "http://127.0.0.1:9/job-{j}"\n'
                     f'history = {{ run_log = "runs", run_log_key = "job-{j}" }}\n')  # fmt: skip
    return "\n".join(parts)


def fill(dsn: str, system: int) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    newest = now - timedelta(minutes=now.minute % 5)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(TABLE)
        conn.execute("TRUNCATE ops_runs")
        rows = []
        for j in range(JOBS):
            for i in range(RUNS_PER_JOB):
                started = newest - timedelta(minutes=5 * i)
                failed = system % 4 == 1 and j == 0 and i < 2  # a quarter of the systems have a failing job
                rows.append((f"job-{j}", started, started + timedelta(seconds=3), "error" if failed else "success",
                             "HTTP 500" if failed else None))  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ops_runs (cron_name, started_at, finished_at, status, error_message)"
                " VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
        conn.execute("CREATE INDEX IF NOT EXISTS ops_runs_job ON ops_runs (cron_name, started_at DESC)")
        conn.execute("ANALYZE ops_runs")


@contextlib.contextmanager
def latency_proxy(host: str, port: int, delay_ms: float) -> Iterator[int]:
    """bench/latency_proxy.py in a process of its own (a remote database costs the client no CPU); its port."""
    script = Path(__file__).resolve().parent / "latency_proxy.py"
    proc = subprocess.Popen([sys.executable, str(script), "--target", f"{host}:{port}", "--delay-ms", str(delay_ms)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "listening on 127.0.0.1:PORT, ..."
        yield int(line.split("127.0.0.1:", 1)[1].split(",", 1)[0])
    finally:
        proc.terminate()
        proc.wait(10)


def in_process(paths: list[Path]) -> tuple[float, str]:
    """The fleet service, as `cronctl triage -r ... -r ...` runs it, without interpreter start-up."""
    from cronctl.cli import triage_ops
    from cronctl.cli.common import Invocation
    from cronctl.cli.triage import snapshot
    from cronctl.sources.http_deadline import reset

    reset()
    began = time.perf_counter()
    inv = Invocation(runbook_path=paths[0], env_file=None, profile=None, format="json", debug=False,
                     runbook_paths=tuple(paths))  # fmt: skip
    if len(paths) == 1:
        status = snapshot(inv, 86400.0, None)[1].data["status"]
    else:
        options = triage_ops.NotifyOptions(enabled=False)
        report = triage_ops.fleet(inv, 86400.0, None, None, False, options,
                                  lambda each: snapshot(each, 86400.0, None)[1])  # fmt: skip
        status = report.data["status"]
    return time.perf_counter() - began, status


def measure(paths: list[Path], env: dict[str, str], repeat: int) -> tuple[float, float, str]:
    """(CLI wall, in-process wall, status) with every system's URL from `env`."""
    os.environ.update(env)
    in_process(paths)  # warm-up
    service = statistics.median(in_process(paths)[0] for _ in range(repeat))
    status = in_process(paths)[1]
    argv = [cronctl(), "triage", *[a for p in paths for a in ("-r", str(p))], "-f", "json"]
    return time_command(argv, repeat, env), service, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, nargs="+", default=[20.0, 50.0])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cronctl-fleet-bench-"))
    rows = []
    with PgCluster.start() as cluster:
        direct: dict[str, str] = {}
        paths: list[Path] = []
        for s in range(args.systems):
            name = f"fleet_{s:02d}"
            with psycopg.connect(cluster.superuser_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            fill(cluster.dsn(dbname=name), s)
            variable = f"FLEET_{s:02d}_URL"
            direct[variable] = cluster.dsn(dbname=name)
            path = work / f"{name}.toml"
            path.write_text(runbook_text(name, variable))
            paths.append(path)
        delays: list[float | None] = [*args.delay_ms, None]
        for delay in delays:
            with contextlib.ExitStack() as stack:
                env = dict(direct)
                if delay is not None:
                    port = stack.enter_context(latency_proxy(cluster.host, cluster.port, delay))
                    env = {k: v.replace(f":{cluster.port}/", f":{port}/") for k, v in direct.items()}
                one_cli, one_service, _ = measure(paths[:1], env, args.repeat)
                cli, service, status = measure(paths, env, args.repeat)
            shown = f"+{delay:g} ms" if delay is not None else "none (same machine)"
            ratio = cli / one_cli
            verdict = "ok" if ratio <= TARGET else "MISSED"
            rows.append([shown, ms(one_cli), ms(cli), f"{ratio:.2f}x", verdict if delay is not None else "-",
                         ms(one_service), ms(service), f"{service / one_service:.2f}x", status])  # fmt: skip
            print(f"latency {shown}: CLI {one_cli * 1000:.0f} -> {cli * 1000:.0f} ms, in process "
                  f"{one_service * 1000:.0f} -> {service * 1000:.0f} ms", file=sys.stderr)  # fmt: skip
    n = args.systems
    print("## Fleet\n")
    print(f"Machine: {machine()}  ")
    delays_shown = " ".join(f"{d:g}" for d in args.delay_ms)
    print(f"Command: `.venv/bin/python bench/fleet.py --systems {n} --repeat {args.repeat} "
          f"--delay-ms {delays_shown}` (median of {args.repeat} runs each, 1 warm-up)\n")  # fmt: skip
    print(
        f"Each system: its own database and runbook, {JOBS} run-log jobs × {RUNS_PER_JOB} runs and a backlog check; "
        "every round trip delayed through bench/latency_proxy.py (its own process). "
        f"Target: `cronctl triage` over {n} systems takes ≤ {TARGET:g}× the wall time of one.\n"
    )
    print(markdown_table([
        "latency per round trip", "`cronctl triage`, 1 system", f"{n} systems", "ratio", "verdict",
        "in process, 1 system", f"{n} systems", "ratio", f"status of {n}",
    ], rows))  # fmt: skip
    print("\nIn process leaves out interpreter start-up and imports. Every system's database, the proxy and the "
          "client share this machine's cores: the last row (no added latency) is what the machine itself costs "
          f"for {n} systems (server backends, authentication, queries), which {n} distinct remote databases would "
          "not add to the client's wall time.")  # fmt: skip


if __name__ == "__main__":
    main()
