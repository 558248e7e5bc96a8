"""`cronctl doctor`: gather every fact the checklist needs, degrading per fact instead of failing."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from cronctl.errors import CronctlError

if TYPE_CHECKING:
    from cronctl.evaluate.doctor import DoctorFacts, EnvVar, VendorToken
    from cronctl.output.report import Report
    from cronctl.runbook.env import Environment
    from cronctl.runbook.model import JobSpec, Runbook
    from cronctl.services import CommandContext

_REQUIRED_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def run(ctx: CommandContext, *, endpoints: bool, timeout: float) -> Report:
    """The doctor checklist; `endpoints=False` contacts no job endpoint."""
    from cronctl.evaluate.doctor import build_checks
    from cronctl.reports.doctor import doctor_report

    facts = collect(ctx, endpoints=endpoints, timeout=timeout)
    return doctor_report(build_checks(facts), facts.runbook.name if facts.runbook else None)


def collect(ctx: CommandContext, *, endpoints: bool, timeout: float) -> DoctorFacts:
    from cronctl.evaluate.doctor import DoctorFacts

    facts = DoctorFacts(endpoints_disabled=not endpoints)
    try:
        facts.runbook = ctx.runbook()
    except CronctlError as exc:
        facts.runbook_error = exc.message
    env = _environment(ctx, facts)
    runbook = facts.runbook
    if runbook is not None:
        from cronctl.services.history import database_uses

        facts.database_uses = database_uses(runbook, list(runbook.jobs.values()))
        facts.env = _env_vars(runbook, env, with_database=bool(facts.database_uses))
        facts.vendor_tokens = _vendor_tokens(runbook, env, timeout)
    url = _database_url(runbook, env)
    if url is not None:
        facts.database_attempted = True
        _database_facts(url, facts)
    if runbook is not None and endpoints:
        _endpoint_facts(runbook, env, timeout, facts)
    return facts


def _environment(ctx: CommandContext, facts: DoctorFacts) -> Environment:
    from cronctl.runbook.env import Environment, load_environment

    try:
        return ctx.env() if facts.runbook is not None else load_environment(ctx.env_file)
    except CronctlError as exc:
        facts.runbook_error = facts.runbook_error or exc.message
        import os

        return Environment(os.environ)


def _required(template: str) -> list[str]:
    return _REQUIRED_REF.findall(template)  # `${VAR:-default}` does not match: it has a fallback


def _env_vars(runbook: Runbook, env: Environment, *, with_database: bool = True) -> list[EnvVar]:
    from cronctl.evaluate.doctor import EnvVar
    from cronctl.evaluate.secrets import judge_secret
    from cronctl.redact import looks_secret, mask_preview

    # A database no job needs is no variable to set.
    database = _required(runbook.connection.database_url) if with_database else []
    users: dict[str, list[str]] = {name: [] for name in database}
    for job in runbook.jobs.values():
        templates = [job.url or "", *job.headers.values()]
        names = [*job.required_env(), *(n for t in templates for n in _required(t))]
        for name in dict.fromkeys(names):
            users.setdefault(name, []).append(job.name)
    secret_names = {n for job in runbook.jobs.values() for n in job.auth.env_vars()}
    out = []
    for name, jobs in users.items():
        value = env.get(name)
        secret = name in secret_names or looks_secret(name)
        out.append(
            EnvVar(
                name=name,
                is_set=value is not None,
                origin=env.origin(name),
                preview=mask_preview(value),
                needed_by=tuple(jobs),
                strength=judge_secret(value) if secret else None,
            )
        )
    return out


def _vendor_tokens(runbook: Runbook, env: Environment, timeout: float) -> list[VendorToken]:
    """The token of each history source outside the database the jobs read (per variable), and whether the
    vendor's API accepts it: the source's own read of the last minute, within `timeout`."""
    from cronctl.evaluate.doctor import VendorToken

    wanted: dict[tuple[str, str], list[JobSpec]] = {}
    for job in runbook.jobs.values():
        for name in job.history.external:
            variable = _token_variable(runbook, job, name)
            if variable is not None:
                wanted.setdefault((name, variable), []).append(job)
    out = []
    for (name, variable), jobs in wanted.items():
        token = VendorToken(
            source=name,
            variable=variable,
            jobs=tuple(j.name for j in jobs),
            is_set=env.is_set(variable),
            origin=env.origin(variable),
            required=name != "github",  # GitHub reads public repositories without one
        )
        out.append(_ask_api(token, runbook, env, jobs, timeout) if token.is_set else token)
    return out


def _token_variable(runbook: Runbook, job: JobSpec, source: str) -> str | None:
    if source == "github":
        return job.dispatch.token_env if job.dispatch is not None else None
    variable = getattr(runbook.vendors.get(source), "token_env", None)
    return variable if isinstance(variable, str) else None


def _ask_api(
    token: VendorToken, runbook: Runbook, env: Environment, jobs: list[JobSpec], timeout: float
) -> VendorToken:
    """The source reads the last minute of these jobs' history: the cheapest authenticated answer it asks for."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from cronctl.evaluate.root_causes import refused_variable
    from cronctl.sources import external
    from cronctl.sources.external.base import ExternalQuery

    now = datetime.now(UTC)
    query = ExternalQuery(runbook, env, jobs, since=now - timedelta(minutes=1), now=now, timeout=timeout, limit=1)
    try:
        read = external.source(token.source).read(query)
    except Exception as exc:  # a broken source is this check's failure, never the end of doctor
        return replace(token, api_state="error", api_message=f"{type(exc).__name__}: {exc}")
    notes = [read.notes.get(j.name) for j in jobs]
    bad = next((n for n in notes if n is None or n.state != "ok"), None)
    if bad is None:
        return replace(token, api_state="ok")
    message = bad.message if bad is not None else f"{token.source}: no answer"
    return replace(
        token,
        api_state=bad.state if bad is not None else "error",
        api_message=message,
        refused=refused_variable(message or "") == token.variable,
    )


