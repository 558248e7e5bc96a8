"""The one renderer: any Report to table (Rich), JSON, Markdown or plain text.

Secrets are masked twice: in every cell before it is escaped, wrapped or laid out (so no layout step ever sees
the start of a secret), and once more on the final text, after layout, just before it is written. Control and
invisible format characters in data (escape codes, bidi overrides, zero-width characters, C1 controls) are written
visibly (`\\x1b`, `\\u202e`) in human formats and as `\\uXXXX` escapes in JSON; a newline inside a cell never
starts a new row. JSON goes to stdout only; status lines go to stderr.

Human formats never cut a value that carries meaning (output/layout.py): free text wraps at spaces, other columns
keep each value whole, and a table that cannot fit the width becomes one key/value block per row.
"""

from __future__ import annotations

import io
import os
import sys
from typing import IO, Any

from cronctl.output.cells import TONE_STYLE, escape_unsafe, format_cell, safe_json
from cronctl.output.report import FORMATS, Item, Items, KeyValues, Mark, Report, Section, Table, Text
from cronctl.redact import redact


def clean(text: str) -> str:
    """Mask secrets and write control characters visibly: a server's escape codes never reach the terminal."""
    return escape_unsafe(redact(text))


def line(text: str) -> str:
    """`clean`, on one line: titles, headlines, headers and cells cannot be split by a newline in the data."""
    return escape_unsafe(redact(text), single_line=True)


_TEXT_LIMIT = 80  # kept for callers; human formats no longer cut free text (they wrap it)
MARKDOWN_MORE = "_Left out to fit one chat message: {what}{hint}._"


# Formats only some commands offer (`command_options(formats=...)`): name -> "module:function" that turns a Report
# into text, imported when the format is asked for.
EXTRA_FORMATS = {"openmetrics": "cronctl.output.openmetrics:render_openmetrics"}


def _extra_renderer(fmt: str) -> Any:
    import importlib

    module, _, function = EXTRA_FORMATS[fmt].partition(":")
    return getattr(importlib.import_module(module), function)


