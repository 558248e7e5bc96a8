"""`cronctl doctor`: facts about a setup in, one checklist out (pass / warn / fail / skip, each with a fix).

Pure: every fact is gathered beforehand, so each rule is tested without a database or a network.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from cronctl.evaluate.scheduler import scheduler_alive
from cronctl.evaluate.secrets import Strength, judge_stored
from cronctl.grants import grants_for, missing_grants, quote_role

if TYPE_CHECKING:
    from cronctl.evaluate.pgnet_tracking import TrackingVerdict
    from cronctl.records import (
        CronAccess,
        EndpointProbe,
        HygieneFacts,
        SchedulerState,
        SecretRow,
        ServerFacts,
        TableColumns,
    )
    from cronctl.runbook.model import Runbook

STATUSES = ("pass", "warn", "fail", "skip")
PG_NET_FIX = "CREATE EXTENSION IF NOT EXISTS pg_net; GRANT USAGE ON SCHEMA net TO {role};"


@dataclass(frozen=True)
class Check:
    id: str
    name: str
    status: str  # pass | warn | fail | skip
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class EnvVar:
    name: str
    is_set: bool
    origin: str  # env | .env | profile | unset
    preview: str  # at most the first 4 characters and the length
    needed_by: tuple[str, ...] = ()
    strength: Strength | None = None  # for secrets only


@dataclass(frozen=True)
class VendorToken:
    """The token one history source outside the database reads with, and what its API said of it."""

    source: str  # github | vercel | supabase
    variable: str  # the environment variable holding it (never its value)
    jobs: tuple[str, ...]  # the jobs whose history it reads
    is_set: bool
    origin: str  # env | .env | profile | unset
    required: bool = True  # False: the source reads without it (GitHub: public repositories only)
    api_state: str | None = None  # ok | error | timeout; None: the API was not asked
    api_message: str | None = None  # the source's own line (never the token)
    refused: bool = False  # the API refused the token (401, or Vercel's 403 invalidToken)


@dataclass
class DoctorFacts:
    runbook: Runbook | None = None
    runbook_error: str | None = None
    env: list[EnvVar] = field(default_factory=list)
    # What the runbook's jobs read from the database (services.history.database_uses); None: no runbook to say.
    database_uses: dict[str, tuple[str, ...]] | None = None
    vendor_tokens: list[VendorToken] = field(default_factory=list)
    database_attempted: bool = False
    database_error: str | None = None
    server: ServerFacts | None = None
    scheduler: SchedulerState | None = None
    access: CronAccess | None = None
    pgnet_jobs_in_cron: int | None = None
    tables: dict[str, TableColumns] = field(default_factory=dict)  # "run_logs.cron_runs" -> columns
    wanted_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    endpoints: list[EndpointProbe] = field(default_factory=list)
    endpoint_jobs: dict[str, list[str]] = field(default_factory=dict)  # url -> jobs
    endpoints_skipped: list[str] = field(default_factory=list)
    endpoints_disabled: bool = False
    secret_rows: list[SecretRow] | None = None
    secret_rows_error: str | None = None
    tracking: TrackingVerdict | None = None  # pg_net request tracking, when some job's outcome is a pg_net answer
    tracking_error: str | None = None
    hygiene: HygieneFacts | None = None  # job_run_details growth, pg_net.ttl, cron.timezone, next run
    now: datetime | None = None  # when the facts were read (the next-run check)


def exit_code(checks: list[Check]) -> int:
    statuses = {c.status for c in checks}
    return 2 if "fail" in statuses else 1 if "warn" in statuses else 0


def build_checks(f: DoctorFacts) -> list[Check]:
    checks = [_runbook(f)]
    checks += _env(f)
    checks += _vendor_tokens(f)
    checks += _database(f)
    # A database no job needs is reachable or not, and that is all: what pg_cron or a table lacks there is no fault.
    if f.server is not None and database_needed(f):
        checks += _pg_cron(f)
        checks.append(_pg_net(f))
        checks += _tracking(f)
        checks += _access(f)
        checks += _tables(f)
        checks += _secret_rows(f)
        checks += _hygiene(f)
    checks += _endpoints(f)
    checks += _strength(f)
    return checks


_HYGIENE_NAMES = {
    "run_details_purge": "job_run_details purged",
    "pg_net_ttl": "pg_net.ttl covers job intervals",
    "cron_timezone": "cron.timezone matches the runbook",
    "next_run": "next runs match the runbook",
    "cron_credentials": "no credentials in cron.job commands",
}
_HYGIENE_STATUS = {"ok": "pass", "warn": "warn", "skipped": "skip"}


def _hygiene(f: DoctorFacts) -> list[Check]:
    """The hygiene checks triage shows too (evaluate/hygiene.py), as warnings."""
    if f.hygiene is None:
        return []
    from datetime import UTC, datetime

    from cronctl.evaluate.hygiene import hygiene_checks

    jobs = list(f.runbook.jobs.values()) if f.runbook is not None else []
    out = []
    for c in hygiene_checks(f.hygiene, jobs, f.now or datetime.now(UTC)):
        status = _HYGIENE_STATUS.get(c.verdict, "warn")
        fix = c.fix if status != "pass" else ""
        out.append(Check(f"hygiene:{c.id}", _HYGIENE_NAMES.get(c.id, c.id), status, c.detail, fix))
    return out


def _runbook(f: DoctorFacts) -> Check:
    if f.runbook is None:
        return Check(
            "runbook",
            "runbook valid",
            "fail",
            f.runbook_error or "no runbook",
            "fix the key named above, or draft one: cronctl init --from-pgcron",
        )
    rb = f.runbook
    return Check("runbook", "runbook valid", "pass", f"{rb.path}: {len(rb.jobs)} jobs")


def _env(f: DoctorFacts) -> list[Check]:
    out = []
    for var in f.env:
        users = f" (needed by {', '.join(var.needed_by)})" if var.needed_by else ""
        if var.is_set:
            out.append(Check(f"env:{var.name}", f"env {var.name}", "pass", f"set from {var.origin}: {var.preview}"))
        else:
            out.append(
                Check(
                    f"env:{var.name}",
                    f"env {var.name}",
                    "fail",
                    f"not set{users}",
                    f"export {var.name}=... or add it to .env",
                )
            )
    return out


def _vendor_tokens(f: DoctorFacts) -> list[Check]:
    """Each history source outside the database: its token is set (never shown), and its API accepts it."""
    out = []
    listed = {var.name for var in f.env}  # a job's own variable (a dispatch token) already has its env check
    for token in f.vendor_tokens:
        users = f" (reads the {token.source} history of {', '.join(token.jobs)})"
        set_it = f"export {token.variable}=... or add it to .env"
        check_id, name = f"token:{token.source}:{token.variable}", f"{token.source} token {token.variable}"
        if token.variable in listed:
            pass
        elif token.is_set:
            out.append(Check(check_id, name, "pass", f"set from {token.origin}{users}"))
        elif token.required:
            out.append(Check(check_id, name, "fail", f"not set{users}", set_it))
        else:
            out.append(Check(check_id, name, "warn", f"not set{users}: public repositories only", set_it))
        if token.api_state is not None:
            out.append(_vendor_api(token))
    return out


def _vendor_api(token: VendorToken) -> Check:
    check_id, name = f"api:{token.source}:{token.variable}", f"{token.source} API"
    if token.api_state == "ok":
        return Check(check_id, name, "pass", f"answered with {token.variable}: the history is readable")
    if token.refused:
        fix = f"create a new token and set {token.variable}, then run cronctl doctor again"
        return Check(check_id, name, "fail", f"token refused: {token.api_message}", fix)
    status = "warn" if token.api_state == "timeout" else "fail"
    fix = "check the runbook's keys for this source and what the token may read"
    return Check(check_id, name, status, token.api_message or str(token.api_state), fix)


def database_needed(f: DoctorFacts) -> bool:
    """Some job reads the database (or there is no runbook to say otherwise)."""
    return f.database_uses is None or bool(f.database_uses)


def _database(f: DoctorFacts) -> list[Check]:
    if not f.database_attempted and not database_needed(f):
        return [
            Check(
                "database",
                "database reachable",
                "skip",
                "not needed by this runbook: no job reads pg_cron, pg_net, run-log, lock-table, backlog or "
                "secrets data, so its checks are skipped (triage takes silences from the local state file)",
            )
        ]
    if not f.database_attempted:
        return [Check("database", "database reachable", "skip", "no database URL to try")]
    if f.server is None and not database_needed(f):
        return [
            Check(
                "database",
                "database reachable",
                "warn",
                f"{f.database_error or 'not reachable'} (no job needs it: triage skips it)",
                "check DATABASE_URL, or leave it unset: nothing this runbook judges lives in the database",
            )
        ]
    if f.server is None:
        return [
            Check(
                "database",
                "database reachable",
                "fail",
                f.database_error or "not reachable",
                "check DATABASE_URL (host, port, password) and that the server accepts connections",
            )
        ]
    s = f.server
    checks = [Check("database", "database reachable", "pass", f"PostgreSQL {s.server_version} database {s.database}")]
    if not database_needed(f):
        checks[0] = replace(checks[0], detail=checks[0].detail + "; not needed by this runbook (only for silences)")
        return checks
    access = f.access
    read_only = " (read-only role: trigger, locks clear and secrets rotate need a writable role)" if (
        access and access.read_only_role) else ""  # fmt: skip
    needs_cron, _ = needs(f)
    if s.sees_all_rows:
        kind = "superuser" if s.superuser else "BYPASSRLS"
        checks.append(Check("role", "role", "pass", f"{s.role}, {kind}: sees every job's runs{read_only}"))
    elif not needs_cron:
        checks.append(
            Check("role", "role", "pass", f"{s.role}, not superuser; no runbook job reads pg_cron history{read_only}")
        )
    else:
        checks.append(
            Check(
                "role",
                "role",
                "warn",
                f"{s.role}, not superuser: row-level security on cron.job_run_details shows only runs "
                f"of jobs scheduled by {s.role}{read_only}",
                "use the role that scheduled the jobs (often postgres), or one with BYPASSRLS, to see their history",
            )
        )
    return checks


def _pg_cron(f: DoctorFacts) -> list[Check]:
    s = f.server
    assert s is not None
    home = s.setting("cron.database_name")
    checks = []
    # pg_settings hides shared_preload_libraries and cron.* from roles without pg_read_all_settings: absent
    # settings then say nothing about the version (extversion is a lower bound).
    if s.pg_cron_installed:
        if s.pg_cron_level_known:
            version = f"pg_cron {s.pg_cron_version} by its settings (extversion {s.pg_cron_extversion})"
        else:
            version = f"pg_cron {s.pg_cron_version or 'of unknown version'} by its extversion {s.pg_cron_extversion}"
        checks.append(Check("pg_cron", "pg_cron installed", "pass", version))
        hidden = grants_for(s, "cron settings")
        if hidden:  # informative: without them the version is only "at least" extversion, cron.timezone unknown
            checks.append(
                Check(
                    "cron_settings",
                    "cron.* settings",
                    "skip",
                    f"not visible to role {s.role} (superuser-only)",
                    "; ".join(hidden) + ";",
                )
            )
    elif home and home != s.database:
        checks.append(
            Check(
                "pg_cron",
                "pg_cron installed",
                "fail",
                f"not installed in database {s.database}; cron.database_name is {home}",
                f"point DATABASE_URL at database {home}, where pg_cron keeps its jobs",
            )
        )
    elif s.preload_visible and not s.preloaded and not s.cron_settings_visible:
        checks.append(
            Check(
                "pg_cron",
                "pg_cron installed",
                "fail",
                "pg_cron is not in shared_preload_libraries",
                "add pg_cron to shared_preload_libraries, restart, then CREATE EXTENSION pg_cron",
            )
        )
    else:
        checks.append(
            Check(
                "pg_cron",
                "pg_cron installed",
                "fail",
                f"not installed in database {s.database}",
                "CREATE EXTENSION pg_cron;",
            )
        )
    if home:
        status = "pass" if home == s.database or not s.pg_cron_installed else "warn"
        checks.append(
            Check(
                "cron.database_name",
                "cron.database_name",
                status,
                home,
                "" if status == "pass" else f"jobs run in {home}; connect there",
            )
        )
    sched = f.scheduler
    alive = scheduler_alive(s, sched)
    if sched is None or not s.pg_cron_installed:
        checks.append(Check("scheduler", "scheduler alive", "skip", "pg_cron not installed here"))
    elif alive:
        checks.append(Check("scheduler", "scheduler alive", "pass", f"pg_cron scheduler pid {sched.pid}"))
    elif alive is None:
        checks.append(
            Check(
                "scheduler",
                "scheduler alive",
                "warn",
                "no pg_cron scheduler visible to this role (it may be hidden from non-superusers)",
                "check as a superuser: SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_cron scheduler'",
            )
        )
    else:
        checks.append(
            Check(
                "scheduler",
                "scheduler alive",
                "fail",
                "no pg_cron scheduler backend: nothing runs",
                "check the server log for pg_cron errors and cron.database_name, then restart",
            )
        )
    return checks


def _pg_net(f: DoctorFacts) -> Check:
    s = f.server
    assert s is not None
    runbook_jobs = [j.name for j in f.runbook.jobs.values() if j.history.pg_net] if f.runbook else []
    cron_jobs = f.pgnet_jobs_in_cron or 0
    needed = bool(runbook_jobs or cron_jobs)
    users = ", ".join(runbook_jobs) or f"{cron_jobs} cron.job commands"
    if s.net_schema:
        version = f"pg_net {s.pg_net_extversion}" if s.pg_net_extversion else "schema net present"
        detail = version + ("" if s.net_response_table else "; net._http_response missing")
        return Check("pg_net", "pg_net", "pass" if s.net_response_table or not needed else "warn", detail)
    if needed:
        fix = PG_NET_FIX.format(role=quote_role(s.role))
        return Check("pg_net", "pg_net", "fail", f'schema "net" does not exist; needed by {users}', fix)
    return Check("pg_net", "pg_net", "skip", "not installed; no job uses it")


def _tracking(f: DoctorFacts) -> list[Check]:
    """Exact attribution of pg_net answers needs cronctl's request tracking: installed and recording."""
    if f.tracking is None and f.tracking_error is None:
        return []
    if f.tracking_error is not None:
        return [Check("pg_net_tracking", "pg_net request tracking", "warn", f.tracking_error)]
    assert f.tracking is not None
    verdict = f.tracking
    if not verdict.installed:
        return [
            Check(
                "pg_net_tracking",
                "pg_net request tracking",
                "warn",
                f"not installed: answers of jobs that fire together cannot be linked to their runs ({verdict.reason})",
                "cronctl pgcron track install",
            )
        ]
    if verdict.recording is False:
        return [
            Check("pg_net_tracking", "pg_net request tracking", "fail", verdict.reason, "cronctl pgcron track install")
        ]
    state = "recording" if verdict.recording else "installed (recording not yet confirmed)"
    return [Check("pg_net_tracking", "pg_net request tracking", "pass", f"{state}: {verdict.reason}")]


