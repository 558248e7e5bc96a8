"""`stripe`: `Stripe-Signature: t=<timestamp>,v1=<hex>`, an HMAC-SHA256 over `{t}.{body}` keyed with the whole
secret string (`whsec_...` included), as Stripe signs webhook events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronctl.auth.base import SIGNATURE_PLACEHOLDER, AuthScheme, Incoming, Secrets, SignContext, hmac_sha256, need, same

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

HEADER = "Stripe-Signature"


def digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac_sha256(secret.encode(), f"{timestamp}.".encode() + body).hex()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


class Stripe(AuthScheme):
    kind = "stripe"

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        return {HEADER: signature(need(secrets.secret, spec), ctx.timestamp, ctx.body)}

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        return {HEADER: f"t=<timestamp>,v1={SIGNATURE_PLACEHOLDER}"}

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        # As stripe-python's verify_header: one `t`, any matching `v1`, and a timestamp not older than tolerance.
        header, secret = request.header(HEADER), secrets.secret
        if not header or not secret or not secret.strip():
            return False
        pairs = [item.partition("=")[::2] for item in header.split(",")]
        try:
            timestamp = int(next(value for key, value in pairs if key == "t"))
        except (StopIteration, ValueError):
            return False
        expected = digest(secret, timestamp, request.body)
        if not any(same(value, expected) for key, value in pairs if key == "v1"):
            return False
        return not (request.tolerance and timestamp < request.now - request.tolerance)


SCHEME = Stripe()
