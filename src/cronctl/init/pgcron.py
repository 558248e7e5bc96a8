"""Draft jobs from cron.job rows (or `cron.schedule(...)` calls in SQL files): the schedule, and for HTTP
commands the request they send.

- pg_net (`net.http_post` / `net.http_get` / `net.http_delete`): asynchronous; pg_cron's `succeeded` only says
  the request was queued, so the job is judged from pg_net's answers (history.pg_net).
- pgsql-http (`http_post(url, content, content_type)`, `http_get(url)`, `http((…)::http_request)`,
  `extensions.http_*`): synchronous; the answer is the statement's result, so pg_cron's own status is the
  outcome.
- anything else is plain SQL: a database job, judged by its pg_cron history, run by hand with `pgcron run`.

No literal value that could be a credential reaches the draft (see cronctl.init.draft): references inside the
database (`get_secret('x')`, Vault, `current_setting('app.x')`, the project's own functions) become `${X}`;
literal tokens become variables named after their key, with a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cronctl.init.draft import (
    REFERENCE,
    SECRET_NAME,
    DraftAuth,
    DraftJob,
    Redactor,
    SecretNames,
    env_name,
    job_name,
    unique_names,
)
from cronctl.init.sqlexpr import Command, Unknown, read_command

_SECRET_HEADER = SECRET_NAME  # kept for callers that test key names
PG_NET_DEFAULT_TIMEOUT = 5.0  # pg_net's timeout_milliseconds default


@dataclass(frozen=True)
class CronRow:
    jobid: int
    jobname: str | None
    schedule: str
    command: str
    active: bool = True


def drafts_from_cron(
    rows: Iterable[CronRow], extensions: frozenset[str] | None = None, names: SecretNames | None = None
) -> list[DraftJob]:
    names = names or SecretNames()
    rows = list(rows)
    reserve_references((row.command for row in rows), extensions, names)
    drafts = [draft_from_cron(row, extensions, names) for row in rows]
    unique_names(drafts)
    return drafts


def reserve_references(commands: Iterable[str], extensions: frozenset[str] | None, names: SecretNames) -> None:
    """Keep the variables that stand for values inside the database (get_secret, Vault, settings) away from
    the names given to literal secrets: two different values never share a variable."""
    for sql in commands:
        try:
            command = read_command(sql, extensions)
        except Exception:  # drafting reports it
            continue
        for env in [*command.refs.table_keys.values(), *command.refs.other.values(), *command.guessed]:
            names.reserve(env)


def draft_from_cron(
    row: CronRow,
    extensions: frozenset[str] | None = None,
    names: SecretNames | None = None,
    source: str | None = None,
) -> DraftJob:
    names = names or SecretNames()
    draft = DraftJob(
        name=job_name(row.jobname or "", f"job-{row.jobid}"),
        source=source or (f"cron.job jobid {row.jobid}" + (f" ({row.jobname})" if row.jobname else "")),
        scheduler="pg_cron",
        schedule=row.schedule,
        pg_cron=row.jobname or None,
        inactive=not row.active,
    )
    where = "cron.job" if source is None else "the SQL file"
    if row.jobname is None:
        draft.todos.append("the cron.job row has no jobname; history is matched by name, so name it in cron.job")
    if not row.active:
        draft.notes.append("inactive in cron.job (active = false)")
    try:
        command = read_command(row.command, extensions)
    except Exception:
        command = Command("unparsed", problem="the command could not be read")
    if command.kind in ("sql", "unparsed"):
        # Plain SQL: a database job, judged by its pg_cron history and run by hand with `cronctl pgcron run`.
        draft.runs_sql = True
        draft.description = command.description
        target = row.jobname or str(row.jobid)
        draft.notes.append(f"runs SQL inside the database; run it by hand with `cronctl pgcron run {target}`")
        if command.kind == "unparsed":
            draft.notes.append(f"{command.problem}: it is kept as a SQL job, its text is not copied")
        return draft
    redact = Redactor(draft, names, where)
    _apply_command(draft, command, redact)
    return draft


def _apply_command(draft: DraftJob, command: Command, redact: Redactor) -> None:
    args = dict(command.args)
    draft.method = command.method
    draft.uses_secrets_table = bool(command.refs.table_keys)
    for env in [*command.refs.table_keys.values(), *command.refs.other.values()]:
        redact.names.reserve(env)
    if command.kind == "pg_net":
        draft.pg_net = True
        for key in ("headers", "body", "params"):
            # pg_net's parameters are jsonb: an untyped string literal is read as JSON.
            if isinstance(args.get(key), str) and "${" not in args[key]:
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    args[key] = Unknown("a string that is not valid JSON")
    else:
        draft.notes.append(
            f"sends the request with pgsql-http's {command.function}(): synchronous, so pg_cron's own status "
            "is the outcome (no pg_net answers to read)"
        )
    _apply_url(draft, args.get("url"), redact)
    if command.kind == "pg_net":
        _apply_params(draft, args.get("params"), redact)
        apply_headers(draft, args.get("headers"), redact)
        _apply_body(draft, args.get("body"), redact)
        _apply_timeout(draft, args.get("timeout_milliseconds"), "timeout_milliseconds" in args)
    else:
        apply_headers(draft, args.get("headers"), redact)
        content_type = args.get("content_type")
        if isinstance(content_type, str) and "json" not in content_type.lower() and "${" not in content_type:
            draft.headers.setdefault("Content-Type", content_type)
        _apply_content(draft, args.get("content"), redact)
        draft.notes.append("pgsql-http waits for the answer inside the job: its timeout is http.timeout_msec")
    if command.guessed:
        draft.unsure = True
        listed = ", ".join(f"${{{g}}}" for g in sorted(command.guessed))
        draft.todos.append(
            f"{listed} stands for a value the command reads from a table; set it (or edit the URL) and uncomment "
            "the job"
        )
    for key, env in command.refs.table_keys.items():
        draft.notes.append(f"{env} is cron_secrets key '{key}' (export the same value to trigger by hand)")
    for what, env in command.refs.other.items():
        draft.notes.append(f"{env} stands for {what} read inside the database (export the same value)")


def _apply_timeout(draft: DraftJob, timeout: Any, given: bool) -> None:
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        draft.timeout = timeout / 1000
    elif not given or timeout is None:
        draft.timeout = PG_NET_DEFAULT_TIMEOUT
        draft.notes.append("no timeout_milliseconds in the command: pg_net's default of 5 s applies")
    else:
        draft.todos.append(f"timeout_milliseconds is {_what(timeout)}; set timeout by hand")


def _what(value: Any) -> str:
    """What a value is, in words that never quote it."""
    if isinstance(value, Unknown):
        return value.what
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, str):
        return "a string"
    return "a " + type(value).__name__


def _apply_url(draft: DraftJob, url: Any, redact: Redactor) -> None:
    if isinstance(url, Unknown) and url.env_hint:
        url = "${" + url.env_hint + "}"
        draft.unsure = True
        draft.todos.append("the URL is computed in SQL; it is written as a variable: set it and uncomment the job")
    if isinstance(url, str) and re.match(r"^(https?://|\$\{)", url.strip()):
        draft.url = redact.url(url.strip())
        draft.add_refs(draft.url)
        return
    env = env_name(f"{draft.name}_url")
    if isinstance(url, str):
        draft.todos.append(f"the URL is not an http(s) address; written as ${{{env}}}: set it to the endpoint")
    else:
        draft.todos.append(
            f"the URL is {_what(url) if url is not None else 'missing'}; written as ${{{env}}}: set it to the "
            "endpoint the command calls"
        )
    draft.url = "${" + env + "}"
    draft.add_env(env)
    draft.unsure = True


def _apply_params(draft: DraftJob, params: Any, redact: Redactor) -> None:
    if params in (None, {}):
        return
    if not isinstance(params, dict) or draft.url is None:
        draft.todos.append(f"query parameters are {_what(params)}; not carried over")
        return
    parts = []
    from urllib.parse import quote

    for key, value in params.items():
        if isinstance(value, Unknown):
            env = env_name(str(key))
            draft.todos.append(f"query parameter {key!r} is {value.what}; written as ${{{env}}}")
            draft.add_env(env)
            parts.append(f"{quote(str(key))}=${{{env}}}")
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            parts.append(f"{quote(str(key))}={text if text.startswith('${') else quote(text)}")
    if parts:
        joined = "&".join(parts)
        draft.url = redact.url(draft.url + ("&" if "?" in draft.url else "?") + joined)
        draft.add_refs(draft.url)


def apply_headers(draft: DraftJob, headers: Any, redact: Redactor | None = None) -> None:
    redact = redact or Redactor(draft, SecretNames(), "the source")
    if headers is None:
        return
    if not isinstance(headers, dict):
        draft.todos.append(f"the headers are {_what(headers)}; set headers and auth by hand")
        return
    auth = DraftAuth()
    kept: dict[str, str] = {}
    for name, raw in headers.items():
        name = str(name)
        if isinstance(raw, Unknown):
            env = raw.env_hint if raw.env_hint else env_name(re.sub(r"^x[-_]", "", name, flags=re.IGNORECASE))
            draft.todos.append(f"header {name} is {raw.what}; written as ${{{env}}}: set it to what the command sends")
            value = "${" + env + "}"
        elif isinstance(raw, str):
            value = redact.header_value(name, raw)
        elif isinstance(raw, int | float | bool):
            value = json.dumps(raw)
        else:
            draft.todos.append(f"header {name} is {_what(raw)}; left out")
            continue
        lower = name.lower()
        bearer = re.fullmatch(r"Bearer\s+\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value)
        ref = REFERENCE.fullmatch(value)
        if lower == "authorization" and bearer and auth.secret_env is None:
            auth.kind, auth.secret_env = "bearer", bearer.group(1)
        elif lower == "apikey" and ref and auth.apikey_env is None:
            auth.apikey_env = ref.group(1)
        elif ref and SECRET_NAME.search(name) and auth.secret_env is None and lower != "authorization":
            auth.kind, auth.secret_env, auth.header = "header", ref.group(1), name
        else:
            kept[name] = value
        draft.add_refs(value)
    if auth.apikey_env and auth.kind == "none":
        auth.kind, auth.secret_env = "apikey", auth.apikey_env
    draft.auth = auth
    draft.headers = kept


def _apply_body(draft: DraftJob, body: Any, redact: Redactor) -> None:
    if body is None:
        if draft.method == "POST":
            draft.body = {}
        return
    if isinstance(body, Unknown):
        draft.todos.append(f"the body is {body.what}; written as {{}}: set body by hand")
        draft.body = {}
        return
    if isinstance(body, dict | list):
        draft.body = redact.body(_named_unknowns(draft, body, "body"))
        _add_body_refs(draft, draft.body)
    else:
        draft.todos.append(f"the body is {_what(body)}, not a JSON object; written as {{}}")
        draft.body = {}


def _apply_content(draft: DraftJob, content: Any, redact: Redactor) -> None:
    if content is None:
        if draft.method in ("POST", "PUT", "PATCH"):
            draft.body = {}
        return
    if isinstance(content, str) and "${" not in content:
        try:
            content = json.loads(content)
        except ValueError:
            draft.todos.append("the request content is not JSON; not carried over")
            draft.body = {}
            return
    _apply_body(draft, content, redact)


def _named_unknowns(draft: DraftJob, value: Any, path: str) -> Any:
    """Unknown body fields become `${FIELD}` with a note; nulls (TOML has none) are left out with a note."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(item, Unknown):
                env = env_name(str(key))
                draft.todos.append(f"{where} is {item.what}; written as ${{{env}}}: set it to what the job sends")
                out[key] = "${" + env + "}"
            elif item is None:
                draft.todos.append(f"{where} is null in the command; TOML has no null, left out")
            else:
                out[key] = _named_unknowns(draft, item, where)
        return out
    if isinstance(value, list):
        return [_named_unknowns(draft, v, path) for v in value if not isinstance(v, Unknown) and v is not None]
    return value


def _add_body_refs(draft: DraftJob, value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _add_body_refs(draft, item)
    elif isinstance(value, list):
        for item in value:
            _add_body_refs(draft, item)
    elif isinstance(value, str):
        draft.add_refs(value)
