"""The interface every history source outside the database implements (one file per vendor in this package).

A source says what the runbook needs for it, so that the loader and evaluation name no vendor: how a job's
`history = { <name> = ... }` is read and what else the job needs (a workflow, a url), the dataclass of its
runbook table `[<name>]`, and how late its vendor's scheduler may fire a slot.

A source reads the runs of the jobs that name it in `history = { <name> = ... }` from a vendor's REST API and
returns them as `Run` records, the same records pg_cron and run-log tables produce, so one evaluation judges them
all. It never judges: a vendor's own words (a run's conclusion, a status code, a shutdown reason) go into
`Run.status`, `Run.raw_status`, `Run.http_status`, `Run.message` and `Run.detail`; facts about the job itself
that are not runs (a workflow disabled for inactivity) go into `ExternalRead.facts` for the root causes.

Rules each implementation keeps: one deadline (`ExternalQuery.timeout`) for its whole read, whatever the number
of pages; bounded bodies; the token comes from the environment only (`Environment`), is sent only to the
configured API, and never appears in a message; an HTTP 401/403 becomes one clear line that names the token's
variable and the scope it lacks; anything unreadable becomes a `SourceNote` (state `error` / `timeout`) for the
jobs it concerns, never an exception out of `read`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cronctl.records import Run, SourceNote
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook
from cronctl.runbook.schema import toml_type


@dataclass(frozen=True)
class ExternalQuery:
    """What to read: these jobs' runs that started in [since, until or now]."""

    runbook: Runbook
    env: Environment
    jobs: Sequence[JobSpec]  # the jobs that name this source (never empty)
    since: datetime
    now: datetime
    until: datetime | None = None  # judging a past time (`triage --at`): nothing after it
    timeout: float = 10.0  # seconds for the whole read
    limit: int = 100  # at most this many runs per job, newest first


@dataclass
class ExternalRead:
    """What one source returned. Every job of the query has a note; jobs it could read also have runs."""

    runs: dict[str, list[Run]] = field(default_factory=dict)  # job -> runs, newest first
    notes: dict[str, SourceNote] = field(default_factory=dict)  # job -> how the source answered for it
    # job -> facts that are not runs, e.g. {"workflow_state": "disabled_inactivity", "workflow_url": ...}; a token
    # the source could not use is {"token": {"source": <name>, "env": <its variable>, "state": "refused" | "unset"}}
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0  # HTTP requests made (pages, conditional requests)


MAX_TEXT = 200  # characters of a vendor's log line kept in a run's message


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    """`text` on one line, cut to `limit` characters (vendor messages may hold whole stack traces)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def note(source: str, state: str, message: str | None) -> SourceNote:
    """How `source` answered, its message masked (a vendor may echo the request, token included)."""
    from cronctl import redact

    return SourceNote(source, state, redact.redact(message) if message else None)


def note_all(out: ExternalRead, source: str, jobs: Sequence[JobSpec], state: str, message: str) -> None:
    """The same answer for every job of a read that could not get as far as their runs."""
    for job in jobs:
        out.notes[job.name] = note(source, state, one_line(message, 400))


def flag(value: object) -> bool | None:
    """`history = { <name> = true }` read as a flag: True, None for `false`; ValueError for anything else."""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {toml_type(value)}")
    return True if value else None


class ExternalSource(Protocol):
    """One vendor's history. `name` is its key in `history = { ... }`, in `Run.source` and, if it has one, the name
    of its runbook table `[<name>]`."""

    name: str
    # The dataclass `[<name>]` is read into (`Runbook.vendors[name]`), None when the source needs no table. Its
    # fields are the table's keys (runbook/schema.py); the loader reads strings, `one_of` words, `env_name()`
    # variables and `duration()` deadlines.
    section: type | None

    def select(self, value: object, url: str | None) -> str | bool | None:
        """What `history = { <name> = value }` selects on a job whose url is `url`: True or a name (a Supabase Edge
        Function), None for nothing (`false`); ValueError saying, on one line, why `value` is wrong."""
        ...

    def problem(self, job: JobSpec, section: object | None) -> str | None:
        """Why this source cannot read `job`, a job that selects it, in a loaded runbook whose `[<name>]` table is
        `section`: one line (a missing [dispatch], table or url), None when nothing is missing."""
        ...

    def scheduler_delay(self, section: object | None) -> float:
        """Seconds the vendor's scheduler may fire a slot late by its own documentation (GitHub Actions 30 minutes,
        a Vercel Hobby cron an hour); 0 when it fires on time. A slot is missed only past this."""
        ...

    def read(self, query: ExternalQuery) -> ExternalRead: ...
