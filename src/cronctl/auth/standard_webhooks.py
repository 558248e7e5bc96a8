"""`standard-webhooks`: the Standard Webhooks spec (standardwebhooks.com), as Svix and Supabase hooks verify it.

Headers `webhook-id` (the request id), `webhook-timestamp` and `webhook-signature: v1,<base64>`, an HMAC-SHA256
over `{id}.{timestamp}.{body}` keyed with the base64-decoded part of the secret after `whsec_`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from cronctl.auth.base import SIGNATURE_PLACEHOLDER, AuthScheme, Incoming, Secrets, SignContext, hmac_sha256, need, same

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The signing key: the base64-decoded part after `whsec_` (padding tolerated, as the reference does)."""
    import base64
    import binascii

    encoded = secret[len(PREFIX) :] if secret.startswith(PREFIX) else secret
    try:
        return base64.b64decode(encoded + "==", validate=False)
    except binascii.Error:
        raise ValueError("a Standard Webhooks secret is 'whsec_' followed by base64") from None


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    import base64

    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac_sha256(signing_key(secret), content)).decode()


class StandardWebhooks(AuthScheme):
    kind = "standard-webhooks"

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        return {
            "webhook-id": ctx.request_id,
            "webhook-timestamp": str(ctx.timestamp),
            "webhook-signature": signature(need(secrets.secret, spec), ctx.request_id, ctx.timestamp, ctx.body),
        }

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        return {
            "webhook-id": ctx.request_id,
            "webhook-timestamp": SIGNATURE_PLACEHOLDER,
            "webhook-signature": f"v1,{SIGNATURE_PLACEHOLDER}",
        }

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        # As the reference verifier: all three headers, a timestamp within tolerance either way, and any one
        # of the space-separated `v1,<base64>` signatures matching.
        msg_id, stamp, signatures = (request.header(f"webhook-{n}") for n in ("id", "timestamp", "signature"))
        if not (secrets.secret and msg_id and stamp and signatures):
            return False
        try:
            when = float(stamp)
        except ValueError:
            return False
        if not math.isfinite(when) or abs(request.now - when) > request.tolerance:
            return False
        try:
            expected = signature(secrets.secret, msg_id, math.floor(when), request.body)
        except ValueError:
            return False
        return any(same(candidate, expected) for candidate in signatures.split(" "))


SCHEME = StandardWebhooks()
