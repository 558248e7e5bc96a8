"""`cronctl init`: draft a runbook from cron.job, vercel.json or GitHub workflow files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options
from cronctl.errors import UsageError

if TYPE_CHECKING:
    from cronctl.init.draft import DraftJob

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
    from cronctl.init.draft import SecretNames, unique_names
    from cronctl.init.writer import write_runbook
    from cronctl.output import terminal
    from cronctl.reports.init import init_report

    if not (from_pgcron or from_vercel or from_github or from_sql):
        raise UsageError(
            "say where to read jobs from: --from-pgcron, --from-sql PATH, --from-vercel FILE or --from-github DIR"
        )
    if merge and force:
        raise UsageError("--merge and --force exclude each other")
    drafts: list[DraftJob] = []
    skipped: list[str] = []
    origins = []
    names = SecretNames()  # one variable per literal secret across every source read
    rows, extensions = _pgcron_rows(inv, database_url_env) if from_pgcron else ([], None)
    # First every name that already stands for a value (get_secret, Vault, ${{ secrets.X }}, Vercel's
    # CRON_SECRET) is reserved, so that no literal secret found anywhere is given one of them.
    _reserve(names, rows, extensions, from_sql, from_vercel, from_github)
    if from_pgcron:
        from cronctl.init.pgcron import drafts_from_cron

        drafts += drafts_from_cron(rows, extensions, names)
        origins.append("--from-pgcron")
    if from_sql:
        from cronctl.init.sqlfiles import drafts_from_sql

        found, notes = drafts_from_sql(from_sql, names)
        drafts += found
        skipped += notes
        origins.append(f"--from-sql {from_sql}")
    if from_vercel:
        from cronctl.init.vercel import drafts_from_vercel

        drafts += drafts_from_vercel(from_vercel, names)
        origins.append(f"--from-vercel {from_vercel}")
    if from_github:
        from cronctl.init.github import drafts_from_github

        found, notes = drafts_from_github(from_github, names)
        skipped += notes
        drafts += found
        origins.append(f"--from-github {from_github}")
    if not drafts:
        raise UsageError("no scheduled jobs found" + (f" ({'; '.join(skipped)})" if skipped else ""))
    unique_names(drafts)
    # The runbook given with -r is a target only when merging into it; a fresh draft goes to ./cronctl.toml.
    path = output or (inv.runbook_path if merge else None) or Path("cronctl.toml")
    result = write_runbook(
        drafts,
        path,
        name=name or path.stem,
        description="Drafted from " + ", ".join(o.split()[0].removeprefix("--from-") for o in origins),
        origin=" ".join(origins),
        merge=merge,
        force=force,
        dry_run=dry_run,
    )
    if result.backup is not None:
        terminal.status(f"the previous {path} is saved as {result.backup}")
    inv.emit(init_report(drafts, result, skipped, dry_run))


def _reserve(
    names: Any, rows: list[Any], extensions: Any, sql: Path | None, vercel: Path | None, github: Path | None
) -> None:
    from cronctl.init.pgcron import reserve_references

    reserve_references((row.command for row in rows), extensions, names)
    if sql:
        from cronctl.init.sqlfiles import reserve_references as reserve_sql

        reserve_sql(sql, names)
    if vercel:
        from cronctl.init.vercel import BASE_ENV

        names.reserve("CRON_SECRET")
        names.reserve(BASE_ENV)
    if github:
        from cronctl.init.github import reserve_references as reserve_github

        reserve_github(github, names)


def _pgcron_rows(inv: Invocation, env_name: str) -> tuple[list[Any], frozenset[str]]:
    from cronctl.db import connect, guarded
    from cronctl.init.pgcron import CronRow
    from cronctl.queries import load
    from cronctl.sources.pgcron import fetch_jobs

    url = inv.env().require(env_name, "init --from-pgcron")
    with connect(url, read_only=True) as conn, guarded("reading cron.job"):
        jobs = fetch_jobs(conn)
        extensions = frozenset(row[0] for row in conn.execute(load("init_extensions")).fetchall())
    rows = [CronRow(j.jobid, j.jobname, j.schedule, j.command, j.active) for j in jobs]
    if not rows:
        raise UsageError("cron.job has no jobs (or this role may not read them)")
    return rows, extensions
