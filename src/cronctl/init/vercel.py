"""Draft jobs from vercel.json: each `crons` entry is a GET with `Authorization: Bearer $CRON_SECRET`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cronctl.errors import UsageError
from cronctl.init.draft import DraftAuth, DraftJob, job_name, unique_names

BASE_ENV = "APP_URL"


def drafts_from_vercel(path: Path) -> list[DraftJob]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    crons = data.get("crons")
    if not isinstance(crons, list) or not crons:
        raise UsageError(f'{path}: no "crons" entries')
    durations = _max_durations(data.get("functions"))
    drafts = []
    for index, entry in enumerate(crons):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise UsageError(f'{path}: crons[{index}] needs a "path"')
        drafts.append(_draft(entry, index, path, durations))
    unique_names(drafts)
    return drafts


def _draft(entry: dict[str, Any], index: int, path: Path, durations: dict[str, float]) -> DraftJob:
    route = entry["path"]
    segments = [s for s in route.split("?")[0].split("/") if s]
    name = segments[-1] if segments else f"cron-{index + 1}"
    if len(segments) >= 2 and segments[-2] not in ("cron", "api", "crons"):
        name = f"{segments[-2]}-{segments[-1]}"
    draft = DraftJob(
        name=job_name(name, f"cron-{index + 1}"),
        source=f"{path.name} crons[{index}]",
        scheduler="vercel",
        schedule=entry.get("schedule") if isinstance(entry.get("schedule"), str) else None,
        method="GET",
        url="${" + BASE_ENV + "}" + (route if route.startswith("/") else "/" + route),
        auth=DraftAuth(kind="bearer", secret_env="CRON_SECRET"),
    )
    draft.add_env(BASE_ENV, "CRON_SECRET")
    if draft.schedule is None:
        draft.todos.append("the entry has no schedule")
    timeout = _timeout_for(route, durations)
    if timeout is not None:
        draft.timeout = timeout
        draft.notes.append("timeout is the function's maxDuration in vercel.json")
    else:
        draft.todos.append("timeout: set the route's maxDuration (Vercel's default depends on the plan)")
    return draft


def _max_durations(functions: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(functions, dict):
        for pattern, config in functions.items():
            if isinstance(config, dict) and isinstance(config.get("maxDuration"), int | float):
                out[str(pattern)] = float(config["maxDuration"])
    return out


def _timeout_for(route: str, durations: dict[str, float]) -> float | None:
    """maxDuration of a `functions` entry whose file pattern names this route (app/api/cron/x/route.ts)."""
    stem = route.split("?")[0].strip("/")
    for pattern, seconds in durations.items():
        if stem and stem in pattern:
            return seconds
    return None
