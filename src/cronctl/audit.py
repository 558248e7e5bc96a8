"""Audit records for every state change: who, where, what, when, result. JSON lines, secrets masked.

A change that can be interrupted after it started (a request sent, a statement running) is audited in two
records with one `audit_id`: `begin_audit` writes `result: "pending"` before the change is made — an audit file
that cannot be written stops the change — and `complete_audit` writes the outcome. When the command is
interrupted (Ctrl-C, SIGTERM), `interrupt_open_records` completes every open record as `"interrupted"`; a record
left `pending` with no completion means the process was killed outright.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cronctl.output.cells import safe_json

_open_lock = threading.Lock()
_open: dict[str, dict[str, Any]] = {}  # audit_id -> the begin record's identity fields


def audit_path() -> Path:
    """$CRONCTL_AUDIT_FILE, else $XDG_STATE_HOME/cronctl/audit.jsonl (~/.local/state/cronctl/audit.jsonl)."""
    explicit = os.environ.get("CRONCTL_AUDIT_FILE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cronctl" / "audit.jsonl"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def write_audit(
    action: str,
    *,
    runbook: str | None,
    profile: str | None,
    target: str,
    result: str,
    details: dict[str, Any] | None = None,
    dry_run: bool = False,
    audit_id: str | None = None,
    phase: str | None = None,
) -> dict[str, Any]:
    """Append one record and return it. An audit file that cannot be written is an error, not a silent skip."""
    record: dict[str, Any] = {
        "time": datetime.now(UTC),
        "user": _user(),
        "host": socket.gethostname(),
        "runbook": runbook,
        "profile": profile,
        "action": action,
        "target": target,
        "dry_run": dry_run,
        "result": result,
        "details": details or {},
    }
    if audit_id is not None:
        record["audit_id"] = audit_id
        record["phase"] = phase
    line = safe_json(record)
    path = audit_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        from cronctl.errors import SourceUnavailable

        raise SourceUnavailable(f"cannot write audit record to {path}: {exc.strerror}") from None
    return record


def begin_audit(
    action: str, *, runbook: str | None, profile: str | None, target: str, details: dict[str, Any] | None = None
) -> str:
    """Write a `pending` record before a change is made; returns the id `complete_audit` completes."""
    audit_id = uuid.uuid4().hex
    write_audit(action, runbook=runbook, profile=profile, target=target, result="pending", details=details,
                audit_id=audit_id, phase="begin")  # fmt: skip
    with _open_lock:
        _open[audit_id] = {"action": action, "runbook": runbook, "profile": profile, "target": target,
                           "details": dict(details or {})}  # fmt: skip
    return audit_id


def _write_completion(audit_id: str, begun: dict[str, Any], result: str, details: dict[str, Any]) -> None:
    write_audit(begun["action"], runbook=begun["runbook"], profile=begun["profile"], target=begun["target"],
                result=result, details=details, audit_id=audit_id, phase="complete")  # fmt: skip


def complete_audit(audit_id: str, result: str, details: dict[str, Any] | None = None) -> bool:
    """Write the outcome of a begun change; False when it was already completed (e.g. marked interrupted)."""
    with _open_lock:
        begun = _open.pop(audit_id, None)
    if begun is None:
        return False
    _write_completion(audit_id, begun, result, details or begun["details"])
    return True


def interrupt_open_records(reason: str) -> int:
    """Complete every open record as `interrupted` (the change may or may not have taken effect)."""
    with _open_lock:
        begun = list(_open.items())
        _open.clear()
    written = 0
    for audit_id, record in begun:
        try:
            _write_completion(audit_id, record, "interrupted", {**record["details"], "interrupted": reason})
        except Exception:  # an interrupted command still has to end
            continue
        written += 1
    return written


def open_records() -> int:
    with _open_lock:
        return len(_open)
