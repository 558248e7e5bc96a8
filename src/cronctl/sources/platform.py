"""Server facts for `pgcron status`, doctor and triage: version, role, pg_cron version and settings,
scheduler liveness, pg_net presence, what the role may read, size of job_run_details and stuck runs.
Catalog reads only; the facts query never fails for lack of privileges.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cronctl.queries import load
from cronctl.records import Run

Params = dict[str, Any]
STUCK_PER_JOB = 20

Version = tuple[int, int]
# pg_cron features cronctl cares about and the first release that has them (CHANGELOG: 1.5.0, 1.6.0).
FEATURES: dict[str, Version] = {"seconds": (1, 5), "timezone": (1, 5), "last_day_dollar": (1, 6)}
# Objects a role may be unable to read, for `not_visible` / `missing_grants`.
VISIBLE_THINGS = (
    "net",
    "net._http_response",
    "net.http_request_queue",
    "cron",
    "cron.job",
    "cron.job_run_details",
    "cron settings",
)
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")
_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")


@dataclass(frozen=True)
class ServerFacts:
    server_version: str
    server_version_num: int
    role: str
    superuser: bool
    database: str
    cron_schema: bool
    pg_cron_extversion: str | None
    net_schema: bool
    net_response_table: bool  # net._http_response exists (whether or not this role may read it)
    pg_net_extversion: str | None
    preloaded: bool
    cron_settings: dict[str, str] = field(default_factory=dict)
    # What this role may read. Raw privileges, each checked on its own: reading a table needs USAGE on its
    # schema *and* SELECT on the table (see the *_readable properties). Defaults mean "no known problem".
    bypassrls: bool = False
    cron_usage: bool = True  # USAGE on schema cron
    cron_job_select: bool = True  # SELECT on cron.job
    cron_run_details_select: bool = True  # SELECT on cron.job_run_details
    net_usage: bool = True  # USAGE on schema net
    net_response_select: bool = True  # SELECT on net._http_response
    net_queue_table: bool = False  # net.http_request_queue exists
    net_queue_select: bool = True  # SELECT on net.http_request_queue
    # pg_settings shows some cron.* row. All cron.* settings are superuser-only (or pg_read_all_settings):
    # a plain role sees none, which says nothing about the version.
    cron_settings_visible: bool = False
    cron_timezone: str | None = None  # cron.timezone when visible (pg_cron 1.5+)
    preload_visible: bool = True  # shared_preload_libraries shown by pg_settings

    def __post_init__(self) -> None:
        if self.cron_settings and not self.cron_settings_visible:
            object.__setattr__(self, "cron_settings_visible", True)
        if self.cron_timezone is None and "cron.timezone" in self.cron_settings:
            object.__setattr__(self, "cron_timezone", self.cron_settings["cron.timezone"])

    # -- what the role can read -------------------------------------------------------------------------

    @property
    def sees_all_rows(self) -> bool:
        """Row-level security does not apply (superuser or BYPASSRLS): cron history shows every user's runs."""
        return self.superuser or self.bypassrls

    @property
    def cron_job_readable(self) -> bool:
        return self.cron_schema and self.cron_usage and self.cron_job_select

    @property
    def cron_runs_readable(self) -> bool:
        return self.cron_schema and self.cron_usage and self.cron_run_details_select

    @property
    def cron_readable(self) -> bool:
        """USAGE on cron and SELECT on both cron.job and cron.job_run_details."""
        return self.cron_job_readable and self.cron_runs_readable

    @property
    def net_response_readable(self) -> bool:
        return self.net_response_table and self.net_usage and self.net_response_select

    @property
    def net_queue_readable(self) -> bool:
        return self.net_queue_table and self.net_usage and self.net_queue_select

    # -- pg_cron's feature level ------------------------------------------------------------------------

    @property
    def pg_cron_installed(self) -> bool:
        return self.cron_schema and self.pg_cron_extversion is not None

    @property
    def pg_cron_level(self) -> Version | None:
        """The strongest lower bound of what the loaded pg_cron can do: extversion, or settings seen."""
        bounds = [b for b in (_parse_version(self.pg_cron_extversion), self._settings_lower) if b is not None]
        return max(bounds) if bounds else None

    @property
    def pg_cron_level_known(self) -> bool:
        """True when the settings pin the level down (they are visible and agree with extversion)."""
        upper = self.pg_cron_upper_bound
        level = self.pg_cron_level
        return self.cron_settings_visible and (upper is None or level is None or level <= upper)

    @property
    def pg_cron_version(self) -> str | None:
        """pg_cron's feature level as text: "1.6+", "1.5+", "1.4 or older" when the settings are visible,
        "at least 1.6" (from extversion) when they are not, None without evidence. Absent settings never
        mean "1.4 or older": a non-superuser sees none of them."""
        level = self.pg_cron_level
        if self.pg_cron_level_known:
            if level is not None and level >= (1, 5):
                return f"{level[0]}.{level[1]}+"
            return "1.4 or older"
        if level is None:
            return None
        return f"at least {level[0]}.{level[1]}"

    @property
    def _settings_lower(self) -> Version | None:
        if "cron.launch_active_jobs" in self.cron_settings:
            return (1, 6)
        if "cron.timezone" in self.cron_settings:
            return (1, 5)
        return None

    @property
    def pg_cron_upper_bound(self) -> Version | None:
        """Visible settings without a later release's setting bound the library from above (None: no bound)."""
        if not self.cron_settings_visible or "cron.launch_active_jobs" in self.cron_settings:
            return None
        return (1, 5) if "cron.timezone" in self.cron_settings else (1, 4)

    def setting(self, name: str) -> str | None:
        return self.cron_settings.get(name)


