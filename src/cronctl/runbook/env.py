"""Variables from the environment and `.env`, and `${VAR}` / `${VAR:-default}` interpolation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from cronctl import redact
from cronctl.errors import MissingVariableError, UsageError

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
    from dotenv import dotenv_values

    dotenv: dict[str, str] = {}
    path: Path | None = None
    candidates: list[Path] = []
    if profile_env_file is not None:
        candidates.append(profile_env_file)
    if env_file is not None:
        if not env_file.is_file():
            raise UsageError(f"env file not found: {env_file}")
        candidates.append(env_file)
    elif Path(".env").is_file():
        candidates.append(Path(".env"))
    for candidate in candidates:
        if not candidate.is_file():
            raise UsageError(f"env file not found: {candidate}")
        try:
            values = dotenv_values(candidate)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read env file {candidate}: {exc}") from None
        for key, value in values.items():
            if value is not None:
                dotenv.setdefault(key, value)
        path = path or candidate
    return Environment(os.environ, dotenv, profile_vars, path)
