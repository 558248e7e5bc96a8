"""CLI-level fuzz: random argument lists never produce a traceback, and always end with a documented exit code.

Arguments are drawn from every command, subcommand and option cronctl has, plus job names, durations, cron
expressions, formats, numbers and arbitrary text, against the demo incident in the sandbox database and a job
server answering the demo runbook's routes. Long-running modes (`triage --watch`, `demo`) are left out; repeat
counts are kept small so a case stays fast. Ends with a count of the cases tried in the terminal summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_runner import run_cli
from conftest import reset_database
from cronctl import redact
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox import scenario
from cronctl_sandbox.jobserver import JobServer
from cronctl_sandbox.routes import routes_for_runbook
from fuzzing import examples

SOURCE = Path(__file__).resolve().parents[2] / "runbooks" / "demo.toml"
# Cases run against a copy: `init --force` with -r writes the runbook it is given.
RUNBOOK = "demo.toml"
DOCUMENTED = {0, 1, 2, 3, 4, 5}
EXAMPLES = examples(300)
TRIED: Counter[str] = Counter()
SECRETS = {
    "DEMO_CRON_SECRET": "fuzz-cron-secret-0f9e8d7c",
    "DEMO_SERVICE_KEY": "fuzz-service-key-1a2b3c4d",
    "DEMO_WEBHOOK_SECRET": "whsec_ZnV6ei13ZWJob29rLWtleS0wMTIzNDU2Nzg5",
}

COMMANDS = [
    ["triage"],
    ["trigger"],
    ["logs"],
    ["query"],
    ["jobs"],
    ["explain"],
    ["doctor"],
    ["init"],
    ["locks"],
    ["locks", "clear"],
    ["pgcron"],
    ["pgcron", "list"],
    ["pgcron", "history"],
    ["pgcron", "status"],
    ["pgcron", "enable"],
    ["pgcron", "disable"],
    ["pgcron", "unschedule"],
    ["pgcron", "reschedule"],
    ["pgcron", "run"],
    ["pgcron", "purge-history"],
    ["secrets"],
    ["secrets", "check"],
    ["secrets", "generate"],
    ["secrets", "rotate"],
    ["nonsense"],
    [],
]
OPTIONS = [
    "--since",
    "-j",
    "--job",
    "--interval",
    "--url",
    "--method",
    "--auth",
    "--secret-env",
    "--data",
    "--set",
    "--trigger-type",
    "--timeout",
    "--dispatch",
    "--dry-run",
    "-y",
    "--yes",
    "--repeat",
    "--until-ok",
    "--verify",
    "-n",
    "--limit",
    "--failed",
    "-P",
    "--param",
    "--tz",
    "--count",
    "--no-endpoints",
    "--from-pgcron",
    "--from-vercel",
    "--from-github",
    "-o",
    "--output",
    "--name",
    "--merge",
    "--force",
    "--database-url-env",
    "--stale",
    "--all-stale",
    "--terminate",
    "--older-than",
    "-r",
    "--runbook",
    "--env-file",
    "-p",
    "--profile",
    "-f",
    "--format",
    "--debug",
    "-h",
    "--help",
    "--version",
    "-V",
    "--",
    "-x",
    "--no-such-option",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "dispatch-messages",
            "reconcile-payments",
            "refresh-quotas",
            "sync-enrolments",
            "nightly-report",
            "no-such-job",
            "recent-runs",
            "category-sample",
            "locks",
            "cron_secret",
            "local",
            "prod",
        ]
    ),
    st.sampled_from(["json", "table", "markdown", "plain", "yaml", ""]),
    st.sampled_from(["24h", "5m", "0", "-1h", "1e9d", "3x", "30s", "0.5", "7d"]),
    st.sampled_from(
        ["* * * * *", "*/5 * * * *", "61 * * * *", "@daily", "@reboot", "30 seconds", "0 12 $ * *", "", "a b c d e"]
    ),
    st.sampled_from(["bearer", "header:X-Cron-Secret", "hmac", "none", "GET", "POST", "MANUAL", "RETRY"]),
    st.sampled_from(["category_id=303", "a.b=1", "=", "x", '{"a": 1}', "@/nonexistent", "{nope"]),
    st.sampled_from(["http://127.0.0.1:1/x", "${DEMO_URL}/functions/v1/dispatch-messages", "ftp://x", "::"]),
    st.integers(min_value=-2, max_value=3).map(str),
    # Relative paths only: every case runs in a temporary working directory.
    st.sampled_from([RUNBOOK, "missing.toml", ".", ".env", "out.toml", "sub/dir.toml"]),
    st.text(max_size=12),
)
ARGUMENTS = st.tuples(
    st.sampled_from(COMMANDS),
    st.lists(st.one_of(st.sampled_from(OPTIONS), VALUES), max_size=7),
    st.booleans(),
)
JOBS = st.sampled_from(
    ["dispatch-messages", "reconcile-payments", "refresh-quotas", "sync-enrolments", "nightly-report", "no-such-job"]
)
DURATIONS = st.sampled_from(["24h", "5m", "30s", "7d", "0", "-1h", "3x"])
CRONS = st.sampled_from(["*/5 * * * *", "0 3 * * *", "@hourly", "30 seconds", "0 12 $ * *", "61 * * * *", "x"])
FORMATS = st.sampled_from(["json", "table", "markdown", "plain"])
FLAG = st.just("")
# command -> (positional argument strategies, {option: value strategy or FLAG})
PLAUSIBLE: dict[tuple[str, ...], tuple[list[st.SearchStrategy[str]], dict[str, st.SearchStrategy[str]]]] = {
    ("triage",): ([], {"--since": DURATIONS, "--job": JOBS}),
    ("trigger",): (
        [JOBS],
        {
            "--dry-run": FLAG,
            "--yes": FLAG,
            "--set": st.sampled_from(["category_id=7", "x=true"]),
            "--trigger-type": st.sampled_from(["MANUAL", "RETRY", "bogus"]),
            "--data": st.sampled_from(['{"a": 1}', "{bad"]),
            "--repeat": st.just("2"),
            "--until-ok": st.just("1"),
            "--verify": FLAG,
        },
    ),
    ("logs",): ([JOBS], {"--limit": st.sampled_from(["1", "5", "0", "20000"]), "--failed": FLAG, "--since": DURATIONS}),
    ("query",): (
        [st.sampled_from(["recent-runs", "category-sample", "locks", "nope"])],
        {"-P": st.sampled_from(["category_id=303", "category_id=x", "other=1"])},
    ),
    ("jobs",): ([], {}),
    ("explain",): (
        [CRONS],
        {"--tz": st.sampled_from(["UTC", "Asia/Seoul", "Nowhere/X"]), "--count": st.sampled_from(["1", "3", "0"])},
    ),
    ("doctor",): ([], {"--no-endpoints": FLAG, "--timeout": st.sampled_from(["1s", "2s", "x"])}),
    ("init",): (
        [],
        {
            "--from-pgcron": FLAG,
            "--dry-run": FLAG,
            "--output": st.sampled_from(["out.toml", "o2.toml"]),
            "--force": FLAG,
            "--merge": FLAG,
            "--name": st.sampled_from(["fuzz", ""]),
        },
    ),
    ("locks",): ([], {"--stale": FLAG}),
    ("locks", "clear"): (
        [st.sampled_from(["sync-enrolments", "nightly-report", "no-such-job"])],
        {"--all-stale": FLAG, "--force": FLAG, "--dry-run": FLAG, "--yes": FLAG},
    ),
    ("pgcron", "list"): ([], {}),
    ("pgcron", "history"): ([JOBS], {"--limit": st.sampled_from(["1", "5"])}),
    ("pgcron", "status"): ([], {}),
    ("pgcron", "enable"): ([JOBS], {"--dry-run": FLAG, "--yes": FLAG}),
    ("pgcron", "disable"): ([JOBS], {"--dry-run": FLAG, "--yes": FLAG}),
    ("pgcron", "reschedule"): ([JOBS, CRONS], {"--dry-run": FLAG, "--yes": FLAG}),
    ("pgcron", "run"): ([JOBS], {"--dry-run": FLAG, "--yes": FLAG}),
    ("pgcron", "purge-history"): ([], {"--older-than": DURATIONS, "--dry-run": FLAG, "--yes": FLAG}),
    ("secrets", "check"): ([], {}),
    ("secrets", "generate"): ([], {}),
    ("secrets", "rotate"): ([st.sampled_from(["cron_secret", "nope"])], {"--dry-run": FLAG, "--yes": FLAG}),
}


@st.composite
def plausible(draw: st.DrawFn) -> tuple[list[str], list[str], bool]:
    command = draw(st.sampled_from(sorted(PLAUSIBLE)))
    positionals, options = PLAUSIBLE[command]
    args = [draw(p) for p in positionals]
    for name in draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=4)) if options else []:
        value = draw(options[name])
        args += [name, value] if value else [name]
    args += ["-f", draw(FORMATS)]
    return list(command), args, True


# Options whose value could make a case slow: repeat counts and intervals are pinned small.
SLOW = {"--interval": "0", "--repeat": "2", "--until-ok": "1", "--timeout": "2s", "-n": "3", "--count": "3"}


class _Summary:
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if TRIED:
            terminalreporter.write_sep("-", "fuzz cases tried (CLI arguments)")
            for name, count in sorted(TRIED.items()):
                terminalreporter.write_line(f"{name}: {count}")


@pytest.fixture(scope="module")
def sandbox(
    pg_dsn: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, str | None]]:
    manager = request.config.pluginmanager
    if not manager.has_plugin("cronctl-fuzz-cli"):
        manager.register(_Summary(), "cronctl-fuzz-cli")
    reset_database(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        scenario.load(conn, "demo", datetime.now(UTC))
    book = load_runbook(SOURCE)
    with JobServer(routes_for_runbook(book, Environment({**SECRETS, "DEMO_URL": "http://127.0.0.1"}))) as server:
        workdir = tmp_path_factory.mktemp("fuzz-cli")
        yield {
            **SECRETS,
            "DATABASE_URL": pg_dsn,
            "DEMO_URL": server.url,
            "CRONCTL_RUNBOOK": None,
            "CRONCTL_AUDIT_FILE": str(workdir / "audit.jsonl"),
            "WORKDIR": str(workdir),
        }
    reset_database(pg_dsn)


def _pin_slow_values(args: list[str]) -> list[str]:
    pinned: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in ("-w", "--watch", "--keep"):
            continue
        pinned.append(arg)
        if arg in SLOW:
            pinned.append(SLOW[arg])
            skip = i + 1 < len(args)
    if "trigger" in args[:1]:
        pinned += ["--interval", "0", "--timeout", "2s"]
    return pinned


def test_random_argument_lists(sandbox: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = sandbox.pop("WORKDIR")
    assert workdir
    monkeypatch.chdir(workdir)  # files a case writes (init -o ...) land in a temporary directory
    original = SOURCE.read_text()
    seen_codes: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.one_of(ARGUMENTS, plausible(), plausible()))
    def one(case: tuple[list[str], list[str], bool]) -> None:
        command, rest, with_runbook = case
        args = _pin_slow_values([*command, *rest])
        if with_runbook:
            args += ["-r", RUNBOOK]
        TRIED["cli: random argument lists"] += 1
        Path(RUNBOOK).write_text(original)
        redact.clear_for_tests()
        result = run_cli(*args, env=sandbox, input="")
        seen_codes[result.exit_code] += 1
        assert "Traceback" not in result.output or "--debug" in args, (args, result.output[-3000:])
        assert "internal error" not in result.output, (args, result.output[-3000:])
        assert result.exit_code in DOCUMENTED, (args, result.exit_code, result.output[-3000:])
        for value in SECRETS.values():
            assert value not in result.output, args

    before = TRIED["cli: random argument lists"]
    one()
    assert TRIED["cli: random argument lists"] - before >= EXAMPLES // 2
    # The cases reached past argument parsing: successes and several kinds of failure were both seen.
    assert seen_codes[0] > 0 and seen_codes[2] > 0 and len(seen_codes) >= 3, seen_codes
    assert SOURCE.read_text() == original  # the shipped runbook was never written
    TRIED.update({f"cli: ... of which exit {code}": n for code, n in seen_codes.items()})
