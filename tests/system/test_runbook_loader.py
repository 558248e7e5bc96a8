"""Bad runbooks and bad input get one line, the documented exit code and no traceback."""

from __future__ import annotations

import json
import string
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_runner import CliResult, run_cli
from cronctl.errors import MissingVariableError, RunbookError, UnknownJobError
from cronctl.runbook import schema
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import find_job, load_runbook, parse_runbook
from fuzzing import examples

VALID = """\
[runbook]
name = "shop"
description = "A small shop"

[jobs.send-emails]
description = "Send queued e-mails"
schedule = "*/5 * * * *"
url = "${APP_URL}/api/cron/send-emails"
timeout = "30s"
auth = { kind = "bearer", secret_env = "CRON_SECRET" }

[jobs.nightly-export]
schedule = "0 3 * * *"
url = "https://example.test/export"
"""

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def write(tmp_path: Path, text: str, name: str = "runbook.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_one_line_error(result: CliResult, exit_code: int, *fragments: str) -> str:
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- the runbook file


def test_missing_runbook_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = run_cli("jobs", "-r", str(missing))
    assert_one_line_error(result, 2, "runbook not found", str(missing))


def test_no_runbook_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("jobs", env={"CRONCTL_RUNBOOK": None})
    assert_one_line_error(result, 2, "--runbook", "CRONCTL_RUNBOOK")


def test_runbook_from_cronctl_runbook_variable(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    result = run_cli("jobs", "-f", "json", env={"CRONCTL_RUNBOOK": str(path)})
    assert result.exit_code == 0, result.stderr
    assert [job["name"] for job in json.loads(result.stdout)["jobs"]] == ["send-emails", "nightly-export"]


def test_runbook_from_cronctl_toml_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, VALID, "cronctl.toml")
    monkeypatch.chdir(tmp_path)
    result = run_cli("jobs", "-f", "json", env={"CRONCTL_RUNBOOK": None})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["runbook"] == "shop"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('timeout = "30s"', 'timeout = "30s'))
    line = assert_one_line_error(run_cli("jobs", "-r", str(path)), 2, str(path), "TOML syntax error")
    assert "line 9" in line


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('schedule = "0 3 * * *"', 'schedul = "0 3 * * *"'))
    assert_one_line_error(
        run_cli("jobs", "-r", str(path)), 2, str(path), "jobs.nightly-export.schedul", "did you mean 'schedule'"
    )


def test_unknown_top_level_table(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "\n[backlog.x]\nsql = 'select 1 as value'\n")
    assert_one_line_error(run_cli("jobs", "-r", str(path)), 2, "backlog", "did you mean 'backlogs'")


def test_wrong_type_names_key_and_types(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('timeout = "30s"', "timeout = true"))
    assert_one_line_error(run_cli("jobs", "-r", str(path)), 2, "jobs.send-emails.timeout", "got boolean")


def test_wrong_type_for_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('auth = { kind = "bearer", secret_env = "CRON_SECRET" }', 'auth = "bearer"'))
    assert_one_line_error(run_cli("jobs", "-r", str(path)), 2, "jobs.send-emails.auth", "expected a table")


def test_invalid_cron_expression(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('"*/5 * * * *"', '"61 * * * *"'))
    assert_one_line_error(run_cli("jobs", "-r", str(path)), 2, "jobs.send-emails.schedule", "61 * * * *")


def test_invalid_cron_expression_in_explain() -> None:
    assert_one_line_error(run_cli("explain", "* * * *"), 2, "expected 5 fields")


