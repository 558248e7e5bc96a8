"""Masking by value, everywhere, last: every derived form of a secret, in every sink, whatever the variable is called.

The derived-form matrix runs on the redactor and on the renderer (every format); the attacks run the real CLI
against a real local server (which echoes what it received) and the throwaway PostgreSQL + pg_cron cluster.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import psycopg
import pytest
from test_pgcron_sources import add_run, schedule

from cli_runner import CliResult, run_cli
from cronctl import redact
from cronctl.output.render import render
from cronctl.output.report import KeyValues, Report, Table, Text
from hostile_server import HostileServer

FORMATS = ("table", "json", "markdown", "plain")
VALUES = {
    "plain": "Pl41n-secret-value-0c2f9e",
    "quotes": "q\"u'o\\te-secret-91ab",
    "unicode": "ünï-cødé-sécret-ß77",
    "multiline": "line-one-secret-aa11\nline-two-secret-bb22\r\nline-three-secret-cc33",
    "spaces": "  spaced secret value 4d5e  ",
}


def _b64(data: bytes) -> list[str]:
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


FORMS: dict[str, Callable[[str], list[str]]] = {
    "raw": lambda v: [v],
    "json-escaped": lambda v: [json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1]],
    "repr": lambda v: [repr(v)[1:-1], ascii(v)[1:-1]],
    "uXXXX": lambda v: ["".join(f"\\u{ord(c):04x}" for c in v)],
    "percent": lambda v: [quote(v, safe=""), quote_plus(v)],
    "base64": lambda v: _b64(v.encode()),
    "base64 user:value": lambda v: _b64(b"deploy-bot:" + v.encode()),
    "base64 Bearer value": lambda v: _b64(b"Bearer " + v.encode()),
    "hex": lambda v: [v.encode().hex(), v.encode().hex().upper()],
    "lines": lambda v: [line for line in v.splitlines() if line.strip()],
}


def _pieces(value: str) -> list[str]:
    """What must not appear: the value and each of its lines (stripped), at least 8 characters each."""
    out = [value.strip(), *[line.strip() for line in value.splitlines()]]
    return [p for p in out if len(p) >= 8]


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    redact.clear_for_tests()
    yield
    redact.clear_for_tests()


def _assert_no_form(value: str, text: str, where: str) -> None:
    for kind, make in FORMS.items():
        for form in make(value):
            core = form.strip()
            if len(core) < 8:
                continue
            if kind.startswith("base64 ") or kind == "base64":
                # Encoded together with other bytes, the first and last characters mix in neighbours' bits.
                assert core[4:-4] not in text, f"{kind} form {form!r} of the secret in {where}"
            else:
                assert core not in text, f"{kind} form {form!r} of the secret in {where}"


@pytest.mark.parametrize("name", list(VALUES))
@pytest.mark.parametrize("kind", list(FORMS))
def test_every_derived_form_is_masked(name: str, kind: str) -> None:
    value = VALUES[name]
    redact.register(value)
    for form in FORMS[kind](value):
        text = f"before «{form}» after"
        masked = redact.redact(text)
        _assert_no_form(value, masked, f"redact({kind})")
        assert masked.startswith("before «") and masked.endswith("» after")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(VALUES))
def test_every_format_masks_every_form_even_in_cut_cells(fmt: str, name: str) -> None:
    """Cells are cut to 80 characters in human formats; the cut comes after masking, so no prefix shows."""
    import io

    value = VALUES[name]
    redact.register(value)
    padding = "x" * 60  # puts the secret across the cut
    cells = [f"{padding} {form} tail" for make in FORMS.values() for form in make(value)]
    report = Report(
        data={"cells": cells, "value": value},
        sections=[
            Table(["n", "message"], [[i, cell] for i, cell in enumerate(cells)], wrap=(1,)),
            KeyValues([(f"k{i}", cell) for i, cell in enumerate(cells)]),
            Text(" | ".join(cells)),
        ],
        title=f"title {value}",
        headline=f"headline {value}",
    )
    out = io.StringIO()
    render(report, fmt, out)
    text = out.getvalue()
    _assert_no_form(value, text, fmt)
    for piece in _pieces(value):
        assert piece[:12] not in text, f"the first characters of the secret show in {fmt}"


LITERAL_KEY_ALONE = "plainword"


def test_credential_literals_are_masked_and_references_kept() -> None:
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLWhlcmU"
    command = (
        "SELECT net.http_post(url := 'https://x.supabase.co/functions/v1/w', headers := jsonb_build_object("
        f"'Authorization', 'Bearer {jwt}', 'apikey', 'sb_secret_Q2x9kLmN0pR7', 'X-Cron-Secret', 'Hunter22-lit'))"
    )
    masked = redact.redact(command)
    for literal in (jwt, "sb_secret_Q2x9kLmN0pR7", "Hunter22-lit"):
        assert literal not in masked
    assert "jsonb_build_object('Authorization'" in masked and "net.http_post" in masked
    # Learnt from the command (as every connection does with cron.job), masked in other forms too.
    assert redact.learn_credentials(command) >= 3
    assert base64.b64encode(b"Hunter22-lit").decode() not in redact.redact(base64.b64encode(b"Hunter22-lit").decode())
    assert redact.redact(f"echo {LITERAL_KEY_ALONE}") == f"echo {LITERAL_KEY_ALONE}"  # not learnt: not in the command
    kept = '{"Authorization": "Bearer $CRON_SECRET", "apikey": "${SERVICE_KEY}"} curl -H "X-Cron-Secret: $S"'
    assert redact.redact(kept) == kept
    prose = "the Bearer authentication failed; token expired; see X-Hub-Signature-256: sha256=<computed at send>"
    assert redact.redact(prose) == prose


# ---------------------------------------------------------------- the CLI against a real server


@pytest.fixture(scope="module")
def echo() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def _trigger(tmp_path: Path, rb: str, env: dict[str, str | None], *args: str) -> CliResult:
    audit = tmp_path / "audit.jsonl"
    result = run_cli("trigger", "fn", "-r", rb, "--yes", *args, env={"CRONCTL_AUDIT_FILE": str(audit), **env})
    assert "Traceback" not in result.output
    return result


def _places(tmp_path: Path, result: CliResult) -> dict[str, str]:
    audit = tmp_path / "audit.jsonl"
    return {"stdout": result.stdout, "stderr": result.stderr, "audit": audit.read_text() if audit.exists() else ""}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_variable_sent_in_a_header_is_masked_whatever_its_name(echo: HostileServer, tmp_path: Path, fmt: str) -> None:
    value = "Internal-Code-7Yq2Lm90zz"
    rb = tmp_path / "rb.toml"
    rb.write_text(f"""
