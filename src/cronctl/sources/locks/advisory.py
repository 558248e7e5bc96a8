"""PostgreSQL advisory locks: granted `advisory` rows of `pg_locks` in this database, with their holder session.

They cannot be deleted: a clear ends the holder session (pg_terminate_backend), only if that same session
(pid and start time) still holds that key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cronctl.records import BackendRead, Lock
from cronctl.runbook.model import Runbook
from cronctl.sources.locks.base import (
    LockBackend,
    LockQuery,
    LockSources,
    LockStatement,
    Recheck,
    Removal,
    recheck_first,
    run_statements,
)

AdvisoryIds = tuple[int, int, int]  # pg_locks (classid, objid, objsubid)
WHAT = "advisory locks (pg_locks)"


def advisory_ids(key: str) -> AdvisoryIds:
    """pg_locks (classid, objid, objsubid) for a runbook key: "N" is one bigint, "a:b" two int4."""
    if ":" in key:
        first, second = (int(part) for part in key.split(":", 1))
        return first & 0xFFFFFFFF, second & 0xFFFFFFFF, 2
    value = int(key) & 0xFFFFFFFFFFFFFFFF
    return value >> 32, value & 0xFFFFFFFF, 1


def advisory_jobs(runbook: Runbook) -> dict[AdvisoryIds, tuple[str, str]]:
    return {
        advisory_ids(job.lock.key): (job.name, job.lock.key)
        for job in runbook.jobs.values()
        if job.lock is not None and job.lock.backend == "advisory"
    }


def read_advisory(conn: Any, jobs: Mapping[AdvisoryIds, tuple[str, str]]) -> list[Lock]:
    """Granted advisory locks whose key the runbook maps to a job, with their holder session."""
    from cronctl.db import guarded
    from cronctl.queries import load

    with guarded(WHAT):
        rows = conn.execute(load("locks_advisory_list")).fetchall()
    return parse_advisory(rows, jobs)


def parse_advisory(rows: Sequence[Sequence[Any]], jobs: Mapping[AdvisoryIds, tuple[str, str]]) -> list[Lock]:
    """Lock records from `locks_advisory_list` rows, keeping only keys the runbook maps to a job."""
    locks: list[Lock] = []
    for row in rows:
        (
            classid,
            objid,
            objsubid,
            pid,
            mode,
            found,
            app,
            client,
            user,
            state,
            backend_start,
            xact_start,
            state_change,
        ) = row
        mapped = jobs.get((classid, objid, objsubid))
        if mapped is None:
            continue
        job, key = mapped
        where = f" from {client}" if client else ""
        locks.append(
            Lock(
                name=job,
                backend="advisory",
                key=key,
                holder=f"pid {pid} ({app or 'unnamed'}{where})" if pid is not None else "prepared transaction",
                acquired_at=xact_start or backend_start,
                detail={
                    "pid": pid,
                    "mode": mode,
                    "backend_found": bool(found),
                    "application_name": app,
                    "client_addr": client,
                    "usename": user,
                    "state": state,
                    "backend_start": backend_start,
                    "xact_start": xact_start,
                    "state_change": state_change,
                    "ids": (classid, objid, objsubid),
                },
            )
        )
    return locks


def terminate_holder(conn: Any, lock: Lock) -> bool:
    """pg_terminate_backend on the holder, only if that same session still holds that key."""
    from cronctl.db import guarded
    from cronctl.queries import load

    classid, objid, objsubid = lock.detail["ids"]
    params = {
        "pid": lock.detail["pid"],
        "backend_start": lock.detail.get("backend_start"),
        "classid": classid,
        "objid": objid,
        "objsubid": objsubid,
    }
    with guarded(f"terminate pid {lock.detail['pid']}"):
        row = conn.execute(load("locks_advisory_terminate"), params).fetchone()
    return bool(row and row[0])


class AdvisoryBackend:
    name = "advisory"
    removal: Removal = "terminate"
    recheck_timing = "first"

    def read(self, sources: LockSources, query: LockQuery) -> list[BackendRead]:
        return run_statements(sources, self.statements(sources.runbook, query))

    def statements(self, runbook: Runbook, query: LockQuery) -> list[LockStatement]:
        from cronctl.queries import load

        if not query.jobs:
            return []  # no job keeps its lock here
        jobs = advisory_jobs(runbook)
        return [
            LockStatement("advisory", load("locks_advisory_list"), {}, WHAT, lambda rows: parse_advisory(rows, jobs))
        ]

    def plan(self, sources: LockSources, lock: Lock) -> str:
        # What the operator would type; the clear itself also checks the session still holds the key.
        return f"SELECT pg_terminate_backend({int(lock.detail['pid'])});"

    def clear(self, sources: LockSources, lock: Lock, recheck: Recheck | None) -> bool:
        recheck_first(sources, recheck)
        return terminate_holder(sources.writer(), lock)


BACKEND: LockBackend = AdvisoryBackend()
