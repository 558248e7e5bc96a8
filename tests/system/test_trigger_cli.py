"""`cronctl trigger` against the sandbox job server: real sockets, the receivers' own verifiers."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_runner import CliResult, run_cli
from cronctl_sandbox.jobserver import (
    JobServer,
    Reply,
    Route,
    rate_limited,
    reconcile_skipped,
    redirect,
    server_error,
)

SECRET = "tr1gger-s3cret-value-0042"
WRONG = "wrong-s3cret-value-9999"
WHSEC = "whsec_" + base64.b64encode(b"standard-webhooks-key-0123456789").decode()
WHSEC_WRONG = "whsec_" + base64.b64encode(b"another-key-that-is-not-right!!!").decode()
TOKEN = "ghp_dispatchtoken0123456789"
ALL_SECRETS = (SECRET, WRONG, WHSEC, WHSEC_WRONG, TOKEN)


def secret_forms(value: str) -> set[str]:
    raw = value.encode()
    forms = {value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex()}
    if value.startswith("whsec_"):
        key = base64.b64decode(value[6:])
        forms |= {key.hex(), key.decode("latin-1")}
    return forms


@pytest.fixture
def server() -> Iterator[JobServer]:
    with JobServer() as srv:
        yield srv


@pytest.fixture
def audit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("CRONCTL_AUDIT_FILE", str(path))
    return path


class Trigger:
    """Runs the CLI and checks, for every call, that no secret form reached stdout, stderr or the audit file."""

    def __init__(self, tmp_path: Path, server: JobServer, audit: Path) -> None:
        self.tmp_path = tmp_path
        self.server = server
        self.audit = audit

    def runbook(self, jobs: str, extra: str = "") -> Path:
        path = self.tmp_path / "rb.toml"
        path.write_text(f'[runbook]\nname = "sandbox"\n\n{jobs}\n{extra}\n', encoding="utf-8")
        return path

    def __call__(self, *args: str, secret: str = SECRET, env: dict[str, str | None] | None = None) -> CliResult:
        full = {
            "APP_URL": self.server.url,
            "CRON_SECRET": secret,
            "GITHUB_API_URL": self.server.url,
            "GITHUB_TOKEN": TOKEN,
            "CRONCTL_AUDIT_FILE": str(self.audit),
        }
        full.update(env or {})
        result = run_cli("trigger", *args, env=full)
        audit_text = self.audit.read_text(encoding="utf-8") if self.audit.exists() else ""
        for value in ALL_SECRETS:
            for form in secret_forms(value):
                for where, text in (("stdout", result.stdout), ("stderr", result.stderr), ("audit", audit_text)):
                    assert form not in text, f"a form of a secret appeared in {where}"
        return result

    def json(self, *args: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        result = self(*args, "-f", "json", **kwargs)
        assert result.stdout.strip(), result.stderr
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def trig(tmp_path: Path, server: JobServer, audit_file: Path) -> Trigger:
    return Trigger(tmp_path, server, audit_file)


def job(
    name: str,
    path: str,
    auth: str = 'kind = "bearer", secret_env = "CRON_SECRET"',
    *,
    method: str = "POST",
    success: str = 'status = [200], require = ["success == true"]',
    extra: str = "",
) -> str:
    return f"""
