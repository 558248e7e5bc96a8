"""`apikey`: Supabase's `apikey: <key>` header.

It is also sent beside any other scheme whose spec names `apikey_env` (Supabase wants a Bearer token and the
same key as `apikey`); `cronctl.auth` adds it there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from cronctl.auth.base import AuthScheme, Incoming, Problem, Secrets, SignContext, need, same, variable

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

HEADER = "apikey"


class ApiKey(AuthScheme):
    kind = "apikey"
    needs = ("apikey_env",)

    def with_defaults(self, spec: AuthSpec) -> AuthSpec:
        return replace(spec, apikey_env=spec.apikey_env or spec.secret_env)

    def validate(self, spec: AuthSpec) -> Problem | None:
        if not spec.apikey_env:
            return Problem("apikey_env", "auth kind 'apikey' needs apikey_env or secret_env")
        return None

    def label(self, spec: AuthSpec, *, variables: bool = False) -> str:
        name = spec.apikey_env or spec.secret_env
        return f"{self.kind} {variable(name)}" if variables and name else self.kind

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        return {HEADER: need(secrets.apikey, spec)} if spec.apikey_env else {}

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        return {HEADER: variable(spec.apikey_env)} if spec.apikey_env else {}

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        return same(request.header(HEADER), secrets.apikey)


SCHEME = ApiKey()
