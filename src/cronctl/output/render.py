"""Writing a report: `render(report, fmt, out)` through the format registry (output/formats/), and what the human
formats share.

Secrets are masked twice: in every cell before it is escaped, wrapped or laid out (so no layout step ever sees
the start of a secret), and once more on the final text, after layout, just before it is written. Control and
invisible format characters in data (escape codes, bidi overrides, zero-width characters, C1 controls) are written
visibly (`\\x1b`, `\\u202e`) in human formats and as `\\uXXXX` escapes in JSON; a newline inside a cell never
starts a new row. JSON goes to stdout only; status lines go to stderr.

Human formats never cut a value that carries meaning (output/layout.py): free text wraps at spaces, other columns
keep each value whole, and a table that cannot fit the width becomes one key/value block per row.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from cronctl.output.cells import escape_unsafe, format_cell, safe_json
from cronctl.output.report import Item, Mark, Report, Table
from cronctl.redact import redact


def clean(text: str) -> str:
    """Mask secrets and write control characters visibly: a server's escape codes never reach the terminal."""
    return escape_unsafe(redact(text))


def line(text: str) -> str:
    """`clean`, on one line: titles, headlines, headers and cells cannot be split by a newline in the data."""
    return escape_unsafe(redact(text), single_line=True)


def render(report: Report, fmt: str, stream: IO[str] | None = None) -> None:
    """Write `report` in any registered format to `stream` (default stdout); ValueError for an unknown one."""
    from cronctl.output.formats import renderer

    out = stream or sys.stdout
    text = renderer(fmt).render(report, out)
    out.write(redact(text))  # the final text, after layout: masking is the last step
    out.flush()


def to_json(report: Report) -> str:
    """The report's data as JSON: the stable contract (`-f json`)."""
    return safe_json(report.data, indent=2)


def renderable(report: Report, width: int) -> Any:
    """The table format's Rich renderable for `width` columns (what `--watch` redraws)."""
    from cronctl.output.formats.table import renderable as table_renderable

    return table_renderable(report, width)


# ---------------------------------------------------------------- shared by the human formats


def cell_text(value: Any, *, single_line: bool) -> str:
    """One value as masked, escaped text (whole: layout wraps it, nothing cuts it)."""
    text = format_cell(value)
    return line(text) if single_line else clean(text)


def grid(section: Table, *, single_line: bool) -> tuple[list[str], list[list[str]]]:
    """Headers and cells as text: masked, then escaped. `single_line` (plain text) writes a newline inside a cell
    as `\\n`, so no cell can start what looks like a new row."""
    rows = [[cell_text(value, single_line=single_line) for value in row] for row in section.rows]
    return [line(c) for c in section.columns], rows


def block_head(section: Table) -> tuple[int, ...]:
    """The columns that title a stacked row: as declared, else the first and the first verdict (Mark) column."""
    if section.head is not None:
        return section.head
    for i in range(1, len(section.columns)):
        if any(i < len(row) and isinstance(row[i], Mark) for row in section.rows):
            return (0, i)
    return (0,)


def headline(report: Report) -> str:
    """The headline, masked, on one line, behind its tone's symbol (the same ✓ ! ✗ ? in every command)."""
    from cronctl.output.severity import SEVERITIES, symbol

    text = line(report.headline or "")
    return f"{symbol(report.tone)} {text}" if report.tone in SEVERITIES else text


def item_head(item: Item) -> str:
    from cronctl.output.severity import symbol

    word = "ruled out" if item.muted else item.severity
    head = f"{symbol(item.severity)} {word}"
    return f"{head} · {item.tag} · {item.title}" if item.tag else f"{head} · {item.title}"


# ---------------------------------------------------------------- consoles


def make_console(stream: IO[str], *, stderr: bool = False, record_to: IO[str] | None = None) -> Any:
    """A Rich console laid out for `stream`; with `record_to` it writes there instead (same width and colours)."""
    from rich.console import Console

    from cronctl.output.layout import terminal_width

    no_color = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    tty = stream.isatty()
    # A terminal written to directly is measured by Rich each time (a resized window redraws at its new width).
    width = None if tty and record_to is None and "COLUMNS" not in os.environ else terminal_width(stream)
    return Console(
        file=record_to if record_to is not None else stream,
        no_color=no_color,
        highlight=False,
        soft_wrap=False,
        width=width,
        stderr=stderr,
        emoji=False,
        force_terminal=tty if record_to is not None else None,
    )
