"""Signatures checked by the receivers' own verifiers and by GitHub's documented vector."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC

import pytest
import stripe
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cronctl.auth.github import signature as github_signature
from cronctl.auth.hmac import sender_fields, signed_content
from cronctl.auth.standard_webhooks import signature as standard_webhooks_signature
from cronctl.auth.stripe import signature as stripe_signature
from cronctl.runbook.model import AuthSpec
from cronctl.signing import SIGNATURE_PLACEHOLDER, SignContext, auth_headers, display_auth_headers

BODY = '{"success":true,"name":"정산"}'.encode()
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def ctx(body: bytes = BODY, ts: int | None = None) -> SignContext:
    return SignContext(body=body, request_id="msg_abc", timestamp=ts or int(time.time()), method="POST", path="/fn")


def test_github_documented_vector() -> None:
    assert github_signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_standard_webhooks_verified_by_reference_library() -> None:
    c = ctx()
    headers = auth_headers(AuthSpec(kind="standard-webhooks", secret_env="S"), WHSEC, None, c)
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-signature"].startswith("v1,")
    Webhook(WHSEC).verify(BODY, headers)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(WHSEC).verify(BODY + b" ", headers)


def test_standard_webhooks_matches_library_signer() -> None:
    from datetime import datetime

    ts = 1_700_000_000
    expected = Webhook(WHSEC).sign("msg_abc", datetime.fromtimestamp(ts, tz=UTC), BODY.decode())
    assert standard_webhooks_signature(WHSEC, "msg_abc", ts, BODY) == expected


def test_stripe_verified_by_stripe_library() -> None:
    c = ctx()
    header = auth_headers(AuthSpec(kind="stripe", secret_env="S"), "whsec_stripe_test", None, c)["Stripe-Signature"]
    assert header == stripe_signature("whsec_stripe_test", c.timestamp, BODY)
    stripe.WebhookSignature.verify_header(BODY.decode(), header, "whsec_stripe_test", 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY.decode(), header, "whsec_wrong", 300)


def test_custom_template_splices_exact_body_bytes() -> None:
    auth = AuthSpec(
        kind="hmac",
        secret_env="S",
        header="X-Sig",
        template="{method} {path}\n{timestamp}\n{id}\n{body}",
        encoding="base64",
        prefix="hmac-sha256=",
        timestamp_header="X-Ts",
    )
    c = ctx(ts=1_700_000_000)
    content = signed_content(auth.template, sender_fields(c), c.body)
    assert content == b"POST /fn\n1700000000\nmsg_abc\n" + BODY
    headers = auth_headers(auth, "k3y-value", None, c)
    digest = hmac.new(b"k3y-value", content, hashlib.sha256).digest()
    assert headers == {"X-Ts": "1700000000", "X-Sig": "hmac-sha256=" + base64.b64encode(digest).decode()}


def test_body_containing_placeholder_text_is_not_substituted() -> None:
    body = b'{"note":"{timestamp} {id}"}'
    c = ctx(body=body, ts=5)
    content = signed_content("{timestamp}.{body}", sender_fields(c), body)
    assert content == b"5." + body


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (AuthSpec(kind="bearer", secret_env="CRON_SECRET"), {"Authorization": "Bearer $CRON_SECRET"}),
        (
            AuthSpec(kind="bearer", secret_env="KEY", apikey_env="KEY"),
            {"Authorization": "Bearer $KEY", "apikey": "$KEY"},
        ),
        (AuthSpec(kind="apikey", secret_env="KEY", apikey_env="KEY"), {"apikey": "$KEY"}),
        (AuthSpec(kind="header", secret_env="CRON_SECRET", header="X-Cron-Secret"), {"X-Cron-Secret": "$CRON_SECRET"}),
        (AuthSpec(kind="github", secret_env="S"), {"X-Hub-Signature-256": f"sha256={SIGNATURE_PLACEHOLDER}"}),
        (AuthSpec(kind="none"), {}),
    ],
)
def test_display_headers_name_variables_never_values(auth: AuthSpec, expected: dict[str, str]) -> None:
    assert display_auth_headers(auth, ctx()) == expected


def test_real_and_display_headers_have_the_same_names() -> None:
    for kind in ("bearer", "header", "standard-webhooks", "stripe", "github", "hmac"):
        auth = AuthSpec(kind=kind, secret_env="S", header="X-H", timestamp_header="X-T", apikey_env="S")
        real = auth_headers(auth, WHSEC, WHSEC, ctx())
        shown = display_auth_headers(auth, ctx())
        assert set(real) == set(shown), kind
        assert all(WHSEC not in v for v in shown.values())


def test_malformed_standard_webhooks_secret_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        auth_headers(AuthSpec(kind="standard-webhooks", secret_env="S"), "whsec_not-base64!", None, ctx())
