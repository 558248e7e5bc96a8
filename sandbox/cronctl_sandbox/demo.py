"""`cronctl demo`: a live sandbox (PostgreSQL 15 + pg_cron, a job server) with an incident, and a tour of it.

The tour runs the real CLI as a subprocess against the sandbox, exactly as an on-call engineer would type it.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUNBOOK = "demo.toml"


@dataclass(frozen=True)
class Step:
    title: str
    argv: tuple[str, ...]


def runbook_path() -> Path:
    """runbooks/demo.toml from the source tree, else the copy shipped inside the package."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "runbooks" / RUNBOOK
        if candidate.is_file():
            return candidate
    candidate = here.parent / RUNBOOK
    if candidate.is_file():
        return candidate
    raise FileNotFoundError("runbooks/demo.toml not found next to the package")


def demo_secrets() -> dict[str, str]:
    """Fresh secrets per sandbox: nothing real, nothing reused."""
    import base64

    return {
        "DEMO_CRON_SECRET": secrets.token_urlsafe(32),
        "DEMO_SERVICE_KEY": "demo-" + secrets.token_urlsafe(40),
        "DEMO_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


@dataclass
class Sandbox:
    env: dict[str, str]
    runbook: Path
    workdir: Path
    dsn: str
    server_url: str


@contextmanager
def running_sandbox(base_dir: Path | None = None) -> Iterator[Sandbox]:
    """Start PostgreSQL with pg_cron, load the demo incident, start the job server; stop both afterwards."""
    from cronctl.runbook.env import Environment
    from cronctl.runbook.loader import load_runbook
    from cronctl_sandbox.cluster import PgCluster
    from cronctl_sandbox.jobserver import JobServer
    from cronctl_sandbox.routes import routes_for_runbook
    from cronctl_sandbox.scenario import load_demo

    workdir = Path(tempfile.mkdtemp(prefix="cronctl-demo-", dir=base_dir))
    path = runbook_path()
    runbook = load_runbook(path)
    cluster = PgCluster.start()
    server = JobServer().start()
    try:
        values = {
            **demo_secrets(),
            "DATABASE_URL": cluster.dsn(),
            "DEMO_URL": server.url,
            "CRONCTL_AUDIT_FILE": str(workdir / "audit.jsonl"),
        }
        env = Environment(values)
        for route in routes_for_runbook(runbook, env, demo_replies()):
            server.add_route(route)
        import psycopg

        with psycopg.connect(cluster.dsn(), autocommit=True, connect_timeout=10) as conn:
            load_demo(conn, datetime.now(UTC))
        yield Sandbox(
            env={**os.environ, **values, "CRONCTL_RUNBOOK": str(path)},
            runbook=path,
            workdir=workdir,
            dsn=cluster.dsn(),
            server_url=server.url,
        )
    finally:
        server.stop()
        cluster.stop()


def demo_replies() -> dict[str, list[Any]]:
    """How the sandbox endpoints answer a manual trigger (the incident lives in the database, not here)."""
    from cronctl_sandbox.jobserver import enrolment_ok

    return {"sync-enrolments": enrolment_ok(changed_records=1, created_alerts=1)}


def default_tour() -> list[Step]:
    return tour(job_failing="dispatch-messages", job_locked="sync-enrolments")


def tour(job_failing: str, job_locked: str) -> list[Step]:
    """The commands shown, top-down as an incident is worked: what is wrong and what to do first, the evidence,
    the fix, the proof that it worked, the message for the incident channel; then the supporting views."""
    return [
        Step("What is wrong, and what to do first: one snapshot of the whole system", ("triage",)),
        Step(f"Why is {job_failing} failing? Its runs from every source", ("logs", job_failing, "--limit", "8")),
        Step(
            "Are those pg_net answers its own? Request tracking links each to its run",
            ("pgcron", "track", "status"),
        ),
        Step(f"{job_locked} runs are refused by a lock: which locks are stale, and why", ("locks",)),
        Step("Clear only the stale ones (compare-and-delete, audited)", ("locks", "clear", "--all-stale", "--yes")),
        Step(
            f"What would a manual trigger of {job_locked} send? (secrets masked)", ("trigger", job_locked, "--dry-run")
        ),
        Step(
            f"Fire {job_locked} by hand until three ok answers in a row",
            ("trigger", job_locked, "--until-ok", "3", "--interval", "0.2", "--yes"),
        ),
        Step("Post the state in the incident channel: one chat message, findings first", ("triage", "-f", "markdown")),
        Step("Is pg_cron itself alive? Scheduler, version, settings, stuck runs", ("pgcron", "status")),
        Step("Every pg_cron job with its last run and next run", ("pgcron", "list")),
        Step("What the runbook says: jobs, schedules, required variables", ("jobs",)),
        Step("Can this setup work at all? Environment, extensions, secrets", ("doctor",)),
        Step("What a schedule means", ("explain", "*/15 * * * *", "--count", "3")),
    ]


def run_tour(sandbox: Sandbox, steps: Sequence[Step]) -> int:
    """Run each step with the real CLI; a step's non-zero exit is shown, not fatal (it is the incident)."""
    failures = 0
    for number, step in enumerate(steps, 1):
        command = "cronctl " + " ".join(shlex.quote(a) for a in step.argv)
        print(f"\n━━ {number}. {step.title}\n$ {command}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "cronctl", *step.argv],
            env=sandbox.env,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        elapsed = time.perf_counter() - started
        print(f"(exit {result.returncode}, {elapsed:.2f}s)", flush=True)
        if result.returncode >= 64:
            failures += 1
    return failures


def keep_running(sandbox: Sandbox) -> None:
    """Print how to reach the sandbox and wait for Ctrl-C."""
    shown = {k: sandbox.env[k] for k in ("DATABASE_URL", "DEMO_URL", "CRONCTL_RUNBOOK", "CRONCTL_AUDIT_FILE")}
    print("\nThe sandbox is running. In another shell:\n")
    for key, value in shown.items():
        print(f"  export {key}={shlex.quote(value)}")
    print("  # secrets for the demo jobs:")
    for key in ("DEMO_CRON_SECRET", "DEMO_SERVICE_KEY", "DEMO_WEBHOOK_SECRET"):
        print(f"  export {key}={shlex.quote(sandbox.env[key])}")
    print(f"\n  psql {shlex.quote(sandbox.dsn)}\n\nPress Ctrl-C to stop it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping the sandbox", file=sys.stderr)