def _database_url(runbook: Runbook | None, env: Environment) -> str | None:
    template = runbook.connection.database_url if runbook else "${DATABASE_URL}"
    try:
        return env.resolve(template, "connection.database_url") or None
    except CronctlError:
        return None


def _database_facts(url: str, facts: DoctorFacts) -> None:
    import psycopg

    from cronctl.db import connect, translate
    from cronctl.sources import doctor as catalog
    from cronctl.sources import platform

    spec = facts.runbook.connection if facts.runbook else None
    try:
        conn = connect(url, read_only=True, autocommit=True,
                       statement_timeout=spec.statement_timeout if spec else 5.0,
                       connect_timeout=spec.connect_timeout if spec else 5.0)  # fmt: skip
    except CronctlError as exc:
        facts.database_error = exc.message
        return
    with conn:
        # Catalog reads only: they need no privilege on schema cron or net, so a restricted role gets them too.
        try:
            facts.server = platform.fetch_facts(conn)
        except psycopg.Error as exc:
            facts.database_error = translate(exc, "reading server facts").message
            facts.server = None
            return
        try:
            facts.scheduler = platform.fetch_scheduler(conn)
        except psycopg.Error:
            facts.scheduler = None
        try:
            facts.access = catalog.fetch_access(conn)
        except psycopg.Error:
            facts.access = None
        if facts.server.cron_job_readable:
            try:
                facts.pgnet_jobs_in_cron = catalog.fetch_pgnet_jobs(conn)
            except psycopg.Error:
                facts.pgnet_jobs_in_cron = None
        if facts.runbook is not None:
            _table_facts(conn, facts.runbook, facts)
        if _uses_pg_net(facts):
            _tracking_facts(conn, facts)
        _hygiene_facts(conn, facts)


def _hygiene_facts(conn: Any, facts: DoctorFacts) -> None:
    from datetime import UTC, datetime

    from cronctl.sources import hygiene

    runbook = facts.runbook
    uses_pg_cron = runbook is None or any(j.history.pg_cron or j.scheduler == "pg_cron" for j in runbook.jobs.values())
    facts.now = datetime.now(UTC)
    facts.hygiene = hygiene.fetch(conn, facts.server, uses_pg_cron=uses_pg_cron)


def _uses_pg_net(facts: DoctorFacts) -> bool:
    if facts.runbook is not None and any(j.history.pg_net for j in facts.runbook.jobs.values()):
        return True
    return bool(facts.pgnet_jobs_in_cron)


def _tracking_facts(conn: Any, facts: DoctorFacts) -> None:
    from cronctl.services.pgnet_tracking import observe

    try:
        facts.tracking = observe(conn).verdict
    except CronctlError as exc:
        facts.tracking_error = exc.message


def _wanted_tables(runbook: Runbook) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Each mapped table (label → schema, table, the columns the runbook names)."""
    wanted: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for name, log in runbook.run_logs.items():
        cols = [log.id_column, log.job_column, log.started_column, log.finished_column, log.status_column,
                log.message_column, log.records_column, log.order_column, *log.extra_columns.values()]  # fmt: skip
        wanted[f"run_logs.{name}"] = (log.schema, log.table, tuple(dict.fromkeys(c for c in cols if c)))
    for name, lock in runbook.lock_tables.items():
        lock_cols = [lock.name_column, lock.holder_column, lock.acquired_column, lock.expires_column]
        wanted[f"lock_tables.{name}"] = (lock.schema, lock.table, tuple(c for c in lock_cols if c))
    spec = runbook.secrets_table
    if spec is not None:
        secret_cols = [spec.key_column, spec.value_column, spec.updated_column, spec.description_column]
        wanted["secrets_table"] = (spec.schema, spec.table, tuple(c for c in secret_cols if c))
    return wanted


def _table_facts(conn: Any, runbook: Runbook, facts: DoctorFacts) -> None:
    import psycopg

    from cronctl.db import translate
    from cronctl.sources import doctor as catalog
    from cronctl.sources.secrets_table import fetch_rows

    wanted = _wanted_tables(runbook)
    try:
        found = catalog.fetch_columns(conn, [(s, t) for s, t, _ in wanted.values()])
    except psycopg.Error:
        found = {}
    for label, (schema, table, wanted_cols) in wanted.items():
        if (schema, table) in found:
            facts.tables[label] = found[(schema, table)]
            facts.wanted_columns[label] = wanted_cols
    spec = runbook.secrets_table
    if spec is not None:
        try:
            facts.secret_rows = fetch_rows(conn, spec)
        except psycopg.Error as exc:
            facts.secret_rows_error = translate(exc, f"reading {spec.schema}.{spec.table}").message


def _endpoint_facts(runbook: Runbook, env: Environment, timeout: float, facts: DoctorFacts) -> None:
    from cronctl.sources.endpoints import probe_all

    for job in runbook.jobs.values():
        if job.url is None:
            continue
        try:
            url = env.resolve(job.url, f"jobs.{job.name}.url")
        except CronctlError:
            facts.endpoints_skipped.append(f"{job.name}: URL needs an unset variable")
            continue
        facts.endpoint_jobs.setdefault(url, []).append(job.name)
    facts.endpoints = probe_all(facts.endpoint_jobs, timeout)
