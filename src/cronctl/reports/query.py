"""`cronctl query`: the runbook's own diagnostic queries, listed or run."""

from __future__ import annotations

from typing import Any

from cronctl.output.report import Report, Section, Table
from cronctl.runbook.model import Runbook


def list_report(runbook: Runbook) -> Report:
    queries: list[dict[str, Any]] = [
        {
            "name": q.name,
            "description": q.description,
            "params": [{"name": p, "type": t, "default": q.defaults.get(p)} for p, t in q.params.items()],
            "sql": q.sql,
        }
        for q in runbook.queries.values()
    ]
    rows = [
        [
            q["name"],
            q["description"] or "-",
            ", ".join(
                f"{p['name']}:{p['type']}" + (f"={p['default']}" if p["default"] is not None else "")
                for p in q["params"]
            )
            or "-",
        ]
        for q in queries
    ]
    return Report(
        data={"runbook": runbook.name, "queries": queries},
        sections=[Table(["name", "description", "params"], rows, wrap=(1,), empty="(no queries in this runbook)")],
        title=f"{runbook.name}: {len(queries)} quer{'y' if len(queries) == 1 else 'ies'}",
    )


def result_report(
    name: str, description: str, params: dict[str, Any], columns: list[str], rows: list[tuple[Any, ...]]
) -> Report:
    data_rows = [dict(zip(columns, row, strict=True)) for row in rows]
    sections: list[Section] = [
        Table(columns, [list(r) for r in rows], empty="(no rows)", wrap=tuple(range(len(columns))))
    ]
    return Report(
        data={
            "query": name,
            "description": description,
            "params": params,
            "columns": columns,
            "rows": data_rows,
            "row_count": len(rows),
        },
        sections=sections,
        title=f"query {name}" + (f": {description}" if description else ""),
        headline=f"{len(rows)} row(s)",
    )
