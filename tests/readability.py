"""What "readable at every width" means, as checks the width tests share (issue 14), and the layout's own rules.

The checks read rendered output the way a person does:

- `lines_with(out, *words)`: the lines on which every word appears whole (not cut, not broken at a hyphen);
- `tokens(out)`: the words of the output with table rules removed, so a value that wrapped inside a table cell
  can be found word by word, in order (`in_order`);
- `flat(out)`: the output with whitespace collapsed, so a wrapped paragraph (a finding's action) reads whole.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from rich.cells import cell_len

from cronctl.output.render import render
from cronctl.output.report import Report
from cronctl.output.times import clock

WIDTHS = (80, 120, 200)
_RULES = "│┃┏┓┗┛┡┩└┘┳┻╇╈━─┬┴┼├┤╭╮╰╯"


def env_for(width: int) -> dict[str, str]:
    return {"COLUMNS": str(width), "NO_COLOR": "1"}


def _whole(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")


def lines_with(out: str, *words: str) -> list[str]:
    patterns = [_whole(w) for w in words]
    return [line for line in out.splitlines() if all(p.search(line) for p in patterns)]


def tokens(out: str) -> list[str]:
    return out.translate({ord(c): " " for c in _RULES}).split()


def in_order(needle: str, out: str) -> bool:
    """Every word of `needle` appears in `out`, in order (wrapping may put other cells' words between them)."""
    words = needle.split()
    hay = tokens(out)
    position = 0
    for word in words:
        try:
            position = hay.index(word, position) + 1
        except ValueError:
            return False
    return True


def flat(out: str) -> str:
    return " ".join(out.split())


def too_wide(out: str, width: int) -> list[str]:
    return [line for line in out.splitlines() if cell_len(line) > width]


def ellipses(out: str) -> int:
    return out.count("…")


def assert_readable(
    out: str,
    width: int,
    *,
    rows: Iterable[Sequence[str]] = (),
    paragraphs: Iterable[str] = (),
    texts: Iterable[str] = (),
    commands: Iterable[str] = (),
    allowed_ellipses: int = 0,
    where: str = "",
) -> None:
    """`rows`: words that must share one line, each whole (a job's name and its state word); `paragraphs`: text
    that must read whole once wrapping is undone (a finding's action); `texts`: text whose every word must appear
    in order (a reason inside a table cell); `commands`: exact commands, each whole on one line."""
    assert not too_wide(out, width), f"{where}: lines wider than {width}: {too_wide(out, width)[:3]}"
    assert ellipses(out) <= allowed_ellipses, f"{where}: something was cut with …:\n{out}"
    for words in rows:
        assert lines_with(out, *words), f"{where}: no line holds {words!r} whole at {width} columns:\n{out}"
    text = flat(out)
    for paragraph in paragraphs:
        assert flat(paragraph) in text, f"{where}: {paragraph!r} is not whole at {width} columns:\n{out}"
    for value in texts:
        assert in_order(value, out), f"{where}: {value!r} lost words at {width} columns:\n{out}"
    for command in commands:
        assert any(command in line for line in out.splitlines()), f"{where}: `{command}` is not on one line:\n{out}"


def minute(value: str | None, now: str) -> str | None:
    """How a JSON time is shown: `21:22Z` on the snapshot's day, else with its date."""
    if value is None:
        return None
    return clock(_parse(value), _parse(now))


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# ---------------------------------------------------------------- the layout's own rules


def _render(report: Report, fmt: str, width: int, monkeypatch: object) -> str:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    render(report, fmt, out)
    return out.getvalue()