def test_unset_variable_only_fails_the_command_that_needs_it(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    listed = run_cli("jobs", "-r", str(path), "-f", "json", env={"DATABASE_URL": None, "APP_URL": None})
    assert listed.exit_code == 0, listed.stderr
    result = run_cli("pgcron", "list", "-r", str(path), env={"DATABASE_URL": None})
    assert_one_line_error(result, 3, "DATABASE_URL", "connection.database_url")


def test_unknown_job_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    result = run_cli("logs", "send-email", "-r", str(path), env={"DATABASE_URL": None})
    assert_one_line_error(result, 2, "no job named 'send-email'", "did you mean 'send-emails'")


def test_find_job() -> None:
    runbook = parse_runbook(_loads(VALID), Path("shop.toml"))
    assert find_job(runbook, "nightly-export").schedule == "0 3 * * *"
    with pytest.raises(UnknownJobError, match="did you mean 'nightly-export'"):
        find_job(runbook, "nightly-exprt")
    with pytest.raises(UnknownJobError, match=r"jobs: send-emails, nightly-export"):
        find_job(runbook, "zzz")


@pytest.mark.parametrize(
    ("replace", "by", "fragment"),
    [
        ('url = "https://example.test/export"', 'url = "ftp://example.test/export"', "must start with http"),
        ('kind = "bearer"', 'kind = "beare"', "is not one of"),
        ('kind = "bearer", secret_env = "CRON_SECRET"', 'kind = "bearer"', "needs secret_env"),
        ('timeout = "30s"', 'timeout = "30 parsecs"', "jobs.send-emails.timeout"),
        ('timeout = "30s"', "timeout = 0", "greater than zero"),
        ('description = "A small shop"', 'description = "x"\nowner = "me"', "runbook.owner"),
    ],
)
def test_more_validation_errors(tmp_path: Path, replace: str, by: str, fragment: str) -> None:
    assert replace in VALID
    path = write(tmp_path, VALID.replace(replace, by))
    assert_one_line_error(run_cli("jobs", "-r", str(path)), 2, fragment)


def test_a_misspelled_failure_group_is_one_line_naming_the_closest(tmp_path: Path) -> None:
    mode = '\n[[failure_modes]]\nsymptom = "401"\ncause = "secret"\naction = "reset it"\ngroup = "AUTHH"\n'
    path = write(tmp_path, VALID + mode)
    assert_one_line_error(
        run_cli("jobs", "-r", str(path)),
        2,
        f"{path}: failure_modes[0].group: 'AUTHH' is not a failure group; did you mean 'AUTH'?",
    )


def test_cross_references_are_checked(tmp_path: Path) -> None:
    text = VALID + '\n[backlogs.queue]\nsql = "select 1 as value"\njob = "send-email"\n'
    assert_one_line_error(run_cli("jobs", "-r", str(write(tmp_path, text))), 2, "did you mean 'send-emails'")
    text = VALID + '\n[exit_condition]\nbacklogs_clear = ["queue"]\n'
    assert_one_line_error(run_cli("jobs", "-r", str(write(tmp_path, text))), 2, "no backlog named 'queue'")


def test_unknown_profile(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + '\n[profiles.staging]\nvars = { APP_URL = "https://staging.test" }\n')
    assert_one_line_error(run_cli("jobs", "-r", str(path), "-p", "prod"), 2, "profile 'prod'", "staging")


# ---------------------------------------------------------------- variables


def test_interpolation_and_precedence(tmp_path: Path) -> None:
    env = Environment(
        {"A": "from-env"},
        dotenv={"A": "from-dotenv", "B": "from-dotenv"},
        profile_vars={"A": "p", "B": "p", "C": "from-profile"},
    )
    assert env.resolve("${A}/${B}/${C}/${D:-fallback}/${E:-}", "test") == "from-env/from-dotenv/from-profile/fallback/"
    with pytest.raises(MissingVariableError, match=r"^D is not set \(referenced by where-it-is\)"):
        env.resolve("${D}", "where-it-is")


def test_empty_variable_counts_as_unset() -> None:
    env = Environment({"A": ""})
    assert not env.is_set("A")
    assert env.resolve("${A:-d}", "x") == "d"


def test_profile_vars_fill_urls_but_never_override_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + '\n[profiles.local]\nvars = { APP_URL = "http://localhost:3000" }\n')
    result = run_cli("jobs", "-r", str(path), "-p", "local", "-f", "json", env={"APP_URL": None})
    assert result.exit_code == 0, result.stderr
    env_rows = {e["name"]: e["set"] for e in json.loads(result.stdout)["jobs"][0]["env"]}
    assert env_rows.get("CRON_SECRET") is False


# ---------------------------------------------------------------- property: nothing but RunbookError escapes


