"""One build of an incident for the tests that judge it (tests/system/test_corpus.py) and read it at every width
(tests/system/test_widths_corpus.py).

Both take each incident from the session's `corpus_builds` (tests/conftest.py): one build serves both tests of the
same incident when they run one after the other in one process (see `corpus_params`); otherwise, or when anything
reset a database since, the incident is built again. What a build
needs beyond one test (the second cluster, the health endpoint, Redis) lives as long as the session, and the
vendors' stand-ins as long as the build, so a build stays whole between the two tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import resets
from corpus.builder import Builder
from corpus.incidents import Incident
from corpus.vendors import Vendors

RESULTS: dict[str, tuple[int, int, list[str]]] = {}  # incident -> (right, total, wrong verdicts), this process's
SEEN: dict[str, list[str]] = {}  # incident -> every verdict as judged (printed with CORPUS_VERBOSE=1)


def summary() -> list[str]:
    """ "corpus: N/M verdicts right" and every wrong verdict (every verdict with CORPUS_VERBOSE=1)."""
    if not RESULTS:
        return []
    right = sum(r for r, _, _ in RESULTS.values())
    total = sum(t for _, t, _ in RESULTS.values())
    clean = sum(1 for r, t, _ in RESULTS.values() if r == t)
    lines = [f"corpus: {right}/{total} verdicts right ({clean}/{len(RESULTS)} incidents fully right)"]
    verbose = bool(os.environ.get("CORPUS_VERBOSE"))
    for incident_id, (_, _, wrong) in sorted(RESULTS.items()):
        lines += [f"  {incident_id}: {line}" for line in (SEEN.get(incident_id, []) if verbose else wrong)]
    return lines


def corpus_params(incidents: list[Incident]) -> list[Any]:
    """One parameter per incident. Both modules parametrize `case` with these at session scope, so pytest orders
    an incident's tests one after the other, and pytest-xdist mostly hands them to one worker together."""
    return [pytest.param(case, id=case.id) for case in incidents]


@dataclass
class Built:
    """One incident as loaded: the builder, the DSN triage connects with (None: no database), `now`, what the
    build changed of the expected verdicts (`patch`) and the runbook it is triaged with. `judged` is the judged
    snapshot (`services.triage.judge_snapshot`) of the verdict test's `cronctl triage`: the width test renders the
    same facts instead of collecting them again."""

    case_id: str
    builder: Builder
    dsn: str | None
    now: datetime
    patch: dict[str, Any]
    runbook: Path
    vendors: Vendors
    resets: int
    judged: Any = None


class Builds:
    """The last incident built in this process, kept while nothing reset the database since."""

    def __init__(self) -> None:
        self._last: Built | None = None

    def get(self, case: Incident, build: Callable[[Vendors], Built]) -> Built:
        last = self._last
        if last is not None and last.case_id == case.id and last.resets == resets():
            return last
        self.close()
        vendors = Vendors()
        try:
            self._last = build(vendors)
        except BaseException:
            vendors.close()
            raise
        return self._last

    def close(self) -> None:
        if self._last is not None:
            self._last.vendors.close()
            self._last = None