def needs(f: DoctorFacts) -> tuple[bool, bool]:
    """(needs_cron, needs_net): whether some runbook job reads pg_cron history / pg_net answers. Without a
    runbook, pg_cron's history is assumed needed where pg_cron is installed, pg_net's answers where cron.job
    calls it."""
    if f.runbook is None:
        installed = f.server is not None and f.server.pg_cron_installed
        return installed, bool(f.pgnet_jobs_in_cron)
    jobs = list(f.runbook.jobs.values())
    return (
        any(j.history.pg_cron or j.scheduler == "pg_cron" for j in jobs),
        any(j.history.pg_net for j in jobs),
    )


def _job_names(f: DoctorFacts, pg_net: bool) -> str:
    if f.runbook is None:
        return ""
    names = [
        j.name
        for j in f.runbook.jobs.values()
        if (j.history.pg_net if pg_net else bool(j.history.pg_cron or j.scheduler == "pg_cron"))
    ]
    return f"; needed by {', '.join(names)}" if names else ""


def _access(f: DoctorFacts) -> list[Check]:
    """One check per schema the runbook reads that this role cannot: what is unreadable and the exact GRANTs."""
    s = f.server
    assert s is not None
    needs_cron, needs_net = needs(f)
    out = []
    if s.cron_schema:
        grants = missing_grants(s, needs_net=False, needs_cron=True)
        if not grants:
            if needs_cron:
                out.append(Check("access:cron", "pg_cron history", "pass", "reads cron.job and cron.job_run_details"))
        elif needs_cron:
            unreadable = [n for n, ok in (("cron.job", s.cron_job_readable),
                                          ("cron.job_run_details", s.cron_runs_readable)) if not ok]  # fmt: skip
            out.append(
                Check(
                    "access:cron",
                    "pg_cron history",
                    "fail",
                    f"{', '.join(unreadable)} not visible to role {s.role}{_job_names(f, False)}",
                    "; ".join(grants) + ";",
                )
            )
        else:
            out.append(
                Check("access:cron", "pg_cron history", "skip", f"not visible to role {s.role}; no job reads it")
            )
    if s.net_schema:
        grants = missing_grants(s, needs_net=True, needs_cron=False)
        if not grants:
            if needs_net:
                out.append(Check("access:net", "pg_net answers", "pass", "reads net._http_response and the queue"))
        elif not needs_net:
            out.append(
                Check("access:net", "pg_net answers", "skip", f"not visible to role {s.role}; no job uses pg_net")
            )
        else:
            answers = s.net_response_table and not s.net_response_readable
            unreadable = [n for n, bad in (("net._http_response", answers),
                                           ("net.http_request_queue", s.net_queue_table and not s.net_queue_readable))
                          if bad]  # fmt: skip
            effect = "" if answers else " (queued requests and their URLs)"
            out.append(
                Check(
                    "access:net",
                    "pg_net answers",
                    "fail" if answers else "warn",
                    f"{', '.join(unreadable)}{effect} not visible to role {s.role}{_job_names(f, True)}",
                    "; ".join(grants) + ";",
                )
            )
    return out


