"""Draft jobs from GitHub Actions workflows: `on.schedule` crons, and the curl a step runs (URL, method,
headers, body) where it can be read. Workflows with `workflow_dispatch` can also be fired through GitHub.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from cronctl.errors import UsageError
from cronctl.init.draft import DraftJob, job_name, unique_names
from cronctl.init.pgcron import apply_headers
from cronctl.init.yamlish import YamlError, loads

_EXPR = re.compile(r"\$\{\{\s*(?:secrets|env|vars|inputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OTHER_EXPR = re.compile(r"\$\{\{.*?\}\}")
_BARE_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_DATA_OPTS = ("-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--json")
_ARG_OPTS = {
    "-o", "--output", "-w", "--write-out", "--connect-timeout", "--retry", "--retry-delay", "--retry-max-time",
    "-A", "--user-agent", "-e", "--referer", "-F", "--form", "-b", "--cookie", "-c", "--cookie-jar", "-u", "--user",
    "--max-redirs", "-x", "--proxy", "--cacert", "--cert", "--key", "-K", "--config", "--resolve",
}  # fmt: skip
_STOP = {"|", "||", "&&", ";", ">", ">>", "<", "&"}


def workflow_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"not a file or directory: {path}")
    return sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def drafts_from_github(path: Path) -> tuple[list[DraftJob], list[str]]:
    """Jobs from every scheduled workflow under `path`, and notes about the files skipped."""
    drafts, skipped = [], []
    for file in workflow_files(path):
        try:
            data = loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YamlError) as exc:
            skipped.append(f"{file.name}: not read ({exc})")
            continue
        draft = draft_from_workflow(file.name, data)
        if draft is None:
            skipped.append(f"{file.name}: no on.schedule")
            continue
        drafts.append(draft)
    unique_names(drafts)
    return drafts, skipped


def draft_from_workflow(filename: str, data: Any) -> DraftJob | None:
    if not isinstance(data, dict):
        return None
    trigger = data.get("on", data.get("true"))
    if not isinstance(trigger, dict):
        return None
    crons = [str(e.get("cron")) for e in trigger.get("schedule") or [] if isinstance(e, dict) and e.get("cron")]
    if not crons:
        return None
    stem = filename.rsplit(".", 1)[0]
    draft = DraftJob(
        name=job_name(stem, "workflow"),
        source=f"workflow {filename}",
        scheduler="github",
        schedule=str(crons[0]),
        description=str(data.get("name") or ""),
    )
    if len(crons) > 1:
        draft.todos.append(f"the workflow has {len(crons)} schedules; only the first is kept: {', '.join(crons)}")
    if "workflow_dispatch" in trigger:
        draft.workflow = filename
        inputs = (trigger.get("workflow_dispatch") or {}).get("inputs") if isinstance(
            trigger.get("workflow_dispatch"), dict) else None  # fmt: skip
        if isinstance(inputs, dict) and inputs:
            draft.notes.append(f"workflow_dispatch inputs: {', '.join(inputs)}")
    curls = [c for script in _run_scripts(data) for c in curl_commands(script)]
    if not curls:
        draft.todos.append("no curl found in the workflow's steps; the URL and request could not be read")
        if draft.workflow is None:
            draft.workflow = filename
            draft.todos.append("the workflow has no workflow_dispatch: add it to fire the job by hand")
        return draft
    if len(curls) > 1:
        draft.todos.append(f"the workflow runs {len(curls)} curl commands; the first is used")
    apply_curl(draft, curls[0])
    return draft


def _run_scripts(data: dict[str, Any]) -> list[str]:
    scripts = []
    jobs = data.get("jobs")
    for job in (jobs or {}).values() if isinstance(jobs, dict) else ():
        for step in (job or {}).get("steps") or [] if isinstance(job, dict) else ():
            if isinstance(step, dict) and isinstance(step.get("run"), str):
                scripts.append(step["run"])
    return scripts


def curl_commands(script: str) -> list[list[str]]:
    """The argument lists (after `curl`) of every curl command in a shell script."""
    joined = re.sub(r"\\\r?\n", " ", script)
    joined = _EXPR.sub(lambda m: "${" + m.group(1) + "}", joined)
    out = []
    for line in joined.splitlines():
        if "curl" not in line:
            continue
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            continue
        if "curl" not in tokens:
            continue
        args = []
        for token in tokens[tokens.index("curl") + 1 :]:
            if token in _STOP:
                break
            args.append(token)
        out.append(args)
    return out


def _var_refs(text: str) -> str:
    text = _EXPR.sub(lambda m: "${" + m.group(1) + "}", text)
    return _BARE_VAR.sub(lambda m: "${" + m.group(1) + "}", text)


def apply_curl(draft: DraftJob, args: list[str]) -> None:
    method, url, data = None, None, None
    headers: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if arg in ("-X", "--request") and value:
            method, i = value.upper(), i + 2
        elif arg in ("-H", "--header") and value:
            name, _, header_value = value.partition(":")
            headers[name.strip()] = _var_refs(header_value.strip())
            i += 2
        elif arg in _DATA_OPTS and value is not None:
            data = value
            if arg == "--json":
                headers.setdefault("Content-Type", "application/json")
            i += 2
        elif arg in ("-m", "--max-time") and value:
            try:
                draft.timeout = float(value)
            except ValueError:
                draft.todos.append(f"timeout not read from --max-time {value}")
            i += 2
        elif arg == "--url" and value:
            url, i = value, i + 2
        elif arg in _ARG_OPTS:
            if arg in ("-u", "--user"):
                draft.todos.append("curl sends basic auth (-u); not carried over")
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            url = url or arg
            i += 1
    draft.method = method or ("POST" if data is not None else "GET")
    if url is None:
        draft.todos.append("the curl command has no URL")
    else:
        url = _var_refs(url)
        if _OTHER_EXPR.search(url) or not re.match(r"^(https?://|\$\{)", url):
            draft.todos.append(f"URL not usable as is: {url}")
        else:
            draft.url = url
            draft.add_env(*re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", url))
    apply_headers(draft, headers)
    if data is not None:
        _apply_data(draft, _var_refs(data))
    elif draft.method == "POST":
        draft.body = {}


def _apply_data(draft: DraftJob, data: str) -> None:
    if data.startswith("@"):
        draft.todos.append(f"the body is read from a file ({data}); not carried over")
        return
    try:
        body = json.loads(data)
    except ValueError:
        draft.todos.append("the body is not JSON; not carried over")
        return
    if isinstance(body, dict | list):
        draft.body = body
    else:
        draft.todos.append("the body is not a JSON object; not carried over")
