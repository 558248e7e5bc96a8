"""Reports, and the renderer that writes any report in any registered format (output/formats/)."""

from cronctl.output.report import KeyValues, Report, Table, Text

__all__ = ["KeyValues", "Report", "Table", "Text"]
