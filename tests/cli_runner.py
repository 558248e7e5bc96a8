"""Run the real CLI in-process and capture exit code, stdout and stderr separately."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import typer
import typer.testing
from typer.testing import CliRunner

from cronctl.cli.main import build_app


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
) -> CliResult:
    """Invoke `cronctl args...`; `env` entries with value None are removed for the call."""
    runner = CliRunner()
    full_env = {"NO_COLOR": "1", "COLUMNS": "200"}
    full_env.update({k: v for k, v in (env or {}).items() if v is not None})
    removed = [k for k, v in (env or {}).items() if v is None]
    saved = {k: os.environ.pop(k) for k in removed if k in os.environ}
    try:
        result = runner.invoke(_app(), list(args), env=full_env, input=input, catch_exceptions=True)
    finally:
        os.environ.update(saved)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


@cache
def _app() -> typer.Typer:
    return build_app()


_commands: dict[int, Any] = {}
_build_command = typer.testing._get_command


def _cached_command(app: typer.Typer) -> Any:
    """Typer turns the app into a Click command on every invoke (about 30 ms): build it once per app."""
    if id(app) not in _commands:
        _commands[id(app)] = _build_command(app)
    return _commands[id(app)]


typer.testing._get_command = _cached_command  # type: ignore[attr-defined]
