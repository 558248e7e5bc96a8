"""What an importer found about one job, before it is written as a runbook table, and the rule every importer
keeps: no literal secret from the user's files or database reaches a draft.

A literal credential (a token in a header, a `?secret=` in a URL, an `apikey` in a body) becomes a `${VAR}`
named after its key, with a note saying the value was left out and where to keep it. The same literal met twice
gets the same variable; two different literals never share one (`CRON_SECRET`, `CRON_SECRET_2`). Only a hash of
each literal is kept, to tell them apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # `${VAR}`, as the runbook loader reads it
# Names of headers, query parameters and body fields that carry credentials.
SECRET_NAME = re.compile(
    r"(authorization|api[-_]?key|secret|token|signature|passw(or)?d|passwd|\bpwd\b|cookie|session|credential|"
    r"private|access[-_]?key|\bkey\b|_key\b|\bkey_|jwt|hmac|\bsig\b|\bauth\b|bearer)",
    re.IGNORECASE,
)
_TOKEN_PREFIXES = ("sk_", "rk_", "pk_live", "whsec_", "ghp_", "gho_", "github_pat_", "xox", "sbp_", "AKIA", "eyJ")
WHERE_TO_KEEP = "keep it in a secret store (cron_secrets, Vault, CI secrets) and export it when running cronctl"


@dataclass
class DraftAuth:
    kind: str = "none"
    secret_env: str | None = None
    apikey_env: str | None = None
    header: str | None = None


@dataclass
class DraftJob:
    name: str
    source: str  # where it was found, e.g. "cron.job jobid 3"
    scheduler: str  # pg_cron | vercel | github
    schedule: str | None = None
    description: str = ""
    method: str = "POST"
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    timeout: float | None = None
    auth: DraftAuth = field(default_factory=DraftAuth)
    env: list[str] = field(default_factory=list)
    pg_cron: str | None = None
    pg_net: bool = False
    workflow: str | None = None  # GitHub workflow file fired through workflow_dispatch
    dispatch_inputs: dict[str, str] = field(default_factory=dict)
    todos: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inactive: bool = False
    runs_sql: bool = False  # a pg_cron command that is plain SQL: no request to send
    uses_secrets_table: bool = False
    unsure: bool = False  # a part was guessed (a value read from a table): written commented out for review

    def add_env(self, *names: str | None) -> None:
        for name in names:
            if name and name not in self.env:
                self.env.append(name)

    def add_refs(self, text: str) -> None:
        self.add_env(*REFERENCE.findall(text))


def job_name(raw: str, fallback: str) -> str:
    """A runbook job name (letters, digits, '-', '_', '.') from a cron job name, a path or a file name."""
    name = _NAME_CHARS.sub("-", raw.strip()).strip("-._")
    return name or fallback


def unique_names(jobs: list[DraftJob], taken: set[str] | None = None) -> None:
    """Rename duplicates in place: sync, sync-2, sync-3."""
    seen = set(taken or ())
    for job in jobs:
        base, n = job.name, 2
        while job.name in seen:
            job.name = f"{base}-{n}"
            n += 1
        seen.add(job.name)


def env_name(text: str) -> str:
    """`service_role_key` -> SERVICE_ROLE_KEY."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    if not name or name[0].isdigit():
        name = f"SECRET_{name}"
    return name[:60]


# ------------------------------------------------------------------------------------------- literal secrets


def looks_secret(value: str) -> bool:
    """A literal that looks like a credential whatever its key: a JWT, a known token prefix, or a long random
    string (letters and digits mixed, high entropy)."""
    text = value.strip()
    match = re.fullmatch(r"(?:Bearer|Basic|Token|Bot)\s+(\S+)", text, re.IGNORECASE)
    if match:
        return True
    if " " in text or len(text) < 12:
        return False
    if text.startswith(_TOKEN_PREFIXES) and len(text) >= 16:
        return True
    if len(text) < 20 or text.startswith(("http://", "https://", "/")):
        return False
    if not (re.search(r"[0-9]", text) and re.search(r"[A-Za-z]", text)):
        return re.fullmatch(r"[0-9a-fA-F]{32,}", text) is not None
    return _entropy(text) >= 3.5


def _entropy(text: str) -> float:
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _jwt_role(token: str) -> str | None:
    parts = token.split(".")
    if len(parts) != 3 or not token.startswith("eyJ"):
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    role = claims.get("role") if isinstance(claims, dict) else None
    return role if isinstance(role, str) and re.fullmatch(r"[A-Za-z_]{1,30}", role) else None


class SecretNames:
    """Variable names for the literal secrets of one `cronctl init` run: one literal, one name."""

    def __init__(self) -> None:
        self._by_digest: dict[str, str] = {}
        self._taken: set[str] = set()

    def name_for(self, literal: str, key: str) -> str:
        digest = hashlib.sha256(literal.encode("utf-8", "surrogatepass")).hexdigest()
        if digest in self._by_digest:
            return self._by_digest[digest]
        base = self._base_name(literal, key)
        name, n = base, 2
        while name in self._taken:
            name = f"{base}_{n}"
            n += 1
        self._taken.add(name)
        self._by_digest[digest] = name
        return name

    def reserve(self, name: str) -> None:
        """A name already used for a reference (get_secret, Vault): a literal must not take it."""
        self._taken.add(name)

    @staticmethod
    def _base_name(literal: str, key: str) -> str:
        token = re.sub(r"^(Bearer|Basic|Token|Bot)\s+", "", literal.strip(), flags=re.IGNORECASE)
        role = _jwt_role(token)
        if role:
            return f"SUPABASE_{role.upper()}_KEY"
        if token.startswith("eyJ") and token.count(".") == 2:
            return "SUPABASE_SERVICE_ROLE_KEY"
        lowered = key.lower().strip()
        if lowered in ("authorization", "proxy-authorization", "bearer", "auth"):
            return "CRON_SECRET"
        name = env_name(re.sub(r"^x[-_]", "", key, flags=re.IGNORECASE))
        return name if name != "SECRET" or lowered == "secret" else "CRON_SECRET"


