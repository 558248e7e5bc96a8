"""`cronctl init`: draft a runbook from cron.job, SQL migrations, vercel.json or GitHub workflows, and write it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cronctl.errors import UsageError

if TYPE_CHECKING:
    from cronctl.init.draft import DraftJob, SecretNames
    from cronctl.init.pgcron import CronRow
    from cronctl.output.report import Report
    from cronctl.services import CommandContext


@dataclass(frozen=True)
class InitRequest:
    """Where to read jobs from and where and how to write the runbook."""

    path: Path  # the runbook to write (or merge into)
    from_pgcron: bool = False
    from_sql: Path | None = None
    from_vercel: Path | None = None
    from_github: Path | None = None
    name: str | None = None  # default: the file name
    merge: bool = False
    force: bool = False
    dry_run: bool = False
    database_url_env: str = "DATABASE_URL"


def init(ctx: CommandContext, request: InitRequest) -> Report:
    from cronctl.init.draft import SecretNames, unique_names
    from cronctl.init.writer import write_runbook
    from cronctl.output import terminal
    from cronctl.reports.init import init_report

    drafts: list[DraftJob] = []
    skipped: list[str] = []
    origins = []
    names = SecretNames()  # one variable per literal secret across every source read
    rows: list[CronRow] = []
    extensions: frozenset[str] | None = None
    if request.from_pgcron:
        rows, extensions = _pgcron_rows(ctx, request.database_url_env)
    # First every name that already stands for a value (get_secret, Vault, ${{ secrets.X }}, Vercel's
    # CRON_SECRET) is reserved, so that no literal secret found anywhere is given one of them.
    _reserve(names, rows, extensions, request)
    if request.from_pgcron:
        from cronctl.init.pgcron import drafts_from_cron

        drafts += drafts_from_cron(rows, extensions, names)
        origins.append("--from-pgcron")
    if request.from_sql:
        from cronctl.init.sqlfiles import drafts_from_sql

        found, notes = drafts_from_sql(request.from_sql, names)
        drafts += found
        skipped += notes
        origins.append(f"--from-sql {request.from_sql}")
    if request.from_vercel:
        from cronctl.init.vercel import drafts_from_vercel

        drafts += drafts_from_vercel(request.from_vercel, names)
        origins.append(f"--from-vercel {request.from_vercel}")
    if request.from_github:
        from cronctl.init.github import drafts_from_github

        found, notes = drafts_from_github(request.from_github, names)
        skipped += notes
        drafts += found
        origins.append(f"--from-github {request.from_github}")
    if not drafts:
        raise UsageError("no scheduled jobs found" + (f" ({'; '.join(skipped)})" if skipped else ""))
    unique_names(drafts)
    path = request.path
    result = write_runbook(
        drafts,
        path,
        name=request.name or path.stem,
        description="Drafted from " + ", ".join(o.split()[0].removeprefix("--from-") for o in origins),
        origin=" ".join(origins),
        merge=request.merge,
        force=request.force,
        dry_run=request.dry_run,
    )
    if result.backup is not None:
        terminal.status(f"the previous {path} is saved as {result.backup}")
    return init_report(drafts, result, skipped, request.dry_run)


def _reserve(names: SecretNames, rows: list[CronRow], extensions: frozenset[str] | None, request: InitRequest) -> None:
    from cronctl.init.pgcron import reserve_references

    reserve_references((row.command for row in rows), extensions, names)
    if request.from_sql:
        from cronctl.init.sqlfiles import reserve_references as reserve_sql

        reserve_sql(request.from_sql, names)
    if request.from_vercel:
        from cronctl.init.vercel import BASE_ENV

        names.reserve("CRON_SECRET")
        names.reserve(BASE_ENV)
    if request.from_github:
        from cronctl.init.github import reserve_references as reserve_github

        reserve_github(request.from_github, names)


def _pgcron_rows(ctx: CommandContext, env_name: str) -> tuple[list[CronRow], frozenset[str]]:
    from cronctl.db import connect, guarded
    from cronctl.init.pgcron import CronRow
    from cronctl.queries import load
    from cronctl.sources.pgcron import fetch_jobs

    url = ctx.env().require(env_name, "init --from-pgcron")
    with connect(url, read_only=True) as conn, guarded("reading cron.job"):
        jobs = fetch_jobs(conn)
        extensions = frozenset(row[0] for row in conn.execute(load("init_extensions")).fetchall())
    rows = [CronRow(j.jobid, j.jobname, j.schedule, j.command, j.active) for j in jobs]
    if not rows:
        raise UsageError("cron.job has no jobs (or this role may not read them)")
    return rows, extensions
