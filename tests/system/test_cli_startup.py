"""The start path stays light: --version and --help never import the database, HTTP or table libraries."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("psycopg", "httpx", "tabulate", "redis", "standardwebhooks", "stripe", "cronsim")


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return {m for m in out.stderr.strip().splitlines()[-1].split(",") if m} if out.stderr.strip() else set()


def test_version_fast_path_imports_nothing_heavy() -> None:
    loaded = _modules_after("sys.argv = ['cronctl', '--version']\nfrom cronctl.cli.main import main\nmain()")
    assert loaded == set()
    assert "typer" not in _modules_after("from cronctl.cli import main")


def test_help_builds_every_command_without_heavy_imports() -> None:
    code = (
        "from cronctl.cli.main import build_app\n"
        "import typer.main\n"
        "cmd = typer.main.get_command(build_app())\n"
        "ctx = cmd.make_context('cronctl', [], resilient_parsing=True)\n"
        "cmd.get_help(ctx)\n"
        "names = cmd.list_commands(ctx)\n"
        "assert len(names) >= 2, names\n"
        "for name in names:\n"
        "    sub = cmd.get_command(ctx, name)\n"
        "    sub.get_help(sub.make_context(name, [], parent=ctx, resilient_parsing=True))\n"
    )
    assert _modules_after(code) == set()


def test_version_output() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cronctl", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.startswith("cronctl ")
