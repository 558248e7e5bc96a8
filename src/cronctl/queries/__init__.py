"""SQL statements, one per file, loaded by name."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of `queries/<name>.sql`."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8").strip().rstrip(";")
