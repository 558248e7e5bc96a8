"""The sandbox job server: real sockets, real httpx client, signatures computed independently."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from cronctl_sandbox.jobserver import (
    MAX_BODY,
    JobServer,
    Reply,
    Route,
    enrolment_ok,
    health_check,
    health_payload,
    rate_limited,
    reconcile_skipped,
    redirect,
    server_error,
    supabase_ok,
    unauthorized,
)

# The stand-ins speak plain HTTP: a client without a verifying TLS context does not load the CA bundle (20 ms).
http_get = functools.partial(httpx.get, verify=False)
http_post = functools.partial(httpx.post, verify=False)

SECRET = "s3cr3t-value-for-tests"
WRONG = "not-the-secret"


@pytest.fixture
def server() -> Iterator[JobServer]:
    with JobServer() as srv:
        yield srv


def post(srv: JobServer, path: str, body: bytes = b"{}", headers: dict[str, str] | None = None) -> httpx.Response:
    return http_post(srv.url + path, content=body, headers=headers or {}, timeout=5)


# ---------------------------------------------------------------- simple secrets

SIMPLE_CASES = [
    ("bearer", {"Authorization": f"Bearer {SECRET}"}, {"Authorization": f"Bearer {WRONG}"}),
    ("bearer", {"Authorization": f"Bearer {SECRET}"}, {"Authorization": SECRET}),
    ("apikey", {"apikey": SECRET}, {"apikey": WRONG}),
    (
        "bearer+apikey",
        {"Authorization": f"Bearer {SECRET}", "apikey": SECRET},
        {"Authorization": f"Bearer {SECRET}"},
    ),
    (
        "bearer+apikey",
        {"Authorization": f"Bearer {SECRET}", "apikey": SECRET},
        {"Authorization": f"Bearer {SECRET}", "apikey": WRONG},
    ),
    ("header", {"X-Cron-Secret": SECRET}, {"X-Cron-Secret": WRONG}),
    ("header", {"x-cron-secret": SECRET}, {"Authorization": f"Bearer {SECRET}"}),
]


@pytest.mark.parametrize(("kind", "good", "bad"), SIMPLE_CASES)
def test_shared_secret_kinds(server: JobServer, kind: str, good: dict[str, str], bad: dict[str, str]) -> None:
    server.add_route(Route("POST", "/fn", auth=kind, secret=SECRET, header="X-Cron-Secret"))

    ok = post(server, "/fn", headers=good)
    assert ok.status_code == 200
    assert ok.json() == {"success": True}

    rejected = post(server, "/fn", headers=bad)
    assert rejected.status_code == 401
    assert rejected.json() == {"error": "unauthorized"}
    assert [r.verified for r in server.requests] == [True, False]


def test_missing_auth_rejected_and_unscripted_reply_not_consumed(server: JobServer) -> None:
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET, responses=supabase_ok(3)))
    assert post(server, "/fn").status_code == 401
    good = post(server, "/fn", headers={"Authorization": f"Bearer {SECRET}"})
    assert good.json() == {"success": True, "processed": 3}


def raw_status(srv: JobServer, request: bytes) -> int:
    # httpx refuses header values with trailing spaces, so speak HTTP by hand.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as conn:
        conn.sendall(request)
        status_line = conn.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.parametrize("kind", ["bearer", "apikey", "header", "bearer+apikey"])
def test_empty_secret_never_authenticates(server: JobServer, kind: str) -> None:
    server.add_route(Route("POST", "/fn", auth=kind, secret="", header="X-Cron-Secret"))
    request = (
        b"POST /fn HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\napikey: \r\n"
        b"X-Cron-Secret: \r\nContent-Length: 0\r\n\r\n"
    )
    assert raw_status(server, request) == 401


# ---------------------------------------------------------------- signatures


def test_standard_webhooks(server: JobServer) -> None:
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    other = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()
    server.add_route(Route("POST", "/hook", auth="standard-webhooks", secret=secret))
    payload = '{"category_id": 303}'
    now = datetime.now(tz=UTC)

    def headers(key: str) -> dict[str, str]:
        signature = Webhook(key).sign("msg_1", now, payload)
        return {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }

    assert post(server, "/hook", payload.encode(), headers(secret)).status_code == 200
    assert post(server, "/hook", payload.encode(), headers(other)).status_code == 401
    assert post(server, "/hook", b'{"category_id": 304}', headers(secret)).status_code == 401
    assert post(server, "/hook", payload.encode(), {"webhook-signature": "garbage"}).status_code == 401


def test_standard_webhooks_accepts_non_json_body(server: JobServer) -> None:
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    server.add_route(Route("POST", "/hook", auth="standard-webhooks", secret=secret))
    now = datetime.now(tz=UTC)
    headers = {
        "webhook-id": "m",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("m", now, "plain text"),
    }
    assert post(server, "/hook", b"plain text", headers).status_code == 200


def stripe_header(secret: str, payload: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def test_stripe(server: JobServer) -> None:
    secret = "whsec_stripe_test_secret"
    server.add_route(Route("POST", "/stripe", auth="stripe", secret=secret, tolerance=300))
    payload = b'{"id": "evt_1"}'
    now = int(time.time())

    assert (
        post(server, "/stripe", payload, {"Stripe-Signature": stripe_header(secret, payload, now)}).status_code == 200
    )
    assert post(server, "/stripe", payload, {"Stripe-Signature": stripe_header(WRONG, payload, now)}).status_code == 401
    stale = stripe_header(secret, payload, now - 3600)
    assert post(server, "/stripe", payload, {"Stripe-Signature": stale}).status_code == 401
    assert post(server, "/stripe", payload).status_code == 401


def test_github_documented_vector(server: JobServer) -> None:
    server.add_route(Route("POST", "/gh", auth="github", secret="It's a Secret to Everybody"))
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    assert post(server, "/gh", b"Hello, World!", {"X-Hub-Signature-256": good}).status_code == 200
    assert post(server, "/gh", b"Hello, World?", {"X-Hub-Signature-256": good}).status_code == 401

    server.add_route(Route("POST", "/gh2", auth="github", secret="wrong secret"))
    assert post(server, "/gh2", b"Hello, World!", {"X-Hub-Signature-256": good}).status_code == 401


def test_custom_hmac_template(server: JobServer) -> None:
    server.add_route(
        Route(
            "POST",
            "/jobs/enrolment-sync",
            auth="hmac",
            secret=SECRET,
            hmac_header="X-Signature",
            hmac_template="{timestamp}.{body}",
            hmac_encoding="base64",
            hmac_prefix="v1=",
            timestamp_header="X-Timestamp",
        )
    )
    body = json.dumps({"category_id": 303, "trigger_type": "SCHEDULER"}).encode()

    def headers(key: str, ts: int) -> dict[str, str]:
        mac = hmac.new(key.encode(), f"{ts}.".encode() + body, hashlib.sha256).digest()
        return {"X-Timestamp": str(ts), "X-Signature": "v1=" + base64.b64encode(mac).decode()}

    now = int(time.time())
    assert post(server, "/jobs/enrolment-sync", body, headers(SECRET, now)).status_code == 200
    assert post(server, "/jobs/enrolment-sync", body, headers(WRONG, now)).status_code == 401
    assert post(server, "/jobs/enrolment-sync", body, headers(SECRET, now - 3600)).status_code == 401
    tampered = headers(SECRET, now)
    tampered["X-Timestamp"] = str(now + 1)
    assert post(server, "/jobs/enrolment-sync", body, tampered).status_code == 401


def test_custom_hmac_hex_without_timestamp(server: JobServer) -> None:
    server.add_route(
        Route(
            "POST",
            "/h",
            auth="hmac",
            secret=SECRET,
            hmac_header="X-Sig",
            hmac_template="{method} {path}\n{body}",
        )
    )
    body = b'{"a": "{body}"}'  # braces in the body must not be treated as placeholders
    mac = hmac.new(SECRET.encode(), b"POST /h\n" + body, hashlib.sha256).hexdigest()
    assert post(server, "/h", body, {"X-Sig": mac}).status_code == 200
    assert post(server, "/h", body, {"X-Sig": mac.upper()}).status_code == 401


def test_signature_libraries_not_imported_at_module_load() -> None:
    code = (
        "import sys, cronctl_sandbox.jobserver; "
        "assert 'stripe' not in sys.modules and 'standardwebhooks' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


# ---------------------------------------------------------------- scripts and faults


def test_script_advances_and_last_reply_repeats(server: JobServer) -> None:
    server.add_route(Route("GET", "/s", responses=[*server_error(), *rate_limited(7), *supabase_ok(2)]))
    got = [http_get(server.url + "/s", timeout=5) for _ in range(5)]
    assert [r.status_code for r in got] == [500, 429, 200, 200, 200]
    assert got[0].json() == {"error": "Failed to fetch messages"}
    assert got[1].headers["Retry-After"] == "7"
    assert got[4].json() == {"success": True, "processed": 2}


def test_set_responses_while_running(server: JobServer) -> None:
    server.add_route(Route("POST", "/r", responses=supabase_ok()))
    assert post(server, "/r").json()["processed"] == 0
    server.set_responses("post", "/r", reconcile_skipped())
    assert post(server, "/r").json() == {
        "success": True,
        "skipped": True,
        "reason": "TOSSPAYMENTS_SECRET_KEY not set",
    }
    with pytest.raises(KeyError):
        server.set_responses("POST", "/nope", supabase_ok())


def test_delay(server: JobServer) -> None:
    server.add_route(Route("GET", "/slow", responses=[Reply(delay=0.4, json={"ok": True})]))
    started = time.monotonic()
    assert http_get(server.url + "/slow", timeout=5).json() == {"ok": True}
    assert time.monotonic() - started >= 0.4
    with pytest.raises(httpx.ReadTimeout):
        http_get(server.url + "/slow", timeout=0.1)


def test_hang_until_client_timeout_and_stop_is_prompt() -> None:
    srv = JobServer([Route("POST", "/hang", responses=[Reply(hang=True)])]).start()
    try:
        with pytest.raises(httpx.ReadTimeout):
            http_post(srv.url + "/hang", timeout=0.3)
        assert len(srv.requests) == 1
    finally:
        started = time.monotonic()
        srv.stop()
    assert time.monotonic() - started < 2


def test_reset_is_a_transport_error(server: JobServer) -> None:
    server.add_route(Route("POST", "/rst", responses=[Reply(reset=True, json={"success": True, "n": 1})]))
    with pytest.raises(httpx.TransportError):
        post(server, "/rst")


def test_drip_sends_body_slowly(server: JobServer) -> None:
    server.add_route(Route("GET", "/drip", responses=[Reply(json={"ok": True}, drip=0.05, drip_chunk=2)]))
    started = time.monotonic()
    response = http_get(server.url + "/drip", timeout=2)
    assert response.json() == {"ok": True}
    assert time.monotonic() - started >= 0.05 * 6  # 12 bytes in 2-byte chunks


def test_huge_body_size(server: JobServer) -> None:
    size = 5 * 1024 * 1024
    server.add_route(Route("GET", "/big", responses=[Reply(size=size)]))
    response = http_get(server.url + "/big", timeout=10)
    assert len(response.content) == size
    assert response.json()["success"] is True


def test_request_body_over_limit_is_413(server: JobServer) -> None:
    server.add_route(Route("POST", "/in"))
    response = post(server, "/in", b"x" * (MAX_BODY + 1))
    assert response.status_code == 413
    assert server.requests == []


def test_chunked_request_body_is_read(server: JobServer) -> None:
    server.add_route(Route("POST", "/in"))
    chunks = iter([b'{"limit": ', b"5}"])
    assert http_post(server.url + "/in", content=chunks, timeout=5).status_code == 200
    assert server.requests[0].json() == {"limit": 5}


def test_unknown_path_and_method(server: JobServer) -> None:
    server.add_route(Route("POST", "/fn"))
    missing = http_get(server.url + "/nowhere", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not found"
    assert http_get(server.url + "/fn", timeout=5).status_code == 405


def test_requests_recorded_with_case_insensitive_headers(server: JobServer) -> None:
    server.add_route(Route("POST", "/fn", auth="header", secret=SECRET, header="X-Cron-Secret"))
    http_post(server.url + "/fn?dry=1", json={"force": False}, headers={"X-Cron-Secret": SECRET}, timeout=5)
    (seen,) = server.requests
    assert (seen.method, seen.path, seen.query, seen.verified) == ("POST", "/fn", "dry=1", True)
    assert seen.headers["x-cron-secret"] == SECRET
    assert seen.headers.get("X-CRON-SECRET") == SECRET
    assert "Content-Type" in seen.headers
    assert seen.json() == {"force": False}
    server.clear_requests()
    assert server.requests == []


def test_url_requires_running_server() -> None:
    srv = JobServer()
    with pytest.raises(RuntimeError):
        _ = srv.url
    with srv:
        assert srv.url.startswith("http://127.0.0.1:")
        assert srv.port > 0


# ---------------------------------------------------------------- github dispatch

DISPATCH = "/repos/acme/billing/actions/workflows/generate-t5-invoices.yaml/dispatches"
GH_HEADERS = {
    "Authorization": f"Bearer {SECRET}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}


@pytest.fixture
def github(server: JobServer) -> JobServer:
    server.add_route(Route("POST", DISPATCH, auth="github-dispatch", secret=SECRET))
    return server


def dispatch(srv: JobServer, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return post(srv, DISPATCH, json.dumps(body).encode(), headers if headers is not None else GH_HEADERS)


def test_dispatch_accepted(github: JobServer) -> None:
    response = dispatch(github, {"ref": "main", "inputs": {"force_invoke": "true"}})
    assert response.status_code == 204
    assert response.content == b""
    token_scheme = {**GH_HEADERS, "Authorization": f"token {SECRET}"}
    assert dispatch(github, {"ref": "main"}, token_scheme).status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ref": 1},
        {"ref": "main", "inputs": {"limit": 5}},
        {"ref": "main", "inputs": ["a"]},
        {"ref": "main", "inputs": {f"k{i}": "v" for i in range(26)}},
        {"ref": "main", "unknown": True},
        [1, 2],
    ],
)
def test_dispatch_bad_shape_is_422(github: JobServer, body: object) -> None:
    response = dispatch(github, body)
    assert response.status_code == 422
    assert "message" in response.json()


def test_dispatch_25_inputs_is_fine(github: JobServer) -> None:
    assert dispatch(github, {"ref": "main", "inputs": {f"k{i}": "v" for i in range(25)}}).status_code == 204


def test_dispatch_headers(github: JobServer) -> None:
    body = {"ref": "main"}
    assert dispatch(github, body, {**GH_HEADERS, "Authorization": f"Bearer {WRONG}"}).status_code == 401
    bad_credentials = dispatch(github, body, {k: v for k, v in GH_HEADERS.items() if k != "Authorization"})
    assert bad_credentials.status_code == 401
    assert bad_credentials.json()["message"] == "Bad credentials"
    no_accept = {**GH_HEADERS, "Accept": "text/html"}
    assert dispatch(github, body, no_accept).status_code == 422
    no_version = {k: v for k, v in GH_HEADERS.items() if k != "X-GitHub-Api-Version"}
    assert dispatch(github, body, no_version).status_code == 422
    assert dispatch(github, body, {**GH_HEADERS, "X-GitHub-Api-Version": "1999-01-01"}).status_code == 400
    assert [r.verified for r in github.requests] == [False, False, False, False, False]


def test_dispatch_run_details(github: JobServer) -> None:
    first = dispatch(github, {"ref": "main", "return_run_details": True})
    assert first.status_code == 200
    details = first.json()
    assert set(details) == {"workflow_run_id", "run_url", "html_url"}
    assert details["run_url"].endswith(f"/repos/acme/billing/actions/runs/{details['workflow_run_id']}")

    github.add_route(Route("POST", DISPATCH, auth="github-dispatch", secret=SECRET, run_details=True))
    second = dispatch(github, {"ref": "main"})
    assert second.status_code == 200
    assert second.json()["workflow_run_id"] != details["workflow_run_id"]


# ---------------------------------------------------------------- canned replies


def test_enrolment_ok_matches_seed() -> None:
    (reply,) = enrolment_ok(changed_records=0)
    assert reply.json["ok"] is True
    assert list(reply.json["summary"]) == [
        "categories_processed",
        "courses_processed",
        "status_rows_processed",
        "details_processed",
        "source_records_upserted",
        "new_records",
        "changed_records",
        "created_alerts",
    ]
    assert reply.json["summary"]["changed_records"] == 0
    with pytest.raises(TypeError):
        enrolment_ok(bogus=1)


def test_health_payload() -> None:
    when = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    (good,) = health_payload({"collect-daily": health_check(when)})
    assert good.json == {
        "healthy": True,
        "checks": {"collect-daily": {"lastRun": "2026-03-01T09:00:00+00:00", "status": "success", "ok": True}},
        "missing": [],
    }
    (bad,) = health_payload({"collect-daily": health_check(None, "error", ok=False)}, missing=["collect-mixpanel"])
    assert bad.json["healthy"] is False
    assert bad.json["missing"] == ["collect-mixpanel"]


def test_redirect_and_unauthorized_over_the_wire(server: JobServer) -> None:
    server.add_route(Route("GET", "/api/cron/refresh-tokens", responses=redirect("/login")))
    server.add_route(Route("GET", "/plain", responses=unauthorized(plain=True)))
    moved = http_get(server.url + "/api/cron/refresh-tokens", timeout=5)
    assert moved.status_code == 307
    assert moved.headers["Location"] == "/login"
    plain = http_get(server.url + "/plain", timeout=5)
    assert (plain.status_code, plain.text) == (401, "Unauthorized")
