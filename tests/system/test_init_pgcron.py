"""`cronctl init --from-pgcron`: seed 004's cron.job commands become a runbook without a single secret value."""

from __future__ import annotations

import json
import secrets
import tomllib
from pathlib import Path

import psycopg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cli_runner import run_cli
from cronctl.init.draft import REFERENCE, looks_secret
from cronctl.init.pgcron import _SECRET_HEADER as SECRET_NAME
from cronctl.init.pgcron import CronRow, draft_from_cron
from cronctl.init.writer import toml_value
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox.fixtures import create_pg_net_tables

# Seed 004's jobs: name, schedule, path, body, headers style.
SEED_004 = [
    ("generate-t5-invoices", "0 1 * * *", "/functions/v1/generate-t5-invoices", "jsonb_build_object()", "apikey"),
    ("run-escalation-orchestration", "0 2 * * *", "/functions/v1/run-escalation-orchestration",
     "jsonb_build_object('force', false)", "cron_secret"),
    ("schedule-create-zoom", "*/15 * * * *", "/some-scheduler-endpoint", "jsonb_build_object('force_invoke', true)",
     "scheduler"),
    ("generate-monthly-invoices", "0 2 * * *", "/functions/v1/generate-monthly-invoices", "'{}'::jsonb", "bearer"),
    ("escalate-overdue-bookings", "0 6 * * *", "/functions/v1/escalate-overdue-bookings", "'{}'::jsonb", "bearer"),
    ("notification-worker", "* * * * *", "/functions/v1/notification-worker",
     "jsonb_build_object('limit', 5, 'runs', 1)", "apikey"),
]  # fmt: skip

NOTIFICATION_WORKER = """
  SELECT net.http_post(
    url := public.get_secret('supabase_url') || '/functions/v1/notification-worker',
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || public.get_secret('service_role_key'),
      'apikey', public.get_secret('service_role_key')
    ),
    body := jsonb_build_object('limit', 5, 'runs', 1),
    timeout_milliseconds := 60000
  );
"""


def seed_command(path: str, body: str, style: str) -> str:
    base = "public.get_secret('edge_function_url')" if style == "scheduler" else "public.get_secret('supabase_url')"
    key = {"cron_secret": "cron_secret", "scheduler": "scheduler_secret_token"}.get(style, "service_role_key")
    headers = f"'Content-Type', 'application/json', 'Authorization', 'Bearer ' || public.get_secret('{key}')"
    if style == "apikey":
        headers += f", 'apikey', public.get_secret('{key}')"
    return (
        f"SELECT net.http_post(url := {base} || '{path}', headers := jsonb_build_object({headers}), "
        f"body := {body}, timeout_milliseconds := 30000);"
    )


