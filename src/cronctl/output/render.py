"""The one renderer: any Report to table (Rich), JSON, Markdown or plain text (tabulate).

Everything written passes through the secret redactor. JSON goes to stdout only; status lines go to stderr.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import IO, Any

from cronctl.output.cells import TONE_OF_WORD, TONE_STYLE, format_cell, json_default
from cronctl.output.report import FORMATS, KeyValues, Report, Section, Table, Text
from cronctl.redact import redact

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Mask secrets and drop control characters: a server's escape codes must never reach the terminal."""
    return _CONTROL.sub("", redact(text))


_TEXT_LIMIT = 80  # free-text cells in human formats; JSON always carries the whole text


def render(report: Report, fmt: str, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt}")
    if fmt == "json":
        out.write(to_json(report) + "\n")
    elif fmt == "table":
        _render_rich(report, out)
    else:
        out.write(to_text(report, markdown=fmt == "markdown"))
    out.flush()


def to_json(report: Report) -> str:
    # JSON escapes control characters itself; only secrets need masking here.
    return redact(json.dumps(report.data, default=json_default, indent=2, ensure_ascii=False))


def to_text(report: Report, *, markdown: bool) -> str:
    from tabulate import tabulate

    lines: list[str] = []
    if report.title:
        lines += [f"## {clean(report.title)}" if markdown else clean(report.title), ""]
    if report.headline:
        lines += [f"**{clean(report.headline)}**" if markdown else clean(report.headline), ""]
    for section in report.sections:
        if isinstance(section, Text):
            text = clean(section.text)
            lines += [f"> {text}" if markdown and section.tone in ("warn", "crit") else text, ""]
            continue
        if markdown and isinstance(section, KeyValues):
            # A two-column table with an empty header reads badly in chat; a list does not.
            if section.title:
                lines += [f"### {clean(section.title)}", ""]
            lines += [f"- **{clean(k)}**: {clean(format_cell(v))}" for k, v in section.items] + [""]
            continue
        title = section.title
        if title:
            lines += [f"### {clean(title)}" if markdown else f"{clean(title)}:", ""]
        headers, rows = _grid(section, limit=None if markdown else _TEXT_LIMIT)
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


def _grid(section: Table | KeyValues, limit: int | None) -> tuple[list[str], list[list[str]]]:
    if isinstance(section, KeyValues):
        return ["", ""], [[clean(k), clean(format_cell(v, limit))] for k, v in section.items]
    rows = [
        [clean(format_cell(cell, limit if i in section.wrap else None)) for i, cell in enumerate(row)]
        for row in section.rows
    ]
    return [clean(c) for c in section.columns], rows


def make_console(stream: IO[str], *, stderr: bool = False) -> Any:
    from rich.console import Console

    no_color = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = 160  # pipes and files get wide tables instead of Rich's 80-column default
    return Console(
        file=stream,
        no_color=no_color,
        highlight=False,
        soft_wrap=False,
        width=width,
        stderr=stderr,
        emoji=False,
    )


def _render_rich(report: Report, stream: IO[str]) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    console = make_console(stream)
    if report.title:
        console.print(RichText(clean(report.title), style="bold"))
    if report.headline:
        console.print(RichText(clean(report.headline), style=TONE_STYLE.get(report.tone, "bold")))
    for section in report.sections:
        if isinstance(section, Text):
            console.print(RichText(clean(section.text), style=TONE_STYLE.get(section.tone, "")))
            continue
        if isinstance(section, KeyValues):
            grid = RichTable(title=_title(section), title_justify="left", show_header=False, box=None, pad_edge=False)
            grid.add_column(style="bold")
            grid.add_column()
            for key, value in section.items:
                grid.add_row(clean(key), _styled(format_cell(value)))
            console.print(grid)
            continue
        _print_table(console, section, RichTable)


def _print_table(console: Any, section: Table, rich_table: Any) -> None:
    from rich.text import Text as RichText

    if not section.rows:
        if section.title:
            console.print(RichText(clean(section.title), style="bold"))
        console.print(RichText(section.empty, style="dim"))
        return
    table = rich_table(title=_title(section), title_justify="left", header_style="bold")
    for index, column in enumerate(section.columns):
        wraps = index in section.wrap
        table.add_column(
            clean(column),
            overflow="fold" if wraps else "ellipsis",
            no_wrap=not wraps,
            max_width=_TEXT_LIMIT if wraps else None,
        )
    for row in section.rows:
        table.add_row(
            *[_styled(format_cell(cell, _TEXT_LIMIT if i in section.wrap else None)) for i, cell in enumerate(row)]
        )
    console.print(table)


def _title(section: Section) -> str | None:
    title = getattr(section, "title", None)
    return clean(title) if title else None


def _styled(text: str) -> Any:
    from rich.text import Text as RichText

    tone = TONE_OF_WORD.get(text.lower())
    return RichText(clean(text), style=TONE_STYLE[tone] if tone else "")
