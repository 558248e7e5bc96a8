"""Status, progress and error lines on stderr, so stdout stays clean for `--format json`."""

from __future__ import annotations

import os
import sys
from typing import Any

from cronctl.output.render import clean

_console: Any = None


def stderr_console() -> Any:
    global _console
    if _console is None:
        from cronctl.output.render import make_console

        _console = make_console(sys.stderr, stderr=True)
    return _console


def _plain(style: str, prefix: str, message: str) -> None:
    text = clean(message)
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        from rich.text import Text

        stderr_console().print(Text(f"{prefix}{text}", style=style))
    else:
        sys.stderr.write(f"{prefix}{text}\n")
        sys.stderr.flush()


def status(message: str) -> None:
    _plain("dim", "", message)


def warn(message: str) -> None:
    _plain("yellow", "warning: ", message)


def error(message: str) -> None:
    _plain("red", "error: ", message)


def confirm(question: str, *, assume_yes: bool) -> bool:
    """Ask on stderr; without a terminal to ask on, refuse unless --yes was given."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        from cronctl.errors import Aborted

        raise Aborted(f"{question} — no terminal to confirm on; pass --yes to proceed")
    sys.stderr.write(clean(question) + " [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        return False
    return answer.strip().lower() in ("y", "yes")
