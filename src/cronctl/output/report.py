"""What commands produce: JSON data (the stable contract) plus sections for human formats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def __getattr__(name: str) -> Any:
    """`FORMATS`, the formats every command offers, read from the format registry (output/formats/)."""
    if name == "FORMATS":
        from cronctl.output.formats import names

        return names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Mark:
    """A verdict word shown with its severity's symbol and colour (`✗ failing`, `✓ ok`): see output/severity.py."""

    word: str
    severity: str  # ok | warn | crit | unknown

    def __str__(self) -> str:
        from cronctl.output.severity import symbol

        return f"{symbol(self.severity)} {self.word}"


def mark(word: str | None, vocabulary: str, *, show: str = "word") -> Mark | None:
    """`word` in its command's vocabulary, as a Mark (None stays None). `show`: `word` writes the command's own
    word (`✗ failing`: a state), `severity` the shared one (`✗ crit`: a checklist verdict), `both` the shared one
    with the command's word when it says more (`! warn (skipped)`)."""
    from cronctl.output.severity import severity_of

    if word is None:
        return None
    severity = severity_of(word, vocabulary)
    if show == "severity" or (show == "both" and word.lower() == severity):
        return Mark(severity, severity)
    if show == "both":
        return Mark(f"{severity} ({word})", severity)
    return Mark(word, severity)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    title: str | None = None
    empty: str = "(none)"
    # Column indexes whose cells are free text: they wrap at spaces. Every other column keeps each of its values on
    # one line, whole; when the table cannot fit the width that way it is shown as one key/value block per row.
    wrap: tuple[int, ...] = ()
    # Columns that title a row's block when the table is stacked (default: the first, and the first Mark column).
    head: tuple[int, ...] | None = None


@dataclass
class KeyValues:
    items: list[tuple[str, Any]]
    title: str | None = None


@dataclass
class Text:
    text: str
    tone: str = "info"  # info | ok | warn | crit | muted


@dataclass
class Item:
    """One ranked finding: what is wrong, then labelled lines (why, evidence, what to do), then exact commands."""

    severity: str  # ok | warn | crit | unknown
    title: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    tag: str | None = None  # e.g. "root cause", "ruled out"
    muted: bool = False  # shown dimmed (a ruled-out mode)


@dataclass
class Items:
    items: list[Item]
    title: str | None = None
    empty: str = "(none)"
    numbered: bool = True


Section = Table | KeyValues | Text | Items


@dataclass
class Report:
    """A command's result. `data` is what `--format json` prints; sections are what people read."""

    data: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    title: str | None = None
    headline: str | None = None  # one-line verdict shown first
    tone: str = "info"  # colour of the headline: ok | warn | crit | info
    exit_code: int = 0
    # Markdown: at most this many characters (a chat message); sections that do not fit are named, not cut.
    markdown_limit: int | None = None
    markdown_more: str | None = None  # how to see what was left out, e.g. "`cronctl triage -f markdown --full`"
