"""`cronctl query [name]`: the runbook's own diagnostic queries, run read-only."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options


def register(app: Any) -> None:
    app.command(
        "query",
        help="""Run one of the runbook's diagnostic queries ([queries.<name>]) in a read-only transaction,
or list them when no name is given. Parameters are typed (int, float, bool, text, timestamp, interval).

Examples:

\b
  cronctl query -r runbooks/enrolment-sync.toml
  cronctl query recent-runs
  cronctl query category-sample --param category_id=303 -f markdown
""",
    )(query)


@command_options()
def query(
    inv: Invocation,
    name: Annotated[str | None, typer.Argument(help="Query name (omit to list them).", show_default=False)] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-P", help="key=value for a query parameter (repeatable).", show_default=False),
    ] = None,
) -> None:
    from cronctl.services import query as service

    inv.emit(service.query(inv, name, param or []))