[runbook]
name = "echo"
[jobs.fn]
url = "{echo.url}/echo"
headers = {{ "X-Internal" = "${{INTERNAL_CODE}}", "X-Literal-Token" = "Lit3ral-t0ken-value" }}
confirm = false
""")
    result = _trigger(tmp_path, str(rb), {"INTERNAL_CODE": value}, "-f", fmt)
    assert result.exit_code == 0, result.output
    assert echo.last_headers.get("X-Internal") == value  # it was sent
    for where, text in _places(tmp_path, result).items():
        _assert_no_form(value, text, where)
        _assert_no_form("Lit3ral-t0ken-value", text, where)
    dry = run_cli("trigger", "fn", "-r", str(rb), "--dry-run", "-f", "plain", env={"INTERNAL_CODE": value})
    assert '"X-Internal: $INTERNAL_CODE"' in dry.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_url_userinfo_and_its_basic_auth_are_masked(echo: HostileServer, tmp_path: Path, fmt: str) -> None:
    password = "Us3rinfo-pass-9f8e7d"
    url = echo.url.replace("http://", f"http://deploy-bot:{password}@") + "/echo"
    result = run_cli(
        "trigger", "--url", url, "-f", fmt, "--yes", env={"CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")}
    )
    assert result.exit_code == 0, result.output
    assert echo.last_headers.get("Authorization", "").startswith("Basic ")  # httpx sent it, the server echoes it
    for where, text in _places(tmp_path, result).items():
        _assert_no_form(password, text, where)
        assert base64.b64encode(f"deploy-bot:{password}".encode()).decode() not in text


HOSTILE_TEXT = "bidi\u202eevil\u202c zw\u200bsp\u2060 c1\x85\x9b[31m esc\x1b[2J bell\x07 del\x7f ls\u2028 bom\ufeff"
UNSAFE = ["\u202e", "\u202c", "\u200b", "\u2060", "\x85", "\x9b", "\x1b", "\x07", "\x7f", "\u2028", "\ufeff"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_bidi_zero_width_and_c1_never_reach_the_output_unescaped(echo: HostileServer, tmp_path: Path, fmt: str) -> None:
    echo.say(json.dumps({"success": False, "error": HOSTILE_TEXT}, ensure_ascii=False).encode())
    result = run_cli(
        "trigger", "--url", f"{echo.url}/say", "-f", fmt, "--yes", env={"CRONCTL_AUDIT_FILE": str(tmp_path / "a")}
    )
    assert result.exit_code in (0, 1), result.output
    for char in UNSAFE:
        assert char not in result.stdout and char not in result.stderr, f"{char!r} reached {fmt} output"
    if fmt == "json":
        assert json.loads(result.stdout)["response"]["error"] == HOSTILE_TEXT  # escaped, not lost
    else:
        assert "\\u202e" in result.stdout or "\\x1b" in result.stdout  # shown visibly


def test_a_newline_in_a_cell_never_makes_a_plain_row() -> None:
    import io

    report = Report(
        data={},
        sections=[Table(["job", "state"], [["real\nfake-job      ok", "failed"], ["next", "ok"]])],
        headline="two jobs\nfake headline",
    )
    out = io.StringIO()
    render(report, "plain", out)
    lines = out.getvalue().splitlines()
    assert not any(line.startswith("fake") for line in lines), lines
    assert sum(1 for line in lines if "failed" in line or line.startswith("next")) == 2


# ---------------------------------------------------------------- the database


@pytest.fixture
def db(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        yield conn


TABLE_SECRET = "cron-secrets-row-Va1ue-5e6f7a"
LITERAL_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiaXNzIjoic3VwYWJhc2UifQ.U2lnbmF0dXJlMTIzNDU2"
LITERAL_KEY = "sb_secret_LiteralKey0987zz"


def _db_runbook(tmp_path: Path) -> str:
    path = tmp_path / "db.toml"
    path.write_text("""
