"""`github`: `X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 over the body, as GitHub signs webhook deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronctl.auth.base import SIGNATURE_PLACEHOLDER, AuthScheme, Incoming, Secrets, SignContext, hmac_sha256, need, same

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

HEADER = "X-Hub-Signature-256"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac_sha256(secret.encode(), body).hex()


class GitHub(AuthScheme):
    kind = "github"

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        return {HEADER: signature(need(secrets.secret, spec), ctx.body)}

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        return {HEADER: f"sha256={SIGNATURE_PLACEHOLDER}"}

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        return bool(secrets.secret) and same(request.header(HEADER), signature(secrets.secret or "", request.body))


SCHEME = GitHub()
