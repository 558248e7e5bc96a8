"""Variables from the environment and `.env`, and `${VAR}` / `${VAR:-default}` interpolation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cronctl import redact
from cronctl.errors import MissingVariableError, UsageError

if TYPE_CHECKING:
    from cronctl.runbook.model import Runbook

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MAX_ENV_FILE_BYTES = 1024 * 1024


def references(template: str) -> list[str]:
    """Names of the variables a template refers to."""
    return [m.group(1) for m in _REFERENCE.finditer(template)]


class Environment:
    """Where variable values come from: the process environment first, then `.env`, then profile vars."""

    def __init__(
        self,
        process: Mapping[str, str],
        dotenv: Mapping[str, str] | None = None,
        profile_vars: Mapping[str, str] | None = None,
        dotenv_path: Path | None = None,
    ) -> None:
        # Profile vars pick the target system (URLs); the process environment and `.env` still win for
        # everything they set, so a variable already exported is never overridden.
        merged: dict[str, str] = dict(profile_vars or {})
        merged.update(dotenv or {})
        merged.update(process)
        self._values = merged
        self._dotenv_keys = set(dotenv or {}) - set(process)
        self.dotenv_path = dotenv_path
        for name, value in merged.items():
            redact.register_env(name, value)

    def get(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if value != "" else None

    def is_set(self, name: str) -> bool:
        return self.get(name) is not None

    def origin(self, name: str) -> str:
        """Where a variable's value came from: env, .env, profile, or unset."""
        if name not in self._values or self._values[name] == "":
            return "unset"
        if name in self._dotenv_keys:
            return ".env"
        if name in os.environ:
            return "env"
        return "profile"

    def require(self, name: str, where: str) -> str:
        value = self.get(name)
        if value is None:
            raise MissingVariableError(
                f"{name} is not set (needed by {where}); export it or add it to .env",
            )
        return value

    def secret(self, name: str, where: str) -> str:
        value = self.require(name, where)
        redact.register(value)
        return value

    def resolve(self, template: str, where: str) -> str:
        """Expand `${VAR}` and `${VAR:-default}`; an unset variable without default is an error naming `where`."""

        def expand(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = self.get(name)
            if value is not None:
                return value
            if default is not None:
                return default
            raise MissingVariableError(
                f"{name} is not set (referenced by {where}); export it or add it to .env",
            )

        return _REFERENCE.sub(expand, template)


def load_environment(
    env_file: Path | None,
    profile_vars: Mapping[str, str] | None = None,
    profile_env_file: Path | None = None,
) -> Environment:
    """Read `.env` (or `env_file`) without ever overriding variables already set in the process."""
    import io

    from dotenv import dotenv_values

    from cronctl.userfiles import read_bounded

    dotenv: dict[str, str] = {}
    path: Path | None = None
    candidates: list[Path] = []
    if profile_env_file is not None:
        candidates.append(profile_env_file)
    if env_file is not None:
        if not env_file.exists():
            raise UsageError(f"env file not found: {env_file}")
        candidates.append(env_file)
    elif Path(".env").is_file():
        candidates.append(Path(".env"))
    for candidate in candidates:
        if not candidate.exists():
            raise UsageError(f"env file not found: {candidate}")
        try:
            text = read_bounded(candidate, MAX_ENV_FILE_BYTES).decode("utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read env file {candidate}: {exc.strerror or type(exc).__name__}") from None
        except UnicodeDecodeError:
            raise UsageError(f"cannot read env file {candidate}: not UTF-8 text") from None
        values = dotenv_values(stream=io.StringIO(text))
        for key, value in values.items():
            if value is not None:
                dotenv.setdefault(key, value)
        path = path or candidate
    return Environment(os.environ, dotenv, profile_vars, path)


def register_runbook_secrets(runbook: Runbook, env: Environment) -> None:
    """Register for masking every value the runbook uses as a secret, whatever its variable is called.

    Auth secrets and API keys, workflow tokens, every variable a request header refers to (and each resolved
    header value), variables in a URL's userinfo or query string, a URL's password, and the database and Redis
    passwords. Unset variables are skipped: the command that needs one says so itself."""

    def value_of(name: str | None) -> None:
        if name:
            redact.register(env.get(name))

    def template(text: str | None, *, whole: bool) -> None:
        if not text:
            return
        for name in references(text):
            value_of(name)
        if whole:
            redact.register(_resolved(env, text))

    def url(text: str | None) -> None:
        if not text:
            return
        resolved = _resolved(env, text)
        if resolved:
            redact.register_url_password(resolved)
        head, _, query = text.partition("?")
        secret_part = query + (head.split("://", 1)[-1].rpartition("@")[0] if "@" in head else "")
        template(secret_part, whole=False)

    for job in runbook.jobs.values():
        for name in (*job.auth.env_vars(), job.dispatch.token_env if job.dispatch else None):
            value_of(name)
        for header, value in job.headers.items():
            template(value, whole=_credential_header(header))
        url(job.url)
    for spec in runbook.health.values():
        for name in spec.auth.env_vars():
            value_of(name)
        url(spec.url)
    url(runbook.connection.database_url)
    url(runbook.connection.redis_url)


def _credential_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in ("authorization", "apikey", "cookie", "proxy-authorization") or any(
        word in lowered for word in ("secret", "token", "key", "auth", "signature", "password")
    )


def _resolved(env: Environment, text: str) -> str | None:
    try:
        return env.resolve(text, "masking")
    except MissingVariableError:
        return None