def supports(facts: ServerFacts, feature: str) -> bool | None:
    """Whether the server's pg_cron has `feature` (see FEATURES): True, False, or None when it cannot tell
    (settings hidden from this role and extversion too old to prove it). Raises KeyError for an unknown name."""
    need = FEATURES[feature]
    level = facts.pg_cron_level
    if level is not None and level >= need:
        return True
    upper = facts.pg_cron_upper_bound
    if facts.pg_cron_level_known and upper is not None and upper < need:
        return False
    return None


def quote_role(name: str) -> str:
    """A role name as it must appear in a GRANT statement."""
    return name if _PLAIN_IDENT.match(name) else '"' + name.replace('"', '""') + '"'


def grants_for(facts: ServerFacts, what: str) -> list[str]:
    """The GRANT statements (without `;`) this role lacks to read `what` (one of VISIBLE_THINGS)."""
    if what not in VISIBLE_THINGS:
        raise KeyError(what)
    if facts.superuser:
        return []
    role = quote_role(facts.role)
    out: list[str] = []
    if what == "cron settings":
        if facts.cron_settings_visible or not facts.pg_cron_installed:
            return []
        return [f"GRANT pg_read_all_settings TO {role}"]
    schema = what.split(".")[0]
    if schema == "net":
        if not facts.net_schema:
            return []
        tables = {"net._http_response": (facts.net_response_table, facts.net_response_select),
                  "net.http_request_queue": (facts.net_queue_table, facts.net_queue_select)}  # fmt: skip
        usage = facts.net_usage
    else:
        if not facts.cron_schema:
            return []
        tables = {"cron.job": (True, facts.cron_job_select),
                  "cron.job_run_details": (True, facts.cron_run_details_select)}  # fmt: skip
        usage = facts.cron_usage
    wanted = [what] if what in tables else list(tables)
    if not usage:
        out.append(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    out += [f"GRANT SELECT ON {name} TO {role}" for name in wanted if tables[name][0] and not tables[name][1]]
    return out


def missing_grants(facts: ServerFacts, needs_net: bool, needs_cron: bool) -> list[str]:
    """Exact GRANT statements (without `;`) the connected role lacks for what a runbook reads: schema net and
    its two tables when `needs_net`, schema cron and cron.job / cron.job_run_details when `needs_cron`.
    Objects that do not exist are not granted (that is a different problem: the extension is missing)."""
    out: list[str] = []
    if needs_cron:
        out += grants_for(facts, "cron")
    if needs_net:
        out += grants_for(facts, "net")
    return out


def not_visible(facts: ServerFacts, what: str) -> str:
    """One line for something this role cannot read, e.g. "not visible to role ro: needs GRANT USAGE ON SCHEMA
    net TO ro; GRANT SELECT ON net._http_response TO ro"; "" when nothing is missing (or it does not exist).
    `what` is one of VISIBLE_THINGS ("net" = both net tables, "cron" = both cron tables, "cron settings" =
    cron.* in pg_settings). Callers put their own label first: f"pg_net answers: {not_visible(facts, 'net')}"."""
    grants = grants_for(facts, what)
    if not grants:
        return ""
    return f"not visible to role {facts.role}: needs " + "; ".join(grants)


def _parse_version(text: str | None) -> Version | None:
    match = _VERSION.match(text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class SchedulerState:
    alive: bool
    pid: int | None = None
    backend_type: str | None = None
    database: str | None = None
    since: datetime | None = None
    launcher_seen: bool = False


@dataclass(frozen=True)
class RunDetailsSize:
    estimated_rows: int
    total_bytes: int
    max_runid: int | None  # None also when this role may not read cron.job_run_details


def facts_query() -> tuple[str, Params]:
    return load("platform_facts"), {}


def parse_facts(rows: Sequence[Sequence[Any]]) -> ServerFacts:
    (version, version_num, role, superuser, bypassrls, database, cron_ext, cron_schema, cron_usage, job_select,
     details_select, net_schema, net_usage, net_ext, net_table, net_select, queue_table, queue_select, preload,
     settings) = rows[0]  # fmt: skip
    cron_settings = {str(k): str(v) for k, v in (settings or {}).items()}
    return ServerFacts(
        server_version=version,
        server_version_num=int(version_num),
        role=role,
        superuser=bool(superuser),
        database=database,
        cron_schema=bool(cron_schema),
        pg_cron_extversion=cron_ext,
        net_schema=bool(net_schema),
        net_response_table=bool(net_table),
        pg_net_extversion=net_ext,
        preloaded="pg_cron" in (preload or ""),
        cron_settings=cron_settings,
        bypassrls=bool(bypassrls),
        cron_usage=bool(cron_usage),
        cron_job_select=bool(job_select),
        cron_run_details_select=bool(details_select),
        net_usage=bool(net_usage),
        net_response_select=bool(net_select),
        net_queue_table=bool(queue_table),
        net_queue_select=bool(queue_select),
        cron_settings_visible=bool(cron_settings),
        cron_timezone=cron_settings.get("cron.timezone"),
        preload_visible=preload is not None,
    )


def fetch_facts(conn: Any) -> ServerFacts:
    query, params = facts_query()
    return parse_facts(conn.execute(query, params).fetchall())


def scheduler_query() -> tuple[str, Params]:
    return load("platform_scheduler"), {}


def parse_scheduler(rows: Sequence[Sequence[Any]]) -> SchedulerState:
    launcher = False
    for pid, backend_type, app, datname, started, _state in rows:
        if app == "pg_cron scheduler":
            return SchedulerState(True, pid, backend_type, datname, started, launcher)
        launcher = launcher or backend_type == "pg_cron launcher"
    return SchedulerState(False, launcher_seen=launcher)


def fetch_scheduler(conn: Any) -> SchedulerState:
    query, params = scheduler_query()
    return parse_scheduler(conn.execute(query, params).fetchall())


def run_details_size_query() -> tuple[str, Params]:
    return load("platform_run_details_size"), {}


def parse_run_details_size(rows: Sequence[Sequence[Any]], max_runid: int | None = None) -> RunDetailsSize:
    estimated, total = rows[0][:2]
    # reltuples is -1 before the first ANALYZE / VACUUM.
    return RunDetailsSize(max(int(estimated), 0), int(total), int(max_runid) if max_runid is not None else None)


def fetch_run_details_size(conn: Any) -> RunDetailsSize:
    """Size from the catalog (any role); the newest runid only when this role may read the table."""
    from cronctl.errors import SourceUnavailable

    facts = fetch_facts(conn)
    query, params = run_details_size_query()
    rows = conn.execute(query, params).fetchall()
    if not rows:
        raise SourceUnavailable("cron.job_run_details does not exist")
    max_runid = conn.execute(load("platform_max_runid")).fetchone()[0] if facts.cron_runs_readable else None
    return parse_run_details_size(rows, max_runid)


def stuck_runs_query(per_job: int = STUCK_PER_JOB, window: int | None = None) -> tuple[str, Params]:
    from cronctl.sources.pgcron import DEFAULT_WINDOW

    return load("platform_stuck_runs"), {"n": per_job, "window": window if window is not None else DEFAULT_WINDOW}


def parse_stuck_runs(rows: Sequence[Sequence[Any]]) -> list[Run]:
    from cronctl.sources.pgcron import normalise_status

    out = []
    for jobid, jobname, runid, job_pid, status, start, message in rows:
        out.append(
            Run(
                job=jobname or str(jobid),
                source="pg_cron",
                status=normalise_status(status),
                started_at=start,
                run_id=str(runid),
                raw_status=status,
                message=message,
                detail={"jobid": jobid, "runid": runid, "job_pid": job_pid, "backend_alive": False},
            )
        )
    return out


def fetch_stuck_runs(conn: Any, per_job: int = STUCK_PER_JOB) -> list[Run]:
    """Raises PermissionDenied with the missing GRANTs (one line) when this role may not read pg_cron's tables."""
    from cronctl.errors import PermissionDenied

    facts = fetch_facts(conn)
    if facts.cron_schema and not facts.cron_readable:
        raise PermissionDenied(not_visible(facts, "cron"))
    query, params = stuck_runs_query(per_job)
    return parse_stuck_runs(conn.execute(query, params).fetchall())
