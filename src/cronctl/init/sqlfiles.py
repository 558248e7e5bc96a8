"""Draft jobs from SQL files (migrations) that call `cron.schedule(...)`, read with PostgreSQL's own parser.

Files are read in name order (the order migrations run); a later `cron.schedule` of the same name replaces the
earlier one and `cron.unschedule('name')` removes it, as pg_cron would. Only constant arguments are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cronctl.errors import UsageError
from cronctl.init.draft import DraftJob, SecretNames, unique_names
from cronctl.init.pgcron import CronRow, draft_from_cron
from cronctl.userfiles import read_bounded

MAX_SQL_FILE = 8 * 1024 * 1024


def sql_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"not a file or directory: {path}")
    return sorted(p for p in path.rglob("*.sql") if p.is_file())


def reserve_references(path: Path, names: SecretNames) -> None:
    """Reserve the variables the files' commands refer to (see pgcron.reserve_references)."""
    from cronctl.init.pgcron import reserve_references as reserve

    for file in sql_files(path):
        try:
            events = _events(read_bounded(file, MAX_SQL_FILE).decode("utf-8"))
        except (OSError, UnicodeDecodeError, _SyntaxError):
            continue
        reserve((row.command for kind, row, _ in events if kind == "schedule"), None, names)


def drafts_from_sql(path: Path, names: SecretNames | None = None) -> tuple[list[DraftJob], list[str]]:
    names = names or SecretNames()
    jobs: dict[str, tuple[CronRow, str]] = {}
    unnamed: list[tuple[CronRow, str]] = []
    notes: list[str] = []
    for file in sql_files(path):
        try:
            text = read_bounded(file, MAX_SQL_FILE).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(f"{file.name}: not read ({getattr(exc, 'strerror', None) or type(exc).__name__})")
            continue
        if "cron." not in text and "schedule" not in text:
            continue
        try:
            events = _events(text)
        except _SyntaxError as exc:
            notes.append(f"{file}:{exc.line}: not read (SQL syntax error)")
            continue
        for kind, row, where in events:
            source = f"{file.name}:{where}"
            if kind == "skip":
                notes.append(f"{source}: a cron.schedule call whose arguments are computed; not read")
            elif kind == "unschedule":
                jobs.pop(row.jobname or "", None)
            elif row.jobname:
                jobs[row.jobname] = (row, source)
            else:
                unnamed.append((row, source))
    drafts = []
    for number, (row, source) in enumerate([*jobs.values(), *unnamed], start=1):
        numbered = CronRow(number, row.jobname, row.schedule, row.command, row.active)
        draft = draft_from_cron(numbered, None, names, source=f"{source} cron.schedule")
        drafts.append(draft)
    unique_names(drafts)
    return drafts, notes


class _SyntaxError(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _events(text: str) -> list[tuple[str, CronRow, int]]:
    """("schedule" | "unschedule" | "skip", row, line) for each cron.schedule / cron.unschedule call."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    from cronctl.init.sqlexpr import Evaluator, _calls, _func_name

    try:
        statements = parse_sql(text)
    except ParseError as exc:
        location = getattr(exc, "location", 0) or 0
        raise _SyntaxError(text.count("\n", 0, location) + 1) from None
    events: list[tuple[str, CronRow, int]] = []
    for statement in statements:
        line = text.count("\n", 0, statement.stmt_location or 0) + 1
        for call in _calls(statement):
            schema, name = _func_name(call)
            if schema not in ("cron", None) or name not in ("schedule", "unschedule", "schedule_in_database"):
                continue
            evaluator = Evaluator()
            values: list[Any] = []
            named: dict[str, Any] = {}
            for arg in call.args or ():
                if type(arg).__name__ == "NamedArgExpr":
                    named[str(arg.name).lower()] = evaluator.value(arg.arg)
                else:
                    values.append(evaluator.value(arg))
            if name == "unschedule":
                target = named.get("job_name", values[0] if values else None)
                if isinstance(target, str):
                    events.append(("unschedule", CronRow(0, target, "", ""), line))
                continue
            order = ["job_name", "schedule", "command"]
            if len(values) + len(named) == 2 and "job_name" not in named:
                order = ["schedule", "command"]
            given = dict(zip(order, values, strict=False)) | named
            jobname, schedule, command = given.get("job_name"), given.get("schedule"), given.get("command")
            if not (isinstance(schedule, str) and isinstance(command, str)) or not (
                jobname is None or isinstance(jobname, str)
            ):
                events.append(("skip", CronRow(0, None, "", ""), line))
                continue
            events.append(("schedule", CronRow(0, jobname, schedule, command), line))
    return events
