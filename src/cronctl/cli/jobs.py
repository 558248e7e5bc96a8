"""`cronctl jobs`: the runbook's job registry."""

from __future__ import annotations

from typing import Any

from cronctl.cli.common import Invocation, command_options


def register(app: Any) -> None:
    app.command(
        "jobs",
        help="""List the runbook's jobs: schedule and its meaning, next run, request, auth, timeout, and
whether each required variable is set (values are never shown).

Examples:

\b
  cronctl jobs -r runbooks/messaging-dispatch.toml
  cronctl jobs -r runbooks/billing-pgcron.toml -f json | jq '.jobs[].next_run'
""",
    )(jobs)


@command_options()
def jobs(inv: Invocation) -> None:
    from cronctl.services import jobs as service

    inv.emit(service.list_jobs(inv))