def _tables(f: DoctorFacts) -> list[Check]:
    out = []
    for label, info in f.tables.items():
        name = f"{info.schema}.{info.table}"
        wanted = f.wanted_columns.get(label, ())
        if not info.present:
            out.append(
                Check(
                    f"table:{label}",
                    f"table {label}",
                    "fail",
                    f"{name} does not exist (or is not visible)",
                    f"create {name} or fix [{label.split('.')[0]}] in the runbook",
                )
            )
            continue
        missing = [c for c in wanted if c not in info.columns]
        if missing:
            out.append(
                Check(
                    f"table:{label}",
                    f"table {label}",
                    "fail",
                    f"{name} has no column {', '.join(missing)}",
                    f"map the real column names under [{label}] in the runbook",
                )
            )
        elif not (info.selectable and info.schema_usage):
            role = quote_role(f.server.role) if f.server else "<role>"
            grants = ([] if info.schema_usage else [f"GRANT USAGE ON SCHEMA {info.schema} TO {role}"]) + (
                [] if info.selectable else [f"GRANT SELECT ON {name} TO {role}"])  # fmt: skip
            out.append(
                Check(
                    f"table:{label}",
                    f"table {label}",
                    "fail",
                    f"{name} not visible to role {f.server.role if f.server else '?'}",
                    "; ".join(grants) + ";",
                )
            )
        else:
            out.append(Check(f"table:{label}", f"table {label}", "pass", f"{name}: {len(wanted)} columns mapped"))
    return out


