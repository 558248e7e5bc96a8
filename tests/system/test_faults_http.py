"""HTTP faults against `cronctl trigger`: each is classified, none hangs, none crashes.

Real sockets only: the sandbox job server for scripted faults, and a raw listening socket for a server that
accepts a connection and never answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli_runner import CliResult, run_cli
from cronctl_sandbox.jobserver import JobServer, Reply, Route, rate_limited, redirect, server_error

SECRET = "http-fault-secret-5d1e9b77"
TIMEOUT_S = 0.5
MARGIN_S = 3.0
FORMATS = ("json", "table", "markdown", "plain")


@dataclass(frozen=True)
class Fault:
    name: str
    replies: tuple[Reply, ...]
    verdict: str
    group: str | None
    status: int | None = None
    reason: str = ""  # a word the verdict's reason or error must contain


FAULTS = [
    Fault("reset-mid-response", (Reply(json={"success": True, "pad": "x" * 500}, reset=True),), "error", None),
    Fault(
        "slow-drip",
        (Reply(json={"success": True, "pad": "y" * 400}, drip=0.2, drip_chunk=1),),
        "error",
        "TIMEOUT",
        reason="timeout",
    ),
    Fault(
        "delay-past-timeout",
        (Reply(json={"success": True}, delay=TIMEOUT_S * 4),),
        "error",
        "TIMEOUT",
        reason="timeout",
    ),
    Fault("redirect-302", tuple(redirect("http://127.0.0.1:9/login", status=302)), "failed", "REDIRECT", 302),
    Fault("redirect-308", tuple(redirect("http://127.0.0.1:9/login", status=308)), "failed", "REDIRECT", 308),
    Fault("429-retry-after", tuple(rate_limited(7)), "failed", "HTTP_429", 429),
    Fault("429-no-retry-after", tuple(rate_limited()), "failed", "HTTP_429", 429),
    Fault("500", tuple(server_error()), "failed", "HTTP_5XX", 500),
    Fault(
        "502-html",
        (Reply(status=502, body=b"<html>Bad Gateway</html>", content_type="text/html"),),
        "failed",
        "HTTP_5XX",
        502,
    ),
    Fault("503-empty", (Reply(status=503, body=b""),), "failed", "HTTP_5XX", 503),
    Fault(
        "invalid-json",
        (Reply(body=b'{"success": tru', content_type="application/json"),),
        "failed",
        None,
        200,
        reason="JSON",
    ),
    Fault(
        "json-with-wrong-content-type",
        (Reply(body=b"<html>not json</html>", content_type="application/json"),),
        "failed",
        None,
        200,
        reason="JSON",
    ),
    Fault(
        "html-instead-of-json",
        (Reply(body=b"<html><body>Deployment not found</body></html>", content_type="text/html"),),
        "failed",
        None,
        200,
        reason="JSON",
    ),
    Fault("multi-megabyte-body", (Reply(size=8_000_000),), "failed", None, 200, reason="limit"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[JobServer]:
    with JobServer() as srv:
        yield srv


def runbook(tmp_path: Path, base_url: str, path: str = "/fn", *, idempotent: bool = False) -> Path:
    file = tmp_path / "http.toml"
    file.write_text(f"""
[runbook]
name = "http-faults"

[jobs.fn]
method = "POST"
url = "{base_url}{path}"
timeout = "{TIMEOUT_S}s"
idempotent = {str(idempotent).lower()}
auth = {{ kind = "bearer", secret_env = "CRON_SECRET" }}
success = {{ status = [200], require = ["success == true"] }}
""")
    return file


def trigger(rb: Path, *args: str, tmp_path: Path) -> tuple[CliResult, float]:
    env: dict[str, str | None] = {"CRON_SECRET": SECRET, "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")}
    began = time.monotonic()
    result = run_cli("trigger", "fn", "-r", str(rb), "--yes", *args, env=env)
    elapsed = time.monotonic() - began
    assert "Traceback" not in result.output
    assert SECRET not in result.output
    return result, elapsed


def _text(data: dict[str, Any]) -> str:
    return json.dumps(data).lower()


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_classified_in_time(server: JobServer, tmp_path: Path, fault: Fault) -> None:
    path = f"/{fault.name}"
    server.add_route(Route("POST", path, auth="bearer", secret=SECRET, responses=list(fault.replies)))
    rb = runbook(tmp_path, server.url, path)
    result, elapsed = trigger(rb, "-f", "json", tmp_path=tmp_path)
    assert elapsed < TIMEOUT_S + MARGIN_S, f"{fault.name} took {elapsed:.1f}s"
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == fault.verdict, data
    assert data["failure_group"] == fault.group or (fault.group is None and data["failure_group"] in (None, "OTHER"))
    if fault.status is not None:
        assert data["status_code"] == fault.status
    if fault.reason:
        assert fault.reason.lower() in _text(data)
    assert len(data["attempts"]) == 1  # not idempotent: never retried on its own


GARBAGE = b"\x00\xff binary \x1b[31m garbage \x1b]0;title\x07 \r overwritten"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_a_binary_answer(server: JobServer, tmp_path: Path, fmt: str) -> None:
    server.add_route(Route("POST", "/fmt", auth="bearer", secret=SECRET, responses=[Reply(status=500, body=GARBAGE)]))
    rb = runbook(tmp_path, server.url, "/fmt")
    result, _ = trigger(rb, "-f", fmt, tmp_path=tmp_path)
    assert result.exit_code == 1 and result.stdout.strip()
    if fmt == "json":
        assert json.loads(result.stdout)["failure_group"] == "HTTP_5XX"


@pytest.mark.parametrize("fmt", FORMATS[1:])
def test_server_escape_codes_never_reach_the_terminal(server: JobServer, tmp_path: Path, fmt: str) -> None:
    server.add_route(Route("POST", "/esc", auth="bearer", secret=SECRET, responses=[Reply(status=500, body=GARBAGE)]))
    rb = runbook(tmp_path, server.url, "/esc")
    result, _ = trigger(rb, "-f", fmt, tmp_path=tmp_path)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


class SilentServer:
    """Accepts connections and never reads or answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.mark.slow