def render(report: Report, fmt: str, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    if fmt not in FORMATS and fmt not in EXTRA_FORMATS:
        raise ValueError(f"unknown format {fmt}")
    if fmt in EXTRA_FORMATS:
        text = _extra_renderer(fmt)(report)
    elif fmt == "json":
        text = to_json(report) + "\n"
    elif fmt == "table":
        text = _rich_text(report, out)
    else:
        from cronctl.output.layout import terminal_width

        text = to_text(report, markdown=fmt == "markdown", width=terminal_width(out))
    out.write(redact(text))  # the final text, after layout: masking is the last step
    out.flush()


def to_json(report: Report) -> str:
    return safe_json(report.data, indent=2)


def to_text(report: Report, *, markdown: bool, width: int | None = None) -> str:
    from cronctl.output.layout import PIPE_WIDTH

    if markdown:
        return _markdown(report)
    return _plain(report, width or PIPE_WIDTH)


# ---------------------------------------------------------------- cells


def _cell(value: Any, *, single_line: bool) -> str:
    """One value as masked, escaped text (whole: layout wraps it, nothing cuts it)."""
    text = format_cell(value)
    return line(text) if single_line else clean(text)


def _grid(section: Table, *, single_line: bool) -> tuple[list[str], list[list[str]]]:
    """Headers and cells as text: masked, then escaped. `single_line` (plain text) writes a newline inside a cell
    as `\\n`, so no cell can start what looks like a new row."""
    rows = [[_cell(value, single_line=single_line) for value in row] for row in section.rows]
    return [line(c) for c in section.columns], rows


def _head(section: Table) -> tuple[int, ...]:
    """The columns that title a stacked row: as declared, else the first and the first verdict (Mark) column."""
    if section.head is not None:
        return section.head
    for i in range(1, len(section.columns)):
        if any(i < len(row) and isinstance(row[i], Mark) for row in section.rows):
            return (0, i)
    return (0,)


def _headline(report: Report) -> str:
    """The headline, masked, on one line, behind its tone's symbol (the same ✓ ! ✗ ? in every command)."""
    from cronctl.output.severity import SEVERITIES, symbol

    text = line(report.headline or "")
    return f"{symbol(report.tone)} {text}" if report.tone in SEVERITIES else text


def _item_head(item: Item) -> str:
    from cronctl.output.severity import symbol

    word = "ruled out" if item.muted else item.severity
    head = f"{symbol(item.severity)} {word}"
    return f"{head} · {item.tag} · {item.title}" if item.tag else f"{head} · {item.title}"


# ---------------------------------------------------------------- plain


def _plain(report: Report, width: int) -> str:
    from cronctl.output.layout import column_widths, plain_blocks, plain_item, plain_overhead, plain_table, wrap_text

    lines: list[str] = []
    if report.title:
        lines += [*wrap_text(line(report.title), width), ""]
    if report.headline:
        lines += [*wrap_text(_headline(report), width), ""]
    for section in report.sections:
        if isinstance(section, Text):
            lines += [*wrap_text(clean(section.text), width), ""]
            continue
        if isinstance(section, Items):
            if section.title:
                lines += [*wrap_text(f"{line(section.title)}:", width), ""]
            if not section.items:
                lines += [line(section.empty), ""]
                continue
            for n, item in enumerate(section.items, 1):
                number = f"{n}." if section.numbered else "-"
                fields = [(line(k), line(v)) for k, v in item.lines]
                lines += plain_item(number, line(_item_head(item)), fields, [line(c) for c in item.commands], width)
            lines.append("")
            continue
        if isinstance(section, KeyValues):
            if section.title:
                lines += [*wrap_text(f"{line(section.title)}:", width), ""]
            if not section.items:
                lines += ["(none)", ""]
                continue
            from cronctl.output.layout import labelled

            fields = [(line(k), line(format_cell(v))) for k, v in section.items]
            lines += [*labelled(fields, width, indent=0), ""]
            continue
        if section.title:
            lines += [*wrap_text(f"{line(section.title)}:", width), ""]
        headers, rows = _grid(section, single_line=True)
        if not rows:
            lines += [line(section.empty), ""]
            continue
        widths = column_widths(headers, rows, [i for i in section.wrap if i != 0], width, plain_overhead(len(headers)))
        if widths is None:
            lines += plain_blocks(headers, rows, _head(section), width)
        else:
            lines += plain_table(headers, rows, widths)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return "<br>".join(text.replace("|", "\\|").splitlines())


def _md_code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_section(section: Section, rows: int | None = None) -> tuple[list[str], int]:
    """A section's Markdown lines, with at most `rows` of its rows / items; and how many it holds in all."""
    if isinstance(section, Text):
        text = clean(section.text)
        return [f"> {text}" if section.tone in ("warn", "crit") else text, ""], 1
    lines: list[str] = []
    if isinstance(section, Items):
        if section.title:
            lines += [f"### {line(section.title)}", ""]
        if not section.items:
            return [*lines, f"_{line(section.empty)}_", ""], 0
        for n, item in enumerate(section.items[:rows], 1):
            head = line(_item_head(item))
            lines.append(f"{n}. **{head}**" if section.numbered else f"- **{head}**")
            lines += [f"   - {line(k)}: {line(v)}" for k, v in item.lines]
            lines += [f"   - run: {_md_code(line(c))}" for c in item.commands]
        return [*lines, ""], len(section.items)
    if isinstance(section, KeyValues):
        # A two-column table with an empty header reads badly in chat; a list does not.
        if section.title:
            lines += [f"### {line(section.title)}", ""]
        items = [(line(k), "<br>".join(clean(format_cell(v)).splitlines())) for k, v in section.items[:rows]]
        return [*lines, *[f"- **{k}**: {v}" for k, v in items], ""], len(section.items)
    if section.title:
        lines += [f"### {line(section.title)}", ""]
    headers, cells = _grid(section, single_line=False)
    if not cells:
        return [*lines, f"_{line(section.empty)}_", ""], 0
    # Unpadded pipe tables: chat renders them the same, and a chat message's length is the budget.
    lines.append("| " + " | ".join(_md_cell(h) or " " for h in headers) + " |")
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in cells[:rows]]
    return [*lines, ""], len(cells)


