"""`-f plain`: the report as text without colour or box lines, for pipes and logs.

Laid out for the stream's width (`COLUMNS`, else the terminal's, else output/layout.py's PIPE_WIDTH). A newline
inside a cell is written `\\n`, so no value can start what looks like a new row.
"""

from __future__ import annotations

from typing import IO

from cronctl.output.report import Items, KeyValues, Report, Text

NAME = "plain"
DESCRIPTION = "text for pipes and logs"
COMMANDS = None


def render(report: Report, out: IO[str]) -> str:
    from cronctl.output.cells import format_cell
    from cronctl.output.layout import (
        column_widths,
        labelled,
        plain_blocks,
        plain_item,
        plain_overhead,
        plain_table,
        terminal_width,
        wrap_text,
    )
    from cronctl.output.render import block_head, clean, grid, headline, item_head, line

    width = terminal_width(out)
    lines: list[str] = []
    if report.title:
        lines += [*wrap_text(line(report.title), width), ""]
    if report.headline:
        lines += [*wrap_text(headline(report), width), ""]
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
                lines += plain_item(number, line(item_head(item)), fields, [line(c) for c in item.commands], width)
            lines.append("")
            continue
        if isinstance(section, KeyValues):
            if section.title:
                lines += [*wrap_text(f"{line(section.title)}:", width), ""]
            if not section.items:
                lines += ["(none)", ""]
                continue
            fields = [(line(k), line(format_cell(v))) for k, v in section.items]
            lines += [*labelled(fields, width, indent=0), ""]
            continue
        if section.title:
            lines += [*wrap_text(f"{line(section.title)}:", width), ""]
        headers, rows = grid(section, single_line=True)
        if not rows:
            lines += [line(section.empty), ""]
            continue
        widths = column_widths(headers, rows, [i for i in section.wrap if i != 0], width, plain_overhead(len(headers)))
        if widths is None:
            lines += plain_blocks(headers, rows, block_head(section), width)
        else:
            lines += plain_table(headers, rows, widths)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
