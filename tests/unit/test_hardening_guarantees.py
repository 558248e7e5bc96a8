"""docs/guarantees.md names a test for every promise; every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUARANTEES = ROOT / "docs" / "guarantees.md"


def _named_tests() -> list[tuple[str, str]]:
    """(file, name) for every `tests/x.py::name` and every following `::name` of the same cell."""
    found: list[tuple[str, str]] = []
    for line in GUARANTEES.read_text(encoding="utf-8").splitlines():
        current: str | None = None
        for match in re.finditer(r"`(tests/[\w/]+\.py)?::(\w+)`", line):
            current = match.group(1) or current
            assert current is not None, f"a bare ::{match.group(2)} before any file in: {line}"
            found.append((current, match.group(2)))
    return found


def test_every_named_test_exists() -> None:
    named = _named_tests()
    assert len(named) > 40
    missing = []
    for file, name in named:
        path = ROOT / file
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if not re.search(rf"^(?:def|async def) {name}\b|^def {name}\(", text, re.MULTILINE):
            missing.append(f"{file}::{name}")
    assert not missing, f"guarantees.md names tests that do not exist: {missing}"


def test_every_promise_names_a_test() -> None:
    rows = [line for line in GUARANTEES.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    promises = [row for row in rows if not row.startswith("| promise") and not row.startswith("|---")]
    assert promises
    for row in promises:
        assert "tests/" in row or "BENCHMARKS.md" in row, f"a promise without a test: {row[:100]}"
