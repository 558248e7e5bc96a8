"""History sources outside the database, one file per vendor, each behind `base.ExternalSource`.

Adding one: write `<name>.py` with a module-level `SOURCE` implementing `ExternalSource`, add its name here, add
the `history` key to `runbook.model.HistorySpec.external`, a stand-in for its API under `sandbox/`, a test and a
section in docs/runbook-format.md. Modules are imported only when a runbook names them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cronctl.sources.external.base import ExternalSource

# history key -> module holding SOURCE
REGISTRY: dict[str, str] = {
    "github": "cronctl.sources.external.github",
    "vercel": "cronctl.sources.external.vercel",
    "supabase": "cronctl.sources.external.supabase",
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def source(name: str) -> ExternalSource:
    """The source registered under `name` (its module is imported now, not at start-up)."""
    found: ExternalSource = importlib.import_module(REGISTRY[name]).SOURCE
    return found