def fake_jwt(role: str) -> str:
    import base64

    def part(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header, claims = part({"alg": "HS256", "typ": "JWT"}), part({"role": role, "iss": "supabase"})
    return f"{header}.{claims}.{secrets.token_urlsafe(32)}"


def install_seed_004(dsn: str, secret_values: dict[str, str], literal_token: str | None = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        create_pg_net_tables(conn)
        conn.execute(
            "CREATE TABLE public.cron_secrets (key text PRIMARY KEY, value text NOT NULL, description text, "
            "updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "CREATE FUNCTION public.get_secret(p_key text) RETURNS text LANGUAGE sql STABLE AS "
            "$$ SELECT value FROM public.cron_secrets WHERE key = p_key $$"
        )
        for key, value in secret_values.items():
            conn.execute("INSERT INTO public.cron_secrets (key, value) VALUES (%s, %s)", [key, value])
        for name, schedule, path, body, style in SEED_004:
            command = NOTIFICATION_WORKER if name == "notification-worker" else seed_command(path, body, style)
            conn.execute("SELECT cron.schedule(%s, %s, %s)", [name, schedule, command])
        if literal_token:
            command = (
                "select net.http_post('https://example.supabase.co/functions/v1/hello', '{\"ping\": 1}'::jsonb, "
                f"'{{}}'::jsonb, jsonb_build_object('Authorization', 'Bearer {literal_token}'))"
            )
            conn.execute("SELECT cron.schedule('hello-literal', '*/5 * * * *', %s)", [command])
        conn.execute("SELECT cron.schedule('purge-history', '0 3 * * *', 'DELETE FROM cron.job_run_details')")


def test_notification_worker_command_becomes_a_job() -> None:
    draft = draft_from_cron(CronRow(7, "notification-worker", "* * * * *", NOTIFICATION_WORKER))
    assert draft.method == "POST"
    assert draft.url == "${SUPABASE_URL}/functions/v1/notification-worker"
    assert draft.headers == {"Content-Type": "application/json"}
    assert draft.body == {"limit": 5, "runs": 1}
    assert draft.timeout == 60
    assert (draft.auth.kind, draft.auth.secret_env, draft.auth.apikey_env) == (
        "bearer",
        "SERVICE_ROLE_KEY",
        "SERVICE_ROLE_KEY",
    )
    assert draft.pg_cron == "notification-worker" and draft.pg_net
    assert draft.uses_secrets_table
    assert draft.todos == []


def test_positional_arguments_and_literal_token() -> None:
    token = fake_jwt("service_role")
    command = (
        "SELECT net.http_post('https://x.supabase.co/functions/v1/a', '{\"n\": 2}'::jsonb, '{}'::jsonb, "
        f'\'{{"Authorization": "Bearer {token}", "apikey": "{token}"}}\'::jsonb)'
    )
    draft = draft_from_cron(CronRow(1, "a", "*/5 * * * *", command))
    assert draft.url == "https://x.supabase.co/functions/v1/a"
    assert draft.body == {"n": 2}
    assert draft.auth.secret_env == "SUPABASE_SERVICE_ROLE_KEY"
    assert draft.auth.apikey_env == "SUPABASE_SERVICE_ROLE_KEY"
    assert draft.timeout == 5  # pg_net's default
    assert any("literal" in t for t in draft.todos)
    assert token not in repr(draft)


def test_get_request_and_unknown_parts() -> None:
    command = (
        "select net.http_get(url := current_setting('app.base_url') || '/ping', "
        "headers := jsonb_build_object('X-Cron-Secret', (select decrypted_secret from vault.decrypted_secrets "
        "where name = 'cron_secret')), timeout_milliseconds := 2000 + 500)"
    )
    draft = draft_from_cron(CronRow(2, "ping", "0 * * * *", command))
    assert draft.method == "GET"
    assert draft.url == "${BASE_URL}/ping"
    assert (draft.auth.kind, draft.auth.header, draft.auth.secret_env) == ("header", "X-Cron-Secret", "CRON_SECRET")
    assert draft.timeout == 2.5  # 2000 + 500, evaluated from PostgreSQL's own parse tree


def test_init_from_pgcron_writes_a_runbook_jobs_can_use(clean_db: str, tmp_path: Path) -> None:
    values = {
        "supabase_url": "https://" + secrets.token_hex(8) + ".supabase.co",
        "service_role_key": fake_jwt("service_role"),
        "cron_secret": secrets.token_urlsafe(32),
        "edge_function_url": "https://" + secrets.token_hex(8) + ".supabase.co/functions/v1",
        "scheduler_secret_token": secrets.token_urlsafe(32),
    }
    literal = fake_jwt("service_role")
    install_seed_004(clean_db, values, literal_token=literal)
    out = tmp_path / "billing.toml"
    result = run_cli("init", "--from-pgcron", "-o", str(out), "-f", "json", env={"DATABASE_URL": clean_db})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    text = out.read_text()
    for value in [*values.values(), literal]:
        assert value not in text
        assert value not in result.output
    runbook = load_runbook(out)
    assert set(runbook.jobs) == {name for name, *_ in SEED_004} | {"hello-literal", "purge-history"}
    assert runbook.secrets_table is not None
    worker = runbook.jobs["notification-worker"]
    assert worker.body == {"limit": 5, "runs": 1} and worker.timeout == 60
    assert worker.auth.secret_env == "SERVICE_ROLE_KEY"
    assert runbook.jobs["schedule-create-zoom"].auth.secret_env == "SCHEDULER_SECRET_TOKEN"
    assert runbook.jobs["hello-literal"].auth.secret_env == "SUPABASE_SERVICE_ROLE_KEY"
    purge = runbook.jobs["purge-history"]
    assert purge.runs_sql and purge.history.pg_cron == "purge-history" and purge.scheduler == "pg_cron"
    assert purge.schedule == "0 3 * * *" and purge.description == "DELETE FROM cron.job_run_details"
    assert "purge-history" in report["added"] and report["commented"] == []
    assert "# TODO: the command runs SQL" not in text

    with psycopg.connect(clean_db) as conn:
        expected = dict(conn.execute("SELECT jobname, schedule FROM cron.job").fetchall())
    listed = run_cli("jobs", "-r", str(out), "-f", "json")
    assert listed.exit_code == 0, listed.output
    schedules = {job["name"]: job["schedule"] for job in json.loads(listed.stdout)["jobs"]}
    assert schedules == expected


def test_init_refuses_overwrite_and_merges_keeping_hand_edits(clean_db: str, tmp_path: Path) -> None:
    install_seed_004(clean_db, {"supabase_url": "https://a.example", "service_role_key": fake_jwt("service_role")})
    out = tmp_path / "cronctl.toml"
    env = {"DATABASE_URL": clean_db}
    assert run_cli("init", "--from-pgcron", "-o", str(out), env=env).exit_code == 0
    edited = (
        out.read_text()
        .replace("[jobs.notification-worker]", "# hand note: keep limit small\n[jobs.notification-worker]")
        .replace('schedule = "0 6 * * *"', 'schedule = "30 6 * * *"')
    )
    out.write_text(edited)

    again = run_cli("init", "--from-pgcron", "-o", str(out), env=env)
    assert again.exit_code == 2
    assert "--merge" in again.stderr and "--force" in again.stderr
    assert out.read_text() == edited

    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("SELECT cron.schedule('nightly-extra', '15 4 * * *', %s)",
                     ["select net.http_post(url := 'https://a.example/functions/v1/extra')"])  # fmt: skip
    merged = run_cli("init", "--from-pgcron", "-o", str(out), "--merge", "-f", "json", env=env)
    assert merged.exit_code == 0, merged.output
    data = json.loads(merged.stdout)
    assert data["added"] == ["nightly-extra"]
    assert "notification-worker" in data["kept"]
    text = out.read_text()
    assert text.startswith(edited.rstrip("\n"))
    parsed = tomllib.loads(text)
    assert parsed["jobs"]["escalate-overdue-bookings"]["schedule"] == "30 6 * * *"
    assert parsed["jobs"]["nightly-extra"]["schedule"] == "15 4 * * *"
    load_runbook(out)

    forced = run_cli("init", "--from-pgcron", "-o", str(out), "--force", env=env)
    assert forced.exit_code == 0
    assert "hand note" not in out.read_text()


def test_init_needs_a_source(tmp_path: Path) -> None:
    result = run_cli("init", "-o", str(tmp_path / "x.toml"))
    assert result.exit_code == 2
    assert "--from-pgcron" in result.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "plain"])
