"""The interface every auth scheme implements (one file per scheme in this package), and what they share.

A scheme is one way a request proves who sent it. It names the runbook keys it needs and reads, checks a spec
when the runbook loads, builds the headers that authenticate one request (a signature covers the exact body
bytes sent), builds the same headers safe to print (secrets as `$VARNAME`, signatures as a placeholder), and
says what a receiver checks, so the sandbox's job server can answer like the real one.

Pure: values in, header dict out. Nothing here reads the environment; callers pass `Secrets`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

SIGNATURE_PLACEHOLDER = "<computed at send time>"

_NEED_MESSAGES = {
    "secret_env": "auth kind '{kind}' needs secret_env (the variable holding the secret)",
    "header": "auth kind '{kind}' needs the header name that carries it",
}


@dataclass(frozen=True)
class SignContext:
    """What a signature may cover besides the body."""

    body: bytes
    request_id: str
    timestamp: int  # unix seconds
    method: str
    path: str


@dataclass(frozen=True)
class Secrets:
    """The values of a spec's variables, read from the environment by the caller."""

    secret: str | None = None  # value of `secret_env`
    apikey: str | None = None  # value of `apikey_env`


@dataclass(frozen=True)
class Incoming:
    """A request as its receiver sees it."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-case
    body: bytes
    now: float  # unix seconds, to judge signed timestamps
    tolerance: int = 300  # seconds a signed timestamp may be old

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Problem:
    """Why a spec cannot be used: the runbook key at fault and the reason."""

    key: str
    message: str


class AuthScheme(ABC):
    """One auth kind. Subclasses set `kind` and implement `headers`, `display_headers` and `verify`."""

    kind: str = ""
    needs: tuple[str, ...] = ("secret_env",)  # runbook keys that must be set
    accepts: tuple[str, ...] = ("secret_env", "apikey_env")  # runbook keys it reads, besides `kind`

    def with_defaults(self, spec: AuthSpec) -> AuthSpec:
        """The spec with keys this kind derives from others filled in (at load time)."""
        return spec

    def validate(self, spec: AuthSpec) -> Problem | None:
        """The first key this kind needs that the spec lacks, or None."""
        for key in self.needs:
            if not getattr(spec, key):
                return Problem(key, _NEED_MESSAGES.get(key, "auth kind '{kind}' needs " + key).format(kind=self.kind))
        return None

    def label(self, spec: AuthSpec, *, variables: bool = False) -> str:
        """How reports name this kind for `spec` (`cronctl jobs`: "bearer"; `cronctl init`, with `variables`:
        "bearer $CRON_SECRET"). Never a secret: variables by name only."""
        return f"{self.kind} {variable(spec.secret_env)}" if variables and spec.secret_env else self.kind

    @abstractmethod
    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        """Headers that authenticate one request; ValueError when a needed value is missing or malformed."""

    @abstractmethod
    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        """The same header names with secrets as `$VARNAME` and signatures as the placeholder; safe to print."""

    @abstractmethod
    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        """Whether a receiver configured with `spec` and `secrets` accepts the request."""


def need(value: str | None, spec: AuthSpec) -> str:
    if not value:
        raise ValueError(f"auth kind '{spec.kind}' needs a secret value")
    return value


def variable(name: str | None) -> str:
    """How a secret is shown: the name of the variable holding it."""
    return f"${name}" if name else ""


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    # hashlib loads OpenSSL (~9 ms): imported on use, so building the CLI stays fast.
    import hashlib
    import hmac

    return hmac.new(key, message, hashlib.sha256).digest()


def same(given: str | None, expected: str | None) -> bool:
    """Constant-time equality; an empty expected value never matches."""
    import hmac

    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
