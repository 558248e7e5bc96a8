"""Job locks, one file per backend (lock table, PostgreSQL advisory locks, Redis), each behind `base.LockBackend`.

Reads return `Lock` records; `base.LockSources` reads every backend of a runbook. Changes are compare-and-delete
(or, for a lock held by a database session, a terminate of that same session): they name the exact lock that
was read, so a lock re-acquired in between is never removed (the caller is told it was skipped).

Adding a backend:
  1. `<name>.py` in this package with a module-level `BACKEND` implementing `base.LockBackend` (and
     `base.BatchedReads` when its reads are database statements: triage then sends them in its one round trip);
     the package finds it, and the runbook then accepts `lock.backend = "<name>"` (runbook.model.LOCK_BACKENDS);
  2. its test, `tests/system/test_locks_<name>.py`, against the real service it reads;
  3. its line under "Backends" in docs/commands/locks.md.
Its locks are judged by evaluate.locks' lock-table rule (acquired time, optional expiry, the job's runs), shown
by `cronctl locks` and `cronctl triage` alike, and `cronctl locks clear` runs its compare-and-delete after the
usual confirmation, re-check and audit.
Modules are imported only when a lock is read or cleared; this one imports nothing else, so the runbook model
can take its names without an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cronctl.discovery import discover

if TYPE_CHECKING:
    from cronctl.sources.locks.base import LockBackend

# The order `cronctl locks` reads the backends in; other backends follow, alphabetically.
ORDER = ("table", "advisory", "redis")
# `lock.backend` in a runbook -> module holding BACKEND: every module of this package but base.py
REGISTRY = discover(__name__, __path__, ORDER)


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def backend(name: str) -> LockBackend:
    """The backend registered under `name` (its module is imported now, not at start-up)."""
    found: LockBackend = importlib.import_module(REGISTRY[name]).BACKEND
    return found
