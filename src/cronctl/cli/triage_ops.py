"""`cronctl triage` wiring for notifications (`--notify`, `[notify]`), OpenMetrics on failure and fleets.

Kept apart from cli/triage.py so that the command stays parse → one service call → render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from cronctl.cli.common import Invocation


@dataclass(frozen=True)
class NotifyOptions:
    url: str | None = None  # --notify
    kind: str | None = None  # --notify-kind
    enabled: bool = True  # not --no-notify


def check_notify_options(options: NotifyOptions, at: Any) -> None:
    from cronctl.errors import UsageError

    if options.kind is not None and options.kind not in ("slack", "webhook"):
        raise UsageError(f"--notify-kind: '{options.kind}' is not one of: slack, webhook")
    if at is not None and options.url is not None:
        raise UsageError("--notify reports changes in the present; it does not combine with --at")
    if not options.enabled and options.url is not None:
        raise UsageError("--notify and --no-notify contradict each other")


def observer(
    inv: Invocation, options: NotifyOptions, job: str | None, at: Any
) -> Callable[[dict[str, Any]], Any] | None:
    """The notification callback for one system (None: nothing to notify, or judging the past with --at)."""
    if at is not None:
        return None
    from cronctl.services.notify import for_invocation

    notifier = for_invocation(inv, url=options.url, kind=options.kind, enabled=options.enabled, scope=job)
    return notifier.observe if notifier is not None else None


@contextmanager
def on_failure(inv: Invocation, observe: Callable[[dict[str, Any]], Any] | None) -> Iterator[None]:
    """A snapshot that cannot be collected still notifies (status unknown) and, with `-f openmetrics`, still
    prints `cronctl_up 0`; then the error ends the command as usual (one line, exit 3)."""
    from cronctl.errors import CronctlError

    try:
        yield
    except CronctlError as exc:
        from cronctl.services.notify import failure_document

        name, profile = _identity(inv)
        doc = failure_document(name, profile, " ".join(exc.message.split()))
        if observe is not None:
            observe(doc)
        if inv.format == "openmetrics":
            import sys

            from cronctl.output.openmetrics import to_openmetrics
            from cronctl.redact import redact

            sys.stdout.write(redact(to_openmetrics(doc)))
            sys.stdout.flush()
        raise


def _identity(inv: Invocation) -> tuple[str, str | None]:
    loaded = inv._runbook
    if loaded is not None:
        return loaded.name, loaded.profile
    try:
        path = inv.resolve_runbook_path()
    except Exception:
        return "", inv.profile
    return path.stem, inv.profile


def is_fleet(inv: Invocation, all_profiles: bool) -> bool:
    return len(inv.runbook_paths) > 1 or len(inv.profiles) > 1 or all_profiles


def fleet(
    inv: Invocation,
    window: float,
    job: str | None,
    at: Any,
    all_profiles: bool,
    options: NotifyOptions,
    snapshot: Callable[[Invocation], Any],
) -> Any:
    """Every system asked for, collected concurrently, as one report (worst status wins the exit code)."""
    from cronctl.errors import UsageError
    from cronctl.records import Member
    from cronctl.reports.fleet import fleet_report
    from cronctl.services import fleet as fleet_service

    if all_profiles and inv.profiles:
        raise UsageError("--all-profiles takes every profile of each runbook; it does not combine with --profile")
    paths = list(dict.fromkeys(inv.runbook_paths)) or [inv.resolve_runbook_path()]
    members = fleet_service.plan(paths, inv.profiles, all_profiles)

    def make(member: Member) -> Invocation:
        return replace(inv, runbook_path=member.path, profile=member.profile, runbook_paths=(), profiles=(),
                       _runbook=None, _env=None)  # fmt: skip

    results = fleet_service.run(
        members,
        make,
        snapshot,
        observer=lambda member_inv: observer(member_inv, options, job, at),
    )
    return fleet_report(results, window)