[runbook]
name = "db-leaks"
[connection]
database_url = "${DATABASE_URL}"
statement_timeout = "3s"
connect_timeout = "3s"
[secrets_table]
table = "cron_secrets"
[jobs.worker]
url = "https://example.invalid/functions/v1/worker"
schedule = "*/5 * * * *"
scheduler = "pg_cron"
[jobs.worker.history]
pg_cron = "worker"
""")
    return str(path)


def _seed_db(db: psycopg.Connection) -> None:
    db.execute("CREATE TABLE cron_secrets(key text primary key, value text, description text, updated_at timestamptz)")
    db.execute(
        "INSERT INTO cron_secrets VALUES ('cron_secret', %s, 'shared', now()), ('unset', 'placeholder-x', '', now())",
        [TABLE_SECRET],
    )
    command = (
        "SELECT net.http_post(url := 'https://x.supabase.co/functions/v1/worker', "
        f"headers := jsonb_build_object('Authorization', 'Bearer {LITERAL_JWT}', 'apikey', '{LITERAL_KEY}'))"
    )
    jobid = schedule(db, "worker", command)
    start = datetime.now(UTC) - timedelta(minutes=3)
    add_run(db, jobid, "failed", start, message=f'ERROR:  401: {{"error": "bad secret {TABLE_SECRET}"}}')


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("argv", [("pgcron", "list"), ("pgcron", "history", "worker"), ("logs", "worker"), ("triage",)])
def test_secrets_table_values_and_command_literals_are_masked(
    db: psycopg.Connection, clean_db: str, tmp_path: Path, argv: tuple[str, ...], fmt: str
) -> None:
    _seed_db(db)
    rb = _db_runbook(tmp_path)
    result = run_cli(*argv, "-r", rb, "-f", fmt, env={"DATABASE_URL": clean_db})
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    for secret in (TABLE_SECRET, LITERAL_JWT, LITERAL_KEY):
        for where, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            _assert_no_form(secret, text, f"{where} of {' '.join(argv)} -f {fmt}")
            assert secret[:16] not in text


MALFORMED = [
    "postgresql://ops:{pw}@db.internal:notaport/app",
    "postgresql://ops:{pw}@[::1/app",
    "postgres//ops:{pw}@db.internal/app",
    "postgresql://ops:{pw}%ZZ@db.internal/app",
    "postgresql://ops:{pw} x@db.internal/app",
    "ops:{pw}@db.internal/app",
    "postgresql://ops:p@{pw}@127.0.0.1:1/app",
    "postgresql://ops:{pw}@127.0.0.1:1/app?nosuchparam=1",
    "host=127.0.0.1 port=notaport password={pw}",
    "host=127.0.0.1 password='{pw} x' port=1",
]
DB_COMMANDS = [("pgcron", "list"), ("pgcron", "status"), ("logs", "worker"), ("triage",), ("locks",), ("query",)]


@pytest.mark.parametrize("url", MALFORMED)
@pytest.mark.parametrize("argv", DB_COMMANDS, ids=[" ".join(a) for a in DB_COMMANDS])
def test_a_malformed_database_url_never_shows_its_password(tmp_path: Path, url: str, argv: tuple[str, ...]) -> None:
    password = "Mal4formed-Pw-0a9b8c"
    rb = _db_runbook(tmp_path)
    result = run_cli(*argv, "-r", rb, "-f", "plain", env={"DATABASE_URL": url.format(pw=password)})
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.exit_code in (0, 1, 2, 3), result.output
    _assert_no_form(password, result.output, " ".join(argv))
    assert password[:10] not in result.output
