"""`cronctl init`: draft a runbook from cron.job, vercel.json or GitHub workflow files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options
from cronctl.errors import UsageError

HELP = """Write a runbook from what already schedules the jobs: pg_cron's cron.job (DATABASE_URL), SQL
migrations with cron.schedule(...) calls, a vercel.json `crons` list, or GitHub workflows with
`on.schedule`. SQL is read with PostgreSQL's own parser; requests sent with pg_net (net.http_post),
pgsql-http (http_post) or curl become the job's URL, method, headers and body. Secrets become ${VAR}
references (get_secret('service_role_key') -> ${SERVICE_ROLE_KEY}); a literal secret is never written: it
becomes a variable named after its key, with a note. What could not be inferred is written as `# TODO:`
comments (see docs/commands/onboarding.md).

An existing file is never replaced without --force; --merge appends new jobs and keeps every hand edit.

\b
Examples:
  cronctl init --from-pgcron -o runbooks/billing.toml
  cronctl init --from-vercel vercel.json -o cronctl.toml --name ads-platform
  cronctl init --from-sql supabase/migrations -o runbooks/billing.toml
  cronctl init --from-github .github/workflows -r runbooks/billing.toml --merge
  cronctl init --from-pgcron --dry-run -f plain
"""


def register(app: Any) -> None:
    app.command("init", help=HELP)(init)


@command_options()
def init(
    inv: Invocation,
    from_pgcron: Annotated[bool, typer.Option("--from-pgcron", help="Read cron.job from $DATABASE_URL.")] = False,
    from_vercel: Annotated[
        Path | None, typer.Option("--from-vercel", help="A vercel.json with `crons`.", show_default=False)
    ] = None,
    from_sql: Annotated[
        Path | None,
        typer.Option("--from-sql", help="A SQL file or directory with cron.schedule(...) calls.", show_default=False),
    ] = None,
    from_github: Annotated[
        Path | None,
        typer.Option("--from-github", help="A workflows directory or one workflow file.", show_default=False),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Runbook to write (default: ./cronctl.toml; with --merge, the --runbook file).",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Runbook name (default: the file name).", show_default=False)
    ] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Add new jobs to an existing runbook.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the TOML; write nothing.")] = False,
    database_url_env: Annotated[
        str, typer.Option("--database-url-env", help="Variable holding the database URL for --from-pgcron.")
    ] = "DATABASE_URL",
) -> None:
    from cronctl.services import init as service

    if not (from_pgcron or from_vercel or from_github or from_sql):
        raise UsageError(
            "say where to read jobs from: --from-pgcron, --from-sql PATH, --from-vercel FILE or --from-github DIR"
        )
    if merge and force:
        raise UsageError("--merge and --force exclude each other")
    # The runbook given with -r is a target only when merging into it; a fresh draft goes to ./cronctl.toml.
    path = output or (inv.runbook_path if merge else None) or Path("cronctl.toml")
    request = service.InitRequest(
        path, from_pgcron=from_pgcron, from_sql=from_sql, from_vercel=from_vercel, from_github=from_github,
        name=name, merge=merge, force=force, dry_run=dry_run, database_url_env=database_url_env,
    )  # fmt: skip
    inv.emit(service.init(inv, request))
