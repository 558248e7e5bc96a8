"""`-f json`: the report's data, the stable contract for scripts (`| jq`), on stdout only.

Times in ISO 8601 UTC (`…Z`), durations in seconds, control characters as `\\uXXXX` escapes.
"""

from __future__ import annotations

from typing import IO

from cronctl.output.report import Report

NAME = "json"
DESCRIPTION = "the report's data"
COMMANDS = None


def render(report: Report, out: IO[str]) -> str:
    from cronctl.output.render import to_json

    return to_json(report) + "\n"
