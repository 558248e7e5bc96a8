"""Draft jobs from GitHub Actions workflows: `on.schedule` crons, and the curl a step runs (URL, method,
headers, body) where it can be read. Workflows with `workflow_dispatch` can also be fired through GitHub.

Every `- cron:` of a workflow is kept: a runbook job has one schedule, so a workflow with several schedules
becomes one job per schedule (`nightly`, `nightly-2`, …), all firing the same request and workflow.
curl is found anywhere in a `run:` script: on its own line, after `|` / `&&`, inside `$( … )` or backticks,
over continued (`\\`) and multi-line quoted arguments. A URL held in an `env:` variable (workflow, job or step)
is followed; `${{ secrets.X }}` / `${{ vars.X }}` / `${{ env.X }}` become `${X}`.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from cronctl.errors import UsageError
from cronctl.init.draft import DraftJob, Redactor, SecretNames, job_name, unique_names
from cronctl.init.pgcron import apply_headers
from cronctl.init.yamlish import YamlError, loads
from cronctl.userfiles import read_bounded

_EXPR = re.compile(r"\$\{\{\s*(?:secrets|env|vars|inputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OTHER_EXPR = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
_BARE_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_BRACED_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DATA_OPTS = ("-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--json", "--data-urlencode")
_ARG_OPTS = {
    "-o", "--output", "-w", "--write-out", "--connect-timeout", "--retry", "--retry-delay", "--retry-max-time",
    "-A", "--user-agent", "-e", "--referer", "-F", "--form", "-b", "--cookie", "-c", "--cookie-jar", "-u", "--user",
    "--max-redirs", "-x", "--proxy", "--cacert", "--cert", "--key", "-K", "--config", "--resolve", "--oauth2-bearer",
    "-T", "--upload-file", "--limit-rate", "-y", "--speed-time", "-Y", "--speed-limit", "--interface",
}  # fmt: skip
_STOP = {"|", "||", "&&", ";", ">", ">>", "<", "&", "\n", ")", "(", ";;", "|&", "2>", "&>"}
MAX_WORKFLOW = 1024 * 1024


def workflow_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"not a file or directory: {path}")
    return sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def reserve_references(path: Path, names: SecretNames) -> None:
    """Reserve every variable name the workflows refer to (`${{ secrets.X }}`, `$X`): a literal secret
    found elsewhere never takes a name that already means another value."""
    for file in workflow_files(path):
        try:
            text = read_bounded(file, MAX_WORKFLOW).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for name in _EXPR.findall(text) + re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text):
            names.reserve(name)


def drafts_from_github(path: Path, names: SecretNames | None = None) -> tuple[list[DraftJob], list[str]]:
    """Jobs from every scheduled workflow under `path`, and notes about the files skipped."""
    names = names or SecretNames()
    drafts: list[DraftJob] = []
    skipped: list[str] = []
    for file in workflow_files(path):
        try:
            data = loads(read_bounded(file, MAX_WORKFLOW).decode("utf-8"), str(file))
        except YamlError as exc:
            skipped.append(f"{exc} (not valid YAML)")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            skipped.append(f"{file}: not read ({getattr(exc, 'strerror', None) or type(exc).__name__})")
            continue
        found = drafts_from_workflow(file.name, data, names)
        if not found:
            skipped.append(f"{file.name}: no on.schedule")
            continue
        drafts += found
    unique_names(drafts)
    return drafts, skipped


def _trigger(data: dict[str, Any]) -> Any:
    for key in ("on", True, "true"):
        if key in data:
            return data[key]
    return None


def draft_from_workflow(filename: str, data: Any, names: SecretNames | None = None) -> DraftJob | None:
    found = drafts_from_workflow(filename, data, names)
    return found[0] if found else None


def drafts_from_workflow(filename: str, data: Any, names: SecretNames | None = None) -> list[DraftJob]:
    names = names or SecretNames()
    if not isinstance(data, dict):
        return []
    trigger = _trigger(data)
    if not isinstance(trigger, dict):
        return []
    entries = trigger.get("schedule")
    crons = [str(e["cron"]) for e in entries or [] if isinstance(e, dict) and e.get("cron")] if isinstance(
        entries, list) else []  # fmt: skip
    if not crons:
        return []
    stem = filename.rsplit(".", 1)[0]
    drafts: list[DraftJob] = []
    for index, cron in enumerate(crons):
        draft = DraftJob(
            name=job_name(stem, "workflow") + (f"-{index + 1}" if index else ""),
            source=f"workflow {filename}" + (f" (schedule {index + 1} of {len(crons)})" if len(crons) > 1 else ""),
            scheduler="github",
            schedule=cron.strip(),
            description=str(data.get("name") or ""),
        )
        if len(crons) > 1:
            others = ", ".join(f"'{c}'" for i, c in enumerate(crons) if i != index)
            draft.notes.append(f"the workflow has {len(crons)} schedules: one job per schedule (also {others})")
        _fill(draft, filename, data, trigger, Redactor(draft, names, "the workflow"))
        drafts.append(draft)
    return drafts


def _fill(draft: DraftJob, filename: str, data: dict[str, Any], trigger: dict[str, Any], redact: Redactor) -> None:
    if "workflow_dispatch" in trigger:
        draft.workflow = filename
        dispatch = trigger.get("workflow_dispatch")
        inputs = dispatch.get("inputs") if isinstance(dispatch, dict) else None
        if isinstance(inputs, dict) and inputs:
            draft.notes.append(f"workflow_dispatch inputs: {', '.join(map(str, inputs))}")
    curls = [(c, env) for script, env in _run_scripts(data) for c in curl_commands(script)]
    if not curls:
        draft.todos.append("no curl found in the workflow's steps; the URL and request could not be read")
        if draft.workflow is None:
            draft.workflow = filename
            draft.todos.append("the workflow has no workflow_dispatch: add it to fire the job by hand")
        return
    if len(curls) > 1:
        draft.todos.append(f"the workflow runs {len(curls)} curl commands; the first is used")
    args, env = curls[0]
    apply_curl(draft, args, redact, env)


def _env_map(*blocks: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for block in blocks:
        if isinstance(block, dict):
            for key, value in block.items():
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    out[str(key)] = str(value)
    return out


def _run_scripts(data: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    scripts: list[tuple[str, dict[str, str]]] = []
    jobs = data.get("jobs")
    for job in jobs.values() if isinstance(jobs, dict) else ():
        if not isinstance(job, dict):
            continue
        steps = job.get("steps")
        for step in steps if isinstance(steps, list) else ():
            if isinstance(step, dict) and isinstance(step.get("run"), str):
                scripts.append((step["run"], _env_map(data.get("env"), job.get("env"), step.get("env"))))
    return scripts


def curl_commands(script: str) -> list[list[str]]:
    """The argument lists (after `curl`) of every curl command in a shell script."""
    joined = re.sub(r"\\\r?\n", " ", script)
    joined = _EXPR.sub(lambda m: "${" + m.group(1) + "}", joined)
    out: list[list[str]] = []
    for match in re.finditer(r"(?<![\w./-])curl(?=[ \t])", joined):
        args = _words_after(joined[match.end() :])
        if args is not None:
            out.append(args)
    return out


def _words_after(rest: str) -> list[str] | None:
    try:
        lexer = shlex.shlex(rest.replace("`", "\n"), posix=True, punctuation_chars="|&;<>()\n")
        lexer.whitespace = " \t\r"
        lexer.whitespace_split = True
        args: list[str] = []
        for token in lexer:
            if token in _STOP or (token and set(token) <= set("|&;<>()\n")):
                break
            args.append(token)
    except ValueError:
        return None  # an unclosed quote
    return args


def _var_refs(text: str) -> str:
    text = _EXPR.sub(lambda m: "${" + m.group(1) + "}", text)
    return _BARE_VAR.sub(lambda m: "${" + m.group(1) + "}", text)


def apply_curl(
    draft: DraftJob, args: list[str], redact: Redactor | None = None, env: dict[str, str] | None = None
) -> None:
    redact = redact or Redactor(draft, SecretNames(), "the workflow")
    env = env or {}
    method, url, data = None, None, None
    headers: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if arg in ("-X", "--request") and value:
            method, i = value.upper(), i + 2
        elif arg.startswith("-X") and len(arg) > 2:
            method, i = arg[2:].upper(), i + 1
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
                draft.todos.append("the curl --max-time is not a number; set timeout by hand")
            i += 2
        elif arg == "--url" and value:
            url, i = value, i + 2
        elif arg in ("-I", "--head"):
            method, i = "HEAD", i + 1
        elif arg in _ARG_OPTS:
            if arg in ("-u", "--user"):
                draft.todos.append("curl sends basic auth (-u); not carried over (the value was left out)")
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
        _apply_url(draft, _var_refs(url), env, redact)
    apply_headers(draft, headers, redact)
    if data is not None:
        _apply_data(draft, _var_refs(data), redact)
    elif draft.method == "POST":
        draft.body = {}


def _apply_url(draft: DraftJob, url: str, env: dict[str, str], redact: Redactor) -> None:
    whole = _BRACED_VAR.fullmatch(url.strip())
    if whole and whole.group(1) in env:
        # `curl "$URL"` with URL set in an env: block: its value (or the secret it names) is the URL.
        value = _EXPR.sub(lambda m: "${" + m.group(1) + "}", env[whole.group(1)])
        if not _OTHER_EXPR.search(value):
            url = value
    else:
        head = re.match(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}(/.*)?$", url.strip())
        if head and head.group(1) in env:
            value = _EXPR.sub(lambda m: "${" + m.group(1) + "}", env[head.group(1)])
            if re.match(r"^(https?://|\$\{[A-Za-z_][A-Za-z0-9_]*\}$)", value) and not _OTHER_EXPR.search(value):
                url = value.rstrip("/") + (head.group(2) or "")
    if _OTHER_EXPR.search(url) or not re.match(r"^(https?://|\$\{)", url):
        draft.todos.append("the curl URL is not usable as it is (a shell or workflow expression); set url by hand")
        return
    draft.url = redact.url(url)
    draft.add_refs(draft.url)


def _apply_data(draft: DraftJob, data: str, redact: Redactor) -> None:
    if data.startswith("@"):
        draft.todos.append("the body is read from a file; not carried over")
        return
    try:
        body = json.loads(data)
    except ValueError:
        draft.todos.append("the body is not JSON; not carried over")
        return
    if isinstance(body, dict | list):
        draft.body = redact.body(body)
        if isinstance(draft.body, dict | list):
            draft.add_refs(json.dumps(draft.body))
    else:
        draft.todos.append("the body is not a JSON object; not carried over")
