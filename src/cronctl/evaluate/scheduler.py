"""Is the pg_cron scheduler running? One answer for triage, doctor and `pgcron status`. Pure."""

from __future__ import annotations

from cronctl.records import SchedulerState, ServerFacts


def scheduler_alive(facts: ServerFacts | None, state: SchedulerState | None) -> bool | None:
    """True when its backend shows in pg_stat_activity; False when it does not and this role sees every backend
    (superuser); None when it was not read, pg_cron is not installed, or other roles' backends are hidden from
    this role (absence then proves nothing)."""
    if state is None or facts is None or not facts.cron_schema:
        return None
    if state.alive:
        return True
    if not facts.superuser:
        return None
    return False
