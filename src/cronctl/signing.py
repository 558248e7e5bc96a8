"""Auth headers for one job request: a thin layer over `cronctl.auth`, in the request builder's call shape.

The schemes themselves (and their signing helpers) live one per module in `cronctl.auth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronctl import auth
from cronctl.auth.base import SIGNATURE_PLACEHOLDER, Secrets, SignContext

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

__all__ = ["SIGNATURE_PLACEHOLDER", "SignContext", "auth_headers", "display_auth_headers"]


def auth_headers(spec: AuthSpec, secret: str | None, apikey: str | None, ctx: SignContext) -> dict[str, str]:
    """Headers that authenticate one request. `secret` is the value of `secret_env`, `apikey` of `apikey_env`."""
    return auth.request_headers(spec, Secrets(secret=secret, apikey=apikey), ctx)


def display_auth_headers(spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
    """The same headers with secrets as `$VARNAME` and signatures as a placeholder; safe to print."""
    return auth.display_headers(spec, ctx)
