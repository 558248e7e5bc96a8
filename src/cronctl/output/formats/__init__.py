"""Output formats (`--format/-f`): one module per format, found here by its file name, imported when first needed.

Each format module declares:

- `NAME`: the word `--format` takes;
- `DESCRIPTION`: a few words for the `--format` help and its shell completion;
- `COMMANDS`: the commands that offer it, by their module in cli/ (`("triage",)` is cli/triage.py); None for
  every command;
- `render(report, out) -> str`: the report as text laid out for the stream `out` (its width, colours).
  output/render.py masks secrets in that text and writes it: a format never writes to the stream itself.

`--help` imports every format for its description: keep a format's top level to the standard library and
output/report.py, and import what rendering needs inside its functions. Helpers several formats share stay in
output/ (render.py: masking and escaping of cells, headlines and findings; layout.py: widths and wrapping).

Adding a format:

1. write `<name>.py` here with the four names above (the package finds it; the `--format` help lists it after the
   formats ORDER names);
2. test what it writes (tests/unit/test_format_registry.py already renders every format found here and checks
   the help and the documentation name it);
3. add its line to docs/output-formats.md.
"""

from __future__ import annotations

import importlib
from typing import IO, TYPE_CHECKING, Protocol, cast

from cronctl.discovery import discover

if TYPE_CHECKING:
    from cronctl.output.report import Report

# The order of the `--format` help and of its error message; other formats follow, alphabetically.
ORDER = ("table", "json", "markdown", "plain", "openmetrics")
# name -> module: every module of this package
REGISTRY = discover(__name__, __path__, ORDER)


class Format(Protocol):
    """What a format module provides (see the package docstring)."""

    NAME: str
    DESCRIPTION: str
    COMMANDS: tuple[str, ...] | None

    def render(self, report: Report, out: IO[str]) -> str: ...


def renderer(name: str) -> Format:
    """The format registered under `name` (its module is imported on first use)."""
    if name not in REGISTRY:
        raise ValueError(_unknown(name, tuple(REGISTRY)))
    return cast(Format, importlib.import_module(REGISTRY[name]))


def names(command: str | None = None) -> tuple[str, ...]:
    """The formats `command` (its module name in cli/) offers; without one, those every command offers."""
    return tuple(name for name in REGISTRY if _offered(renderer(name), command))


def help_text(command: str | None = None) -> str:
    """The `--format` help: each format `command` offers, with its description."""
    *first, last = [f"{name} ({renderer(name).DESCRIPTION})" for name in names(command)]
    return f"Output format: {', '.join(first)} or {last}." if first else f"Output format: {last}."


def unknown(name: str, command: str | None = None) -> str:
    """The one-line error for a format `command` does not offer, with the closest name it does offer."""
    return _unknown(name, names(command))


def _unknown(name: str, offered: tuple[str, ...]) -> str:
    from cronctl.runbook.loader import suggest

    return f"unknown format '{name}'{suggest(name, offered)} (use one of: {', '.join(offered)})"


def _offered(fmt: Format, command: str | None) -> bool:
    return fmt.COMMANDS is None or command in fmt.COMMANDS
