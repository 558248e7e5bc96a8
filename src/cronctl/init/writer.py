"""Write drafts as runbook TOML: a new file, or new [jobs.*] tables appended to an existing runbook.

Appending keeps every hand edit of the existing file byte for byte. What could not be inferred is written as
`# TODO:` comments above the job. The result is validated with the runbook loader before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cronctl.errors import RunbookError, ScheduleError, UsageError
from cronctl.init.draft import DraftJob

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+\Z")


@dataclass
class WriteResult:
    path: Path
    mode: str  # new | overwrite | merge
    text: str
    written: bool
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # already in the runbook: left as they were
    commented: list[str] = field(default_factory=list)  # written commented out (nothing to fire or judge)
    backup: Path | None = None  # the previous file, kept when an existing runbook was replaced or merged into


def _basic_string(text: str) -> str:
    # JSON escapes match TOML's basic strings, except that TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _basic_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _basic_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _schedule_ok(schedule: str) -> str | None:
    """Why pg_cron (any version) would refuse the schedule, or None; a schedule that never fires is valid."""
    from cronctl.schedule import NeverFiresError, Schedule

    try:
        Schedule.parse(schedule, "UTC")
    except NeverFiresError:
        return None
    except ScheduleError as exc:
        return str(exc)
    return None


def _schedule_notes(draft: DraftJob) -> list[str]:
    """What the job's own scheduler makes of its schedule: never fires, ignored parts, Vercel/GitHub rules."""
    from cronctl.schedule import NeverFiresError, Schedule, explain_expression, scheduler_rules

    if not draft.schedule:
        return []
    notes: list[str] = []
    try:
        Schedule.parse(draft.schedule, "UTC")
    except NeverFiresError as exc:
        notes.append(f"schedule: {exc}")
    except ScheduleError:
        return []
    try:
        entry, _, _ = explain_expression(draft.schedule)
        notes += [f"schedule: {n}" for n in entry.ignored]
    except ScheduleError:
        pass
    refused, warnings = scheduler_rules(draft.schedule, draft.scheduler)
    notes += [f"schedule: {n}" for n in refused + warnings]
    return notes


def job_block(draft: DraftJob, *, uncommented: bool = False) -> tuple[str, bool]:
    """The TOML for one job, and whether it is written commented out (no request, workflow or pg_cron job)."""
    sql_only = draft.runs_sql and draft.url is None and draft.workflow is None
    lines = [f"# from {draft.source}"]
    lines += [f"# note: {n}" for n in draft.notes + _schedule_notes(draft)]
    todos = list(draft.todos)
    schedule_error = _schedule_ok(draft.schedule) if draft.schedule else None
    if schedule_error:
        todos.append(f"schedule {draft.schedule!r} is not understood ({schedule_error})")
    lines += [f"# TODO: {t}" for t in todos]
    body: list[str] = [f"[jobs.{toml_key(draft.name)}]"]
    if draft.description:
        body.append(f"description = {toml_value(draft.description)}")
    if draft.schedule and not schedule_error:
        body.append(f"schedule = {toml_value(draft.schedule)}")
    if not sql_only:
        body.append(f"method = {toml_value(draft.method)}")
    if draft.url:
        body.append(f"url = {toml_value(draft.url)}")
    if draft.headers:
        body.append(f"headers = {toml_value(draft.headers)}")
    if draft.body is not None and draft.method != "GET" and not sql_only:
        body.append(f"body = {toml_value(draft.body)}")
    if draft.timeout is not None:
        body.append(f"timeout = {toml_value(_seconds(draft.timeout))}")
    if draft.env:
        body.append(f"env = {toml_value(draft.env)}")
    auth = draft.auth
    if auth.kind != "none":
        fields = {"kind": auth.kind, "secret_env": auth.secret_env, "header": auth.header,
                  "apikey_env": auth.apikey_env}  # fmt: skip
        body.append(f"auth = {toml_value(fields)}")
    if draft.pg_cron:
        history: dict[str, Any] = {"pg_cron": draft.pg_cron}
        if draft.pg_net:
            history["pg_net"] = True
        body.append(f"history = {toml_value(history)}")
    body.append(f"scheduler = {toml_value(draft.scheduler)}")
    if draft.workflow:
        body += [
            "",
            f"[jobs.{toml_key(draft.name)}.dispatch]",
            'repo = "${GITHUB_REPOSITORY}"',
            f"workflow = {toml_value(draft.workflow)}",
        ]
        if draft.dispatch_inputs:
            body.append(f"inputs = {toml_value(draft.dispatch_inputs)}")
    # A SQL job is known by its cron.job name; without one (or without a readable URL) nothing can fire or judge it.
    commented = draft.unsure or (draft.url is None and draft.workflow is None and not (sql_only and draft.pg_cron))
    if commented and not uncommented:
        body = [f"# {line}" if line else "#" for line in body]
    return "\n".join(lines + body) + "\n", commented


