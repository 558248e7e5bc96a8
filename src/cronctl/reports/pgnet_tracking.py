"""`cronctl pgcron track status`: whether pg_net request tracking is installed and recording."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cronctl.durations import format_duration
from cronctl.output.report import KeyValues, Report, Section, Text

if TYPE_CHECKING:
    from cronctl.evaluate.pgnet_tracking import TrackingVerdict
    from cronctl.records import LogStats, PgNetNewest, TrackingCatalog


def status_data(
    catalog: TrackingCatalog,
    verdict: TrackingVerdict,
    stats: LogStats | None,
    pgnet: PgNetNewest | None,
    errors: dict[str, str],
) -> dict[str, Any]:
    settings = catalog.settings
    return {
        "installed": verdict.installed,
        "recording": verdict.recording,
        "trigger": catalog.trigger,
        "rows": stats.rows if stats else None,
        "newest": stats.newest if stats else None,
        "retention": settings.retention_seconds,
        "reason": verdict.reason,
        "newest_request_id": stats.newest_id if stats else None,
        "checked_request_id": verdict.checked_request_id,
        "pg_net_newest_request_id": pgnet.newest_id if pgnet else None,
        "installed_at": settings.installed_at,
        "installed_by": settings.installed_by,
        "cleanup": {"every": settings.cleanup_every, "batch": settings.cleanup_batch},
        "objects": {
            "schema": catalog.schema_present,
            "table": catalog.table_present,
            "function": catalog.function_present,
            "trigger": catalog.trigger_present,
            "security_definer": catalog.security_definer,
            "owner": catalog.function_owner,
        },
        "readers": list(catalog.readers),
        "pg_net": catalog.queue_present,
        "role": catalog.role,
        "database": catalog.database,
        "errors": errors,
    }


def status_report(
    catalog: TrackingCatalog,
    verdict: TrackingVerdict,
    stats: LogStats | None,
    pgnet: PgNetNewest | None,
    errors: dict[str, str],
) -> Report:
    data = status_data(catalog, verdict, stats, pgnet, errors)
    recording = {True: "yes", False: "no", None: "unknown"}[verdict.recording]
    items: list[tuple[str, Any]] = [
        ("installed", verdict.installed),
        ("recording", recording),
        ("why", verdict.reason),
        ("trigger", f"{catalog.trigger} (cronctl_track_requests on net.http_request_queue)"),
    ]
    if stats is not None:
        items += [("rows", stats.rows), ("newest", stats.newest or "-"), ("newest request id", stats.newest_id)]
    if catalog.settings.retention_seconds is not None:
        items.append(("retention", format_duration(catalog.settings.retention_seconds)))
    if catalog.settings.installed_at is not None:
        items.append(("installed at", catalog.settings.installed_at))
    if catalog.function_owner:
        items.append(("owner", catalog.function_owner))
    if catalog.readers:
        items.append(("readers", ", ".join(catalog.readers)))
    sections: list[Section] = [KeyValues(items)]
    for what, message in errors.items():
        sections.append(Text(f"{what}: {message}", tone="warn"))
    if verdict.installed and verdict.recording:
        tone, headline = "ok", "pg_net request tracking is installed and recording"
    elif verdict.installed and verdict.recording is None:
        tone, headline = "info", "pg_net request tracking is installed; recording not confirmed"
    elif verdict.installed:
        tone, headline = "warn", "pg_net request tracking is installed but not recording"
    else:
        tone, headline = "warn", "pg_net request tracking is not installed"
    return Report(
        data=data,
        sections=sections,
        title="pgcron track status",
        headline=headline,
        tone=tone,
        exit_code=0 if verdict.healthy else 1,
    )


def change_report(
    action: str,
    target: str,
    statements: list[str],
    *,
    dry_run: bool,
    result: str,
    extra: dict[str, Any] | None = None,
) -> Report:
    """`pgcron track install|uninstall`: what ran (or would run) and how it ended."""
    extra = extra or {}
    data: dict[str, Any] = {
        "action": f"track {action}",
        "target": target,
        "dry_run": dry_run,
        "sql": statements,
        "result": result,
        **extra,
    }
    items: list[tuple[str, Any]] = [("action", f"track {action}"), ("target", target), ("result", result)]
    for key, value in extra.items():
        if key == "warnings":
            continue
        if key == "retention" and isinstance(value, int):
            value = format_duration(value)
        items.append((key, ", ".join(map(str, value)) if isinstance(value, list) else value))
    sections: list[Section] = [KeyValues(items)]
    sections.extend(Text(w, tone="warn") for w in extra.get("warnings", []))
    if statements:
        label = "SQL that would run" if dry_run else "SQL that ran"
        sections.append(Text(f"{label} (one transaction):\n" + ";\n\n".join(statements) + ";", tone="muted"))
    headline = "dry run: nothing changed" if dry_run else f"track {action}: {result}"
    return Report(
        data=data,
        sections=sections,
        title=f"pgcron track {action}",
        headline=headline,
        tone="info" if dry_run or not statements else "ok",
    )
