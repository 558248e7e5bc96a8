"""Reports and the one renderer that turns any report into table, JSON, Markdown or plain text."""

from cronctl.output.report import KeyValues, Report, Table, Text

__all__ = ["KeyValues", "Report", "Table", "Text"]
