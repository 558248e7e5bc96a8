"""The Typer application and its global options (those given before the command name)."""

from pathlib import Path
from typing import Annotated

import typer

from cronctl import __version__
from cronctl.cli.common import GLOBAL


def _version_callback(value: bool) -> None:
    if value:
        print(f"cronctl {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", help="Print the version and exit.", callback=_version_callback, is_eager=True),
    ] = False,
    runbook: Annotated[
        Path | None,
        typer.Option("--runbook", "-r", help="Runbook TOML file (or $CRONCTL_RUNBOOK).", show_default=False),
    ] = None,
    env_file: Annotated[
        Path | None, typer.Option("--env-file", help="Variables file instead of ./.env.", show_default=False)
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Runbook profile (e.g. prod).", show_default=False)
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    GLOBAL.runbook = runbook
    GLOBAL.env_file = env_file
    GLOBAL.profile = profile
    GLOBAL.debug = debug


def make_app(help_text: str) -> typer.Typer:
    app = typer.Typer(
        name="cronctl",
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    return app
