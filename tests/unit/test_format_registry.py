"""The output-format registry (output/formats/): every registered format renders, is offered in `--format`'s help
and shell completion by the commands it names, is documented, and an unknown format is one clear line."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer.main

from cli_runner import run_cli
from cronctl.cli.main import COMMAND_MODULES, build_app
from cronctl.output import formats
from cronctl.output.render import render
from cronctl.output.report import Item, Items, KeyValues, Mark, Report, Table, Text

DOC = Path(__file__).resolve().parents[2] / "docs" / "output-formats.md"
NOW = datetime(2026, 12, 1, 21, 22, tzinfo=UTC)


def small_report() -> Report:
    """One of each section, with triage-shaped data (what openmetrics reads)."""
    job = {"name": "send-emails", "state": "failing", "severity": "crit", "consecutive_failures": 3}
    return Report(
        data={"runbook": "demo", "profile": None, "status": "crit", "jobs": [job], "backlog": [], "locks": []},
        title="Triage: demo",
        headline="1 job failing",
        tone="crit",
        sections=[
            Items(
                [Item("crit", "send-emails is failing", [("do", "renew the token")], ["cronctl trigger send-emails"])]
            ),
            Table(["job", "state", "last run"], [["send-emails", Mark("failing", "crit"), NOW]], title="Jobs"),
            KeyValues([("database", "reachable")], title="Platform"),
            Text("3 runs read", tone="muted"),
        ],
    )


def _help(command: str) -> str:
    return " ".join(run_cli(command, "--help").stdout.split())


def _commands_offering(name: str) -> tuple[str, ...]:
    return formats.renderer(name).COMMANDS or ("jobs",)


@pytest.mark.parametrize("name", list(formats.REGISTRY))
def test_every_registered_format_renders_a_small_report(name: str) -> None:
    fmt = formats.renderer(name)
    assert name == fmt.NAME
    assert fmt.DESCRIPTION and "\n" not in fmt.DESCRIPTION
    assert fmt.COMMANDS is None or set(fmt.COMMANDS) <= set(COMMAND_MODULES), fmt.COMMANDS
    out = io.StringIO()
    render(small_report(), name, out)
    assert "send-emails" in out.getvalue() and out.getvalue().endswith("\n")


def test_every_command_offers_the_shared_formats_and_only_its_own_extras() -> None:
    shared = formats.names()
    assert shared == ("table", "json", "markdown", "plain")
    assert formats.names("triage") == (*shared, "openmetrics")
    assert formats.names("jobs") == shared


@pytest.mark.parametrize("name", list(formats.REGISTRY))
def test_format_help_names_every_format_with_its_description(name: str) -> None:
    description = formats.renderer(name).DESCRIPTION
    for command in _commands_offering(name):
        assert f"{name} ({description})" in _help(command), command
    assert name in formats.help_text(_commands_offering(name)[0])


def test_a_format_only_some_commands_offer_is_not_in_the_others_help() -> None:
    assert "openmetrics" not in _help("jobs")
    assert "openmetrics" in _help("triage")


def test_shell_completion_offers_the_registry_names() -> None:
    app = typer.main.get_command(build_app())
    root = app.make_context("cronctl", ["triage"], resilient_parsing=True)

    def offered(command: str, incomplete: str) -> list[str]:
        sub: Any = app.get_command(root, command)
        ctx = sub.make_context(command, [], parent=root, resilient_parsing=True)
        param = next(p for p in sub.params if p.name == "output_format")
        return [choice.value for choice in param.shell_complete(ctx, incomplete)]

    assert offered("triage", "") == list(formats.names("triage"))
    assert offered("jobs", "") == list(formats.names())
    assert offered("jobs", "m") == ["markdown"]


@pytest.mark.parametrize(
    ("command", "given", "exit_code", "fragment"),
    [
        ("jobs", "jsno", 2, "(did you mean 'json'?)"),
        ("jobs", "openmetrics", 2, "(use one of: table, json, markdown, plain)"),
        ("triage", "markdwn", 3, "(did you mean 'markdown'?)"),  # triage: every error is UNKNOWN
    ],
)
def test_an_unknown_format_is_one_line_with_a_suggestion(
    command: str, given: str, exit_code: int, fragment: str
) -> None:
    result = run_cli(command, "-f", given)
    assert result.exit_code == exit_code, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr
    (line,) = [text for text in result.stderr.splitlines() if text.strip()]
    assert line.startswith(f"error: unknown format '{given}'") and fragment in line, line


def test_render_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'yaml'"):
        render(small_report(), "yaml", io.StringIO())


def test_every_format_has_its_line_in_the_docs() -> None:
    documented = re.findall(r"^\| `([a-z]+)` \|", DOC.read_text(), flags=re.MULTILINE)
    assert documented == list(formats.REGISTRY)


def test_rich_markup_in_keys_labels_and_stacked_headers_is_shown_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys, item labels and column headers hold data (job names, runbook text): `[/x]` is text, not markup."""
    odd = "[/x] [bold]job[/bold]"
    report = Report(
        title="t",
        data={},
        sections=[
            KeyValues([(odd, "v")]),
            Items([Item("warn", "w", [(odd, "line")])]),
            Table(["job", "state", odd, "reason"], [["job-" + "x" * 40, Mark("warn", "late"), "v", "why " * 30]]),
        ],
    )
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    render(report, "table", out)
    assert out.getvalue().count("[/x] [bold]job[/bold]") >= 3, out.getvalue()
