"""`cronctl init`: draft a runbook from cron.job, vercel.json or GitHub workflow files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options
from cronctl.errors import UsageError

if TYPE_CHECKING:
    from cronctl.init.draft import DraftJob

HELP = """Write a runbook from what already schedules the jobs: pg_cron's cron.job (DATABASE_URL), a
vercel.json `crons` list, or GitHub workflows with `on.schedule`. Requests sent with net.http_post /
net.http_get or curl become the job's URL, method, headers and body; secrets become ${VAR} references
(get_secret('service_role_key') -> ${SERVICE_ROLE_KEY}); a secret value is never written. What could not be
inferred is written as `# TODO:` comments.

An existing file is never replaced without --force; --merge appends new jobs and keeps every hand edit.

\b
Examples:
  cronctl init --from-pgcron -o runbooks/billing.toml
  cronctl init --from-vercel vercel.json -o cronctl.toml --name ads-platform
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
    from cronctl.init.draft import unique_names
    from cronctl.init.writer import write_runbook
    from cronctl.output import terminal
    from cronctl.reports.init import init_report

    if not (from_pgcron or from_vercel or from_github):
        raise UsageError("say where to read jobs from: --from-pgcron, --from-vercel FILE or --from-github DIR")
    if merge and force:
        raise UsageError("--merge and --force exclude each other")
    drafts: list[DraftJob] = []
    skipped: list[str] = []
    origins = []
    if from_pgcron:
        drafts += _from_pgcron(inv, database_url_env)
        origins.append("--from-pgcron")
    if from_vercel:
        from cronctl.init.vercel import drafts_from_vercel

        drafts += drafts_from_vercel(from_vercel)
        origins.append(f"--from-vercel {from_vercel}")
    if from_github:
        from cronctl.init.github import drafts_from_github

        found, skipped = drafts_from_github(from_github)
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


def _from_pgcron(inv: Invocation, env_name: str) -> list[DraftJob]:
    from cronctl.db import connect, guarded
    from cronctl.init.pgcron import CronRow, drafts_from_cron
    from cronctl.sources.pgcron import fetch_jobs

    url = inv.env().require(env_name, "init --from-pgcron")
    with connect(url, read_only=True) as conn, guarded("reading cron.job"):
        jobs = fetch_jobs(conn)
    rows = [CronRow(j.jobid, j.jobname, j.schedule, j.command, j.active) for j in jobs]
    if not rows:
        raise UsageError("cron.job has no jobs (or this role may not read them)")
    return drafts_from_cron(rows)
