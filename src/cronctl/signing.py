"""Auth headers and HMAC signatures for job triggers. Pure: values in, header dict out.

Each signature covers the exact body bytes that are sent. `display_auth_headers` gives the same header
names with secrets written as `$VARNAME` and signatures as a placeholder, for dry runs and curl output.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from cronctl.runbook.model import AuthSpec

SIGNATURE_PLACEHOLDER = "<computed at send time>"
STANDARD_WEBHOOKS_PREFIX = "whsec_"


@dataclass(frozen=True)
class SignContext:
    """What a signature may cover besides the body."""

    body: bytes
    request_id: str
    timestamp: int  # unix seconds
    method: str
    path: str


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def standard_webhooks_key(secret: str) -> bytes:
    """The signing key: the base64-decoded part after `whsec_` (padding tolerated, as the reference does)."""
    encoded = secret[len(STANDARD_WEBHOOKS_PREFIX) :] if secret.startswith(STANDARD_WEBHOOKS_PREFIX) else secret
    try:
        return base64.b64decode(encoded + "==", validate=False)
    except binascii.Error:
        raise ValueError("a Standard Webhooks secret is 'whsec_' followed by base64") from None


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(standard_webhooks_key(secret), content)).decode()


def stripe_signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = _hmac_sha256(secret.encode(), f"{timestamp}.".encode() + body).hex()
    return f"t={timestamp},v1={digest}"


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + _hmac_sha256(secret.encode(), body).hex()


def custom_signed_content(template: str, ctx: SignContext) -> bytes:
    """The template with text fields substituted and the raw body bytes spliced in where `{body}` stands."""
    pieces = [
        part.replace("{timestamp}", str(ctx.timestamp))
        .replace("{id}", ctx.request_id)
        .replace("{method}", ctx.method)
        .replace("{path}", ctx.path)
        .encode()
        for part in template.split("{body}")
    ]
    return ctx.body.join(pieces)


def custom_signature(secret: str, auth: AuthSpec, ctx: SignContext) -> str:
    digest = _hmac_sha256(secret.encode(), custom_signed_content(auth.template, ctx))
    encoded = digest.hex() if auth.encoding == "hex" else base64.b64encode(digest).decode()
    return auth.prefix + encoded


def auth_headers(auth: AuthSpec, secret: str | None, apikey: str | None, ctx: SignContext) -> dict[str, str]:
    """Headers that authenticate one request. `secret` is the value of `auth.secret_env`."""
    headers: dict[str, str] = {}
    kind = auth.kind
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {_need(secret, auth)}"
    elif kind == "header":
        headers[auth.header or "X-Cron-Secret"] = _need(secret, auth)
    elif kind == "standard-webhooks":
        headers["webhook-id"] = ctx.request_id
        headers["webhook-timestamp"] = str(ctx.timestamp)
        headers["webhook-signature"] = standard_webhooks_signature(
            _need(secret, auth), ctx.request_id, ctx.timestamp, ctx.body
        )
    elif kind == "stripe":
        headers["Stripe-Signature"] = stripe_signature(_need(secret, auth), ctx.timestamp, ctx.body)
    elif kind == "github":
        headers["X-Hub-Signature-256"] = github_signature(_need(secret, auth), ctx.body)
    elif kind == "hmac":
        if auth.timestamp_header:
            headers[auth.timestamp_header] = str(ctx.timestamp)
        headers[auth.header or "X-Signature"] = custom_signature(_need(secret, auth), auth, ctx)
    if auth.apikey_env and kind not in ("none",):
        # `apikey` alone, or next to a bearer token (Supabase wants both).
        headers["apikey"] = _need(apikey, auth)
    return headers


def display_auth_headers(auth: AuthSpec, ctx: SignContext) -> dict[str, str]:
    """The same headers with secrets as `$VARNAME` and signatures as a placeholder; safe to print."""
    secret = f"${auth.secret_env}" if auth.secret_env else ""
    headers: dict[str, str] = {}
    kind = auth.kind
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
    elif kind == "header":
        headers[auth.header or "X-Cron-Secret"] = secret
    elif kind == "standard-webhooks":
        headers["webhook-id"] = ctx.request_id
        headers["webhook-timestamp"] = SIGNATURE_PLACEHOLDER
        headers["webhook-signature"] = f"v1,{SIGNATURE_PLACEHOLDER}"
    elif kind == "stripe":
        headers["Stripe-Signature"] = f"t=<timestamp>,v1={SIGNATURE_PLACEHOLDER}"
    elif kind == "github":
        headers["X-Hub-Signature-256"] = f"sha256={SIGNATURE_PLACEHOLDER}"
    elif kind == "hmac":
        if auth.timestamp_header:
            headers[auth.timestamp_header] = SIGNATURE_PLACEHOLDER
        headers[auth.header or "X-Signature"] = auth.prefix + SIGNATURE_PLACEHOLDER
    if auth.apikey_env and kind != "none":
        headers["apikey"] = f"${auth.apikey_env}"
    return headers


def _need(value: str | None, auth: AuthSpec) -> str:
    if not value:
        raise ValueError(f"auth kind '{auth.kind}' needs a secret value")
    return value
