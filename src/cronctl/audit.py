"""Audit records for every state change: who, where, what, when, result. JSON lines, secrets masked."""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cronctl.output.cells import json_default
from cronctl.redact import redact


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
    line = redact(json.dumps(record, default=json_default, ensure_ascii=False))
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
