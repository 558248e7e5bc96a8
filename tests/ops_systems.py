"""Equipment for the notification, OpenMetrics and fleet tests: a webhook receiver that records what it got, and
small systems (one run-log table per database) whose state a test sets with one call."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql


class Receiver:
    """A real HTTP server on 127.0.0.1 recording every request: (path, headers, body bytes)."""

    def __init__(self, status: int = 200, answer: bytes = b"ok", delay: float = 0.0) -> None:
        self.status = status
        self.answer = answer
        self.delay = delay
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                if 300 <= receiver.status < 400:
                    self.send_header("location", "http://127.0.0.1:9/elsewhere")
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/services/T0000/B0000/abcdefghijklmnopqrstuvwx") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, _, body in self.requests]


RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS ops_runs (
  id bigserial PRIMARY KEY,
  cron_name text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  status text NOT NULL,
  error_message text
)
"""


def set_state(dsn: str, state: str, message: str = "HTTP 500: upstream failed", job: str = "collect") -> None:
    """Replace `job`'s history: `ok` (a success every 5 minutes), `failing` (the newest three failed)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    newest = now - timedelta(minutes=now.minute % 5)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(RUNS_TABLE)
        conn.execute("DELETE FROM ops_runs WHERE cron_name = %s", [job])
        for i in range(6, -1, -1):
            started = newest - timedelta(minutes=5 * i)
            status = "error" if state == "failing" and i < 3 else "success"
            conn.execute(
                "INSERT INTO ops_runs (cron_name, started_at, finished_at, status, error_message)"
                " VALUES (%s, %s, %s, %s, %s)",
                [job, started, started + timedelta(seconds=2), status, message if status == "error" else None],
            )


def create_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def runbook_text(
    name: str = "ops",
    url_var: str = "OPS_DATABASE_URL",
    *,
    notify: str | None = None,
    profiles: dict[str, dict[str, str]] | None = None,
    backlog_sql: str | None = None,
    secret_env: str | None = None,
) -> str:
    parts = [
        f'[runbook]\nname = "{name}"\n',
        f'[connection]\ndatabase_url = "${{{url_var}}}"\nconnect_timeout = "3s"\nstatement_timeout = "5s"\n',
        '[run_logs.runs]\ntable = "ops_runs"\njob_column = "cron_name"\nmessage_column = "error_message"\n'
        'order_column = "started_at"\n'
        'statuses = { running = ["running"], succeeded = ["success"], failed = ["error"] }\n',
        '[jobs.collect]\nschedule = "*/5 * * * *"\nurl = "http://127.0.0.1:9/collect"\ntimeout = "1m"\n'
        'history = { run_log = "runs", run_log_key = "collect" }\n'
        + (f'auth = {{ kind = "bearer", secret_env = "{secret_env}" }}\n' if secret_env else ""),
    ]
    if backlog_sql:
        parts.append(f'[backlogs.pending]\nsql = "{backlog_sql}"\nwarn = 5\n')
    if notify:
        parts.append(notify)
    for profile, variables in (profiles or {}).items():
        shown = ", ".join(f'{k} = "{v}"' for k, v in variables.items())
        parts.append(f"[profiles.{profile}]\nvars = {{ {shown} }}\n")
    return "\n".join(parts)


def write_runbook(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