def _loads(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


# Every key the schema names (runbook/schema.py), plus table names the documents below use.
TABLES = list(schema.tables())
KNOWN_KEYS = [*sorted({key for table in TABLES for key in table.keys}), "a", "send-emails"]
# The keys of a job and of its sub-tables (auth, success, history, lock, dispatch), written anywhere in the job.
JOB_KEYS = sorted({key for table in TABLES if table.path.startswith("jobs.<name>") for key in table.keys} - {"url"})
SCALAR_TEXT = st.sampled_from(
    [
        "",
        "x",
        "a b",
        "*/5 * * * *",
        "61 * * * *",
        "@daily",
        "30 seconds",
        "0 0 $ * *",
        "UTC",
        "Europe/Berlin",
        "Not/AZone",
        "../etc",
        "America",
        "GET",
        "post",
        "bearer",
        "header",
        "hmac",
        "table",
        "redis",
        "advisory",
        "1:2",
        "https://x.test/${A}",
        "${A:-b}",
        "${",
        "30s",
        "5m",
        "-1s",
        "0",
        "owner/name",
        "${REPO}",
        "[",
        "(",
        "success == true",
        "a ==",
        "int",
        "select 1 as value",
        "select 1; select 2",
        "crit",
        "warn",
        "pg_cron",
        "id",
        "1bad",
        "%(p)s",
    ]
) | st.text(string.printable, max_size=12)
SCALARS = (
    SCALAR_TEXT
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True)
    | st.booleans()
    | st.datetimes(timezones=st.sampled_from([UTC]))
    | st.dates()
    | st.times()
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


def _job() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"url": st.sampled_from(["https://x.test/a", "${A}/b"])},
        optional={key: VALUES for key in JOB_KEYS},
    )


DOCUMENTS = st.fixed_dictionaries(
    {
        "runbook": st.fixed_dictionaries({"name": SCALAR_TEXT}, optional={"description": VALUES}),
        # Half the documents get plain valid jobs, so validation reaches the sections that refer to jobs.
        "jobs": st.dictionaries(st.sampled_from(["a", "send-emails", "b.c", "bad name", ""]), _job(), max_size=3)
        | st.just({"a": {"url": "https://x.test/a", "schedule": "* * * * *"}, "send-emails": {"url": "${A}"}}),
    },
    optional={
        key: st.dictionaries(
            st.sampled_from(["a", "b", "send-emails"]),
            st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=6),
            max_size=2,
        )
        | VALUES
        for key in [
            "connection",
            "profiles",
            "run_logs",
            "lock_tables",
            "health",
            "backlogs",
            "queries",
            "secrets_table",
            "exit_condition",
        ]
    }
    | {
        "failure_modes": st.lists(st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=6), max_size=2),
        "failure_groups": st.lists(st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=4), max_size=2),
    },
)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS, st.sampled_from([None, "local", "a"]))
def test_arbitrary_documents_raise_only_runbook_errors(document: dict[str, Any], profile: str | None) -> None:
    try:
        parse_runbook(document, Path("fuzz.toml"), profile)
    except RunbookError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_mutated_seed_text_raises_only_runbook_errors(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    source = data.draw(st.sampled_from(sorted(RUNBOOKS.glob("*.toml"))))
    text = source.read_text()
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    cut = data.draw(st.integers(min_value=0, max_value=40))
    insert = data.draw(st.sampled_from(["", "x", "=", '"', "[", "]", "\n", "1", "true", "{", "}", "#", "."]))
    path = tmp_path_factory.mktemp("fuzz") / "runbook.toml"
    path.write_text(text[:position] + insert + text[position + cut :])
    try:
        load_runbook(path)
    except RunbookError as exc:
        assert "\n" not in str(exc)


def test_toml_datetimes_are_wrong_types_not_crashes() -> None:
    for value in (datetime(2024, 1, 1, tzinfo=UTC), date(2024, 1, 1), time(12, 0)):
        doc = _loads(VALID)
        doc["jobs"]["send-emails"]["timeout"] = value
        with pytest.raises(RunbookError, match=r"jobs\.send-emails\.timeout"):
            parse_runbook(doc, Path("x.toml"))


def test_identifier_with_a_trailing_newline_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rb.toml"
    path.write_text(
        '[runbook]\nname = "x"\n[run_logs.r]\ntable = "cron_runs\\n"\n'
        '[jobs.a]\nurl = "http://x"\nhistory = { run_log = "r" }\n'
    )
    with pytest.raises(RunbookError, match="not a plain SQL identifier"):
        load_runbook(path)
