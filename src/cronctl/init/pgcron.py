"""Draft jobs from cron.job rows: schedule, and for net.http_post / net.http_get commands the request they send.
Any other command is plain SQL: the job is drafted as a database job (schedule and pg_cron history, no request).

Secrets never reach the draft: `get_secret('x')`, Vault lookups and `current_setting('app.x')` become `${X}`;
a literal token (`Bearer eyJ...`) becomes a variable name and a TODO to move it out of cron.job.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cronctl.init.draft import DraftAuth, DraftJob, job_name, unique_names
from cronctl.init.sqlexpr import Unknown, http_call

_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}\Z")
_SECRET_HEADER = re.compile(r"(authorization|apikey|api-key|secret|token|signature|key)", re.IGNORECASE)
PG_NET_DEFAULT_TIMEOUT = 5.0  # pg_net's timeout_milliseconds default


@dataclass(frozen=True)
class CronRow:
    jobid: int
    jobname: str | None
    schedule: str
    command: str
    active: bool = True


def drafts_from_cron(rows: Iterable[CronRow]) -> list[DraftJob]:
    drafts = [draft_from_cron(row) for row in rows]
    unique_names(drafts)
    return drafts


def draft_from_cron(row: CronRow) -> DraftJob:
    draft = DraftJob(
        name=job_name(row.jobname or "", f"job-{row.jobid}"),
        source=f"cron.job jobid {row.jobid}" + (f" ({row.jobname})" if row.jobname else ""),
        scheduler="pg_cron",
        schedule=row.schedule,
        pg_cron=row.jobname or None,
        inactive=not row.active,
    )
    if row.jobname is None:
        draft.todos.append("the cron.job row has no jobname; history is matched by name, so name it in cron.job")
    if not row.active:
        draft.notes.append("inactive in cron.job (active = false)")
    call = http_call(row.command)
    if call is None:
        # Plain SQL: a database job, judged by its pg_cron history and run by hand with `cronctl pgcron run`.
        draft.runs_sql = True
        draft.description = _one_line(_without_token_literals(row.command))
        target = row.jobname or str(row.jobid)
        draft.notes.append(f"runs SQL inside the database; run it by hand with `cronctl pgcron run {target}`")
        return draft
    method, args, refs = call
    draft.method = method
    draft.pg_net = True
    draft.uses_secrets_table = bool(refs.table_keys)
    _apply_url(draft, args.get("url"))
    apply_headers(draft, args.get("headers"))
    _apply_body(draft, args.get("body"))
    if args.get("params") not in (None, {}):
        draft.todos.append(f"query parameters are not carried over: {_show(args['params'])}")
    timeout = args.get("timeout_milliseconds")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        draft.timeout = timeout / 1000
    elif timeout is None:
        draft.timeout = PG_NET_DEFAULT_TIMEOUT
        draft.notes.append("no timeout_milliseconds in the command: pg_net's default of 5 s applies")
    else:
        draft.todos.append(f"timeout not read from {_show(timeout)}")
    for key, env in refs.table_keys.items():
        draft.notes.append(f"{env} is cron_secrets key '{key}' (export the same value to trigger by hand)")
    for name, env in refs.other.items():
        draft.notes.append(f"{env} stands for '{name}' read inside the database")
    return draft


def _without_token_literals(sql_text: str) -> str:
    """A description must not carry a secret: long space-free string literals (keys, tokens) become '…'."""
    return re.sub(r"'[^'\s]{16,}'", "'…'", sql_text)


def _one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _show(value: Any) -> str:
    if isinstance(value, Unknown):
        return _one_line(value.sql, 80)
    return _one_line(json.dumps(value), 80)


def _apply_url(draft: DraftJob, url: Any) -> None:
    if isinstance(url, str) and re.match(r"^(https?://|\$\{)", url):
        draft.url = url
        draft.add_env(*re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", url))
    else:
        draft.todos.append(f"URL not read from the command ({_show(url) if url is not None else 'missing'})")


def apply_headers(draft: DraftJob, headers: Any) -> None:
    if headers is None:
        return
    if not isinstance(headers, dict):
        draft.todos.append(f"headers not read from {_show(headers)}")
        return
    auth = DraftAuth()
    kept: dict[str, str] = {}
    for name, raw in headers.items():
        if not isinstance(raw, str):
            draft.todos.append(f"header {name} not read from {_show(raw)}")
            continue
        value = _secret_ref(draft, name, raw)
        lower = name.lower()
        bearer = re.fullmatch(r"Bearer\s+\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value)
        ref = _REF.fullmatch(value)
        if lower == "authorization" and bearer and auth.secret_env is None:
            auth.kind, auth.secret_env = "bearer", bearer.group(1)
        elif lower == "apikey" and ref:
            auth.apikey_env = ref.group(1)
        elif ref and _SECRET_HEADER.search(name) and auth.secret_env is None:
            auth.kind, auth.secret_env, auth.header = "header", ref.group(1), name
        else:
            kept[name] = value
        draft.add_env(*re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value))
    if auth.apikey_env and auth.kind == "none":
        auth.kind, auth.secret_env = "apikey", auth.apikey_env
    draft.auth = auth
    draft.headers = kept


def _secret_ref(draft: DraftJob, header: str, value: str) -> str:
    """A literal secret in a header becomes a variable reference; the value itself is dropped here."""
    if "${" in value or not _SECRET_HEADER.search(header):
        return value
    prefix, token = "", value
    match = re.fullmatch(r"(Bearer|Basic|Token)\s+(\S+)", value, re.IGNORECASE)
    if match:
        prefix, token = match.group(1) + " ", match.group(2)
    if len(token) < 8:
        return value
    env = _literal_env_name(token)
    draft.todos.append(
        f"{draft.source} holds a literal {header} secret; it is written here as ${{{env}}}. Anyone who can "
        "read the source can read it: move it to a secret store (cron_secrets, Vault, CI secrets) and rotate it"
    )
    return prefix + "${" + env + "}"


def _literal_env_name(token: str) -> str:
    """SUPABASE_SERVICE_ROLE_KEY / SUPABASE_ANON_KEY for Supabase JWTs (by their role claim), else CRON_SECRET."""
    parts = token.split(".")
    if len(parts) == 3 and token.startswith("eyJ"):
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(padded))
        except ValueError:
            claims = {}
        role = claims.get("role") if isinstance(claims, dict) else None
        if isinstance(role, str) and re.fullmatch(r"[A-Za-z_]+", role):
            return f"SUPABASE_{role.upper()}_KEY"
        return "SUPABASE_SERVICE_ROLE_KEY"
    return "CRON_SECRET"


def _apply_body(draft: DraftJob, body: Any) -> None:
    if body is None:
        if draft.method == "POST":
            draft.body = {}
        return
    if isinstance(body, Unknown):
        draft.todos.append(f"body not read from {_show(body)}")
        return
    if isinstance(body, dict | list):
        draft.body = _known_only(draft, body, "body")


def _known_only(draft: DraftJob, value: Any, where: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, Unknown):
                draft.todos.append(f"{where}.{key} is computed in SQL ({_show(item)}); left out")
            elif isinstance(item, str) and _SECRET_HEADER.search(key) and "${" not in item and len(item) >= 8:
                env = _literal_env_name(item)
                draft.todos.append(f"{where}.{key} is a literal secret in cron.job; written as ${{{env}}}, rotate it")
                draft.add_env(env)
                out[key] = "${" + env + "}"
            elif item is None:
                draft.todos.append(f"{where}.{key} is null in the command; TOML has no null, left out")
            else:
                out[key] = _known_only(draft, item, f"{where}.{key}")
        return out
    if isinstance(value, list):
        return [_known_only(draft, v, where) for v in value if not isinstance(v, Unknown) and v is not None]
    return value