def _markdown(report: Report) -> str:
    lines: list[str] = []
    if report.title:
        lines += [f"## {line(report.title)}", ""]
    if report.headline:
        lines += [f"**{_headline(report)}**", ""]
    limit = report.markdown_limit
    left_out: list[str] = []
    for section in report.sections:
        if limit is None:
            lines += _md_section(section)[0]
            continue
        reserve = 260  # room for the line that says what was left out
        body, total = _md_section(section)
        if _size(lines + body) + reserve <= limit and not left_out:
            lines += body
            continue
        if not left_out and isinstance(section, (Items, Table)) and total:
            # As many whole rows / findings as fit, most urgent first; the rest is named, not cut.
            fitted = 0
            for count in range(total - 1, 0, -1):
                part, _ = _md_section(section, count)
                if _size(lines + part) + reserve <= limit:
                    lines += part
                    fitted = count
                    break
            if fitted:
                left_out.append(f"{total - fitted} more in {_name(section)}")
                continue
        left_out.append(_name(section))
    if left_out:
        hint = f"; {report.markdown_more}" if getattr(report, "markdown_more", None) else ""
        lines += [MARKDOWN_MORE.format(what="; ".join(left_out), hint=hint), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _size(lines: list[str]) -> int:
    return len("\n".join(lines).rstrip("\n")) + 1


def _name(section: Section) -> str:
    title = getattr(section, "title", None)
    if title:
        return line(title)
    return "a note" if isinstance(section, Text) else "a section"


# ---------------------------------------------------------------- table (Rich)


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


def _rich_text(report: Report, stream: IO[str]) -> str:
    """The table format, laid out for `stream` (its width, colour and terminal) but returned as text."""
    buffer = io.StringIO()
    console = make_console(stream, record_to=buffer)
    console.print(renderable(report, console.width))
    return buffer.getvalue()


def renderable(report: Report, width: int) -> Any:
    """The whole report as one Rich renderable laid out for `width` columns (also what `--watch` redraws)."""
    from rich.console import Group
    from rich.text import Text as RichText

    parts: list[Any] = []
    if report.title:
        parts.append(RichText(line(report.title), style="bold"))
    if report.headline:
        parts.append(RichText(_headline(report), style=_tone_style(report.tone) or "bold"))
    for index, section in enumerate(report.sections):
        if index or report.title or report.headline:
            parts.append(RichText(""))  # one empty line between sections, as in the plain format
        if isinstance(section, Text):
            parts.append(RichText(clean(section.text), style=_tone_style(section.tone)))
        elif isinstance(section, Items):
            parts.append(_rich_items(section))
        elif isinstance(section, KeyValues):
            parts.append(_rich_key_values(section))
        else:
            parts.append(_rich_table(section, width))
    return Group(*parts)


def _tone_style(tone: str) -> str:
    from cronctl.output.severity import STYLE

    return STYLE.get(tone) or TONE_STYLE.get(tone, "")


def _styled(value: Any, *, single_line: bool = False) -> Any:
    """A cell as Rich Text; a verdict (Mark) in its severity's colour."""
    from rich.text import Text as RichText

    from cronctl.output.severity import style

    text = _cell(value, single_line=single_line)
    return RichText(text, style=style(value.severity) if isinstance(value, Mark) else "")


def _rich_key_values(section: KeyValues) -> Any:
    from rich.table import Table as RichTable

    grid = RichTable(title=_title(section), title_justify="left", show_header=False, box=None, pad_edge=False)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in section.items:
        grid.add_row(line(key), _styled(value))
    return grid


def _rich_items(section: Items) -> Any:
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

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
        head = RichText(line(_item_head(item)), style="dim" if item.muted else "bold")
        head.stylize(style(item.severity), 0, 1 + len("ruled out" if item.muted else item.severity) + 1)
        body = RichTable.grid(padding=(0, 2))
        body.add_column(no_wrap=True, style="dim")
        body.add_column(overflow="fold")
        for label, text in item.lines:
            body.add_row(line(label), RichText(line(text), style="dim" if item.muted else ""))
        for command in item.commands:
            body.add_row("run", RichText(line(command), style="bold cyan" if not item.muted else "dim"))
        outer.add_row(f"{n}." if section.numbered else "-", Group(head, body))
    parts.append(outer)
    return Group(*parts)


def _rich_table(section: Table, width: int) -> Any:
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    from cronctl.output.layout import column_widths, rich_overhead

    if not section.rows:
        parts: list[Any] = []
        if section.title:
            parts.append(RichText(line(section.title), style="bold"))
        parts.append(RichText(clean(section.empty), style="dim"))
        return Group(*parts)
    headers, cells = _grid(section, single_line=False)
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

    head = _head(section)
    parts: list[Any] = []
    if section.title:
        parts.append(RichText(line(section.title), style="bold"))
    for row in section.rows:
        title = RichText()
        for i in head:
            if i >= len(row) or _cell(row[i], single_line=False) in ("", "-"):
                continue
            if len(title):
                title.append("  ")
            title.append_text(_styled(row[i]))
        title.stylize("bold", 0, len(_cell(row[head[0]], single_line=False)) if head and head[0] < len(row) else 0)
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="dim")
        grid.add_column(overflow="fold")
        for i, value in enumerate(row):
            if i in head or _cell(value, single_line=False) in ("", "-"):
                continue
            grid.add_row(headers[i], _styled(value))
        parts.append(title)
        if grid.row_count:
            parts.append(Padding(grid, (0, 0, 0, 2)))
    return Group(*parts)


def _title(section: Section) -> Any:
    """A Text, never a str: Rich reads markup in str titles, and a title holds data (`[/x]` in a job name)."""
    from rich.text import Text as RichText

    title = getattr(section, "title", None)
    return RichText(line(title)) if title else None
