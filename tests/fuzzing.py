"""How many generated cases each property test draws.

`make test` draws a quarter of each test's full count (the suite stays fast; CI replays a fixed set, see
tests/conftest.py); `make fuzz` (CRONCTL_FUZZ=deep) draws the full count. Cases a deep run finds become
explicit examples in the test that found them.
"""

from __future__ import annotations

import os

DEEP = os.environ.get("CRONCTL_FUZZ") == "deep"


def examples(full: int) -> int:
    """The number of cases to draw: `full` in a deep run, a quarter of it (at least 25) otherwise."""
    return full if DEEP else max(25, full // 4)
