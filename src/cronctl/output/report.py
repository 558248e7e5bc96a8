"""What commands produce: JSON data (the stable contract) plus sections for human formats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMATS = ("table", "json", "markdown", "plain")


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    title: str | None = None
    empty: str = "(none)"
    # Column indexes whose cells are free text; human formats trim them to keep tables readable.
    wrap: tuple[int, ...] = ()


@dataclass
class KeyValues:
    items: list[tuple[str, Any]]
    title: str | None = None


@dataclass
class Text:
    text: str
    tone: str = "info"  # info | ok | warn | crit | muted


Section = Table | KeyValues | Text


@dataclass
class Report:
    """A command's result. `data` is what `--format json` prints; sections are what people read."""

    data: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    title: str | None = None
    headline: str | None = None  # one-line verdict shown first
    tone: str = "info"  # colour of the headline: ok | warn | crit | info
    exit_code: int = 0
