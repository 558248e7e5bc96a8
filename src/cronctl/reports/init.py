"""`cronctl init`: what was drafted, what was kept, and what still needs a human (the TODOs)."""

from __future__ import annotations

from typing import Any

from cronctl.init.draft import DraftJob
from cronctl.init.writer import WriteResult
from cronctl.output.report import KeyValues, Report, Table, Text


def _auth_label(draft: DraftJob) -> str:
    from cronctl import auth
    from cronctl.runbook.model import AuthSpec

    found = draft.auth
    spec = AuthSpec(kind=found.kind, secret_env=found.secret_env, header=found.header, apikey_env=found.apikey_env)
    return auth.label(spec, variables=True)  # the scheme names itself, with the variables it reads


def _status(draft: DraftJob, result: WriteResult) -> str:
    if draft.name in result.kept:
        return "kept (already in runbook)"
    if draft.name in result.commented:
        return "commented out"
    return "added"


def init_report(drafts: list[DraftJob], result: WriteResult, skipped: list[str], dry_run: bool) -> Report:
    jobs: list[dict[str, Any]] = []
    rows = []
    for draft in drafts:
        status = _status(draft, result)
        jobs.append(
            {
                "name": draft.name,
                "status": status.split(" ")[0],
                "source": draft.source,
                "scheduler": draft.scheduler,
                "schedule": draft.schedule,
                "method": None if draft.runs_sql else draft.method,
                "url": draft.url,
                "auth": _auth_label(draft),
                "env": list(draft.env),
                "workflow": draft.workflow,
                "todos": list(draft.todos),
            }
        )
        if draft.runs_sql:
            request = "SQL (pg_cron)"
        elif draft.url:
            request = f"{draft.method} {draft.url}"
        else:
            request = f"dispatch {draft.workflow or '-'}"
        rows.append([draft.name, draft.schedule or "-", request, _auth_label(draft), status, len(draft.todos)])
    todo_rows = [[d.name, t] for d in drafts if d.name not in result.kept for t in d.todos]
    env_names = sorted({n for d in drafts for n in d.env})
    data = {
        "path": str(result.path),
        "mode": result.mode,
        "written": result.written,
        "dry_run": dry_run,
        "jobs": jobs,
        "added": result.added,
        "kept": result.kept,
        "commented": result.commented,
        "env": env_names,
        "skipped_sources": skipped,
        "todo_count": len(todo_rows),
        "toml": result.text if dry_run else None,
    }
    verb = "would write" if dry_run else ("wrote" if result.written else "left unchanged")
    sections: list[Any] = [
        KeyValues([("runbook", str(result.path)), ("mode", result.mode), ("variables", ", ".join(env_names) or "-")]),
        Table(["job", "schedule", "request", "auth", "result", "todos"], rows, title="Jobs", wrap=(2,)),
    ]
    if todo_rows:
        sections.append(Table(["job", "todo"], todo_rows, title="To do (also written as comments)", wrap=(1,)))
    if skipped:
        sections.append(Text("Skipped: " + "; ".join(skipped), tone="muted"))
    if dry_run:
        sections.append(Text(result.text))
    else:
        sections.append(Text(f"Next: cronctl doctor -r {result.path}", tone="muted"))
    return Report(
        data=data,
        sections=sections,
        title="cronctl init",
        headline=f"{verb} {result.path}: {len(result.added)} job(s) added, {len(result.kept)} kept, "
        f"{len(todo_rows)} TODO(s)",
        tone="warn" if todo_rows else "ok",
    )