def test_server_that_accepts_and_never_answers(tmp_path: Path) -> None:
    silent = SilentServer()
    try:
        rb = runbook(tmp_path, f"http://127.0.0.1:{silent.port}")
        result, elapsed = trigger(rb, "-f", "json", tmp_path=tmp_path)
        assert silent.accepted, "the request never reached the silent server"
    finally:
        silent.close()
    assert elapsed < TIMEOUT_S + MARGIN_S
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["verdict"] == "error" and data["failure_group"] == "TIMEOUT"


@pytest.mark.slow
def test_listen_backlog_full_never_hangs(tmp_path: Path) -> None:
    # A socket that listens but never accepts: the handshake may complete in the kernel, nothing answers.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        rb = runbook(tmp_path, f"http://127.0.0.1:{sock.getsockname()[1]}")
        result, elapsed = trigger(rb, "-f", "json", tmp_path=tmp_path)
    assert elapsed < TIMEOUT_S + MARGIN_S
    assert result.exit_code == 1 and json.loads(result.stdout)["verdict"] == "error"


def test_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rb = runbook(tmp_path, f"http://127.0.0.1:{port}")
    result, elapsed = trigger(rb, "-f", "json", tmp_path=tmp_path)
    assert elapsed < MARGIN_S
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["verdict"] == "error"
    assert "refused" in _text(data)


def test_unresolvable_host_is_an_error_verdict(tmp_path: Path) -> None:
    rb = runbook(tmp_path, "http://cronctl-no-such-host.invalid")
    result, elapsed = trigger(rb, "-f", "json", tmp_path=tmp_path)
    assert elapsed < 30  # name resolution runs on the system resolver, whose timeouts are its own
    assert result.exit_code == 1 and json.loads(result.stdout)["verdict"] == "error"


def test_retries_of_an_idempotent_job_stay_bounded(server: JobServer, tmp_path: Path) -> None:
    server.add_route(
        Route("POST", "/flaky", auth="bearer", secret=SECRET, responses=[Reply(json={"success": True}, reset=True)])
    )
    rb = runbook(tmp_path, server.url, "/flaky", idempotent=True)
    server.clear_requests()
    result, elapsed = trigger(rb, "-f", "json", tmp_path=tmp_path)
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["verdict"] == "error"
    assert 1 <= len(data["attempts"]) <= 5
    assert elapsed < len(data["attempts"]) * (TIMEOUT_S + 3.5) + MARGIN_S


@pytest.mark.slow
def test_until_ok_against_a_hanging_endpoint_is_bounded(server: JobServer, tmp_path: Path) -> None:
    server.add_route(Route("POST", "/hang", auth="bearer", secret=SECRET, responses=[Reply(hang=True)]))
    rb = runbook(tmp_path, server.url, "/hang")
    result, elapsed = trigger(
        rb, "--until-ok", "2", "--repeat", "2", "--interval", "0", "-f", "json", tmp_path=tmp_path
    )
    assert elapsed < 2 * TIMEOUT_S + MARGIN_S
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and len(data["runs"]) == 2


@pytest.mark.slow
def test_doctor_endpoint_check_against_a_silent_server(tmp_path: Path) -> None:
    silent = SilentServer()
    try:
        rb = runbook(tmp_path, f"http://127.0.0.1:{silent.port}")
        began = time.monotonic()
        result = run_cli(
            "doctor",
            "-r",
            str(rb),
            "--timeout",
            f"{TIMEOUT_S}s",
            "-f",
            "json",
            env={"CRON_SECRET": SECRET, "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"},
        )
        elapsed = time.monotonic() - began
    finally:
        silent.close()
    assert elapsed < TIMEOUT_S + MARGIN_S + 2
    assert "Traceback" not in result.output and SECRET not in result.output
    assert result.exit_code in (1, 2)
    json.loads(result.stdout)
