"""`cronctl init` never writes a literal secret: planted in every form real configuration holds them (query
strings, header strings with and without ::jsonb, jsonb_build_object, format(), body fields, pgsql-http,
curl in workflows, vercel.json paths), none of them, nor their base64 / percent / hex / JSON forms, is found in
the runbook, its backup, stdout or stderr, in any output format or dry run. Each literal becomes its own
variable named after its key, with a note naming the key and saying the value was left out.
"""

from __future__ import annotations

import base64
import json
import secrets
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.init.draft import SecretNames
from cronctl.init.pgcron import CronRow, draft_from_cron
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox.fixtures import create_pg_net_tables


def _jwt(role: str) -> str:
    def part(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'role': role, 'ref': secrets.token_hex(6)})}." + \
        secrets.token_urlsafe(32)  # fmt: skip


def _plant(tag: str) -> str:
    return f"PLANT{tag}{secrets.token_hex(10)}"


S = {name: _plant(name) for name in ("qsecret", "qtoken", "hdr1", "hdr2", "hdr3", "bearer2", "apikeyjson", "body1",
                                    "body2", "body3", "format", "httpq", "httpbody", "httphdr", "setcfg", "comment",
                                    "gh_bearer", "gh_query", "gh_body", "gh_env", "vercel", "do_block", "userinfo",
                                    "pathtoken")}  # fmt: skip
S["short_password"] = "pw" + secrets.token_hex(3)  # short: caught by its key, not by its shape
S["jwt_anon"] = _jwt("anon")
S["jwt_service"] = _jwt("service_role")


def forms(value: str) -> set[str]:
    """Every derived form searched for: raw, base64 (also of `Bearer value` / `user:value`), percent-encoded,
    hex, JSON- and repr-escaped."""
    raw = value.encode()
    found = {
        value,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
    }
    for prefix in (b"Bearer ", b"user:"):
        found.add(base64.b64encode(prefix + raw).decode()[len(prefix) * 4 // 3 + 2 : -4])
    return {f for f in found if len(f) >= 8}


def assert_no_leak(*texts: str) -> None:
    blob = "\n".join(texts)
    for name, value in S.items():
        for form in forms(value):
            assert form not in blob, f"planted secret {name} leaked (as {form[:12]}…)"


# cron.schedule(...) calls as migrations write them: every pg_net / pgsql-http shape that holds a literal.
MIGRATION = textwrap.dedent(
    f"""
    -- supabase/migrations/20240101_cron.sql
    select cron.schedule('hook-qsecret', '*/5 * * * *',
      $$select net.http_get('https://hooks.example.test/run?secret={S["qsecret"]}')$$);
    select cron.schedule('hook-qtoken', '0 * * * *',
      $$select net.http_post(url := 'https://hooks.example.test/run?limit=5&token={S["qtoken"]}&page=2')$$);
    select cron.schedule('fn-apikey', '0 3 * * *', $$
      select net.http_post(
        url := 'https://abc.supabase.co/functions/v1/nightly?apikey=' || '{S["jwt_anon"]}',
        body := '{{}}'::jsonb)
    $$);
    select cron.schedule('hdr-untyped', '*/10 * * * *', $$
      select net.http_post(url := 'https://api.example.test/a',
        headers := '{{"Authorization": "Bearer {S["hdr1"]}", "Content-Type": "application/json"}}')
    $$);
    select cron.schedule('hdr-jsonb', '*/10 * * * *', $$
      select net.http_post(url := 'https://api.example.test/b',
        headers := '{{"x-cron-secret": "{S["hdr2"]}"}}'::jsonb)
    $$);
    select cron.schedule('hdr-build', '*/10 * * * *', $$
      select net.http_post(url := 'https://api.example.test/c',
        headers := jsonb_build_object('Authorization', 'Bearer ' || '{S["hdr3"]}'))
    $$);
    select cron.schedule('hdr-build-2', '*/10 * * * *', $$
      select net.http_post(url := 'https://api.example.test/c2',
        headers := jsonb_build_object('Authorization', 'Bearer {S["bearer2"]}'))
    $$);
    select cron.schedule('hdr-service', '*/10 * * * *', $$
      select net.http_post(url := 'https://abc.supabase.co/functions/v1/d',
        headers := '{{"apikey": "{S["jwt_service"]}", "Authorization": "Bearer {S["jwt_service"]}"}}'::jsonb)
    $$);
    select cron.schedule('hdr-format', '*/10 * * * *', $$
      select net.http_post(url := 'https://api.example.test/e',
        headers := jsonb_build_object('Authorization', format('Bearer %s', '{S["format"]}')))
    $$);
    select cron.schedule('body-fields', '*/10 * * * *', $$
      select net.http_post(url := 'https://api.example.test/f',
        body := jsonb_build_object('api_key', '{S["body1"]}', 'password', '{S["short_password"]}', 'limit', 5,
                                   'auth', jsonb_build_object('secret', '{S["body2"]}')))
    $$);
    select cron.schedule('body-json', '*/10 * * * *', $$
      select net.http_post('https://api.example.test/g', '{{"token": "{S["body3"]}", "dry_run": false}}'::jsonb)
    $$);
    select cron.schedule('http-ext', '*/10 * * * *', $$
      select status from http_post('https://api.example.test/h?key={S["httpq"]}',
                                   '{{"secret": "{S["httpbody"]}"}}', 'application/json')
    $$);
    select cron.schedule('http-request', '*/10 * * * *', $$
      select status from extensions.http(('POST', 'https://api.example.test/i',
        ARRAY[extensions.http_header('X-Api-Key', '{S["httphdr"]}')], 'application/json', '{{}}')::http_request)
    $$);
    select cron.schedule('userinfo', '*/10 * * * *',
      $$select net.http_get('https://cron:{S["userinfo"]}@api.example.test/j')$$);
    select cron.schedule('path-token', '*/10 * * * *',
      $$select net.http_get('https://hooks.example.test/t/{S["pathtoken"]}Zx9/run')$$);
    select cron.schedule('sql-setting', '0 4 * * *',
      $$select set_config('app.token', '{S["setcfg"]}', false) -- {S["comment"]}$$);
    select cron.schedule('sql-do', '0 5 * * *',
      $cmd$do $body$ begin perform net.http_get('https://x.test/?k={S["do_block"]}'); end $body$$cmd$);
    """
)

WORKFLOW = textwrap.dedent(
    f"""\
    name: nightly
    on:
      schedule:
        - cron: '0 2 * * *'
    env:
      HOOK_URL: https://hooks.example.test/gh?sig={S["gh_env"]}
    jobs:
      run:
        runs-on: ubuntu-latest
        steps:
          - run: |
              curl -fsS -X POST "https://api.example.test/gh?token={S["gh_query"]}" \\
                -H "Authorization: Bearer {S["gh_bearer"]}" -d '{{"secret": "{S["gh_body"]}", "n": 1}}'
          - run: HTTP=$(curl -s -o /dev/null -w "%{{http_code}}" "$HOOK_URL")
    """
)


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "20240101_cron.sql").write_text(MIGRATION)
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "nightly.yml").write_text(WORKFLOW)
    vercel = tmp_path / "vercel.json"
    crons = [{"path": f"/api/cron/sync?secret={S['vercel']}", "schedule": "0 1 * * *"}]
    vercel.write_text(json.dumps({"crons": crons}))
    return migrations, workflows, vercel


