"""`none`: the request carries no credentials (an open endpoint, or one guarded elsewhere)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronctl.auth.base import AuthScheme, Incoming, Secrets, SignContext

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec


class NoAuth(AuthScheme):
    kind = "none"
    needs = ()
    accepts = ()

    def label(self, spec: AuthSpec, *, variables: bool = False) -> str:
        return self.kind  # reads no variable

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        return {}

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        return {}

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        return True


SCHEME = NoAuth()
