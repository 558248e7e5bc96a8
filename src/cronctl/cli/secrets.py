"""`cronctl secrets`: check, generate and rotate the secrets scheduled jobs depend on."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cronctl.cli.common import Invocation, command_options
from cronctl.errors import UsageError

HELP = """Secrets the jobs depend on: where each is expected, whether it is set, placeholder or weak, and
when it was last rotated. Values are never shown.

\b
Examples:
  cronctl secrets check -r runbooks/billing-pgcron.toml
  cronctl secrets generate --bytes 32
  cronctl secrets rotate service_role_key            # prompts for the new value (hidden)
  pbpaste | cronctl secrets rotate cron_secret --yes  # or read it from stdin
"""


def register(app: Any) -> None:
    group = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None)
    group.command(
        "check",
        help="""Which secrets each job needs, where each is expected (env, .env, the secrets table), set or
missing, placeholder or real, strength, last rotated. Exit 1 when any needs attention.

\b
Examples:
  cronctl secrets check -r runbooks/billing-pgcron.toml
  cronctl secrets check -f json | jq '.secrets[] | select(.state != "set")'
""",
    )(check)
    group.command(
        "generate",
        help="""Print a new random secret (base64), like `openssl rand -base64 32`. It is printed once and
written nowhere else.

\b
Examples:
  cronctl secrets generate
  cronctl secrets generate --bytes 48 -f plain
""",
    )(generate)
    group.command(
        "rotate",
        help="""Store a new value for a key of the runbook's [secrets_table] (seed shape: cron_secrets). The
value is read from stdin or a hidden prompt, never from an argument. Goes through the rotate function
(e.g. rotate_cron_secret(key, value), SECURITY DEFINER) when it exists, else a guarded UPDATE of one row.
Asks for confirmation unless --yes; writes an audit record without the value; prints the post-rotation
checklist.

\b
Examples:
  cronctl secrets rotate service_role_key -r runbooks/billing-pgcron.toml
  cronctl secrets generate -f plain | cronctl secrets rotate cron_secret --yes
  cronctl secrets rotate cron_secret --dry-run < new-secret.txt
""",
    )(rotate)
    app.add_typer(group, name="secrets")


@command_options()
def check(inv: Invocation) -> None:
    from cronctl.services import secrets as service

    inv.emit(service.check(inv))


@command_options()
def generate(
    inv: Invocation,
    nbytes: Annotated[int, typer.Option("--bytes", help="Random bytes (16-512); 32 is recommended.")] = 32,
) -> None:
    from cronctl.services import secrets as service

    if not 16 <= nbytes <= 512:
        raise UsageError("--bytes must be between 16 and 512")
    inv.emit(service.generate(nbytes))


@command_options()
def rotate(
    inv: Invocation,
    key: Annotated[str, typer.Argument(help="Key (row) of the secrets table, e.g. service_role_key.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run; change nothing.")] = False,
) -> None:
    from cronctl.output import terminal
    from cronctl.services import secrets as service

    report = service.rotate(inv, key, dry_run=dry_run, read_value=_read_value,
                            confirm=lambda question: terminal.confirm(question, assume_yes=yes))  # fmt: skip
    inv.emit(report)


def _read_value(key: str) -> str:
    """The new value from stdin when it is piped, else from a hidden prompt asked twice."""
    if not sys.stdin.isatty():
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    else:
        import getpass

        value = getpass.getpass(f"New value for '{key}' (hidden): ", stream=sys.stderr)
        if getpass.getpass("Again: ", stream=sys.stderr) != value:
            raise UsageError("the two values differ; nothing changed")
    if not value:
        raise UsageError("no new value given (pipe it on stdin or type it at the prompt)")
    return value