@dataclass
class Redactor:
    """Replaces literal credentials in one draft by `${VAR}`s (shared names across the init run)."""

    draft: DraftJob
    names: SecretNames
    where: str  # "cron.job" / "the workflow" / "vercel.json": where the literal sits

    def literal(self, literal: str, key: str, what: str) -> str:
        """The `${VAR}` standing for `literal` (the value of `what`), with a note naming the key."""
        env = self.names.name_for(literal, key)
        self.draft.add_env(env)
        note = (
            f"{what} held a literal secret in {self.where}; the value was left out and is written as "
            f"${{{env}}}: {WHERE_TO_KEEP}, and rotate it (anyone who can read {self.where} can read it)"
        )
        if note not in self.draft.todos:
            self.draft.todos.append(note)
        return "${" + env + "}"

    def header_value(self, name: str, value: str) -> str:
        if REFERENCE.fullmatch(value) or not value.strip():
            return value
        credential = bool(SECRET_NAME.search(name)) and name.lower() not in ("content-type", "accept")
        scheme = re.fullmatch(r"(Bearer|Basic|Token|Bot)\s+(.+)", value.strip(), re.IGNORECASE)
        if scheme:
            secret = scheme.group(2)
            if REFERENCE.fullmatch(secret.strip()):
                return value
            if credential or looks_secret(value):
                return f"{scheme.group(1)} " + self.literal(_literal_part(secret), name, f"header {name}")
            return value
        if REFERENCE.search(value) and not _without_refs(value).strip(" :-_,;"):
            return value
        if credential or looks_secret(_without_refs(value)):
            if REFERENCE.search(value):
                # A template around a reference (`key=${KEY};sig=abc`): the literal parts go too.
                return self.literal(_literal_part(value), name, f"header {name}")
            return self.literal(value, name, f"header {name}")
        return value

    def url(self, url: str) -> str:
        """The URL with credentials in its user-info, query string and path segments replaced."""
        base, hash_mark, fragment = url.partition("#")
        base, question, query = base.partition("?")
        base = self._userinfo(base)
        base = self._path_segments(base)
        if question:
            query = "&".join(self._query_part(part) for part in query.split("&"))
        if hash_mark:
            fragment = self._query_part(fragment) if "=" in fragment else fragment
        return base + (("?" + query) if question else "") + (("#" + fragment) if hash_mark else "")

    def _userinfo(self, base: str) -> str:
        match = re.match(r"^([a-z][a-z0-9+.-]*://)([^/@]+)@", base, re.IGNORECASE)
        if not match or REFERENCE.fullmatch(match.group(2)):
            return base
        return match.group(1) + self.literal(match.group(2), "url_credentials", "the URL's user:password") + \
            base[match.end() - 1 :]  # fmt: skip

    def _path_segments(self, base: str) -> str:
        match = re.match(r"^([a-z][a-z0-9+.-]*://[^/]*|\$\{[A-Za-z0-9_]+\})(.*)$", base, re.IGNORECASE)
        if not match:
            return base
        head, path = match.groups()
        segments = path.split("/")
        for i, segment in enumerate(segments):
            plain = unquote(segment)
            slug = re.fullmatch(r"[a-z0-9-]+", plain)
            if segment and not REFERENCE.search(segment) and looks_secret(plain) and not slug:
                segments[i] = self.literal(plain, "url_path_token", "a URL path segment")
        return head + "/".join(segments)

    def _query_part(self, part: str) -> str:
        key, equals, value = part.partition("=")
        if not equals or not value or REFERENCE.fullmatch(value):
            return part
        plain = unquote(value.replace("+", " "))
        name = unquote(key)
        if SECRET_NAME.search(name) or name.lower() in ("code", "sig", "s", "k") or looks_secret(plain):
            return f"{key}=" + self.literal(plain, unquote(key) or "query", f"query parameter {unquote(key)!r}")
        return part

    def body(self, value: Any, path: str = "body") -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                where = f"{path}.{key}"
                if (
                    isinstance(item, str)
                    and not REFERENCE.fullmatch(item)
                    and item
                    and (SECRET_NAME.search(str(key)) or looks_secret(item))
                ):
                    out[key] = self.literal(_literal_part(item) if REFERENCE.search(item) else item, str(key), where)
                elif isinstance(item, int | float) and not isinstance(item, bool) and SECRET_NAME.search(str(key)):
                    out[key] = self.literal(str(item), str(key), where)
                else:
                    out[key] = self.body(item, where)
            return out
        if isinstance(value, list):
            return [self.body(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, str) and not REFERENCE.fullmatch(value) and looks_secret(value):
            return self.literal(value, path.rsplit(".", 1)[-1].split("[")[0], path)
        return value


def _without_refs(text: str) -> str:
    return REFERENCE.sub("", text)


def _literal_part(text: str) -> str:
    return text.strip()
