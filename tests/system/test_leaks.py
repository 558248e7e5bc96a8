"""No secret leaks: every command, on success and failure paths, with --dry-run, --debug and every format.

Distinctive secret values live in the process environment and in a `.env` file given with --env-file. After
each command, stdout, stderr, the audit file and every file cronctl wrote are searched for each value and for
its base64 and hex forms. The process-wide redaction registry is emptied before every command, so one
command cannot hide another's leak (each real invocation starts with an empty registry too).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import psycopg
import pytest

from cli_runner import CliResult, run_cli
from conftest import reset_database
from cronctl import redact
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox import scenario
from cronctl_sandbox.cluster import PgCluster
from cronctl_sandbox.demo import demo_replies
from cronctl_sandbox.jobserver import JobServer
from cronctl_sandbox.routes import routes_for_runbook

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "demo.toml"
CLI_DIR = Path(__file__).resolve().parents[2] / "src" / "cronctl" / "cli"
FORMATS = ("table", "json", "markdown", "plain")

# In the process environment.
CRON_SECRET = "LEAKCHECK-cron-8f14e45fceea167a"
# In the .env file only.
SERVICE_KEY = "LEAKCHECK-service-c9f0f895fb98ab91"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"LEAKCHECK-webhook-key-45c48cce2e").decode()
UNUSED_TOKEN = "LEAKCHECK-unused-token-d3d9446802a4"
# Stored in the database's secrets table.
DB_SECRET = "LEAKCHECK-db-row-6512bd43d9caa6e0"
# Fed to `secrets rotate` on stdin.
NEW_SECRET = "LEAKCHECK-rotated-c20ad4d76fe97759"
WRONG_SECRET = "LEAKCHECK-wrong-c51ce410c124a10e"


def forms(value: str) -> set[str]:
    """Every derived form searched for: raw, JSON-escaped, repr, \\uXXXX, percent-encoded, hex, and base64 /
    base64url of the value and of `user:value` / `Bearer value` (inner characters: the edges mix in neighbours)."""
    raw = value.encode()
    found = {
        value,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in value),
        quote(value, safe=""),
        quote_plus(value),
    }
    for prefix in (b"postgres:", b"Bearer "):
        found.add(base64.b64encode(prefix + raw).decode()[len(prefix) * 4 // 3 + 2 : -4])
    if value.startswith("whsec_"):
        key = base64.b64decode(value.removeprefix("whsec_"))
        found |= {value.removeprefix("whsec_"), key.hex(), key.decode("latin-1")}
    return {f for f in found if len(f) >= 8}


@dataclass
class World:
    runbook: Path
    dsn: str
    password: str
    server: JobServer
    workdir: Path
    env_file: Path
    audit: Path

    @property
    def secrets(self) -> dict[str, str]:
        return {
            "DEMO_CRON_SECRET": CRON_SECRET,
            "DEMO_SERVICE_KEY": SERVICE_KEY,
            "DEMO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "UNUSED_API_TOKEN": UNUSED_TOKEN,
            "db row": DB_SECRET,
            "rotated": NEW_SECRET,
            "wrong": WRONG_SECRET,
            "database password": self.password,
        }

    def env(self, **overrides: str | None) -> dict[str, str | None]:
        values: dict[str, str | None] = {
            "DATABASE_URL": self.dsn,
            "DEMO_URL": self.server.url,
            "DEMO_CRON_SECRET": CRON_SECRET,
            "CRONCTL_AUDIT_FILE": str(self.audit),
            "CRONCTL_RUNBOOK": str(self.runbook),
            # The .env file provides these; the environment must not.
            "DEMO_SERVICE_KEY": None,
            "DEMO_WEBHOOK_SECRET": None,
        }
        values.update(overrides)
        return values

    def written(self) -> dict[str, str]:
        """Every file under the working directory, except the .env file the test itself wrote."""
        files = {}
        for path in self.workdir.rglob("*"):
            if path.is_file() and path != self.env_file:
                files[str(path)] = path.read_text(encoding="utf-8", errors="replace")
        return files


@pytest.fixture(scope="module")
def world(pg_cluster: PgCluster, pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reset_database(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        scenario.load(conn, "demo", datetime.now(UTC))
        conn.execute("UPDATE cron_secrets SET value = %s WHERE key = 'service_role_key'", [DB_SECRET])
    workdir = tmp_path_factory.mktemp("leaks")
    runbook = workdir / "demo.toml"  # a copy: nothing a command writes can reach the shipped runbook
    runbook.write_text(RUNBOOK.read_text())
    env_file = workdir / ".env"
    env_file.write_text(
        f"DEMO_SERVICE_KEY={SERVICE_KEY}\nDEMO_WEBHOOK_SECRET='{WEBHOOK_SECRET}'\nUNUSED_API_TOKEN={UNUSED_TOKEN}\n"
    )
    book = load_runbook(RUNBOOK)
    route_env = Environment(
        {
            "DEMO_URL": "http://127.0.0.1",
            "DEMO_CRON_SECRET": CRON_SECRET,
            "DEMO_SERVICE_KEY": SERVICE_KEY,
            "DEMO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    with JobServer(routes_for_runbook(book, route_env, demo_replies())) as server:
        yield World(runbook, pg_dsn, pg_cluster.password, server, workdir, env_file, workdir / "audit.jsonl")
    reset_database(pg_dsn)


@pytest.fixture
def in_workdir(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.chdir(world.workdir)
    return world


def run(world: World, *args: str, stdin: str | None = None, **env: str | None) -> CliResult:
    redact.clear_for_tests()
    result = run_cli(*args, "--env-file", str(world.env_file), env=world.env(**env), input=stdin)
    redact.clear_for_tests()
    places = {"stdout": result.stdout, "stderr": result.stderr, **world.written()}
    for name, value in world.secrets.items():
        for form in forms(value):
            for where, text in places.items():
                assert form not in text, f"{name} (as {form!r}) appeared in {where} after cronctl {' '.join(args)}"
    assert "Traceback" not in result.output or "--debug" in args
    return result


def present(module: str) -> bool:
    return (CLI_DIR / f"{module}.py").is_file()


# (id, argv, stdin, expected exit codes). Reads first; changes come last so reads see the incident.
READS: list[tuple[str, tuple[str, ...], set[int]]] = [
    ("jobs", ("jobs",), {0}),
    ("explain", ("explain", "*/15 * * * *"), {0}),
    ("triage", ("triage",), {2}),
    ("triage-job", ("triage", "--job", "dispatch-messages"), {1, 2}),
    ("logs-pgnet", ("logs", "dispatch-messages"), {0, 1}),
    ("logs-run-log", ("logs", "sync-enrolments", "--failed"), {0, 1}),
    ("logs-cron-runs", ("logs", "nightly-report", "--since", "7d"), {0, 1}),
    ("pgcron-list", ("pgcron", "list"), {0, 1}),
    ("pgcron-history", ("pgcron", "history", "dispatch-messages"), {0, 1}),
    ("pgcron-status", ("pgcron", "status"), {0, 1}),
    ("query-list", ("query",), {0}),
    ("query-recent", ("query", "recent-runs"), {0}),
    ("query-param", ("query", "category-sample", "-P", "category_id=303"), {0}),
    ("locks", ("locks",), {0, 1}),
    ("locks-stale", ("locks", "--stale"), {0, 1}),
    ("locks-clear-dry-run", ("locks", "clear", "--all-stale", "--dry-run"), {0, 1}),
    ("pgcron-disable-dry-run", ("pgcron", "disable", "dispatch-messages", "--dry-run"), {0}),
    ("pgcron-run-dry-run", ("pgcron", "run", "dispatch-messages", "--dry-run"), {0}),
    ("trigger-dry-run", ("trigger", "dispatch-messages", "reconcile-payments", "sync-enrolments", "--dry-run"), {0}),
    ("trigger-dry-run-dispatch-body", ("trigger", "sync-enrolments", "--dry-run", "--set", "category_id=7"), {0}),
    ("doctor", ("doctor", "--timeout", "2s"), {0, 1, 2}),
    ("secrets-check", ("secrets", "check"), {0, 1}),
    ("init-dry-run", ("init", "--from-pgcron", "--dry-run"), {0}),
]


def _reads() -> list[tuple[str, tuple[str, ...], set[int]]]:
    return [case for case in READS if present(case[1][0])]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("label", "argv", "codes"), _reads(), ids=[c[0] for c in _reads()])
def test_read_commands_leak_nothing(
    in_workdir: World, label: str, argv: tuple[str, ...], codes: set[int], fmt: str
) -> None:
    result = run(in_workdir, *argv, "-f", fmt)
    assert result.exit_code in codes, (label, fmt, result.output[-2000:])


@pytest.mark.parametrize(("label", "argv", "codes"), _reads(), ids=[c[0] for c in _reads()])
def test_debug_mode_leaks_nothing(in_workdir: World, label: str, argv: tuple[str, ...], codes: set[int]) -> None:
    result = run(in_workdir, *argv, "--debug", "-f", "json")
    assert result.exit_code in codes, (label, result.output[-2000:])


FAILURES: list[tuple[str, tuple[str, ...], dict[str, str | None], set[int]]] = [
    ("unknown-job", ("logs", "dispatch-message"), {}, {2}),
    ("wrong-db-password", ("pgcron", "list"), {"DATABASE_URL": "WRONG"}, {3}),
    ("wrong-db-password-triage", ("triage",), {"DATABASE_URL": "WRONG"}, {3}),
    ("wrong-db-password-debug", ("pgcron", "status", "--debug"), {"DATABASE_URL": "WRONG"}, {3}),
    ("unreachable-db-locks", ("locks",), {"DATABASE_URL": "DOWN"}, {3}),
    ("missing-secret", ("trigger", "dispatch-messages", "--yes"), {"DEMO_CRON_SECRET": None}, {3}),
    ("wrong-secret-401", ("trigger", "dispatch-messages", "--yes"), {"DEMO_CRON_SECRET": WRONG_SECRET}, {1}),
    ("endpoint-down", ("trigger", "nightly-report", "--yes"), {"DEMO_URL": "http://127.0.0.1:9"}, {1}),
    ("no-confirmation", ("trigger", "dispatch-messages"), {}, {5}),
    ("bad-cron", ("pgcron", "reschedule", "dispatch-messages", "61 * * * *", "--yes"), {}, {2}),
    ("bad-format", ("jobs", "-f", "yaml"), {}, {2}),
    ("doctor-unreachable-db", ("doctor", "--no-endpoints"), {"DATABASE_URL": "DOWN"}, {1, 2}),
    ("secrets-unreachable-db", ("secrets", "check"), {"DATABASE_URL": "DOWN"}, {1, 3}),
    ("rotate-unknown-key", ("secrets", "rotate", "no_such_key", "--yes"), {}, {2, 3}),
]


def _failures() -> list[tuple[str, tuple[str, ...], dict[str, str | None], set[int]]]:
    return [case for case in FAILURES if present(case[1][0])]


@pytest.mark.parametrize("fmt", ["table", "json", "plain"])
@pytest.mark.parametrize(("label", "argv", "env", "codes"), _failures(), ids=[c[0] for c in _failures()])
def test_failure_paths_leak_nothing(
    in_workdir: World, label: str, argv: tuple[str, ...], env: dict[str, str | None], codes: set[int], fmt: str
) -> None:
    env = dict(env)
    wrong_password = ""
    if env.get("DATABASE_URL") == "WRONG":
        wrong_password = in_workdir.password[::-1]
        env["DATABASE_URL"] = in_workdir.dsn.replace(in_workdir.password, wrong_password)
    elif env.get("DATABASE_URL") == "DOWN":
        env["DATABASE_URL"] = f"postgresql://postgres:{in_workdir.password}@127.0.0.1:1/cronctl"
    if "-f" not in argv:
        argv = (*argv, "-f", fmt)
    elif fmt != "table":
        pytest.skip("the case sets its own format")
    result = run(in_workdir, *argv, stdin=NEW_SECRET + "\n", **env)
    assert result.exit_code in codes, (label, result.output[-2000:])
    if wrong_password:
        assert wrong_password not in result.output
    if "--debug" not in argv:
        assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) <= 1


# Changes, in an order that keeps each one meaningful. Each writes an audit record that is searched too.
CHANGES: list[tuple[str, tuple[str, ...], str | None, set[int]]] = [
    (
        "trigger",
        ("trigger", "dispatch-messages", "reconcile-payments", "sync-enrolments", "nightly-report", "--yes"),
        None,
        {0},
    ),
    ("trigger-until-ok", ("trigger", "sync-enrolments", "--until-ok", "2", "--interval", "0", "--yes"), None, {0}),
    ("pgcron-disable", ("pgcron", "disable", "dispatch-messages", "--yes"), None, {0}),
    ("pgcron-enable", ("pgcron", "enable", "dispatch-messages", "--yes"), None, {0}),
    ("pgcron-reschedule", ("pgcron", "reschedule", "refresh-quotas", "5 0 * * *", "--yes"), None, {0}),
    ("pgcron-run", ("pgcron", "run", "refresh-quotas", "--yes"), None, {0, 1}),
    ("locks-clear", ("locks", "clear", "--all-stale", "--yes"), None, {0, 1}),
    ("secrets-rotate-dry-run", ("secrets", "rotate", "cron_secret", "--dry-run"), NEW_SECRET + "\n", {0}),
    ("secrets-rotate", ("secrets", "rotate", "cron_secret", "--yes"), NEW_SECRET + "\n", {0}),
    ("pgcron-purge-history", ("pgcron", "purge-history", "--older-than", "30d", "--yes"), None, {0}),
    ("pgcron-unschedule", ("pgcron", "unschedule", "refresh-quotas", "--yes"), None, {0}),
]


def _changes() -> list[tuple[str, tuple[str, ...], str | None, set[int]]]:
    return [case for case in CHANGES if present(case[1][0])]


def test_changes_leak_nothing_in_output_audit_or_files(in_workdir: World) -> None:
    done = []
    for label, argv, stdin, codes in _changes():
        for fmt in ("json", "table"):
            if fmt == "table" and label in ("secrets-rotate", "pgcron-unschedule", "pgcron-purge-history"):
                continue  # one-shot changes
            result = run(in_workdir, *argv, "-f", fmt, stdin=stdin)
            assert result.exit_code in codes, (label, fmt, result.output[-2000:])
        done.append(label)
    assert in_workdir.audit.exists() and in_workdir.audit.read_text().strip()
    records = [json.loads(line) for line in in_workdir.audit.read_text().splitlines()]
    assert {r["action"] for r in records} >= {"trigger"}
    assert len(done) == len(_changes())


def test_init_writes_a_runbook_without_secrets(in_workdir: World) -> None:
    if not present("init"):
        pytest.skip("init is not built yet")
    out = in_workdir.workdir / "generated.toml"
    result = run(in_workdir, "init", "--from-pgcron", "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert out.is_file() and "[jobs." in out.read_text()


def test_secrets_generate_prints_only_a_new_value(in_workdir: World) -> None:
    if not present("secrets"):
        pytest.skip("secrets is not built yet")
    result = run(in_workdir, "secrets", "generate", "-f", "plain")
    assert result.exit_code == 0 and result.stdout.strip()


def test_the_checker_itself_catches_a_leak(in_workdir: World) -> None:
    """The search above can fail: an unmasked value written to a file in the working directory is found."""
    stray = in_workdir.workdir / "stray.log"
    stray.write_text(base64.b64encode(SERVICE_KEY.encode()).decode())
    try:
        with pytest.raises(AssertionError, match="DEMO_SERVICE_KEY"):
            run(in_workdir, "jobs")
    finally:
        stray.unlink()
