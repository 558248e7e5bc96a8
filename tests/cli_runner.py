"""Run the real CLI in-process and capture exit code, stdout and stderr separately."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

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
        result = runner.invoke(build_app(), list(args), env=full_env, input=input, catch_exceptions=True)
    finally:
        os.environ.update(saved)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)
