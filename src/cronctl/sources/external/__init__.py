"""History sources outside the database, one file per vendor, each behind `base.ExternalSource`.

Adding one:

1. write `<name>.py` here with a module-level `SOURCE` implementing `ExternalSource`: how a job's
   `history = { <name> = ... }` is read (`select`) and what it needs besides (`problem`), the dataclass of its
   runbook table `[<name>]` if it has one (`section`), how late its vendor's scheduler may fire (`scheduler_delay`),
   and `read`. The package finds it; the runbook then takes `history = { <name> = ... }` and `[<name>]`;
2. a stand-in for its API under `sandbox/` and its test, `tests/system/test_external_<name>.py`;
3. its rows in docs/runbook-format.md (the `history` key, and the section `[<name>]` if it has one).

Modules are imported only when a runbook names them (`sections()` imports all: documentation and tests only).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cronctl.discovery import discover

if TYPE_CHECKING:
    from cronctl.sources.external.base import ExternalSource

# The order the sources are read and listed in (keys of `history`, top-level tables); other sources follow,
# alphabetically. A job whose scheduler is unnamed counts as fired by the first of its sources (evaluate.health).
ORDER = ("github", "vercel", "supabase")
# history key -> module holding SOURCE: every module of this package but base.py
REGISTRY = discover(__name__, __path__, ORDER)


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def source(name: str) -> ExternalSource:
    """The source registered under `name` (its module is imported now, not at start-up)."""
    found: ExternalSource = importlib.import_module(REGISTRY[name]).SOURCE
    return found


def sections() -> dict[str, type]:
    """name -> the dataclass of its runbook table `[<name>]`, for each source that has one. Imports every source."""
    found = {name: source(name).section for name in REGISTRY}
    return {name: spec for name, spec in found.items() if spec is not None}