def _secret_rows(f: DoctorFacts) -> list[Check]:
    if f.runbook is None or f.runbook.secrets_table is None:
        return []
    info = f.tables.get("secrets_table")
    if f.secret_rows is None and info is not None and info.present and not (info.selectable and info.schema_usage):
        # The table check names the missing GRANT; one cause, one finding.
        who = f.server.role if f.server else "this role"
        return [Check("secrets_table", "secrets table", "skip", f"not read: not visible to role {who} (see above)")]
    if f.secret_rows is None:
        return [
            Check(
                "secrets_table",
                "secrets table",
                "fail",
                f.secret_rows_error or "not read",
                "check [secrets_table] in the runbook",
            )
        ]
    placeholders = [r.key for r in f.secret_rows if r.placeholder or r.length == 0]
    odd = [r.key for r in f.secret_rows if r.key not in placeholders and not judge_stored(
        r.length, r.placeholder, r.edge_quote_or_space).ok]  # fmt: skip
    if placeholders:
        return [
            Check(
                "secrets_table",
                "secrets table",
                "fail",
                f"{len(placeholders)} of {len(f.secret_rows)} still placeholders: {', '.join(placeholders)}",
                "cronctl secrets rotate <key> for each (values from the provider's dashboard)",
            )
        ]
    if odd:
        return [
            Check(
                "secrets_table",
                "secrets table",
                "warn",
                f"short or quoted/whitespace values: {', '.join(odd)}",
                "re-set them without quotes or newlines: cronctl secrets rotate <key>",
            )
        ]
    return [Check("secrets_table", "secrets table", "pass", f"{len(f.secret_rows)} secrets set, no placeholders")]


