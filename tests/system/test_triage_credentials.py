"""Triage against the sandbox: a token typed into a cron.job command is a hygiene finding naming the job and the
header, in every format, and its value shows nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from cli_runner import run_cli

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.VHJpYWdlQ3JlZGVudGlhbFRlc3Q"
RUNBOOK = """
[runbook]
name = "credentials"

[jobs.send-emails]
schedule = "* * * * *"
url = "http://127.0.0.1:9/functions/v1/send-emails"
history = { pg_cron = "send-emails", pg_net = true }

[jobs.tick]
schedule = "* * * * *"
history = { pg_cron = "tick" }
"""


def _schedule(conn: psycopg.Connection, name: str, command: str) -> None:
    conn.execute(
        "INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, active, jobname)"
        " VALUES ('* * * * *', %s, 'localhost', inet_server_port(), current_database(), current_user, true, %s)",
        [command, name],
    )


def test_triage_reports_a_credential_in_a_cron_command_without_its_value(clean_db: str, tmp_path: Path) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        _schedule(
            conn,
            "send-emails",
            "SELECT net.http_post(url := 'http://127.0.0.1:9/functions/v1/send-emails', "
            f"headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer {JWT}'))",
        )
        _schedule(conn, "tick", "SELECT 1")
    path = tmp_path / "credentials.toml"
    path.write_text(RUNBOOK)
    env = {"DATABASE_URL": clean_db, "CRONCTL_STATE_DIR": str(tmp_path / "state")}
    result = run_cli("triage", "-r", str(path), "-f", "json", env=env)
    data = json.loads(result.stdout)
    found = {c["id"]: c for c in data["hygiene"]}["cron_credentials"]
    assert found["verdict"] == "warn" and found["jobs"] == ["send-emails"]
    assert "cron job send-emails carries a credential literal (header Authorization)" in found["detail"]
    assert "anyone who can read cron.job can read it" in found["detail"]
    assert not any("credential" in reason for reason in data["reasons"])  # hygiene never counts in the status
    for fmt in ("table", "plain", "markdown"):
        human = run_cli("triage", "-r", str(path), "-f", fmt, env={**env, "COLUMNS": "120"})
        assert "cron_credentials" in human.stdout and human.exit_code == result.exit_code
        assert JWT[:16] not in human.output
    assert JWT[:16] not in result.output
