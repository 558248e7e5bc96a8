"""The interface every lock backend implements (one file per backend in this package), and the connections
the backends share.

A backend reads the locks of the jobs whose `lock.backend` names it and returns them as `Lock` records
(`Lock.backend` is its name); it never judges them (evaluate.locks does). Its change is exact: it removes the
lock only if it is still the one that was read (same row, same value, same holder session), and says False
otherwise. Rules each implementation keeps: every call has a timeout; an unreadable backend is a `CronctlError`
(one line, which `read_into` turns into that backend's `BackendRead.error`), never a traceback; the optional
libraries it needs are imported inside its own functions.

A backend whose reads are database statements also implements `BatchedReads`: it hands out its statements
(`LockStatement`, each with the parser of its rows), so triage sends them in its one pipelined round trip under
its shared lock-wait budget, while `cronctl locks` runs the same statements one by one (`run_statements`). A
backend without it (Redis, anything outside the database) is read through `read` after the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from cronctl.errors import CronctlError
from cronctl.records import BackendRead, Lock
from cronctl.runbook.env import Environment
from cronctl.runbook.model import JobSpec, Runbook
from cronctl.sources.locks import backend, names

# How `cronctl locks clear` removes a backend's lock:
#   delete     compare-and-delete, after one confirmation for all of them;
#   terminate  end the holder's database session (its pid is `Lock.detail["pid"]`, None when there is none);
#              only with --terminate, confirmed lock by lock.
Removal = Literal["delete", "terminate"]

# Reads the job's runs again, through the given way to get a database connection, right before a clear takes
# effect: why the lock must stay after all, or None.
Recheck = Callable[[Callable[[], Any]], "str | None"]


class StillInUse(Exception):
    """The re-check right before a clear found the job's run in progress; nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LockQuery:
    """Which locks to read."""

    jobs: Sequence[JobSpec]  # the jobs whose lock lives in this backend (may be empty)
    whole_runbook: bool  # plain `cronctl locks`: every lock the backend holds, not only those of `jobs`
    now: datetime


class LockBackend(Protocol):
    """One home of job locks. `name` is its `lock.backend` value in a runbook and its `Lock.backend`."""

    name: str
    removal: Removal
    # When a clear reads the job's runs again, as a --dry-run says it: "first", "in the same transaction".
    recheck_timing: str

    def read(self, sources: LockSources, query: LockQuery) -> list[BackendRead]:
        """One BackendRead per place read (none when the query concerns this backend not at all)."""
        ...

    def plan(self, sources: LockSources, lock: Lock) -> str:
        """The exact change a clear of `lock` makes, for --dry-run and advice (never a secret). For removal
        "terminate" it is asked only about a lock that has a holder session."""
        ...

    def clear(self, sources: LockSources, lock: Lock, recheck: Recheck | None) -> bool:
        """Remove `lock` if it is still exactly as read; False when it changed or is gone. `recheck` runs as
        late as the backend allows (a lock table: inside the delete's transaction); when it finds a run in
        progress nothing changes and StillInUse says why."""
        ...


@dataclass(frozen=True)
class LockStatement:
    """One database read of a backend: `label` names the BackendRead it answers ("table:job_lock"), `what` the
    read in an error line; `parse` turns its rows into locks."""

    label: str
    query: Any  # str or psycopg.sql.Composed, with %(name)s parameters
    params: dict[str, Any]
    what: str
    parse: Callable[[Sequence[Sequence[Any]]], list[Lock]]


@runtime_checkable
class BatchedReads(Protocol):
    """A backend whose reads are database statements a caller may send in its own batch (see the module doc)."""

    def statements(self, runbook: Runbook, query: LockQuery) -> list[LockStatement]:
        """The statements that read `query`'s locks (none when the query concerns this backend not at all)."""
        ...


def reads_database(name: str) -> bool:
    """Whether the backend registered under `name` keeps its locks in the database (its reads are statements)."""
    return isinstance(backend(name), BatchedReads)


def run_statements(sources: LockSources, statements: Sequence[LockStatement]) -> list[BackendRead]:
    """Each statement on the read-only connection in its own transaction: one failing leaves the others readable."""
    from functools import partial

    return [read_into(s.label, partial(sources.in_transaction, partial(_run_one, s))) for s in statements]


def _run_one(statement: LockStatement, conn: Any) -> list[Lock]:
    from cronctl.db import guarded

    with guarded(statement.what):
        rows = conn.execute(statement.query, statement.params).fetchall()
    return statement.parse(rows)


def read_into(label: str, read: Callable[[], list[Lock]]) -> BackendRead:
    """The locks `read` returns, or the error that stopped it: one backend failing leaves the others readable."""
    answer = BackendRead(label)
    try:
        answer.locks = read()
    except CronctlError as exc:
        answer.error = exc.message
    return answer


def recheck_first(sources: LockSources, recheck: Recheck | None) -> None:
    """For a backend whose change cannot join a database transaction: read the job's runs again now."""
    why = recheck(sources.db) if recheck is not None else None
    if why is not None:
        raise StillInUse(why)


class LockSources:
    """The runbook and the connections one `cronctl locks` command uses, each opened on first need.

    A connection that fails to open is remembered as that backend's error; the other backends still answer.
    """

    def __init__(
        self,
        runbook: Runbook,
        env: Environment,
        connect_db: Callable[[], Any],
        connect_writer: Callable[[], Any],
        *,
        shared: Mapping[str, Any] | None = None,
    ) -> None:
        self.runbook = runbook
        self.env = env
        self._connect_db = connect_db
        self._connect_writer = connect_writer
        self._handles: dict[str, Any] = {}
        # Connections the caller owns (triage's session as "db"): used as they are, never closed here.
        self._shared = dict(shared or {})

    def db(self) -> Any:
        """The read-only database connection the reads and re-checks use."""
        return self.handle("db", self._connect_db)

    def writer(self) -> Any:
        """A read-write database connection for the changes themselves."""
        return self.handle("writer", self._connect_writer)

    def handle(self, name: str, open_handle: Callable[[], Any]) -> Any:
        """The connection called `name` (a backend's own client, e.g. "redis"), opened by `open_handle` once."""
        if name in self._shared:
            return self._shared[name]
        if name not in self._handles:
            self._handles[name] = open_handle()
        return self._handles[name]

    def in_transaction(self, read: Callable[[Any], list[Lock]]) -> list[Lock]:
        """`read` on the read-only connection, inside one transaction."""
        conn = self.db()
        with conn.transaction():
            return read(conn)

    def read(self, now: datetime, job: str | None = None) -> list[BackendRead]:
        """Every registered backend the runbook uses (only `job`'s lock, when given)."""
        locked = [j for j in self.runbook.jobs.values() if j.lock is not None and (job is None or j.name == job)]
        reads: list[BackendRead] = []
        for name in names():
            jobs = [j for j in locked if j.lock is not None and j.lock.backend == name]
            reads += backend(name).read(self, LockQuery(jobs, whole_runbook=job is None, now=now))
        if job is not None:
            for answer in reads:
                answer.locks = [lock for lock in answer.locks if lock.name == job]
        return reads

    def close(self) -> None:
        for handle in self._handles.values():
            # Closing is best effort: the command's result is already known.
            with contextlib.suppress(Exception):
                handle.close()
        self._handles.clear()
