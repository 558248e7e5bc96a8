"""The GRANT statements a role lacks to read what cronctl reads, from the server's facts. Pure.

Sources use it to say why a read is refused, doctor to print the exact fix.
"""

from __future__ import annotations

import re

from cronctl.records import ServerFacts

# Objects a role may be unable to read, for `grants_for` / `not_visible`.
VISIBLE_THINGS = (
    "net",
    "net._http_response",
    "net.http_request_queue",
    "cron",
    "cron.job",
    "cron.job_run_details",
    "cron settings",
)
_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")


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
