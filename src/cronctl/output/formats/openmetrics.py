"""`-f openmetrics` (triage only): the triage JSON as OpenMetrics text, for Prometheus or node_exporter's
textfile collector. The families and labels are in output/openmetrics.py, which triage also uses for a snapshot
that could not be collected.
"""

from __future__ import annotations

from typing import IO

from cronctl.output.report import Report

NAME = "openmetrics"
DESCRIPTION = "metrics for Prometheus"
COMMANDS = ("triage",)


def render(report: Report, out: IO[str]) -> str:
    from cronctl.output.openmetrics import to_openmetrics

    return to_openmetrics(report.data)
