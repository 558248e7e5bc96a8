"""Is cronctl's pg_net request tracking installed, and is it recording? Pure: facts and `now` in, a verdict out.

The recording rule. Tracking is *recording* when the trigger fires and the newest request pg_net knows of (the
highest id still waiting in `net.http_request_queue`, else the highest id of the newest answered batch in
`net._http_response`) is in the log:

- that request is in the log → recording (true);
- it is not, but an older request id is → not recording (false): ids come from one sequence, and creating the
  trigger waits for every insert in progress, so a request with a higher id than a recorded one was queued while
  the trigger was in place and should have been recorded;
- it is not and the log has nothing older: not recording (false) when it was answered in a batch that started more
  than `INSTALL_GRACE` after tracking was installed; otherwise unknown (null): it may predate the install;
- pg_net holds no request at all, or this role cannot read the log or pg_net's tables → unknown (null), with the
  reason.

A missing, disabled or replica-only trigger is never recording (an extension upgrade can recreate the queue table and
drop the trigger, so its presence is checked each time, not assumed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cronctl.records import LogStats, PgNetNewest, TrackingCatalog

INSTALL_GRACE = timedelta(minutes=5)
INSTALL_HINT = "run `cronctl pgcron track install`"


@dataclass(frozen=True)
class TrackingVerdict:
    installed: bool
    recording: bool | None
    reason: str
    checked_request_id: int | None = None

    @property
    def healthy(self) -> bool:
        """Nothing to act on: installed and not known to be failing."""
        return self.installed and self.recording is not False


def _missing_parts(catalog: TrackingCatalog) -> list[str]:
    parts = []
    if not catalog.table_present:
        parts.append("table cronctl.pgnet_request_log")
    if not catalog.function_present:
        parts.append("function cronctl.record_pgnet_request()")
    if not catalog.trigger_present:
        parts.append("trigger cronctl_track_requests on net.http_request_queue")
    return parts


def _not_installed(catalog: TrackingCatalog) -> TrackingVerdict:
    if not catalog.queue_present:
        reason = f"pg_net is not installed in database {catalog.database} (no table net.http_request_queue)"
        if catalog.anything_present:
            reason += "; leftovers of tracking remain: run `cronctl pgcron track uninstall`"
        return TrackingVerdict(False, False, reason)
    if catalog.trigger == "foreign":
        return TrackingVerdict(
            False,
            False,
            "a trigger named cronctl_track_requests on net.http_request_queue calls another function;"
            " drop it, then " + INSTALL_HINT,
        )
    if not catalog.anything_present:
        return TrackingVerdict(False, False, f"not installed: {INSTALL_HINT}")
    missing = _missing_parts(catalog)
    if missing == ["trigger cronctl_track_requests on net.http_request_queue"]:
        return TrackingVerdict(
            False,
            False,
            "trigger cronctl_track_requests is missing on net.http_request_queue (an upgrade or reinstall of pg_net"
            f" recreates the queue table, which drops it): {INSTALL_HINT} again",
        )
    return TrackingVerdict(False, False, f"incomplete, missing {', '.join(missing)}: {INSTALL_HINT} again")


def judge_tracking(
    catalog: TrackingCatalog,
    stats: LogStats | None,
    pgnet: PgNetNewest | None,
    newest_tracked: bool | None,
    *,
    log_problem: str | None = None,
    pgnet_problem: str | None = None,
) -> TrackingVerdict:
    """The verdict from catalog facts, the log's stats and pg_net's newest request (None when unreadable, with
    the problem), and whether that newest request is in the log."""
    if not catalog.installed:
        return _not_installed(catalog)
    trigger = catalog.trigger
    if trigger == "disabled":
        return TrackingVerdict(
            True,
            False,
            "trigger cronctl_track_requests is disabled; the owner of net.http_request_queue can enable it"
            f" (ALTER TABLE net.http_request_queue ENABLE TRIGGER cronctl_track_requests), or {INSTALL_HINT}",
        )
    if trigger == "replica-only":
        return TrackingVerdict(
            True,
            False,
            "trigger cronctl_track_requests fires only in replica sessions (ENABLE REPLICA TRIGGER);"
            f" {INSTALL_HINT} to make it fire for every request",
        )
    if stats is None:
        why = log_problem or (
            f"the log is not visible to role {catalog.role}: needs GRANT USAGE ON SCHEMA cronctl and"
            " GRANT SELECT ON cronctl.pgnet_request_log"
        )
        return TrackingVerdict(True, None, f"cannot tell whether it records: {why}")
    if pgnet is None:
        why = pgnet_problem or (
            f"pg_net's tables are not visible to role {catalog.role}: needs GRANT USAGE ON SCHEMA net and SELECT"
            " on net.http_request_queue and net._http_response"
        )
        return TrackingVerdict(True, None, f"cannot tell whether it records: {why}")
    newest = pgnet.newest_id
    if newest is None:
        return TrackingVerdict(True, None, "no pg_net request to check against (queue and answers are empty)")
    if newest_tracked is None:
        newest_tracked = stats.newest_id is not None and stats.newest_id >= newest
    if newest_tracked:
        return TrackingVerdict(True, True, f"newest pg_net request {newest} was recorded", newest)
    if stats.newest_id is not None and stats.newest_id < newest:
        return TrackingVerdict(
            True,
            False,
            f"pg_net request {newest} was queued after recorded request {stats.newest_id} but was not recorded",
            newest,
        )
    installed_at = catalog.settings.installed_at
    created = pgnet.response_newest_created if pgnet.response_newest_id == newest else None
    if installed_at is not None and created is not None and created > installed_at + INSTALL_GRACE:
        return TrackingVerdict(
            True,
            False,
            f"pg_net request {newest}, answered in a batch that started {created:%Y-%m-%d %H:%M:%S}Z, after"
            f" tracking was installed ({installed_at:%Y-%m-%d %H:%M:%S}Z), was not recorded",
            newest,
        )
    since = f" since it was installed ({installed_at:%Y-%m-%d %H:%M:%S}Z)" if installed_at else ""
    return TrackingVerdict(
        True,
        None,
        f"no pg_net request seen{since}: newest request {newest} may predate tracking",
        newest,
    )
