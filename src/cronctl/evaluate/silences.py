"""Silences: a problem an operator has acknowledged for a while (a maintenance window, a snooze). Pure.

A silence names one job, or every job (`--all`, job None), and has an expiry, an author and a reason. While it is
active the job's problems are still judged and shown, marked silenced, but they do not count towards triage's status
and exit code (nor towards notifications, which follow the status and the reasons). An expired silence no longer
applies and is not listed: it vanishes by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cronctl.records import Silence, aware

STORES = ("database", "local")
MAX_REASON = 500  # characters: a reason is one line, not a document
MAX_SECONDS = 30 * 86400  # a silence longer than 30 days is a disabled job: say `expect = "disabled"` instead


def active(silences: Iterable[Silence], at: datetime) -> list[Silence]:
    """The silences in force at `at`, soonest to expire first; a job's newest silence wins over older ones."""
    live = [s for s in silences if s.active(at)]
    return sorted(live, key=lambda s: (aware(s.until), s.job or "", s.id))


@dataclass(frozen=True)
class Silenced:
    """Which problems are silenced at one time."""

    silences: tuple[Silence, ...] = ()

    @staticmethod
    def at(silences: Iterable[Silence], when: datetime) -> Silenced:
        return Silenced(tuple(active(silences, when)))

    @property
    def everything(self) -> Silence | None:
        """The `--all` silence in force, if any (the one that lasts longest)."""
        found = [s for s in self.silences if s.job is None]
        return max(found, key=lambda s: aware(s.until)) if found else None

    def for_job(self, job: str | None) -> Silence | None:
        """The silence covering `job` (its own first, else the `--all` one); None for a system-wide problem unless
        everything is silenced."""
        own = [s for s in self.silences if job is not None and s.job == job]
        if own:
            return max(own, key=lambda s: aware(s.until))
        return self.everything

    def jobs(self, jobs: Sequence[str]) -> Silence | None:
        """The silence covering every one of `jobs` (a root cause naming them), or None when one is not silenced."""
        if not jobs:
            return self.everything
        covering = [self.for_job(j) for j in jobs]
        if any(c is None for c in covering):
            return None
        return min((c for c in covering if c is not None), key=lambda s: aware(s.until))

    def __bool__(self) -> bool:
        return bool(self.silences)
