"""`cronctl demo`: start the sandbox with an incident and walk through it with the real commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def register(app: Any) -> None:
    app.command(
        "demo",
        help="""Start a throwaway PostgreSQL 15 + pg_cron cluster and a local job server, load an incident
(a missed job, a job failing with 401s, a backlog, a stale lock, a placeholder secret) and run the
incident routine against it: triage, logs, pgcron, locks, trigger, doctor.

Needs the PostgreSQL 15 server binaries and postgresql-15-cron (`make system-deps` installs them).

\b
Examples:
  cronctl demo            # the tour, then everything is shut down
  cronctl demo --keep     # leave the sandbox running and print how to connect
""",
    )(demo)


def demo(
    keep: Annotated[bool, typer.Option("--keep", help="Leave the sandbox running until Ctrl-C.")] = False,
    tour: Annotated[bool, typer.Option("--tour/--no-tour", help="Run the guided tour of commands.")] = True,
) -> None:
    from cronctl.output import terminal
    from cronctl.sandbox import demo as sandbox_demo
    from cronctl.sandbox.cluster import SandboxError

    terminal.status("starting the sandbox: PostgreSQL 15 + pg_cron, job server, incident scenario ...")
    try:
        with sandbox_demo.running_sandbox() as sandbox:
            terminal.status(f"sandbox up: database {sandbox.dsn.split('@')[-1]}, job server {sandbox.server_url}")
            failures = 0
            if tour:
                failures = sandbox_demo.run_tour(sandbox, sandbox_demo.default_tour())
            if keep:
                sandbox_demo.keep_running(sandbox)
    except SandboxError as exc:
        terminal.error(str(exc))
        raise typer.Exit(3) from None
    if failures:
        terminal.error(f"{failures} demo step(s) crashed")
        raise typer.Exit(1)
