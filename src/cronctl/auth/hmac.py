"""`hmac`: a custom HMAC-SHA256 signature, for receivers that follow none of the published schemes.

`template` says what is signed (`{timestamp}`, `{id}`, `{method}`, `{path}` and `{body}`, the exact body bytes),
`encoding` how the digest is written (hex or base64), `prefix` what precedes it, `header` where it goes, and
`timestamp_header` (optional) where the timestamp goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from cronctl.auth.base import (
    SIGNATURE_PLACEHOLDER,
    AuthScheme,
    Incoming,
    Problem,
    Secrets,
    SignContext,
    hmac_sha256,
    need,
    same,
)

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec

DEFAULT_HEADER = "X-Signature"
MILLISECONDS = 1e11  # a timestamp above this is in milliseconds


def signed_content(template: str, fields: Mapping[str, str], body: bytes) -> bytes:
    """The template with each `{field}` substituted and the raw body bytes spliced in where `{body}` stands.

    The body is never searched for placeholders: text in it that looks like `{timestamp}` stays as sent.
    """
    pieces = []
    for part in template.split("{body}"):
        for name, value in fields.items():
            part = part.replace("{" + name + "}", value)
        pieces.append(part.encode())
    return body.join(pieces)


def sender_fields(ctx: SignContext) -> dict[str, str]:
    return {"timestamp": str(ctx.timestamp), "id": ctx.request_id, "method": ctx.method, "path": ctx.path}


def signature(secret: str, spec: AuthSpec, content: bytes) -> str:
    import base64

    digest = hmac_sha256(secret.encode(), content)
    encoded = digest.hex() if spec.encoding == "hex" else base64.b64encode(digest).decode()
    return spec.prefix + encoded


def _fresh(timestamp: str, now: float, tolerance: int) -> bool:
    try:
        value = float(timestamp)
    except ValueError:
        return False
    if value > MILLISECONDS:
        value /= 1000
    return abs(now - value) <= tolerance


class CustomHmac(AuthScheme):
    kind = "hmac"
    needs = ("secret_env", "header")
    accepts = ("secret_env", "header", "apikey_env", "template", "encoding", "prefix", "timestamp_header")

    def validate(self, spec: AuthSpec) -> Problem | None:
        problem = super().validate(spec)
        if problem is None and "{body}" not in spec.template:
            return Problem("template", "the signed-content template must contain {body}")
        return problem

    def label(self, spec: AuthSpec, *, variables: bool = False) -> str:
        shown = super().label(spec, variables=variables)
        return f"{shown} ({spec.header or DEFAULT_HEADER})" if variables else shown

    def headers(self, spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
        headers: dict[str, str] = {}
        if spec.timestamp_header:
            headers[spec.timestamp_header] = str(ctx.timestamp)
        content = signed_content(spec.template, sender_fields(ctx), ctx.body)
        headers[spec.header or DEFAULT_HEADER] = signature(need(secrets.secret, spec), spec, content)
        return headers

    def display_headers(self, spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
        headers: dict[str, str] = {}
        if spec.timestamp_header:
            headers[spec.timestamp_header] = SIGNATURE_PLACEHOLDER
        headers[spec.header or DEFAULT_HEADER] = spec.prefix + SIGNATURE_PLACEHOLDER
        return headers

    def verify(self, spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
        # A receiver knows the timestamp only from its header, and no request id: `{id}` stays as written.
        if not secrets.secret or not spec.header:
            return False
        timestamp = ""
        if spec.timestamp_header:
            timestamp = request.header(spec.timestamp_header) or ""
            if not _fresh(timestamp, request.now, request.tolerance):
                return False
        fields = {"timestamp": timestamp, "method": request.method, "path": request.path}
        expected = signature(secrets.secret, spec, signed_content(spec.template, fields, request.body))
        return same(request.header(spec.header), expected)


SCHEME = CustomHmac()
