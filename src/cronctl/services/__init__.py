"""One workflow per command: compose sources (I/O), evaluate (pure judgement) and reports into a Report.

Commands in `cronctl.cli` parse options, call one function here and render what it returns. Nothing here
imports typer or writes to stdout; status lines go through `cronctl.output.terminal`, and every question
to the user (confirmations, new secret values) is passed in as a callable so workflows run without a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cronctl.runbook.env import Environment
    from cronctl.runbook.model import Runbook


class CommandContext(Protocol):
    """Where a command's runbook, variables and database come from (`cronctl.cli.common.Invocation`)."""

    profile: str | None
    env_file: Path | None

    def runbook(self) -> Runbook: ...

    def env(self) -> Environment: ...

    def connect(self, *, read_only: bool = True, autocommit: bool = False) -> Any: ...

    def database_url(self) -> str: ...
