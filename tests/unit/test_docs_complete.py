"""Every command and every runbook key is documented.

Commands: each command and subcommand of the CLI (nested groups too: `pgcron track install`) appears in README.md
or docs/commands/*.md as a code span, or a line of a code block (after an optional `$ `), that starts with
`cronctl <command>` and then ends or goes on with a space: `cronctl silence list [--all]` counts,
`cronctl silenced` does not.

Runbook keys: each key of each table the schema names (runbook/schema.py, read off the model) is the first cell,
as a code span, of a table row in the section of docs/runbook-format.md that documents its table. A section
documents a table when its heading's first code span names it: `[vercel]`, `[jobs.<name>]`, `[[failure_modes]]`,
or a bare key under such a heading (`history` under `[jobs.<name>]` is jobs.<name>.history); the "Top level"
section documents the top level, whose rows name the tables (`[jobs.<name>]`). A table read into the same
dataclass as a documented one, with the same keys, is documented there (health.<name>.auth is "as for jobs").
Every word of a key's closed vocabulary appears as a code span in its table's section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from cronctl.cli.main import build_app
from cronctl.evaluate.hygiene import CHECKS as HYGIENE_CHECKS
from cronctl.runbook import schema

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK_FORMAT = ROOT / "docs" / "runbook-format.md"
COMMAND_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs" / "commands").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.M | re.S)
_SPAN = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^(#{2,6}) +(.*)$")
_ROW_KEY = re.compile(r"^\|\s*`([^`]+)`")


def _prose(text: str) -> str:
    """Markdown without its fenced code blocks (a `# comment` there is no heading, backticks no code span)."""
    return _FENCE.sub("", text)


# ---------------------------------------------------------------- commands


def _commands(command: Any, context: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is None or sub.hidden:
            continue
        path = (*prefix, name)
        yield " ".join(path)
        if hasattr(sub, "list_commands"):
            yield from _commands(sub, sub.make_context(name, [], parent=context, resilient_parsing=True), path)


def all_commands() -> list[str]:
    root = typer.main.get_command(build_app())
    return list(_commands(root, root.make_context("cronctl", [], resilient_parsing=True)))


COMMANDS = all_commands()


def _command_texts(text: str) -> Iterator[str]:
    """The code spans of the prose and the lines of the code blocks."""
    yield from _SPAN.findall(_prose(text))
    for block in _FENCE.findall(text):
        for line in block.splitlines():
            yield line.strip().removeprefix("$ ")


COMMAND_TEXTS = [text for doc in COMMAND_DOCS for text in _command_texts(doc.read_text(encoding="utf-8"))]


def test_the_cli_has_nested_commands() -> None:
    assert {"triage", "pgcron track", "pgcron track install", "silence list"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented(command: str) -> None:
    pattern = re.compile(rf"cronctl {re.escape(command)}(?:\s|$)")
    assert any(pattern.match(text) for text in COMMAND_TEXTS), (
        f"`cronctl {command}` is not documented: add a `cronctl {command} ...` code span or usage line to "
        "README.md or docs/commands/*.md"
    )


# ---------------------------------------------------------------- runbook keys


def _plain(span: str) -> str:
    return span.strip().strip('"')


def _row_key(span: str) -> str:
    """`[jobs.<name>]` / `[[failure_modes]]` (top-level rows) name the key `jobs` / `failure_modes`."""
    key = span.strip().strip("[]")
    return key.removesuffix(".<name>")


def sections(text: str) -> dict[str, str]:
    """Table path (as the schema spells it, without `[]`) -> the text of the section documenting that table."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str | None]] = []  # (heading level, table path) of the enclosing headings
    current: str | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            found[current] = found.get(current, "") + "\n".join(body)

    for line in _prose(text).splitlines():
        heading = _HEADING.match(line)
        if heading is None:
            body.append(line)
            continue
        close()
        level, title = len(heading.group(1)), heading.group(2)
        stack = [(lvl, path) for lvl, path in stack if lvl < level]
        span = _SPAN.search(title)
        parent = next((path for _, path in reversed(stack) if path is not None), None)
        if title.strip() == "Top level":
            current = ""
        elif span and span.group(1).startswith("["):
            current = span.group(1).strip("[]")
        elif span and parent is not None and parent != "":
            current = f"{parent}.{span.group(1)}"
        else:
            current = None
        stack.append((level, current))
        body = []
    close()
    return found


def documented_keys(section: str) -> set[str]:
    return {_row_key(m.group(1)) for line in section.splitlines() if (m := _ROW_KEY.match(line))}


SECTIONS = sections(RUNBOOK_FORMAT.read_text(encoding="utf-8"))
TABLES = list(schema.tables())


def _section_of(table: schema.Table) -> str | None:
    return SECTIONS.get(table.path.replace("[]", ""))


def test_the_sections_are_found() -> None:
    assert {"", "runbook", "jobs.<name>", "jobs.<name>.history", "failure_modes", "vercel"} <= set(SECTIONS)


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.path or "(top level)")
def test_every_runbook_key_is_documented(table: schema.Table) -> None:
    section = _section_of(table)
    if section is None:
        twins = [t for t in TABLES if (t.spec, t.keys) == (table.spec, table.keys) and _section_of(t) is not None]
        assert twins, f"docs/runbook-format.md has no section for [{table.path}]"
        return
    missing = [key for key in table.keys if key not in documented_keys(section)]
    assert not missing, f"docs/runbook-format.md, section [{table.path}]: no row for {', '.join(missing)}"


@pytest.mark.parametrize("table", [t for t in TABLES if t.vocabularies], ids=lambda table: table.path)
def test_every_word_of_a_closed_vocabulary_is_documented(table: schema.Table) -> None:
    section = _section_of(table)
    if section is None:  # documented with its twin, checked there
        return
    spans = {_plain(span) for span in _SPAN.findall(section)}
    for key, words in table.vocabularies.items():
        missing = [word for word in words.words if word not in spans]
        assert not missing, f"docs/runbook-format.md, [{table.path}] {key}: {', '.join(missing)} not documented"


def test_the_rules_see_headings_rows_and_fences() -> None:
    text = (
        "## Top level\n\n| `[jobs.<name>]` | tables |\n\n"
        "## `[jobs.<name>]`\n\n| `url` | string |\n\n### `history`\n\n| `github` | bool |\n\n"
        "```toml\n# not a heading\n```\n\n## `[[failure_modes]]`\n\n| `group` | `AUTH` |\n"
    )
    found = sections(text)
    assert {path: documented_keys(body) for path, body in found.items()} == {
        "": {"jobs"},
        "jobs.<name>": {"url"},
        "jobs.<name>.history": {"github"},
        "failure_modes": {"group"},
    }


# ---------------------------------------------------------------- hygiene checks


@pytest.mark.parametrize("check", HYGIENE_CHECKS)
def test_every_hygiene_check_is_named_and_documented(check: str) -> None:
    """Doctor shows a check's name, not its bare id; triage's hygiene table and doctor's checks list it."""
    from cronctl.evaluate.doctor import _HYGIENE_NAMES

    assert _HYGIENE_NAMES.get(check, check) != check, f"evaluate/doctor.py: no display name for {check}"
    triage = (ROOT / "docs" / "commands" / "triage.md").read_text(encoding="utf-8")
    onboarding = (ROOT / "docs" / "commands" / "onboarding.md").read_text(encoding="utf-8")
    assert f"\n| `{check}` |" in triage, f"docs/commands/triage.md: no hygiene row for {check}"
    assert f"\n| `hygiene:{check}` |" in onboarding, f"docs/commands/onboarding.md: no doctor row for {check}"