SECRETS_TABLE_BLOCK = """# The pg_cron commands read URLs and keys with public.get_secret().
# `cronctl secrets check` reads this table (values are never shown) and `cronctl secrets rotate <key>` updates it.
[secrets_table]
table = "cron_secrets"
"""


def header(name: str, description: str, origin: str, database: bool) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        f"# Drafted by `cronctl init {origin}` on {stamp}. Review every TODO, then run `cronctl doctor`.",
        "",
        "[runbook]",
        f"name = {toml_value(name)}",
        f"description = {toml_value(description)}",
        "",
    ]
    if database:
        lines += ["[connection]", 'database_url = "${DATABASE_URL}"', ""]
    return "\n".join(lines) + "\n"


def render_new(
    drafts: list[DraftJob], name: str, description: str, origin: str, *, uncommented: bool = False
) -> tuple[str, list[str]]:
    database = any(d.scheduler == "pg_cron" for d in drafts)
    parts = [header(name, description, origin, database)]
    if any(d.uses_secrets_table for d in drafts):
        parts.append(SECRETS_TABLE_BLOCK + "\n")
    commented = []
    for draft in drafts:
        block, is_commented = job_block(draft, uncommented=uncommented)
        parts.append(block + "\n")
        if is_commented:
            commented.append(draft.name)
    return "".join(parts).rstrip("\n") + "\n", commented


def render_merge(existing: str, drafts: list[DraftJob], origin: str) -> tuple[str, list[str], list[str], list[str]]:
    """(text, added, kept, commented): the existing text unchanged, new jobs appended after it."""
    try:
        data = tomllib.loads(existing)
    except tomllib.TOMLDecodeError as exc:
        raise RunbookError(f"cannot merge: the existing runbook is not valid TOML ({exc})") from None
    known = set((data.get("jobs") or {}).keys())
    added: list[str] = []
    kept: list[str] = []
    commented: list[str] = []
    blocks: list[str] = []
    for draft in drafts:
        if draft.name in known:
            kept.append(draft.name)
            continue
        block, is_commented = job_block(draft)
        blocks.append(block)
        (commented if is_commented else added).append(draft.name)
    if any(d.uses_secrets_table and d.name in added for d in drafts) and "secrets_table" not in data:
        blocks.insert(0, SECRETS_TABLE_BLOCK)
    text = existing
    if blocks:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        text = existing.rstrip("\n") + f"\n\n# ---- added by `cronctl init {origin}` on {stamp}\n\n"
        text += "\n".join(blocks)
    return text, added, kept, commented


def validate(text: str, path: Path) -> None:
    from cronctl.runbook.loader import parse_runbook

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunbookError(f"the drafted runbook is not valid TOML ({exc}); nothing written") from None
    parse_runbook(data, path)


def write_runbook(
    drafts: list[DraftJob],
    path: Path,
    *,
    name: str,
    description: str,
    origin: str,
    merge: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> WriteResult:
    exists = path.exists()
    if merge and exists:
        existing = path.read_text(encoding="utf-8")
        text, added, kept, commented = render_merge(existing, drafts, origin)
        mode = "merge"
    else:
        if exists and not force:
            raise UsageError(f"{path} exists: pass --merge to add new jobs to it, or --force to replace it")
        text, commented = render_new(drafts, name, description, origin)
        added, kept = [d.name for d in drafts if d.name not in commented], []
        mode = "overwrite" if exists else "new"
    if not added and not commented and mode != "merge":
        raise UsageError("nothing to write: no job was found")
    if added or mode == "merge":
        validate(text, path)
    else:
        # Every job is written commented out for review: check that they load once uncommented.
        validate(render_new(drafts, name, description, origin, uncommented=True)[0], path)
    written = False
    backup: Path | None = None
    if not dry_run and (mode != "merge" or added or commented):
        if exists:
            # Hand edits are never lost, even to --force: the previous file stays next to the new one.
            backup = path.with_name(path.name + ".bak")
            shutil.copy2(path, backup)
        _atomic_write(path, text)
        written = True
    return WriteResult(path, mode, text, written, added, kept, commented, backup)


def _atomic_write(path: Path, text: str) -> None:
    from cronctl.redact import redact

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(redact(text), encoding="utf-8")  # every sink is masked last: a file written is one too
    os.replace(tmp, path)
