"""Entry point. `cronctl --version` answers before Typer is imported, so it costs a bare interpreter start."""

from __future__ import annotations

import importlib
import sys
from typing import Any

COMMAND_MODULES = (
    "triage",
    "trigger",
    "locks",
    "silence",
    "logs",
    "pgcron",
    "query",
    "jobs",
    "explain",
    "doctor",
    "secrets",
    "init",
    "demo",
)

HELP = """\
Incident toolkit for scheduled jobs fired by pg_cron / pg_net, Vercel cron and GitHub Actions.

A runbook (TOML) describes one system: its jobs, where their history lives, their locks, backlog checks
and known failure modes. Secrets come only from the environment or .env.

Typical incident:

\b
  cronctl triage -r runbooks/billing-pgcron.toml      # what is late, failing, stuck, backed up?
  cronctl logs notification-worker                     # one job's runs from every source
  cronctl trigger notification-worker --until-ok 3     # fire it by hand until it is healthy again
  cronctl locks clear --all-stale                      # remove leftover locks, never live ones

\b
Exit codes: 0 ok, 1 not healthy, 2 usage or runbook error, 3 unreachable / timeout / missing,
4 permission denied, 5 confirmation declined (triage: 0 ok, 1 warn, 2 crit, 3 unknown).
"""


def build_app() -> Any:
    from cronctl.cli.app import make_app

    app = make_app(HELP)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cronctl.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cronctl.cli.{name}":
                raise
            continue
        module.register(app)
    return app


def main() -> None:
    args = sys.argv[1:]
    if args in (["--version"], ["-V"]):
        from cronctl import __version__

        print(f"cronctl {__version__}")
        return
    app = build_app()
    app(prog_name="cronctl")


if __name__ == "__main__":
    main()