def test_init_dry_run_writes_nothing(clean_db: str, tmp_path: Path, fmt: str) -> None:
    install_seed_004(clean_db, {"supabase_url": "https://a.example", "service_role_key": "k" * 40})
    out = tmp_path / "dry.toml"
    result = run_cli("init", "--from-pgcron", "-o", str(out), "--dry-run", "-f", fmt, env={"DATABASE_URL": clean_db})
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert "notification-worker" in result.stdout
    assert "k" * 40 not in result.output


_scalars = st.one_of(st.text(max_size=20), st.integers(-(2**63), 2**63 - 1), st.booleans())
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=10), _values, max_size=5))
def test_toml_writer_round_trips(value: dict[str, object]) -> None:
    assert tomllib.loads(f"x = {toml_value(value)}")["x"] == value


# Secret-looking keys holding literals are replaced by ${VAR} on purpose (test_literal_secret_in_body_is_replaced).
# PostgreSQL text holds no NUL character; secret-looking values are replaced on purpose too.
_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
# A key that holds a `${VAR}` reads as one made by get_secret() or current_setting(): it is not copied.
_plain_keys = _text.filter(lambda k: not SECRET_NAME.search(k) and not REFERENCE.search(k))


@example(body={"${": ""})  # a `$` and a brace, not a reference: the key is kept as written
@given(st.dictionaries(_plain_keys, st.one_of(_text.filter(lambda v: not looks_secret(v)), st.integers(0, 10**6)),
                       max_size=5))  # fmt: skip
def test_jsonb_build_object_is_read_back(body: dict[str, object]) -> None:
    def lit(v: object) -> str:
        return "'" + v.replace("'", "''") + "'" if isinstance(v, str) else str(v)

    pairs = ", ".join(f"{lit(k)}, {lit(v)}" for k, v in body.items())
    command = f"SELECT net.http_post(url := 'https://x.test/a', body := jsonb_build_object({pairs}))"
    draft = draft_from_cron(CronRow(1, "j", "* * * * *", command))
    assert draft.body == body


def test_a_body_key_from_a_setting_is_left_to_the_user() -> None:
    body = "jsonb_build_object(current_setting('app.field'), 1, 'n', 2)"
    command = f"SELECT net.http_post(url := 'https://x.test/a', body := {body})"
    draft = draft_from_cron(CronRow(1, "j", "* * * * *", command))
    assert draft.body == {}
    assert any("keys are computed" in todo for todo in draft.todos), draft.todos


def test_literal_secret_in_body_is_replaced() -> None:
    body = "jsonb_build_object('secret', '00000000', 'n', 1)"
    command = f"SELECT net.http_post(url := 'https://x.test/a', body := {body})"
    draft = draft_from_cron(CronRow(1, "j", "* * * * *", command))
    assert draft.body == {"secret": "${SECRET}", "n": 1}  # named after its key
    assert "SECRET" in draft.env and any("literal secret" in t and "body.secret" in t for t in draft.todos)
    assert "00000000" not in repr(draft)


def test_toml_key_with_a_trailing_newline_is_quoted() -> None:
    value = {"0\n": []}
    assert tomllib.loads(f"x = {toml_value(value)}")["x"] == value
