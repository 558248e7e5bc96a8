"""Total input handling: no duration, count or runbook number ends in exit 70 (internal error).

Each case is one `error:` line on stderr with the documented exit code: 2 (usage or runbook error), and 3 for
triage, which reports every error as UNKNOWN (the monitoring-plugin convention).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import run_cli
from cronctl.durations import MAX_SECONDS, parse_duration

BASE = """
[runbook]
name = "input"
[connection]
database_url = "${{DATABASE_URL}}"
{connection}
[jobs.fn]
url = "http://127.0.0.1:9/fn"
schedule = "*/5 * * * *"
{job}
[backlogs.pending]
sql = "SELECT 1 AS value"
{backlog}
"""


def _runbook(tmp_path: Path, *, connection: str = "", job: str = "", backlog: str = "") -> str:
    path = tmp_path / "input.toml"
    path.write_text(BASE.format(connection=connection, job=job, backlog=backlog))
    return str(path)


def _one_error_line(result_stderr: str) -> None:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result_stderr


@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "1e400", "99999999999d", "9" * 80, "36501d", float("inf")])
def test_parse_duration_refuses_non_finite_and_huge_values(text: str | float) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_duration_keeps_its_bound() -> None:
    assert parse_duration("36500d") == MAX_SECONDS
    assert parse_duration(1.5) == 1.5


CLI_CASES = [
    ("logs", "fn", "--since", "99999999999d"),
    ("triage", "--since", "99999999999d"),
    ("trigger", "fn", "--interval", "99999999999d", "--repeat", "2", "--dry-run"),
    ("trigger", "fn", "--timeout", "99999999999d", "--dry-run"),
    ("trigger", "fn", "--repeat", "99999999999999999999", "--dry-run"),
    ("trigger", "fn", "--until-ok", "99999999999999999999", "--dry-run"),
    ("doctor", "--timeout", "99999999999d"),
    ("pgcron", "purge-history", "--older-than", "99999999999d", "--dry-run"),
]


@pytest.mark.parametrize("argv", CLI_CASES, ids=[" ".join(c[:3]) for c in CLI_CASES])
def test_huge_durations_and_counts_on_the_command_line(tmp_path: Path, argv: tuple[str, ...]) -> None:
    rb = _runbook(tmp_path)
    result = run_cli(*argv, "-r", rb, env={"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"})
    assert result.exit_code == (3 if argv[0] == "triage" else 2), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    _one_error_line(result.stderr)


RUNBOOK_CASES = [
    {"job": "timeout = inf"},
    {"job": "timeout = nan"},
    {"job": "timeout = -inf"},
    {"job": 'timeout = "99999999999d"'},
    {"job": "timeout = 1e300"},
    {"job": "grace = inf"},
    {"connection": "statement_timeout = inf"},
    {"connection": "statement_timeout = 1e12"},
    {"connection": 'connect_timeout = "30d"'},
    {"backlog": "warn = nan"},
]


@pytest.mark.parametrize("case", RUNBOOK_CASES, ids=[next(iter(c.values())) for c in RUNBOOK_CASES])
@pytest.mark.parametrize("command", ["jobs", "triage"])
def test_non_finite_or_huge_runbook_numbers_are_runbook_errors(
    tmp_path: Path, case: dict[str, str], command: str
) -> None:
    rb = _runbook(tmp_path, **case)
    result = run_cli(command, "-r", rb, env={"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"})
    assert result.exit_code == (3 if command == "triage" else 2), result.output
    assert "internal error" not in result.output
    _one_error_line(result.stderr)
    assert "input.toml" in result.stderr  # names the file (and the key)