[jobs.{name}]
method = "{method}"
url = "${{APP_URL}}{path}"
auth = {{ {auth} }}
success = {{ {success} }}
{extra}
"""


# ---------------------------------------------------------------- auth schemes

AUTH_CASES = [
    ("bearer", 'kind = "bearer", secret_env = "CRON_SECRET"', {"auth": "bearer"}, SECRET, WRONG),
    (
        "bearer+apikey",
        'kind = "bearer", secret_env = "CRON_SECRET", apikey_env = "CRON_SECRET"',
        {"auth": "bearer+apikey"},
        SECRET,
        WRONG,
    ),
    ("apikey", 'kind = "apikey", secret_env = "CRON_SECRET"', {"auth": "apikey"}, SECRET, WRONG),
    (
        "header",
        'kind = "header", header = "X-Cron-Secret", secret_env = "CRON_SECRET"',
        {"auth": "header", "header": "X-Cron-Secret"},
        SECRET,
        WRONG,
    ),
    (
        "standard-webhooks",
        'kind = "standard-webhooks", secret_env = "CRON_SECRET"',
        {"auth": "standard-webhooks"},
        WHSEC,
        WHSEC_WRONG,
    ),
    ("stripe", 'kind = "stripe", secret_env = "CRON_SECRET"', {"auth": "stripe"}, SECRET, WRONG),
    ("github", 'kind = "github", secret_env = "CRON_SECRET"', {"auth": "github"}, SECRET, WRONG),
    (
        "hmac-hex",
        'kind = "hmac", secret_env = "CRON_SECRET", header = "X-Signature", timestamp_header = "X-Timestamp"',
        {"auth": "hmac", "hmac_header": "X-Signature", "timestamp_header": "X-Timestamp"},
        SECRET,
        WRONG,
    ),
    (
        "hmac-base64",
        'kind = "hmac", secret_env = "CRON_SECRET", header = "X-Sig", template = "{method} {path} {timestamp} {body}", '
        'encoding = "base64", prefix = "sha256=", timestamp_header = "X-Ts"',
        {
            "auth": "hmac",
            "hmac_header": "X-Sig",
            "hmac_template": "{method} {path} {timestamp} {body}",
            "hmac_encoding": "base64",
            "hmac_prefix": "sha256=",
            "timestamp_header": "X-Ts",
        },
        SECRET,
        WRONG,
    ),
]


@pytest.mark.parametrize(("label", "auth", "route", "good", "bad"), AUTH_CASES, ids=[c[0] for c in AUTH_CASES])
def test_every_auth_scheme_verifies_and_a_wrong_secret_is_rejected(
    trig: Trigger, server: JobServer, label: str, auth: str, route: dict[str, Any], good: str, bad: str
) -> None:
    server.add_route(Route("POST", "/fn", secret=good, **route))
    rb = trig.runbook(job("fn", "/fn", auth, extra='body = { name = "정산", n = 1 }'))

    code, data = trig.json("fn", "-r", str(rb), "--yes", secret=good)
    assert code == 0, data
    assert data["verdict"] == "ok" and data["ok"] is True
    assert data["attempts"][0]["status_code"] == 200
    assert [r.verified for r in server.requests] == [True]
    assert server.requests[0].json() == {"name": "정산", "n": 1}

    code, data = trig.json("fn", "-r", str(rb), "--yes", secret=bad)
    assert code == 1
    assert data["verdict"] == "failed" and data["status_code"] == 401
    assert data["failure_group"] == "AUTH"
    assert [r.verified for r in server.requests] == [True, False]


def test_standard_webhooks_id_is_the_request_id_and_idempotency_header(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/wh", auth="standard-webhooks", secret=WHSEC))
    rb = trig.runbook(
        job(
            "wh",
            "/wh",
            'kind = "standard-webhooks", secret_env = "CRON_SECRET"',
            extra='idempotency_header = "Idempotency-Key"',
        )
    )
    code, data = trig.json("wh", "-r", str(rb), "--yes", secret=WHSEC)
    assert code == 0
    seen = server.requests[0].headers
    assert seen["webhook-id"] == data["request_id"] == seen["idempotency-key"]


# ---------------------------------------------------------------- verdicts and statuses


def test_skipped_verdict_and_known_failure_mode(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/reconcile", auth="bearer", secret=SECRET, responses=reconcile_skipped()))
    modes = """