def _endpoints(f: DoctorFacts) -> list[Check]:
    if f.endpoints_disabled:
        return [Check("endpoints", "endpoints", "skip", "skipped (--no-endpoints)")]
    out = []
    for probe in f.endpoints:
        jobs = ", ".join(f.endpoint_jobs.get(probe.url, []))
        name = f"endpoint {jobs or probe.host}"
        if probe.answered:
            tls = ", TLS ok" if probe.tls else ""
            out.append(
                Check(f"endpoint:{probe.url}", name, "pass", f"{probe.url} answered {probe.status} to OPTIONS{tls}")
            )
        elif probe.timed_out:
            out.append(
                Check(
                    f"endpoint:{probe.url}",
                    name,
                    "warn",
                    f"{probe.url}: {probe.error}",
                    "check the host is up and not firewalled from here",
                )
            )
        else:
            out.append(
                Check(
                    f"endpoint:{probe.url}",
                    name,
                    "fail",
                    f"{probe.url}: {probe.error}",
                    "check the URL variables, DNS, and the certificate",
                )
            )
    out += [Check(f"endpoint-skip:{s}", "endpoint", "skip", s) for s in f.endpoints_skipped]
    return out


def _strength(f: DoctorFacts) -> list[Check]:
    out = []
    for var in f.env:
        if var.strength is None or not var.is_set:
            continue
        st = var.strength
        fix = "" if st.status == "pass" else "make a new one: cronctl secrets generate (32 random bytes)"
        out.append(Check(f"secret:{var.name}", f"secret {var.name}", st.status, f"{st.level}: {st.detail}", fix))
    return out
