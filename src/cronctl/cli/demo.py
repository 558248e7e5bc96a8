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

Needs the PostgreSQL 15 server binaries, postgresql-15-cron and the repository's sandbox package
(`make demo` installs all of them; the cronctl package alone does not carry the sandbox).

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

    try:
        from cronctl_sandbox import demo as sandbox_demo
        from cronctl_sandbox.cluster import SandboxError
    except ImportError:
        terminal.error(
            "the sandbox is not installed (it is not part of the cronctl package): in a clone of the repository run "
            "`make demo`, or `pip install -e ./sandbox` into cronctl's environment"
        )
        raise typer.Exit(3) from None

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
