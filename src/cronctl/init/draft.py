"""What an importer found about one job, before it is written as a runbook table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class DraftAuth:
    kind: str = "none"
    secret_env: str | None = None
    apikey_env: str | None = None
    header: str | None = None


@dataclass
class DraftJob:
    name: str
    source: str  # where it was found, e.g. "cron.job jobid 3"
    scheduler: str  # pg_cron | vercel | github
    schedule: str | None = None
    description: str = ""
    method: str = "POST"
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    timeout: float | None = None
    auth: DraftAuth = field(default_factory=DraftAuth)
    env: list[str] = field(default_factory=list)
    pg_cron: str | None = None
    pg_net: bool = False
    workflow: str | None = None  # GitHub workflow file fired through workflow_dispatch
    dispatch_inputs: dict[str, str] = field(default_factory=dict)
    todos: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inactive: bool = False
    runs_sql: bool = False  # a pg_cron command that is plain SQL: no request to send
    uses_secrets_table: bool = False

    def add_env(self, *names: str | None) -> None:
        for name in names:
            if name and name not in self.env:
                self.env.append(name)


def job_name(raw: str, fallback: str) -> str:
    """A runbook job name (letters, digits, '-', '_', '.') from a cron job name, a path or a file name."""
    name = _NAME_CHARS.sub("-", raw.strip()).strip("-._")
    return name or fallback


def unique_names(jobs: list[DraftJob], taken: set[str] | None = None) -> None:
    """Rename duplicates in place: sync, sync-2, sync-3."""
    seen = set(taken or ())
    for job in jobs:
        base, n = job.name, 2
        while job.name in seen:
            job.name = f"{base}-{n}"
            n += 1
        seen.add(job.name)


def env_name(text: str) -> str:
    """`service_role_key` -> SERVICE_ROLE_KEY."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    if not name or name[0].isdigit():
        name = f"SECRET_{name}"
    return name
