"""Layout for the human formats: how wide, where a line wraps, when a table becomes key/value blocks.

The rule (issue 14, DESIGN.md §4): nothing that carries meaning is cut. A column that is not free text (a job
name, a state, a time, a count) keeps each value whole on one line; free-text columns (reasons, actions,
messages) wrap at spaces, never inside a word that fits. When a table cannot fit the width that way, it switches
to one block per row (the row's name and state first, then `label  value` lines), as `kubectl` and `gh` switch
views on narrow terminals. Widths come from the terminal; `COLUMNS` overrides; pipes get 160.

Everything here works on text that has already been masked and escaped (output/render.py does that first).
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

PIPE_WIDTH = 160  # pipes and files: wide, as if on a large terminal
TEXT_MIN = 24  # a free-text column narrower than this reads badly: stack the table instead
MIN_WIDTH = 20  # nothing is laid out narrower than this


def terminal_width(stream: IO[str] | None) -> int:
    """`COLUMNS` when set, else the terminal's width, else PIPE_WIDTH (never below MIN_WIDTH)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.strip().isdigit():
        return max(MIN_WIDTH, int(columns))
    if stream is not None:
        try:
            if stream.isatty():
                return max(MIN_WIDTH, os.get_terminal_size(stream.fileno()).columns)
        except (ValueError, OSError, AttributeError, io.UnsupportedOperation):
            pass
    return PIPE_WIDTH


def cell_len(text: str) -> int:
    from rich.cells import cell_len as measure

    return measure(text)


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _natural(text: str) -> int:
    return max((cell_len(part) for part in text.splitlines()), default=0)


def rich_overhead(columns: int) -> int:
    """Rich's default box: one rule per column plus one, and one space of padding on each side."""
    return 3 * columns + 1


def plain_overhead(columns: int) -> int:
    return 2 * max(columns - 1, 0)


def column_widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], wrap: Sequence[int], width: int, overhead: int
) -> list[int] | None:
    """Content width of each column when the table fits `width` with every non-wrapping value whole and every
    free-text column at least TEXT_MIN wide (or as wide as its longest word, up to that); None when it does not."""
    count = len(headers)
    natural = [
        max([_natural(headers[i]) if i not in wrap else _longest_word(headers[i])] + [_natural(r[i]) for r in rows])
        for i in range(count)
    ]
    minimum = list(natural)
    for i in wrap:
        if i < count:
            words = max([_longest_word(r[i]) for r in rows] + [_longest_word(headers[i])])
            minimum[i] = min(natural[i], max(TEXT_MIN, min(words, width // 2)))
    room = width - overhead
    if sum(minimum) > room:
        return None
    widths = list(minimum)
    spare = room - sum(widths)
    growing = [i for i in wrap if i < count and natural[i] > widths[i]]
    while spare > 0 and growing:
        share = max(1, spare // len(growing))
        for i in list(growing):
            add = min(share, natural[i] - widths[i], spare)
            widths[i] += add
            spare -= add
            if widths[i] >= natural[i]:
                growing.remove(i)
            if spare <= 0:
                break
    return widths


def wrap_text(text: str, width: int) -> list[str]:
    """Lines of at most `width` cells, broken at spaces (never at hyphens: `sync-enrolments` stays whole); a
    word longer than the width is folded, since nothing else can show it whole."""
    width = max(width, 1)
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        if cell_len(paragraph) <= width:
            out.append(paragraph)
            continue
        wrapper = textwrap.TextWrapper(
            width=width, break_on_hyphens=False, break_long_words=True, replace_whitespace=False, drop_whitespace=True
        )
        out.extend(wrapper.wrap(paragraph) or [""])
    return out


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - cell_len(text), 0)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> list[str]:
    """Columns two spaces apart, header first; a wrapped cell continues on the next lines in its own column."""
    lines: list[str] = []
    for row in [list(headers), *[list(r) for r in rows]]:
        cells = [wrap_text(value, widths[i]) for i, value in enumerate(row)]
        height = max(len(c) for c in cells)
        for n in range(height):
            parts = [_pad(c[n] if n < len(c) else "", widths[i]) for i, c in enumerate(cells)]
            lines.append("  ".join(parts).rstrip())
    return lines


@dataclass(frozen=True)
class Block:
    """One row of a stacked table: its head (name, state), then labelled values."""

    head: str
    fields: list[tuple[str, str]]


def blocks(headers: Sequence[str], rows: Sequence[Sequence[str]], head: Sequence[int]) -> list[Block]:
    out = []
    for row in rows:
        title = "  ".join(row[i] for i in head if i < len(row) and row[i] not in ("", "-"))
        fields = [(headers[i], value) for i, value in enumerate(row) if i not in head and value not in ("", "-")]
        out.append(Block(title or "-", fields))
    return out


def labelled(fields: Sequence[tuple[str, str]], width: int, indent: int) -> list[str]:
    """`label  value` lines, values wrapped under themselves (a hanging indent)."""
    if not fields:
        return []
    label_width = min(max(cell_len(label) for label, _ in fields), max(width // 3, 4))
    lines: list[str] = []
    for label, value in fields:
        room = max(width - indent - label_width - 2, 10)
        wrapped = wrap_text(value, room)
        label_lines = wrap_text(label, label_width)
        for n in range(max(len(wrapped), len(label_lines))):
            left = _pad(label_lines[n] if n < len(label_lines) else "", label_width)
            right = wrapped[n] if n < len(wrapped) else ""
            lines.append((" " * indent + left + "  " + right).rstrip())
    return lines


def plain_blocks(headers: Sequence[str], rows: Sequence[Sequence[str]], head: Sequence[int], width: int) -> list[str]:
    lines: list[str] = []
    for block in blocks(headers, rows, head):
        lines += wrap_text(block.head, width)
        lines += labelled(block.fields, width, indent=2)
    return lines


def plain_item(
    number: str, title: str, fields: Sequence[tuple[str, str]], commands: Sequence[str], width: int
) -> list[str]:
    """A finding: `1. title` (wrapped under itself), then its labelled lines, then each exact command."""
    indent = len(number) + 1
    lines = []
    for n, text in enumerate(wrap_text(title, width - indent)):
        lines.append((number + " " if n == 0 else " " * indent) + text)
    label_width = min(max((cell_len(label) for label, _ in [*fields, ("run", "")]), default=3), max(width // 3, 4))
    room = width - indent - label_width - 2
    # An exact command is copied as one line: one too long to sit beside its label gets a line of its own.
    beside = [("run", c) for c in commands if cell_len(c) <= room]
    lines += labelled([*fields, *beside], width, indent=indent)
    for command in commands:
        if cell_len(command) > room:
            lines += [" " * indent + "run:", " " * indent + command]
    return lines