[[failure_modes]]
symptom = "200 but skipped from payment-reconcile"
cause = "TOSSPAYMENTS_SECRET_KEY is not set"
action = "Set the key; the next run picks it up"
job = "payment-reconcile"
verdict = "skipped"
"""
    rb = trig.runbook(
        job(
            "payment-reconcile",
            "/reconcile",
            success='status = [200], require = ["success == true"], skipped = ["skipped == true"]',
        ),
        modes,
    )
    code, data = trig.json("payment-reconcile", "-r", str(rb), "--yes")
    assert code == 1
    assert data["verdict"] == "skipped"
    assert data["failure_modes"][0]["cause"] == "TOSSPAYMENTS_SECRET_KEY is not set"
    table = trig("payment-reconcile", "-r", str(rb), "--yes")
    assert "skipped" in table.stdout and "TOSSPAYMENTS_SECRET_KEY is not set" in table.stdout


def test_rule_not_holding_is_failed(trig: Trigger, server: JobServer) -> None:
    server.add_route(
        Route(
            "POST",
            "/fn",
            auth="bearer",
            secret=SECRET,
            responses=[Reply(json={"success": False, "error": "queue locked"})],
        )
    )
    rb = trig.runbook(job("fn", "/fn"))
    code, data = trig.json("fn", "-r", str(rb), "--yes")
    assert code == 1 and data["verdict"] == "failed"
    assert "success == true" in data["reason"] and "queue locked" in data["reason"]


def test_summary_object_is_shown_as_a_table(trig: Trigger, server: JobServer) -> None:
    from cronctl_sandbox.jobserver import enrolment_ok

    server.add_route(Route("POST", "/jobs/enrol", responses=enrolment_ok(changed_records=4)))
    rb = trig.runbook(
        job(
            "enrol",
            "/jobs/enrol",
            'kind = "none"',
            success='status = [200], require = ["ok == true"], summary = "summary"',
        )
    )
    code, data = trig.json("enrol", "-r", str(rb), "--yes")
    assert code == 0 and data["summary"]["changed_records"] == 4
    table = trig("enrol", "-r", str(rb), "--yes")
    assert "Summary" in table.stdout and "changed_records" in table.stdout


@pytest.mark.parametrize(
    ("reply", "status", "group"),
    [
        (Reply(status=401, json={"error": "unauthorized"}), 401, "AUTH"),
        (Reply(status=403, json={"error": "forbidden"}), 403, "AUTH"),
        (Reply(status=404, json={"error": "not found"}), 404, "HTTP_4XX"),
        (Reply(status=409, json={"error": "already running"}), 409, "HTTP_409"),
        (rate_limited(2)[0], 429, "HTTP_429"),
        (server_error()[0], 500, "HTTP_5XX"),
        (Reply(status=503, body=b"Service Unavailable"), 503, "HTTP_5XX"),
    ],
)
def test_error_statuses_without_retries_for_non_idempotent_jobs(
    trig: Trigger, server: JobServer, reply: Reply, status: int, group: str
) -> None:
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET, responses=[reply]))
    rb = trig.runbook(job("fn", "/fn"))
    code, data = trig.json("fn", "-r", str(rb), "--yes")
    assert code == 1
    assert data["verdict"] == "failed" and data["status_code"] == status
    assert data["failure_group"] == group
    assert len(data["attempts"]) == 1 and len(server.requests) == 1
    if status == 429:
        assert data["attempts"][0]["retry_after"] == 2


@pytest.mark.slow
def test_idempotent_job_honours_retry_after_then_succeeds(trig: Trigger, server: JobServer) -> None:
    server.add_route(
        Route("POST", "/fn", auth="bearer", secret=SECRET, responses=[*rate_limited(1), Reply(json={"success": True})])
    )
    rb = trig.runbook(job("fn", "/fn", extra="idempotent = true"))
    code, data = trig.json("fn", "-r", str(rb), "--yes")
    assert code == 0, data
    assert [a["status_code"] for a in data["attempts"]] == [429, 200]
    assert data["attempts"][0]["next_delay"] == 1
    gap = server.requests[1].time - server.requests[0].time
    assert gap >= 0.95


@pytest.mark.slow
def test_idempotent_job_backs_off_3s_on_5xx_and_shows_every_attempt(trig: Trigger, server: JobServer) -> None:
    server.add_route(
        Route("POST", "/fn", auth="bearer", secret=SECRET, responses=[*server_error(), Reply(json={"success": True})])
    )
    rb = trig.runbook(job("fn", "/fn", extra="idempotent = true"))
    result = trig("fn", "-r", str(rb), "--yes")
    assert result.exit_code == 0
    assert "attempt 1: HTTP 500" in result.stderr and "retrying in 3s" in result.stderr
    assert "attempt 2: HTTP 200" in result.stderr
    assert "Attempts" in result.stdout
    assert 2.9 <= server.requests[1].time - server.requests[0].time < 4.5


def test_retry_after_beyond_the_bound_is_not_waited_for(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET, responses=rate_limited(3600)))
    rb = trig.runbook(job("fn", "/fn", extra="idempotent = true"))
    started = time.monotonic()
    code, data = trig.json("fn", "-r", str(rb), "--yes")
    assert time.monotonic() - started < 5
    assert code == 1 and len(data["attempts"]) == 1
    assert "exceeds" in data["attempts"][0]["note"]


def test_timeout_is_an_error_verdict(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/slow", auth="bearer", secret=SECRET, responses=[Reply(hang=True)]))
    rb = trig.runbook(job("slow", "/slow", extra='timeout = "500ms"'))
    started = time.monotonic()
    code, data = trig.json("slow", "-r", str(rb), "--yes")
    assert time.monotonic() - started < 5
    assert code == 1 and data["verdict"] == "error"
    assert data["status_code"] is None and "timeout" in data["attempts"][0]["error"]
    assert data["failure_group"] == "TIMEOUT"


def test_connection_refused_is_an_error_verdict(trig: Trigger, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rb = trig.runbook(job("fn", "/fn"))
    code, data = trig.json("fn", "-r", str(rb), "--yes", env={"APP_URL": f"http://127.0.0.1:{port}"})
    assert code == 1 and data["verdict"] == "error"
    assert "connection refused" in data["attempts"][0]["error"]


def test_redirect_is_failed_and_never_followed(trig: Trigger, server: JobServer) -> None:
    server.add_route(
        Route("GET", "/api/cron/sync", auth="bearer", secret=SECRET, responses=redirect(server.url + "/login"))
    )
    server.add_route(Route("GET", "/login", responses=[Reply(json={"success": True})]))
    rb = trig.runbook(job("sync", "/api/cron/sync", method="GET"))
    code, data = trig.json("sync", "-r", str(rb), "--yes")
    assert code == 1 and data["verdict"] == "failed" and data["status_code"] == 307
    assert data["location"] == server.url + "/login"
    assert data["failure_group"] == "REDIRECT"
    assert [r.path for r in server.requests] == ["/api/cron/sync"]


def test_non_json_body(trig: Trigger, server: JobServer) -> None:
    page = Reply(body=b"<html><body>Deployment not found</body></html>", content_type="text/html")
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET, responses=[page]))
    rb = trig.runbook(job("fn", "/fn") + job("plain", "/fn", success="status = [200]"))
    code, data = trig.json("fn", "-r", str(rb), "--yes")
    assert code == 1 and data["verdict"] == "failed" and "not JSON" in data["reason"]
    assert data["response"].startswith("<html>")
    code, data = trig.json("plain", "-r", str(rb), "--yes")
    assert code == 0 and data["verdict"] == "ok"


def test_body_of_several_megabytes_is_read_bounded(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/big", auth="bearer", secret=SECRET, responses=[Reply(size=6_000_000)]))
    rb = trig.runbook(job("big", "/big") + job("big-any", "/big", success="status = [200]"))
    code, data = trig.json("big", "-r", str(rb), "--yes")
    assert code == 1 and data["response_truncated"] is True
    assert data["response_bytes"] < 2_000_000
    assert "read limit" in data["reason"]
    code, data = trig.json("big-any", "-r", str(rb), "--yes")
    assert code == 0 and data["response_truncated"] is True
    assert len(data["response"]) <= 64 * 1024


# ---------------------------------------------------------------- repeat, until-ok, concurrency


def test_until_ok_stops_after_k_consecutive_ok(trig: Trigger, server: JobServer) -> None:
    ok = Reply(json={"success": True})
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET, responses=[*server_error(), ok]))
    rb = trig.runbook(job("fn", "/fn"))
    result = trig("fn", "-r", str(rb), "--yes", "--until-ok", "3", "--interval", "0", "-f", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert data["verdict"] == "ok" and data["consecutive_ok"] == 3
    assert [r["verdict"] for r in data["runs"]] == ["failed", "ok", "ok", "ok"]
    assert len(server.requests) == 4
    assert len({r["request_id"] for r in data["runs"]}) == 4
    assert "3/3 ok in a row" in result.stderr


def test_until_ok_gives_up_at_the_repeat_bound(trig: Trigger, server: JobServer) -> None:
    server.add_route(
        Route("POST", "/fn", auth="bearer", secret=SECRET, responses=[Reply(json={"success": True}), *server_error()])
    )
    rb = trig.runbook(job("fn", "/fn"))
    code, data = trig.json("fn", "-r", str(rb), "--yes", "--until-ok", "2", "--repeat", "3", "--interval", "0")
    assert code == 1 and data["verdict"] == "failed"
    assert len(data["runs"]) == 3 and len(server.requests) == 3


def test_repeat_runs_n_times_with_interval(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET))
    rb = trig.runbook(job("fn", "/fn"))
    code, data = trig.json("fn", "-r", str(rb), "--yes", "--repeat", "3", "--interval", "200ms")
    assert code == 0 and len(data["runs"]) == 3
    times = [r.time for r in server.requests]
    assert times[2] - times[0] >= 0.39


@pytest.mark.slow
def test_several_jobs_run_concurrently(trig: Trigger, server: JobServer) -> None:
    names = [f"job{i}" for i in range(5)]  # the sandbox server's listen backlog is 5
    for name in names:
        server.add_route(
            Route(
                "POST", f"/{name}", auth="bearer", secret=SECRET, responses=[Reply(json={"success": True}, delay=0.5)]
            )
        )
    server.add_route(Route("POST", "/bad", auth="bearer", secret=SECRET, responses=server_error()))
    rb = trig.runbook("".join(job(n, f"/{n}") for n in [*names, "bad"]))
    started = time.monotonic()
    code, data = trig.json(*names, "-r", str(rb), "--yes")
    assert time.monotonic() - started < 1.5  # one after the other would take 2.5 s
    assert code == 0
    assert [r["job"] for r in data["results"]] == names
    assert all(r["verdict"] == "ok" for r in data["results"])
    code, data = trig.json("job0", "bad", "-r", str(rb), "--yes")
    assert code == 1
    assert [r["verdict"] for r in data["results"]] == ["ok", "failed"]
    table = trig("job0", "bad", "-r", str(rb), "--yes")
    assert "1 ok, 1 failed" in table.stdout


# ---------------------------------------------------------------- dry run, confirmation, audit


def test_dry_run_sends_nothing_and_masks_secrets(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET))
    rb = trig.runbook(
        job(
            "fn",
            "/fn",
            'kind = "bearer", secret_env = "CRON_SECRET", apikey_env = "CRON_SECRET"',
            extra='body = { limit = 5 }\nheaders = { "X-Extra" = "${CRON_SECRET}" }',
        )
        + job("gh", "/gh", 'kind = "github", secret_env = "CRON_SECRET"')
    )
    result = trig("fn", "gh", "-r", str(rb), "--dry-run")
    assert result.exit_code == 0
    assert server.requests == []
    assert '"Authorization: Bearer $CRON_SECRET"' in result.stdout
    assert '"apikey: $CRON_SECRET"' in result.stdout
    assert '"X-Extra: $CRON_SECRET"' in result.stdout
    assert "sha256=<computed at send time>" in result.stdout
    assert f"{server.url}/fn" in result.stdout and '{"limit":5}' in result.stdout
    _code, data = trig.json("fn", "-r", str(rb), "--dry-run")
    assert data["dry_run"] is True and data["requests"][0]["curl"].startswith("curl")
    assert not trig.audit.exists()


def test_confirmation_is_required_without_yes(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET))
    rb = trig.runbook(job("fn", "/fn") + job("quiet", "/fn", extra="confirm = false"))
    result = trig("fn", "-r", str(rb))
    assert result.exit_code == 5 and "--yes" in result.stderr
    assert server.requests == []
    assert trig("quiet", "-r", str(rb)).exit_code == 0
    assert len(server.requests) == 1


def test_audit_record_per_sent_request(trig: Trigger, server: JobServer) -> None:
    server.add_route(
        Route("POST", "/fn", auth="bearer", secret=SECRET, responses=[*rate_limited(0), Reply(json={"success": True})])
    )
    rb = trig.runbook(job("fn", "/fn", extra="idempotent = true"))
    code, data = trig.json("fn", "-r", str(rb), "--yes")
    assert code == 0
    lines = [json.loads(line) for line in trig.audit.read_text().splitlines()]
    # Each attempt: a `pending` record before the request is sent, then its outcome under the same audit_id.
    assert [r["phase"] for r in lines] == ["begin", "complete", "begin", "complete"]
    assert [r["result"] for r in lines[::2]] == ["pending", "pending"]
    assert [r["audit_id"] for r in lines[::2]] == [r["audit_id"] for r in lines[1::2]]
    records = lines[1::2]
    for number, (record, status) in enumerate(zip(records, (429, 200), strict=True), start=1):
        assert record["action"] == "trigger" and record["target"] == "fn" and record["runbook"] == "sandbox"
        assert record["user"] and record["host"] and record["time"]
        details = record["details"]
        assert details["request_id"] == data["request_id"]
        assert details["url"] == f"{server.url}/fn"
        assert details["status_code"] == status and details["attempt"] == number
        assert details["latency_ms"] >= 0
    assert [r["result"] for r in records] == ["failed", "ok"]


def test_url_secret_is_not_in_output_or_audit(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("GET", "/hook", responses=[Reply(json={"success": True})]))
    rb = trig.runbook(job("hook", "/hook?token=${CRON_SECRET}", 'kind = "none"', method="GET"))
    code, data = trig.json("hook", "-r", str(rb), "--yes")
    assert code == 0
    assert server.requests[0].query == f"token={SECRET}"
    assert data["url"].endswith("/hook?token=$CRON_SECRET")


# ---------------------------------------------------------------- body overrides, ad hoc, dispatch, errors


def test_set_data_and_trigger_type(trig: Trigger, server: JobServer, tmp_path: Path) -> None:
    server.add_route(Route("POST", "/enrol"))
    rb = trig.runbook(
        job(
            "enrol",
            "/enrol",
            'kind = "none"',
            success="status = [200]",
            extra='body = { category_id = 1, trigger_type = "SCHEDULER" }\ntrigger_type_field = "trigger_type"',
        )
    )
    trig(
        "enrol",
        "-r",
        str(rb),
        "--yes",
        "--trigger-type",
        "retry",
        "--set",
        "category_id=303",
        "--set",
        "dry=true",
        "--set",
        "opts.name=x",
        "--set",
        "ratio=0.5",
    )
    assert server.requests[-1].json() == {
        "category_id": 303,
        "trigger_type": "RETRY",
        "dry": True,
        "opts": {"name": "x"},
        "ratio": 0.5,
    }
    body = tmp_path / "body.json"
    body.write_text('{"only": "this"}')
    trig("enrol", "-r", str(rb), "--yes", "--data", f"@{body}")
    assert server.requests[-1].json() == {"only": "this"}
    bad = trig("enrol", "-r", str(rb), "--yes", "--data", "{nope")
    assert bad.exit_code == 2 and "not valid JSON" in bad.stderr


def test_ad_hoc_mode_needs_no_runbook(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/adhoc", auth="header", header="X-Cron-Secret", secret=SECRET))
    server.add_route(Route("GET", "/vercel", auth="bearer", secret=SECRET))
    code, data = trig.json(
        "--url",
        f"{server.url}/adhoc",
        "--auth",
        "header:X-Cron-Secret",
        "--secret-env",
        "CRON_SECRET",
        "--data",
        '{"a": 1}',
        "--yes",
    )
    assert code == 0 and data["method"] == "POST" and server.requests[-1].json() == {"a": 1}
    code, data = trig.json("--url", "${APP_URL}/vercel", "--auth", "bearer", "--secret-env", "CRON_SECRET", "--yes")
    assert code == 0 and data["method"] == "GET" and data["job"] == "adhoc"
    missing = trig("--url", f"{server.url}/adhoc", "--auth", "bearer", "--yes")
    assert missing.exit_code == 2 and "--secret-env" in missing.stderr


def test_github_workflow_dispatch(trig: Trigger, server: JobServer) -> None:
    path = "/repos/acme/billing/actions/workflows/notify.yml/dispatches"
    server.add_route(Route("POST", path, auth="github-dispatch", secret=TOKEN))
    rb = trig.runbook(
        job(
            "notify",
            "/fn",
            extra="""
