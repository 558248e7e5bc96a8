"""`cronctl query [name]`: list the runbook's diagnostic queries, or run one read-only with typed parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cronctl.errors import UsageError

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.services import CommandContext


def query(ctx: CommandContext, name: str | None, given: Sequence[str]) -> Report:
    """Run query `name` with `given` `key=value` parameters; list the queries when `name` is None."""
    from cronctl.db import guarded
    from cronctl.reports.query import list_report, result_report
    from cronctl.runbook.loader import suggest

    runbook = ctx.runbook()
    if name is None:
        if given:
            raise UsageError("--param needs a query name")
        return list_report(runbook)
    spec = runbook.queries.get(name)
    if spec is None:
        known = ", ".join(runbook.queries) or "none"
        raise UsageError(
            f"no query named '{name}' in {runbook.path}{suggest(name, runbook.queries) or f' (queries: {known})'}"
        )
    values = bind_params(spec.params, spec.defaults, given, name)
    with ctx.connect(read_only=True) as conn, guarded(f"query {name}"):
        cur = conn.execute(spec.sql, values)
        columns = [c.name for c in cur.description] if cur.description else []
        rows = cur.fetchall() if cur.description else []
    return result_report(name, spec.description, values, columns, rows)


def bind_params(types: dict[str, str], defaults: dict[str, Any], given: Sequence[str], name: str) -> dict[str, Any]:
    """Typed values for every parameter: --param beats the runbook default; a missing one is an error."""
    raw: dict[str, Any] = dict(defaults)
    for item in given:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {item!r}: use key=value")
        if key not in types:
            raise UsageError(f"query {name} has no parameter '{key}' (parameters: {', '.join(types) or 'none'})")
        raw[key] = value
    out: dict[str, Any] = {}
    for key, kind in types.items():
        if key not in raw:
            raise UsageError(f"query {name} needs --param {key}=<{kind}>")
        try:
            out[key] = convert(raw[key], kind)
        except ValueError as exc:
            raise UsageError(f"query {name}: parameter {key} must be {kind}: {exc}") from None
    return out


def convert(value: Any, kind: str) -> Any:
    from datetime import datetime, timedelta

    from cronctl.durations import parse_duration

    if not isinstance(value, str):
        if kind == "interval" and isinstance(value, (int, float)):
            return timedelta(seconds=value)
        if kind == "timestamp" and isinstance(value, datetime):
            return value
        if kind in ("int", "float", "bool") and isinstance(value, (int, float, bool)):
            return {"int": int, "float": float, "bool": bool}[kind](value)
        value = str(value)
    text = value.strip()
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "t", "yes", "y", "1", "on"):
            return True
        if lowered in ("false", "f", "no", "n", "0", "off"):
            return False
        raise ValueError(f"'{value}' is not true/false")
    if kind == "timestamp":
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    if kind == "interval":
        return timedelta(seconds=parse_duration(text))
    return value
