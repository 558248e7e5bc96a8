"""`cronctl init` reads pg_cron commands with PostgreSQL's own parser (pglast) and evaluates the parse tree:
casts, `||`, format(), jsonb_build_object, named arguments, sub-selects, current_setting, Vault, get_secret,
and tells pg_net from pgsql-http from plain SQL. What cannot be evaluated becomes a variable and a note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import run_cli
from cronctl.init.pgcron import CronRow, draft_from_cron
from cronctl.init.sqlexpr import describe_sql, read_command
from cronctl.init.writer import job_block
from cronctl.runbook.loader import load_runbook


def draft(command: str, name: str | None = "job", extensions: frozenset[str] | None = None):  # type: ignore[no-untyped-def]
    return draft_from_cron(CronRow(1, name, "*/5 * * * *", command), extensions)


def test_sub_select_of_a_project_function_is_a_url_not_nothing_to_write(tmp_path: Path) -> None:
    command = (
        "select net.http_post(url := (select supabase_url() || '/functions/v1/send-emails'), "
        "headers := jsonb_build_object('Authorization', 'Bearer ' || (select decrypted_secret from "
        "vault.decrypted_secrets where name = 'service_role_key')), body := '{}'::jsonb)"
    )
    job = draft(command, "send-emails")
    assert job.url == "${SUPABASE_URL}/functions/v1/send-emails"
    assert (job.auth.kind, job.auth.secret_env) == ("bearer", "SERVICE_ROLE_KEY")
    assert any("supabase_url()" in n for n in job.notes) and any("Vault secret" in n for n in job.notes)
    block, commented = job_block(job)
    assert not commented and 'url = "${SUPABASE_URL}/functions/v1/send-emails"' in block
    sql = tmp_path / "cron.sql"
    sql.write_text(f"select cron.schedule('send-emails', '*/5 * * * *', $${command}$$);\n")
    result = run_cli("init", "--from-sql", str(sql), "-o", str(tmp_path / "r.toml"))
    assert result.exit_code == 0, result.output
    assert load_runbook(tmp_path / "r.toml").jobs["send-emails"].url == job.url


@pytest.mark.parametrize(
    ("expression", "url"),
    [
        ("'https://a.test' || '/x'", "https://a.test/x"),
        ("format('%s/functions/v1/%s', current_setting('app.base_url'), 'x')", "${BASE_URL}/functions/v1/x"),
        ("concat(get_secret('supabase_url'), '/functions/v1/', 'x')", "${SUPABASE_URL}/functions/v1/x"),
        ("(select 'https://a.test/x')::text", "https://a.test/x"),
        ("coalesce(null, 'https://a.test/x')", "https://a.test/x"),
        ("(select value from app.config where key = 'edge_url') || '/x'", "${EDGE_URL}/x"),
        ("'https://a.test/' || 3 || '/x'", "https://a.test/3/x"),
    ],
)
def test_url_expressions(expression: str, url: str) -> None:
    assert draft(f"select net.http_get(url := {expression})").url == url


def test_positional_and_named_arguments_and_arithmetic() -> None:
    job = draft("SELECT net.http_post('https://a.test/x', jsonb_build_object('n', 2), '{}'::jsonb, "
                "'{\"Content-Type\": \"application/json\"}'::jsonb, timeout_milliseconds => 60 * 1000)")  # fmt: skip
    assert (job.url, job.body, job.headers, job.timeout) == (
        "https://a.test/x", {"n": 2}, {"Content-Type": "application/json"}, 60.0)  # fmt: skip
    assert job.pg_net and job.method == "POST"


def test_params_become_the_query_string() -> None:
    job = draft("select net.http_get('https://a.test/x', params := jsonb_build_object('limit', 5, 'token', "
                "get_secret('hook_token')))")  # fmt: skip
    assert job.url == "https://a.test/x?limit=5&token=${HOOK_TOKEN}"
    assert job.uses_secrets_table


@pytest.mark.parametrize(
    ("command", "extensions"),
    [
        ("select http_post('https://a.test/x', '{\"n\": 1}', 'application/json')", None),
        ("select status from extensions.http_post('https://a.test/x', '{\"n\": 1}', 'application/json')", None),
        ("select http_post('https://a.test/x', '{\"n\": 1}', 'application/json')", frozenset({"pg_cron", "http"})),
        (
            "select (http(('POST', 'https://a.test/x', NULL, 'application/json', '{\"n\": 1}')::http_request)).status",
            None,
        ),
    ],
)
def test_pgsql_http_is_synchronous_not_pg_net(command: str, extensions: frozenset[str] | None) -> None:
    job = draft(command, extensions=extensions)
    assert not job.pg_net and not job.runs_sql
    assert (job.method, job.url, job.body) == ("POST", "https://a.test/x", {"n": 1})
    assert any("pgsql-http" in n and "pg_cron's own status" in n for n in job.notes)
    block, _ = job_block(job)
    assert "pg_net" not in block.split("history")[-1]


def test_http_get_of_the_http_extension() -> None:
    job = draft("select content from http_get('https://a.test/health')")
    assert (job.method, job.url, job.pg_net) == ("GET", "https://a.test/health", False)


def test_unqualified_http_post_with_pg_net_argument_names_is_pg_net() -> None:
    job = draft("select http_post(url := 'https://a.test/x', body := '{}'::jsonb)", extensions=frozenset({"pg_net"}))
    assert job.pg_net


def test_plain_sql_and_unreadable_commands_are_sql_jobs() -> None:
    assert draft("CALL refresh_stats()").runs_sql
    assert read_command("select public.invoke_edge('x')").kind == "sql"
    job = draft("this is (( not SQL at all")
    assert job.runs_sql and "cannot read" in job.description
    assert any("cannot read" in n for n in job.notes)


def test_values_it_cannot_compute_become_variables_with_notes() -> None:
    job = draft("select net.http_post(url := 'https://a.test/x', headers := jsonb_build_object('X-Run', "
                "gen_random_uuid()::text), body := jsonb_build_object('at', now(), 'batch', 10))")  # fmt: skip
    assert job.body == {"at": "${AT}", "batch": 10}
    assert job.headers == {"X-Run": "${X_RUN}"} or job.headers == {"X-Run": "${RUN}"}
    assert any("body.at" in t and "${AT}" in t for t in job.todos)
    headers = draft("select net.http_post(url := 'https://a.test/x', headers := app.headers_for('x'))")
    assert any("headers" in t for t in headers.todos) and headers.url == "https://a.test/x"


def test_an_unreadable_url_is_still_a_drafted_job(tmp_path: Path) -> None:
    job = draft("select net.http_post(url := app.endpoint_for('x', 2))", "odd")
    assert job.url == "${ENDPOINT_FOR}" and job.unsure
    block, commented = job_block(job)
    assert commented and "[jobs.odd]" in block
    sql = tmp_path / "odd.sql"
    sql.write_text(
        "select cron.schedule('odd', '0 * * * *', $$select net.http_post(url := app.endpoint_for('x', 2))$$);"
    )
    result = run_cli("init", "--from-sql", str(sql), "-o", str(tmp_path / "odd.toml"), "-f", "json")
    assert result.exit_code == 0, result.output  # never "nothing to write" when the job has a name
    assert json.loads(result.stdout)["commented"] == ["odd"]


def test_description_keeps_sql_but_not_secret_literals_or_comments() -> None:
    text = describe_sql("DELETE FROM runs WHERE at < now() - interval '7 days' -- token abc123\n")
    assert text == "DELETE FROM runs WHERE at < now() - interval '7 days'"
    hidden = describe_sql("select set_config('app.key', 'not-long', false), 'eyJhbGciOi.eyJyb2xlIjo.sig12345'")
    assert "not-long" not in hidden and "eyJ" not in hidden


def test_migrations_replay_schedule_and_unschedule(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001.sql").write_text(
        "create extension if not exists pg_cron;\n"
        "select cron.schedule('a', '0 1 * * *', 'select 1');\n"
        "select cron.schedule(job_name := 'b', schedule := '*/5 * * * *', command := $$CALL b()$$);\n"
        "select cron.schedule('0 3 * * *', 'vacuum');\n"
    )
    (folder / "002.sql").write_text(
        "select cron.unschedule('a');\nselect cron.schedule('b', '*/10 * * * *', 'CALL b()');\n"
    )
    (folder / "003.sql").write_text("select cron.schedule('c', '* * * * *' ;\n")  # a syntax error: file and line
    out = tmp_path / "m.toml"
    result = run_cli("init", "--from-sql", str(folder), "-o", str(out), "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert any("003.sql:1" in s and "syntax error" in s for s in data["skipped_sources"])
    runbook = load_runbook(out)
    assert runbook.jobs["b"].schedule == "*/10 * * * *"
    assert "a" not in runbook.jobs
    assert "job-2" in data["commented"]  # the unnamed job: pg_cron history is matched by name
