"""`header`: the shared secret itself in a named header, e.g. `X-Cron-Secret: $CRON_SECRET` (seed 000)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronctl.auth.base import AuthScheme, Incoming, Secrets, SignContext, need, same, variable

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

DEFAULT_HEADER = "X-Cron-Secret"


class SecretHeader(AuthScheme):
    kind = "header"
    needs = ("secret_env", "header")
    accepts = ("secret_env", "header", "apikey_env")

    def label(self, spec: AuthSpec, *, variables: bool = False) -> str:
        name = spec.header or DEFAULT_HEADER
        return f"{super().label(spec, variables=True)} ({name})" if variables else f"{self.kind} {name}"

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        return {spec.header or DEFAULT_HEADER: need(secrets.secret, spec)}

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        return {spec.header or DEFAULT_HEADER: variable(spec.secret_env)}

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        return bool(spec.header) and same(request.header(spec.header or ""), secrets.secret)


SCHEME = SecretHeader()
