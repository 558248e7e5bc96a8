"""`cronctl secrets`: check, generate, rotate (through seed 004's function and through the UPDATE fallback).
A secret value never appears in output or in the audit file."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.evaluate.secrets import judge_secret, judge_stored

RUNBOOK = """
[runbook]
name = "secrets-test"

[connection]
database_url = "${DATABASE_URL}"

[secrets_table]
table = "cron_secrets"

[jobs.notification-worker]
schedule = "* * * * *"
url = "${SUPABASE_URL}/functions/v1/notification-worker"
env = ["SUPABASE_URL", "SERVICE_ROLE_KEY"]
auth = { kind = "bearer", secret_env = "SERVICE_ROLE_KEY", apikey_env = "SERVICE_ROLE_KEY" }
history = { pg_cron = true, pg_net = true }

[jobs.nightly]
schedule = "0 2 * * *"
method = "GET"
url = "${SUPABASE_URL}/api/cron/nightly"
auth = { kind = "bearer", secret_env = "CRON_SECRET" }
"""

ROTATE_FUNCTION = """
CREATE TABLE public.rotation_calls (key text, at timestamptz DEFAULT now());
CREATE FUNCTION public.rotate_cron_secret(p_key text, p_value text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  UPDATE public.cron_secrets SET value = p_value, updated_at = NOW() WHERE key = p_key;
  INSERT INTO public.rotation_calls (key) VALUES (p_key);
END;
$$;
"""


def setup_secrets(dsn: str, *, function: bool) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.cron_secrets (key text PRIMARY KEY, value text NOT NULL, description text, "
            "updated_at timestamptz NOT NULL DEFAULT now() - interval '30 days')"
        )
        conn.execute(
            "INSERT INTO public.cron_secrets (key, value, description) VALUES "
            "('service_role_key', 'placeholder_service_role_key', 'Supabase service role JWT'), "
            "('supabase_url', 'https://abc.supabase.co', 'Project URL')"
        )
        conn.execute(
            "CREATE FUNCTION public.get_secret(p_key text) RETURNS text LANGUAGE sql STABLE AS "
            "$$ SELECT value FROM public.cron_secrets WHERE key = p_key $$"
        )
        conn.execute(
            "SELECT cron.schedule('notification-worker', '* * * * *', $$SELECT net.http_post(url := "
            "public.get_secret('supabase_url') || '/functions/v1/notification-worker', headers := "
            "jsonb_build_object('Authorization', 'Bearer ' || public.get_secret('service_role_key')))$$)"
        )
        if function:
            conn.execute(ROTATE_FUNCTION)


def stored(dsn: str, key: str) -> tuple[str, object]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT value, updated_at FROM public.cron_secrets WHERE key = %s", [key]).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(RUNBOOK)
    return path


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def test_strength_rules() -> None:
    assert judge_secret(None).level == "missing"
    assert judge_secret("placeholder_x").level == "placeholder"
    assert judge_secret("your-generated-secret").level == "placeholder"
    assert judge_secret("abc123").level == "weak"
    assert judge_secret("a" * 40).level == "weak"  # one repeated character is not random
    assert judge_secret(secrets.token_hex(10)).level == "fair"
    assert judge_secret(base64.b64encode(secrets.token_bytes(32)).decode()).level == "strong"
    assert judge_secret(secrets.token_urlsafe(32) + "\n").level == "weak"
    assert judge_stored(0, False).level == "missing"
    assert judge_stored(44, True).level == "placeholder"
    assert judge_stored(44, False, True).level == "weak"


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "plain"])
def test_generate(fmt: str, audit: Path) -> None:
    result = run_cli("secrets", "generate", "-f", fmt, env={"CRONCTL_AUDIT_FILE": str(audit)})
    assert result.exit_code == 0, result.output
    if fmt == "json":
        data = json.loads(result.stdout)
        assert data["bytes"] == 32 and len(base64.b64decode(data["secret"])) == 32
    else:
        candidates = [w for w in result.stdout.split() if len(w) == 44]
        assert candidates and len(base64.b64decode(candidates[0])) == 32
    assert not audit.exists()


def test_generate_bytes_option() -> None:
    data = json.loads(run_cli("secrets", "generate", "--bytes", "48", "-f", "json").stdout)
    assert len(base64.b64decode(data["secret"])) == 48
    assert run_cli("secrets", "generate", "--bytes", "8").exit_code == 2


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "plain"])
def test_check(clean_db: str, runbook: Path, fmt: str) -> None:
    setup_secrets(clean_db, function=True)
    key = secrets.token_urlsafe(32)
    env = {"DATABASE_URL": clean_db, "SERVICE_ROLE_KEY": key, "SUPABASE_URL": "https://abc.supabase.co",
           "CRON_SECRET": None}  # fmt: skip
    result = run_cli("secrets", "check", "-r", str(runbook), "-f", fmt, env=env)
    assert result.exit_code == 1, result.output
    assert key not in result.output
    assert "https://abc.supabase.co" not in result.stdout or fmt != "json"
    if fmt == "json":
        rows = {(s["where"], s["name"]): s for s in json.loads(result.stdout)["secrets"]}
        assert rows[("env", "SERVICE_ROLE_KEY")]["state"] == "set"
        assert rows[("env", "SERVICE_ROLE_KEY")]["needed_by"] == ["notification-worker"]
        assert rows[("env", "CRON_SECRET")]["state"] == "missing"
        table_row = rows[("table", "service_role_key")]
        assert table_row["state"] == "placeholder"
        assert table_row["needed_by"] == ["notification-worker"]
        assert table_row["updated_at"] is not None


def rotate(runbook: Path, dsn: str, audit: Path, value: str, *args: str) -> tuple[int, str]:
    result = run_cli("secrets", "rotate", "service_role_key", "-r", str(runbook), *args, input=value + "\n",
                     env={"DATABASE_URL": dsn, "CRONCTL_AUDIT_FILE": str(audit)})  # fmt: skip
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("function", [True, False], ids=["function", "update-fallback"])
def test_rotate(clean_db: str, runbook: Path, audit: Path, function: bool) -> None:
    setup_secrets(clean_db, function=function)
    _, before = stored(clean_db, "service_role_key")
    new = secrets.token_urlsafe(48)
    code, output = rotate(runbook, clean_db, audit, new, "--yes", "-f", "json")
    assert code == 0, output
    value, after = stored(clean_db, "service_role_key")
    assert value == new and after != before
    data = json.loads(output[: output.rindex("}") + 1])
    assert data["method"] == ("function" if function else "update")
    assert data["used_by"] == ["notification-worker"]
    assert any("cronctl trigger" in step for step in data["next_steps"])
    with psycopg.connect(clean_db) as conn:
        calls = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'rotation_calls'").fetchone()
        if function:
            assert conn.execute("SELECT count(*) FROM public.rotation_calls").fetchone() == (1,)
        else:
            assert calls == (0,)
    record = json.loads(audit.read_text().splitlines()[-1])
    assert record["action"] == "secrets.rotate" and record["result"] == "ok" and record["target"] == "service_role_key"
    assert new not in output and new not in audit.read_text()
    assert new[:8] not in audit.read_text()


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "plain"])
def test_rotate_dry_run_changes_nothing(clean_db: str, runbook: Path, audit: Path, fmt: str) -> None:
    setup_secrets(clean_db, function=True)
    new = secrets.token_urlsafe(32)
    code, output = rotate(runbook, clean_db, audit, new, "--dry-run", "-f", fmt)
    assert code == 0, output
    assert "rotate_cron_secret" in output
    assert new not in output
    assert stored(clean_db, "service_role_key")[0] == "placeholder_service_role_key"


def test_rotate_needs_confirmation_and_a_known_key(clean_db: str, runbook: Path, audit: Path) -> None:
    setup_secrets(clean_db, function=False)
    new = secrets.token_urlsafe(32)
    code, output = rotate(runbook, clean_db, audit, new)  # piped value, no terminal to confirm on, no --yes
    assert code == 5
    assert new not in output
    assert stored(clean_db, "service_role_key")[0] == "placeholder_service_role_key"
    result = run_cli("secrets", "rotate", "service_role_kye", "-r", str(runbook), "--yes", input=new,
                     env={"DATABASE_URL": clean_db, "CRONCTL_AUDIT_FILE": str(audit)})  # fmt: skip
    assert result.exit_code == 2 and "did you mean 'service_role_key'" in result.stderr
    assert new not in result.output
    assert run_cli("secrets", "rotate", "service_role_key", "-r", str(runbook), "--yes", input="placeholder_x",
                   env={"DATABASE_URL": clean_db}).exit_code == 2  # fmt: skip
    assert not audit.exists()


def test_rotate_read_only_role_is_refused(clean_db: str, read_only_role: str, runbook: Path, audit: Path) -> None:
    setup_secrets(clean_db, function=False)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO cronctl_ro")
    new = secrets.token_urlsafe(32)
    code, output = rotate(runbook, read_only_role, audit, new, "--yes")
    assert code == 4, output
    assert new not in output
