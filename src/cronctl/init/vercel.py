"""Draft jobs from vercel.json: each `crons` entry is a GET with `Authorization: Bearer $CRON_SECRET`.

A route's timeout is the `maxDuration` of the `functions` entry whose glob pattern (`api/cron/*.ts`,
`app/api/**/route.ts`, `src/pages/api/{a,b}.js`) matches a file that serves the route; the most specific
pattern wins. A credential in a cron path's query string (`/api/cron/x?secret=…`) becomes a `${VAR}`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cronctl.errors import UsageError
from cronctl.init.draft import DraftAuth, DraftJob, Redactor, SecretNames, job_name, unique_names
from cronctl.userfiles import read_bounded

BASE_ENV = "APP_URL"


def drafts_from_vercel(path: Path, names: SecretNames | None = None) -> list[DraftJob]:
    names = names or SecretNames()
    try:
        data = json.loads(read_bounded(path, 4 * 1024 * 1024).decode("utf-8"))
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
        drafts.append(_draft(entry, index, path, durations, names))
    unique_names(drafts)
    return drafts


def _draft(entry: dict[str, Any], index: int, path: Path, durations: dict[str, float], names: SecretNames) -> DraftJob:
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
    assert draft.url is not None
    draft.url = Redactor(draft, names, "vercel.json").url(draft.url)
    draft.add_refs(draft.url)
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
    """maxDuration of the most specific `functions` pattern matching a file that serves this route."""
    files = route_files(route)
    best: tuple[int, float] | None = None
    for pattern, seconds in durations.items():
        regex = glob_regex(pattern)
        if any(regex.fullmatch(f) for f in files):
            weight = len(re.sub(r"[*?{},\[\]]", "", pattern))
            if best is None or weight > best[0]:
                best = (weight, seconds)
    return best[1] if best else None


_EXTENSIONS = ("ts", "js", "tsx", "jsx", "mjs", "cjs", "mts", "py", "go", "rb")


def route_files(route: str) -> list[str]:
    """Files that can serve `route` in a Vercel project: Next.js app/ and pages/ routers (with or without
    src/), and the /api directory of Vercel Functions."""
    stem = route.split("?")[0].strip("/")
    if not stem:
        return []
    out: list[str] = []
    for root in ("", "src/"):
        for ext in _EXTENSIONS:
            out += [
                f"{root}app/{stem}/route.{ext}",
                f"{root}pages/{stem}.{ext}",
                f"{root}pages/{stem}/index.{ext}",
                f"{root}{stem}.{ext}",
                f"{root}{stem}/index.{ext}",
            ]
    return out


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Vercel's `functions` glob as a regex: `**` spans directories, `*` and `?` do not, `{a,b}` picks one."""
    text = pattern.strip().lstrip("./").lstrip("/")
    out = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif text.startswith("**", i):
            out += ".*"
            i += 2
        elif ch == "*":
            out += "[^/]*"
            i += 1
        elif ch == "?":
            out += "[^/]"
            i += 1
        elif ch == "{":
            end = text.find("}", i)
            if end < 0:
                out += re.escape(ch)
                i += 1
                continue
            out += "(?:" + "|".join(re.escape(p) for p in text[i + 1 : end].split(",")) + ")"
            i = end + 1
        elif ch == "[":
            end = text.find("]", i)
            if end < 0:
                out += re.escape(ch)
                i += 1
                continue
            out += "[" + text[i + 1 : end].replace("\\", "\\\\") + "]"
            i = end + 1
        else:
            out += re.escape(ch)
            i += 1
    try:
        return re.compile(out)
    except re.error:
        return re.compile(re.escape(text))
