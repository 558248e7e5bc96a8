"""`-f table` (the default): the report laid out by Rich for the terminal, in colour unless `NO_COLOR`.

A table that cannot fit the width keeps every value whole and becomes one block per row (its name and state
first, then `label  value` lines); `--watch` redraws `renderable` in place.
"""

from __future__ import annotations

import io
from typing import IO, Any

from cronctl.output.report import Items, KeyValues, Mark, Report, Section, Table, Text

NAME = "table"
DESCRIPTION = "for the terminal"
COMMANDS = None


def render(report: Report, out: IO[str]) -> str:
    """The report laid out for `out` (its width, colour and terminal), returned as text."""
    from cronctl.output.render import make_console

    buffer = io.StringIO()
    console = make_console(out, record_to=buffer)
    console.print(renderable(report, console.width))
    return buffer.getvalue()


def renderable(report: Report, width: int) -> Any:
    """The whole report as one Rich renderable laid out for `width` columns."""
    from rich.console import Group
    from rich.text import Text as RichText

    from cronctl.output.render import clean, headline, line

    parts: list[Any] = []
    if report.title:
        parts.append(RichText(line(report.title), style="bold"))
    if report.headline:
        parts.append(RichText(headline(report), style=_tone_style(report.tone) or "bold"))
    for index, section in enumerate(report.sections):
        if index or report.title or report.headline:
            parts.append(RichText(""))  # one empty line between sections, as in the plain format
        if isinstance(section, Text):
            parts.append(RichText(clean(section.text), style=_tone_style(section.tone)))
        elif isinstance(section, Items):
            parts.append(_rich_items(section, width))
        elif isinstance(section, KeyValues):
            parts.append(_rich_key_values(section))
        else:
            parts.append(_rich_table(section, width))
    return Group(*parts)


def _tone_style(tone: str) -> str:
    from cronctl.output.cells import TONE_STYLE
    from cronctl.output.severity import STYLE

    return STYLE.get(tone) or TONE_STYLE.get(tone, "")


def _styled(value: Any, *, single_line: bool = False) -> Any:
    """A cell as Rich Text; a verdict (Mark) in its severity's colour."""
    from rich.text import Text as RichText

    from cronctl.output.render import cell_text
    from cronctl.output.severity import style

    text = cell_text(value, single_line=single_line)
    return RichText(text, style=style(value.severity) if isinstance(value, Mark) else "")


def _rich_key_values(section: KeyValues) -> Any:
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    from cronctl.output.render import line

    grid = RichTable(title=_title(section), title_justify="left", show_header=False, box=None, pad_edge=False)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in section.items:
        grid.add_row(RichText(line(key)), _styled(value))
    return grid


def _rich_items(section: Items, width: int) -> Any:
    from rich.cells import cell_len
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    from cronctl.output.render import item_head, line
    from cronctl.output.severity import style

    parts: list[Any] = []
    if section.title:
        parts.append(RichText(line(section.title), style="bold"))
    if not section.items:
        parts.append(RichText(line(section.empty), style="dim"))
        return Group(*parts)
    outer = RichTable.grid(padding=(0, 1))
    outer.add_column(no_wrap=True, justify="right")
    outer.add_column(overflow="fold")
    for n, item in enumerate(section.items, 1):
        head = RichText(line(item_head(item)), style="dim" if item.muted else "bold")
        head.stylize(style(item.severity), 0, 1 + len("ruled out" if item.muted else item.severity) + 1)
        body = RichTable.grid(padding=(0, 2))
        body.add_column(no_wrap=True, style="dim")
        body.add_column(overflow="fold")
        for label, text in item.lines:
            body.add_row(RichText(line(label)), RichText(line(text), style="dim" if item.muted else ""))
        number = f"{n}." if section.numbered else "-"
        labels = [line(label) for label, _ in item.lines] + ["run"]
        room = width - len(number) - 1 - max(cell_len(label) for label in labels) - 2
        own_lines: list[Any] = []
        command_style = "bold cyan" if not item.muted else "dim"
        for command in item.commands:
            if cell_len(line(command)) <= room:
                body.add_row("run", RichText(line(command), style=command_style))
            else:  # copied as one line: too long to sit beside its label, it gets a line of its own
                own_lines += [RichText("run:", style="dim"), RichText(line(command), style=command_style)]
        outer.add_row(number, Group(head, body, *own_lines))
    parts.append(outer)
    return Group(*parts)


def _rich_table(section: Table, width: int) -> Any:
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    from cronctl.output.layout import column_widths, rich_overhead
    from cronctl.output.render import clean, grid, line

    if not section.rows:
        parts: list[Any] = []
        if section.title:
            parts.append(RichText(line(section.title), style="bold"))
        parts.append(RichText(clean(section.empty), style="dim"))
        return Group(*parts)
    headers, cells = grid(section, single_line=False)
    widths = column_widths(headers, cells, section.wrap, width, rich_overhead(len(headers)))
    if widths is None:
        return _rich_blocks(section, headers)
    table = RichTable(title=_title(section), title_justify="left", header_style="bold")
    for index, column in enumerate(headers):
        wraps = index in section.wrap
        table.add_column(
            RichText(column), width=widths[index], no_wrap=not wraps, overflow="fold" if wraps else "ellipsis"
        )
    for row in section.rows:
        table.add_row(*[_styled(cell) for cell in row])
    return table


def _rich_blocks(section: Table, headers: list[str]) -> Any:
    """The narrow view: one block per row, its head (name, state) first, then `label  value` lines."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    from cronctl.output.render import block_head, cell_text, line

    head = block_head(section)
    parts: list[Any] = []
    if section.title:
        parts.append(RichText(line(section.title), style="bold"))
    for row in section.rows:
        title = RichText()
        for i in head:
            if i >= len(row) or cell_text(row[i], single_line=False) in ("", "-"):
                continue
            if len(title):
                title.append("  ")
            title.append_text(_styled(row[i]))
        title.stylize("bold", 0, len(cell_text(row[head[0]], single_line=False)) if head and head[0] < len(row) else 0)
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="dim")
        grid.add_column(overflow="fold")
        for i, value in enumerate(row):
            if i in head or cell_text(value, single_line=False) in ("", "-"):
                continue
            grid.add_row(RichText(headers[i]), _styled(value))
        parts.append(title)
        if grid.row_count:
            parts.append(Padding(grid, (0, 0, 0, 2)))
    return Group(*parts)


def _title(section: Section) -> Any:
    """A Text, never a str: Rich reads markup in str titles, and a title holds data (`[/x]` in a job name)."""
    from rich.text import Text as RichText

    from cronctl.output.render import line

    title = getattr(section, "title", None)
    return RichText(line(title)) if title else None
