"""The one renderer: any Report to table (Rich), JSON, Markdown or plain text (tabulate).

Secrets are masked twice: in every cell before it is escaped, wrapped or cut (so a cut never leaves the start of a
secret behind), and once more on the final text, after layout, just before it is written. Control and invisible
format characters in data (escape codes, bidi overrides, zero-width characters, C1 controls) are written visibly
(`\\x1b`, `\\u202e`) in human formats and as `\\uXXXX` escapes in JSON; a newline inside a cell never starts a
new row. JSON goes to stdout only; status lines go to stderr.
"""

from __future__ import annotations

import io
import os
import sys
from typing import IO, Any

from cronctl.output.cells import TONE_OF_WORD, TONE_STYLE, escape_unsafe, format_cell, safe_json
from cronctl.output.report import FORMATS, KeyValues, Report, Section, Table, Text
from cronctl.redact import redact


def clean(text: str) -> str:
    """Mask secrets and write control characters visibly: a server's escape codes never reach the terminal."""
    return escape_unsafe(redact(text))


def line(text: str) -> str:
    """`clean`, on one line: titles, headlines, headers and cells cannot be split by a newline in the data."""
    return escape_unsafe(redact(text), single_line=True)


_TEXT_LIMIT = 80  # free-text cells in human formats; JSON always carries the whole text


def render(report: Report, fmt: str, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt}")
    if fmt == "json":
        text = to_json(report) + "\n"
    elif fmt == "table":
        text = _rich_text(report, out)
    else:
        text = to_text(report, markdown=fmt == "markdown")
    out.write(redact(text))  # the final text, after layout: masking is the last step
    out.flush()


def to_json(report: Report) -> str:
    return safe_json(report.data, indent=2)


def to_text(report: Report, *, markdown: bool) -> str:
    from tabulate import tabulate

    lines: list[str] = []
    if report.title:
        lines += [f"## {line(report.title)}" if markdown else line(report.title), ""]
    if report.headline:
        lines += [f"**{line(report.headline)}**" if markdown else line(report.headline), ""]
    for section in report.sections:
        if isinstance(section, Text):
            text = clean(section.text)
            lines += [f"> {text}" if markdown and section.tone in ("warn", "crit") else text, ""]
            continue
        if markdown and isinstance(section, KeyValues):
            # A two-column table with an empty header reads badly in chat; a list does not.
            if section.title:
                lines += [f"### {line(section.title)}", ""]
            items = [(line(k), "<br>".join(clean(format_cell(v)).splitlines())) for k, v in section.items]
            lines += [f"- **{k}**: {v}" for k, v in items] + [""]
            continue
        title = section.title
        if title:
            lines += [f"### {line(title)}" if markdown else f"{line(title)}:", ""]
        headers, rows = _grid(section, limit=None if markdown else _TEXT_LIMIT, single_line=not markdown)
        if not rows:
            empty = section.empty if isinstance(section, Table) else "(none)"
            lines += [f"_{empty}_" if markdown else empty, ""]
            continue
        if markdown:
            rows = [["<br>".join(cell.replace("|", "\\|").splitlines()) for cell in row] for row in rows]
        if isinstance(section, KeyValues):
            table = tabulate(rows, tablefmt="plain", disable_numparse=True)
        else:
            table = tabulate(rows, headers=headers, tablefmt="github" if markdown else "plain", disable_numparse=True)
        lines += [table, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _grid(
    section: Table | KeyValues, limit: int | None, *, single_line: bool = False
) -> tuple[list[str], list[list[str]]]:
    """Cells as text: masked, escaped, then cut. `single_line` (plain text) writes a newline inside a cell as
    `\\n`, so no cell can start what looks like a new row."""
    cell = line if single_line else clean
    if isinstance(section, KeyValues):
        return ["", ""], [[line(k), cell(format_cell(v, limit))] for k, v in section.items]
    rows = [
        [cell(format_cell(value, limit if i in section.wrap else None)) for i, value in enumerate(row)]
        for row in section.rows
    ]
    return [line(c) for c in section.columns], rows


def make_console(stream: IO[str], *, stderr: bool = False, record_to: IO[str] | None = None) -> Any:
    """A Rich console laid out for `stream`; with `record_to` it writes there instead (same width and colours)."""
    from rich.console import Console

    no_color = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    tty = stream.isatty()
    width = None
    if not tty and "COLUMNS" not in os.environ:
        width = 160  # pipes and files get wide tables instead of Rich's 80-column default
    elif tty and record_to is not None and "COLUMNS" not in os.environ:
        try:
            width = os.get_terminal_size(stream.fileno()).columns
        except (ValueError, OSError, AttributeError, io.UnsupportedOperation):
            width = 80
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


def _rich_text(report: Report, stream: IO[str]) -> str:
    """The table format, laid out for `stream` (its width, colour and terminal) but returned as text."""
    buffer = io.StringIO()
    console = make_console(stream, record_to=buffer)
    _render_rich(report, console)
    return buffer.getvalue()


def _render_rich(report: Report, console: Any) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    if report.title:
        console.print(RichText(line(report.title), style="bold"))
    if report.headline:
        console.print(RichText(line(report.headline), style=TONE_STYLE.get(report.tone, "bold")))
    for section in report.sections:
        if isinstance(section, Text):
            console.print(RichText(clean(section.text), style=TONE_STYLE.get(section.tone, "")))
            continue
        if isinstance(section, KeyValues):
            grid = RichTable(title=_title(section), title_justify="left", show_header=False, box=None, pad_edge=False)
            grid.add_column(style="bold")
            grid.add_column()
            for key, value in section.items:
                grid.add_row(line(key), _styled(format_cell(value)))
            console.print(grid)
            continue
        _print_table(console, section, RichTable)


def _print_table(console: Any, section: Table, rich_table: Any) -> None:
    from rich.text import Text as RichText

    if not section.rows:
        if section.title:
            console.print(RichText(line(section.title), style="bold"))
        console.print(RichText(clean(section.empty), style="dim"))
        return
    table = rich_table(title=_title(section), title_justify="left", header_style="bold")
    for index, column in enumerate(section.columns):
        wraps = index in section.wrap
        table.add_column(
            RichText(line(column)),
            overflow="fold" if wraps else "ellipsis",
            no_wrap=not wraps,
            max_width=_TEXT_LIMIT if wraps else None,
        )
    for row in section.rows:
        table.add_row(
            *[_styled(format_cell(cell, _TEXT_LIMIT if i in section.wrap else None)) for i, cell in enumerate(row)]
        )
    console.print(table)


def _title(section: Section) -> Any:
    """A Text, never a str: Rich reads markup in str titles, and a title holds data (`[/x]` in a job name)."""
    from rich.text import Text as RichText

    title = getattr(section, "title", None)
    return RichText(line(title)) if title else None


def _styled(text: str) -> Any:
    from rich.text import Text as RichText

    tone = TONE_OF_WORD.get(text.lower())
    return RichText(clean(text), style=TONE_STYLE[tone] if tone else "")
