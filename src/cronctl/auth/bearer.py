"""`bearer`: `Authorization: Bearer <secret>`, as Vercel cron sends `$CRON_SECRET` and Supabase a service-role key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronctl.auth.base import AuthScheme, Incoming, Secrets, SignContext, need, same, variable

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec


class Bearer(AuthScheme):
    kind = "bearer"

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {need(secrets.secret, spec)}"}

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {variable(spec.secret_env)}"}

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        return bool(secrets.secret) and same(request.header("Authorization"), f"Bearer {secrets.secret}")


SCHEME = Bearer()