[jobs.notify.dispatch]
repo = "acme/billing"
workflow = "notify.yml"
ref = "main"
api_url = "${GITHUB_API_URL}"
inputs = { mode = "full" }
""",
        )
    )
    code, data = trig.json("notify", "-r", str(rb), "--yes", "--dispatch", "--set", "dry_run=true")
    assert code == 0, data
    assert data["dispatch"] is True
    assert data["run_url"].startswith(server.url) and "/actions/runs/" in data["run_url"]
    seen = server.requests[0]
    assert seen.verified and seen.path == path
    assert seen.json()["ref"] == "main"
    assert seen.json()["inputs"] == {"mode": "full", "dry_run": "true"}
    code, data = trig.json("notify", "-r", str(rb), "--yes", "--dispatch", env={"GITHUB_TOKEN": "ghp_wrongtoken"})
    assert code == 1 and data["status_code"] == 401 and data["failure_group"] == "AUTH"


def test_unknown_job_and_missing_secret(trig: Trigger, server: JobServer) -> None:
    server.add_route(Route("POST", "/fn", auth="bearer", secret=SECRET))
    rb = trig.runbook(job("fn", "/fn"))
    unknown = trig("fnn", "-r", str(rb), "--yes")
    assert unknown.exit_code == 2 and "did you mean 'fn'" in unknown.stderr
    missing = trig("fn", "-r", str(rb), "--yes", env={"CRON_SECRET": None})
    assert missing.exit_code == 3 and "CRON_SECRET" in missing.stderr
    assert server.requests == []


# ---------------------------------------------------------------- verify


def test_verify_reports_the_newest_run_from_the_run_log(trig: Trigger, server: JobServer, clean_db: str) -> None:
    import psycopg

    def record_run() -> None:  # the receiver writes its own run-log row when the request arrives
        if arrived["write"]:
            with psycopg.connect(clean_db, autocommit=True) as c:
                c.execute(
                    "INSERT INTO run_log (status, changed_records, started_at, finished_at)"
                    " VALUES ('SUCCESS', 3, now(), now())"
                )

    arrived = {"write": False}
    server.add_route(Route("POST", "/jobs/enrol", on_request=record_run))
    run_logs = """
