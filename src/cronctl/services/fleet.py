"""Fleet triage: several runbooks and/or profiles collected at once into one report.

Each system is one runbook with one profile (`-r a.toml -r b.toml`, `--profile staging --profile prod`, or
`--all-profiles`: every profile each runbook defines). Runbooks and variables are loaded first, in this thread (a
bad runbook or an unknown profile is that system's one error line); then every system is collected in its own
thread with its own connection, its own runbook's `connect_timeout` / `statement_timeout` and its own deadlines,
by the same snapshot function a single triage uses. One system's failure (unreachable database, timeout, a bug) is
one line in the report, never the end of the command.

The database connect hook is process-wide (cli/common.py registers each runbook's secrets through it); while the
threads run it dispatches to the hook of the system the calling thread is collecting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cronctl.records import Member, SystemResult

MAX_WORKERS = 32

_local = threading.local()


def plan(paths: Sequence[Path], profiles: Sequence[str], all_profiles: bool) -> list[Member]:
    """Every (runbook, profile) pair asked for, in the order given, each once. With `all_profiles` a runbook that
    defines no profile is one system; one that cannot be read is one system whose error is reported later."""
    from cronctl.errors import CronctlError
    from cronctl.runbook.loader import load_runbook

    members: list[Member] = []
    for path in paths:
        if all_profiles:
            try:
                defined = list(load_runbook(path).profiles)
            except CronctlError:
                defined = []
            members.extend(Member(path, p) for p in defined or [None])  # type: ignore[list-item]
        elif profiles:
            members.extend(Member(path, p) for p in profiles)
        else:
            members.append(Member(path, None))
    return list(dict.fromkeys(members))


def _dispatch_hook(conn: Any) -> None:
    hook = getattr(_local, "hook", None)
    if hook is not None:
        hook(conn)


def _secrets_hook(runbook: Any) -> Callable[[Any], None]:
    spec = runbook.secrets_table

    def hook(conn: Any) -> None:
        from cronctl.sources.secrets_table import register_known_secrets

        register_known_secrets(conn, spec)

    return hook


@dataclass
class _Prepared:
    member: Member
    inv: Any
    runbook: Any = None
    error: str | None = None
    database: str | None = None
    observe: Callable[[dict[str, Any]], Any] | None = None


def run(
    members: Sequence[Member],
    make_invocation: Callable[[Member], Any],
    snapshot: Callable[[Any], Any],
    *,
    observer: Callable[[Any], Callable[[dict[str, Any]], Any] | None] | None = None,
    max_workers: int = MAX_WORKERS,
) -> list[SystemResult]:
    """Collect every member concurrently; results in the members' order.

    `snapshot(inv)` returns one system's triage Report (raising CronctlError when it cannot be collected);
    `observer(inv)` gives the system's notification callback (or None), called with its triage JSON, or with a
    failure document when the collection failed.
    """
    from cronctl import db
    from cronctl.errors import CronctlError

    prepared: list[_Prepared] = []
    for member in members:
        inv = make_invocation(member)
        item = _Prepared(member, inv)
        try:
            item.runbook = inv.runbook()
            inv.env()
        except CronctlError as exc:
            item.error = _one_line(exc.message)
        else:
            item.database = _target(inv)
            if observer is not None:
                item.observe = observer(inv)
        prepared.append(item)

    results: list[SystemResult | None] = [None] * len(prepared)
    for index, item in enumerate(prepared):
        if item.error is not None:
            name = item.runbook.name if item.runbook is not None else None
            results[index] = SystemResult(item.member, name, "unknown", error=item.error)
    todo = [(i, item) for i, item in enumerate(prepared) if item.error is None]
    db.set_connect_hook(_dispatch_hook)
    workers = max(1, min(max_workers, len(todo)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cronctl-fleet")
    try:
        futures: list[tuple[int, Future[SystemResult]]] = [
            (i, pool.submit(_collect, item, snapshot)) for i, item in todo
        ]
        for index, future in futures:
            results[index] = future.result()
    except BaseException:
        from cronctl.sources.http_deadline import abort_all

        abort_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        db.set_connect_hook(None)
    return [r for r in results if r is not None]


def _collect(item: _Prepared, snapshot: Callable[[Any], Any]) -> SystemResult:
    from cronctl.errors import CronctlError

    runbook = item.runbook
    started = time.monotonic()
    _local.hook = _secrets_hook(runbook)
    try:
        report = snapshot(item.inv)
    except CronctlError as exc:
        return _failed(item, _one_line(exc.message), started)
    except Exception as exc:  # one system's bug is that system's line, not the end of the fleet
        text = _one_line(str(exc))
        return _failed(item, f"internal error: {type(exc).__name__}: {text} (run it alone with --debug)", started)
    finally:
        _local.hook = None
    if item.observe is not None:
        item.observe(report.data)
    status = str(report.data.get("status", "unknown"))
    return SystemResult(item.member, runbook.name, status, report=report, seconds=time.monotonic() - started,
                        database=item.database)  # fmt: skip


def _failed(item: _Prepared, message: str, started: float) -> SystemResult:
    if item.observe is not None:
        from cronctl.services.notify import failure_document

        item.observe(failure_document(item.runbook.name, item.member.profile, message))
    return SystemResult(item.member, item.runbook.name, "unknown", error=message,
                        seconds=time.monotonic() - started, database=item.database)  # fmt: skip


def _target(inv: Any) -> str | None:
    from cronctl.db import describe_target
    from cronctl.errors import CronctlError

    try:
        return describe_target(inv.database_url())
    except CronctlError:
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