@pytest.mark.parametrize("fmt", ["table", "json", "plain", "markdown"])
def test_nothing_planted_reaches_any_output(tmp_path: Path, fmt: str) -> None:
    migrations, workflows, vercel = _files(tmp_path)
    out = tmp_path / "all.toml"
    sources = ["--from-sql", str(migrations), "--from-github", str(workflows), "--from-vercel", str(vercel)]
    dry = run_cli("init", *sources, "-o", str(out), "--dry-run", "-f", fmt)
    assert dry.exit_code == 0, dry.output
    assert not out.exists()
    written = run_cli("init", *sources, "-o", str(out), "-f", fmt)
    assert written.exit_code == 0, written.output
    again = run_cli("init", *sources, "-o", str(out), "--force", "-f", fmt)  # leaves all.toml.bak beside it
    assert again.exit_code == 0, again.output
    files = [p.read_text() for p in tmp_path.glob("all.toml*")]
    assert len(files) == 2
    assert_no_leak(dry.stdout, dry.stderr, written.stdout, written.stderr, again.stdout, again.stderr, *files)
    assert "PLANT" not in "".join(files)  # not even a fragment
    load_runbook(out)


def test_each_literal_is_its_own_variable_named_after_its_key(tmp_path: Path) -> None:
    migrations, workflows, vercel = _files(tmp_path)
    out = tmp_path / "all.toml"
    result = run_cli("init", "--from-sql", str(migrations), "--from-github", str(workflows), "--from-vercel",
                     str(vercel), "-o", str(out), "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    runbook = load_runbook(out)
    jobs = runbook.jobs
    assert jobs["hook-qsecret"].url == "https://hooks.example.test/run?secret=${SECRET}"
    assert jobs["hook-qtoken"].url == "https://hooks.example.test/run?limit=5&token=${TOKEN}&page=2"
    assert jobs["fn-apikey"].url == "https://abc.supabase.co/functions/v1/nightly?apikey=${SUPABASE_ANON_KEY}"
    # Two different Authorization literals: two variables, never one.
    first, second = jobs["hdr-untyped"].auth.secret_env, jobs["hdr-build"].auth.secret_env
    third = jobs["hdr-build-2"].auth.secret_env
    assert len({first, second, third}) == 3  # CRON_SECRET itself is Vercel's own variable here
    assert jobs["hdr-untyped"].headers == {"Content-Type": "application/json"}
    assert (jobs["hdr-jsonb"].auth.kind, jobs["hdr-jsonb"].auth.header) == ("header", "x-cron-secret")
    assert jobs["hdr-jsonb"].auth.secret_env not in (first, second, third)
    # The same literal twice (apikey and Bearer) is one variable, named by the JWT's role.
    service = jobs["hdr-service"].auth
    assert (service.kind, service.secret_env, service.apikey_env) == ("bearer", "SUPABASE_SERVICE_ROLE_KEY",
                                                                       "SUPABASE_SERVICE_ROLE_KEY")  # fmt: skip
    assert jobs["body-fields"].body == {"api_key": "${API_KEY}", "password": "${PASSWORD}", "limit": 5,
                                        "auth": {"secret": "${SECRET_2}"}}  # fmt: skip
    assert jobs["body-json"].body == {"token": "${TOKEN_2}", "dry_run": False}
    assert jobs["http-ext"].url == "https://api.example.test/h?key=${KEY}"
    assert jobs["http-ext"].body == {"secret": "${SECRET_3}"}
    assert jobs["http-request"].auth.header == "X-Api-Key"
    assert jobs["userinfo"].url == "https://${URL_CREDENTIALS}@api.example.test/j"
    assert "${" in (jobs["path-token"].url or "")
    assert jobs["sync"].url == "${APP_URL}/api/cron/sync?secret=${SECRET_4}"
    nightly = jobs["nightly"]
    assert nightly.url == "https://api.example.test/gh?token=${TOKEN_3}"
    assert nightly.body == {"secret": "${SECRET_5}", "n": 1}
    text = out.read_text()
    assert "query parameter 'secret' held a literal secret in the SQL file; the value was left out" in text
    assert "body.password held a literal secret" in text and "rotate it" in text
    report = json.loads(result.stdout)
    every_env = set(report["env"])
    assert {"SECRET", "TOKEN", "SUPABASE_ANON_KEY", "API_KEY", "PASSWORD"} <= every_env


def test_pgcron_rows_with_planted_secrets(clean_db: str, tmp_path: Path) -> None:
    """The same commands read from a real cron.job (pg_cron parses and stores them)."""
    from cronctl.init.sqlfiles import _events

    with psycopg.connect(clean_db, autocommit=True) as conn:
        create_pg_net_tables(conn)
        for kind, row, _ in _events(MIGRATION):
            if kind == "schedule":
                conn.execute("SELECT cron.schedule(%s, %s, %s)", [row.jobname, row.schedule, row.command])
    out = tmp_path / "db.toml"
    for fmt in ("json", "table"):
        result = run_cli("init", "--from-pgcron", "-o", str(out), "--force", "-f", fmt, env={"DATABASE_URL": clean_db})
        assert result.exit_code == 0, result.output
        assert_no_leak(result.stdout, result.stderr, out.read_text())
    runbook = load_runbook(out)
    assert runbook.jobs["http-ext"].history.pg_net is False  # pgsql-http: pg_cron's status is the outcome
    assert runbook.jobs["hdr-build"].history.pg_net is True


def test_one_registry_across_calls_keeps_distinct_literals_apart() -> None:
    names = SecretNames()
    a = draft_from_cron(CronRow(1, "a", "* * * * *", "select net.http_get('https://x.test/?token=aaaaaaaa1')"),
                        names=names)  # fmt: skip
    b = draft_from_cron(CronRow(2, "b", "* * * * *", "select net.http_get('https://x.test/?token=bbbbbbbb2')"),
                        names=names)  # fmt: skip
    c = draft_from_cron(CronRow(3, "c", "* * * * *", "select net.http_get('https://y.test/?token=aaaaaaaa1')"),
                        names=names)  # fmt: skip
    assert (a.url, b.url, c.url) == ("https://x.test/?token=${TOKEN}", "https://x.test/?token=${TOKEN_2}",
                                     "https://y.test/?token=${TOKEN}")  # fmt: skip