[run_logs.runs]
table = "run_log"
records_column = "changed_records"
message_column = "error_message"
statuses = { succeeded = ["SUCCESS"], failed = ["FAILED"], running = ["RUNNING"] }
"""
    rb = trig.runbook(
        job("enrol", "/jobs/enrol", 'kind = "none"', success="status = [200]", extra='history = { run_log = "runs" }'),
        run_logs,
    )
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE run_log (id bigserial primary key, status text, changed_records int, "
            "error_message text, started_at timestamptz, finished_at timestamptz)"
        )
        conn.execute(
            "INSERT INTO run_log (status, changed_records, started_at, finished_at) "
            "VALUES ('SUCCESS', 0, now() - interval '1 hour', now() - interval '1 hour')"
        )
    env: dict[str, str | None] = {"DATABASE_URL": clean_db}
    code, data = trig.json("enrol", "-r", str(rb), "--yes", "--verify", env=env)
    assert code == 0
    # The run an hour ago started before the request: it never confirms it.
    assert data["verify"]["confirmed"] is False and data["verify"]["after_trigger"] is False
    assert "no run" in data["verify"]["reason"]

    arrived["write"] = True
    code, data = trig.json("enrol", "-r", str(rb), "--yes", "--verify", env=env)
    assert data["verify"]["confirmed"] is True
    assert data["verify"]["newest_run"]["records"] == 3
    table = trig("enrol", "-r", str(rb), "--yes", "--verify", env=env)
    assert "Verify" in table.stdout and "SUCCESS" in table.stdout


def test_verify_never_confirms_from_the_schedulers_own_run(trig: Trigger, server: JobServer, clean_db: str) -> None:
    """A manual HTTP call makes no pg_cron run: the scheduler's own run, even one that started a moment before
    or after, says nothing about this request."""
    import psycopg

    server.add_route(Route("POST", "/jobs/tick"))
    rb = trig.runbook(
        job("tick", "/jobs/tick", 'kind = "none"', success="status = [200]",
            extra='scheduler = "pg_cron"\nhistory = { pg_cron = true, pg_net = true }'),
    )  # fmt: skip
    with psycopg.connect(clean_db, autocommit=True) as conn:
        jobid = conn.execute(
            "SELECT cron.schedule('tick', '0 3 * * *', $$SELECT net.http_post(url := 'http://x/jobs/tick')$$)"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status, return_message,"
            " start_time, end_time) VALUES (%s, 1, current_database(), current_user, 'x', 'succeeded', '1 row',"
            " now() + interval '4 seconds', now() + interval '4 seconds')",
            [jobid],
        )
    code, data = trig.json("tick", "-r", str(rb), "--yes", "--verify", env={"DATABASE_URL": clean_db})
    assert code == 0
    verify = data["verify"]
    assert verify["confirmed"] is False and verify["can_confirm"] is False
    assert "pg_cron cannot confirm a manual trigger" in verify["reason"]
