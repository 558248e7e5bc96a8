"""cronctl's own state directory: $CRONCTL_STATE_DIR, else $XDG_STATE_HOME/cronctl (~/.local/state/cronctl).

Files kept here belong to one operator on one machine (local silences, for instance); the audit log keeps its own
override, $CRONCTL_AUDIT_FILE.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def state_dir() -> Path:
    explicit = os.environ.get("CRONCTL_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cronctl"


def state_key(runbook: str, profile: str | None = None) -> str:
    """A file-name-safe key for one runbook (and profile): different profiles are different systems."""
    name = _UNSAFE.sub("_", runbook).strip("._") or "runbook"
    if profile:
        name += "@" + (_UNSAFE.sub("_", profile).strip("._") or "profile")
    return name


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file renamed over it), readable only by this user."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
