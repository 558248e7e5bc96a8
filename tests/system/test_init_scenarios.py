"""`cronctl init --from-pgcron` on the sandbox scenarios: the billing system of seed 004 and the demo system."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from cli_runner import run_cli
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox import scenario


def load_scenario(dsn: str, system: str) -> dict[str, str]:
    """Load a scenario; return its cron_secrets values (to prove none is written anywhere)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        scenario.load(conn, system, datetime.now(UTC))
        rows = conn.execute("SELECT key, value FROM public.cron_secrets").fetchall()
    return {key: value for key, value in rows}


def cron_schedules(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT jobname, schedule FROM cron.job").fetchall())


def test_billing_pgcron_scenario(clean_db: str, tmp_path: Path) -> None:
    values = load_scenario(clean_db, "billing-pgcron")
    out = tmp_path / "billing.toml"
    result = run_cli("init", "--from-pgcron", "-o", str(out), env={"DATABASE_URL": clean_db})
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for key, value in values.items():
        if key.endswith(("key", "secret", "token")):
            assert value.strip() not in text and value.strip() not in result.output
    runbook = load_runbook(out)
    worker = runbook.jobs["notification-worker"]
    assert worker.url == "${SUPABASE_URL}/functions/v1/notification-worker"
    assert worker.auth.secret_env == "SERVICE_ROLE_KEY" and worker.history.pg_net
    listed = run_cli("jobs", "-r", str(out), "-f", "json")
    assert {j["name"]: j["schedule"] for j in json.loads(listed.stdout)["jobs"]} == cron_schedules(clean_db)


def test_demo_runbook_from_pgcron_works_for_triage(clean_db: str, tmp_path: Path) -> None:
    values = load_scenario(clean_db, "demo")
    out = tmp_path / "demo.toml"
    result = run_cli("init", "--from-pgcron", "-o", str(out), env={"DATABASE_URL": clean_db})
    assert result.exit_code == 0, result.output
    assert values["service_role_key"] not in out.read_text()
    env = {"DATABASE_URL": clean_db, "SUPABASE_URL": "http://127.0.0.1:9", "SERVICE_ROLE_KEY": "k" * 32,
           "CRON_SECRET": "c" * 32}  # fmt: skip
    triage = run_cli("triage", "-r", str(out), "-f", "json", env=env)
    # 2 (critical): the scenario's 401s and placeholder; 3 would mean triage could not use the runbook.
    assert triage.exit_code == 2, triage.output
    text = json.dumps(json.loads(triage.stdout))
    for job in ("dispatch-messages", "reconcile-payments", "refresh-quotas"):
        assert job in text
    assert "401" in text and "cron_secret" in text
