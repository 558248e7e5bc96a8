"""What every command shares: the runbook / env / profile / format options, and error handling.

`@command_options` adds the shared options to a command (so they work after the command name) and turns
every CronctlError into one line on stderr with its exit code.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
import threading
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cronctl.errors import CronctlError, ExitCode, UsageError
from cronctl.output import formats

if TYPE_CHECKING:
    from cronctl.output.report import Report
    from cronctl.runbook.env import Environment
    from cronctl.runbook.model import Runbook

F = TypeVar("F", bound=Callable[..., Any])
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in cronctl, not in the user's setup


@dataclass
class GlobalOptions:
    """Options given before the command name (`cronctl -r x.toml jobs`)."""

    runbook: Path | None = None
    env_file: Path | None = None
    profile: str | None = None
    debug: bool = False


GLOBAL = GlobalOptions()


@dataclass
class Invocation:
    """One command run: where its runbook and variables come from, and how it writes output."""

    runbook_path: Path | None
    env_file: Path | None
    profile: str | None
    format: str
    debug: bool
    # Every `-r` and `--profile` given, for commands that take several (`triage` over a fleet); the first of each
    # is `runbook_path` / `profile`.
    runbook_paths: tuple[Path, ...] = ()
    profiles: tuple[str, ...] = ()
    _runbook: Runbook | None = field(default=None, repr=False)
    _env: Environment | None = field(default=None, repr=False)

    def resolve_runbook_path(self) -> Path:
        if self.runbook_path is not None:
            return self.runbook_path
        from_env = os.environ.get("CRONCTL_RUNBOOK")
        if from_env:
            return Path(from_env)
        default = Path("cronctl.toml")
        if default.is_file():
            return default
        raise UsageError("no runbook given: pass --runbook/-r PATH or set CRONCTL_RUNBOOK")

    def runbook(self) -> Runbook:
        if self._runbook is None:
            from cronctl.runbook.loader import load_runbook

            self._runbook = load_runbook(self.resolve_runbook_path(), self.profile)
            self._know_secrets()
        return self._runbook

    def env(self) -> Environment:
        if self._env is None:
            from cronctl.runbook.env import load_environment

            profile_vars: dict[str, str] = {}
            profile_env: Path | None = None
            if self.profile is not None:
                runbook = self.runbook()
                chosen = runbook.profiles[self.profile]
                profile_vars = chosen.vars
                if chosen.env_file:
                    profile_env = (runbook.path.parent / chosen.env_file).resolve()
            self._env = load_environment(self.env_file, profile_vars, profile_env)
            self._know_secrets()
        return self._env

    def _know_secrets(self) -> None:
        """Once both the runbook and the variables are known: register every value the runbook uses as a secret,
        and have every database connection register the secrets the database holds — the runbook's secrets table
        values and the credential literals in `cron.job` commands (read to be masked, never shown)."""
        if self._runbook is None or self._env is None:
            return
        from cronctl import db
        from cronctl.runbook.env import register_runbook_secrets

        register_runbook_secrets(self._runbook, self._env)
        spec = self._runbook.secrets_table

        def hook(conn: Any) -> None:
            from cronctl.sources.secrets_table import register_known_secrets

            register_known_secrets(conn, spec)

        db.set_connect_hook(hook)

    def database_url(self) -> str:
        runbook = self.runbook()
        url = self.env().resolve(runbook.connection.database_url, f"connection.database_url in {runbook.path}")
        if not url:
            raise UsageError(f"{runbook.path}: connection.database_url resolves to an empty string")
        return url

    def connect(self, *, read_only: bool = True, autocommit: bool = False) -> Any:
        from cronctl.db import connect

        conn = self.runbook().connection
        return connect(
            self.database_url(),
            read_only=read_only,
            statement_timeout=conn.statement_timeout,
            connect_timeout=conn.connect_timeout,
            autocommit=autocommit,
        )

    def emit(self, report: Report) -> None:
        from cronctl.output.render import render

        render(report, self.format)
        if report.exit_code:
            raise typer.Exit(report.exit_code)


RunbookOpt = Annotated[
    Path | None,
    typer.Option(
        "--runbook",
        "-r",
        help="Runbook TOML file (default: $CRONCTL_RUNBOOK, then ./cronctl.toml).",
        show_default=False,
    ),
]
EnvFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="Read variables from this file instead of ./.env (never overrides the environment).",
        show_default=False,
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Runbook profile to use, e.g. staging or prod.", show_default=False),
]


def _format_option(command: str | None) -> Any:
    """--format/-f offering the formats of `command` (output/formats/), in its help and its shell completion."""

    def complete(incomplete: str) -> list[tuple[str, str]]:
        offered = formats.names(command)
        return [(name, formats.renderer(name).DESCRIPTION) for name in offered if name.startswith(incomplete.lower())]

    return Annotated[
        str,
        typer.Option("--format", "-f", help=formats.help_text(command), metavar="FORMAT", autocompletion=complete),
    ]


FormatOpt = _format_option(None)
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]
# Commands that read several systems at once (`command_options(several=True)`) take -r and --profile repeatedly.
RunbooksOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--runbook",
        "-r",
        help="Runbook TOML file (default: $CRONCTL_RUNBOOK, then ./cronctl.toml); repeat for several systems.",
        show_default=False,
    ),
]
ProfilesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--profile",
        "-p",
        help="Runbook profile to use, e.g. staging or prod; repeat for several.",
        show_default=False,
    ),
]


def _format_param(command: str) -> inspect.Parameter:
    """The --format option of `command`; one that offers formats other commands do not lists them in its help."""
    if formats.names(command) == formats.names():
        return _SHARED["output_format"]
    return _SHARED["output_format"].replace(annotation=_format_option(command))


_SHARED = {
    "runbook": inspect.Parameter("runbook", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RunbookOpt),
    "env_file": inspect.Parameter("env_file", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=EnvFileOpt),
    "profile": inspect.Parameter("profile", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ProfileOpt),
    "output_format": inspect.Parameter(
        "output_format", inspect.Parameter.KEYWORD_ONLY, default="table", annotation=FormatOpt
    ),
    "debug": inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOpt),
}


def command_options(*, error_exit: int | None = None, several: bool = False) -> Callable[[F], F]:
    """Give a command the shared options and one-line error handling.

    The wrapped function receives `inv: Invocation` as its first argument. `error_exit` overrides the exit code
    used for errors (triage follows the monitoring-plugin convention: every error is UNKNOWN, 3). `several` lets
    -r and --profile be given more than once (`inv.runbook_paths`, `inv.profiles`). `--format` offers the formats
    registered for the command's module in cli/ (output/formats/: `COMMANDS = ("triage",)` is cli/triage.py).
    """
    shared_params = dict(_SHARED)
    if several:
        shared_params["runbook"] = _SHARED["runbook"].replace(annotation=RunbooksOpt)
        shared_params["profile"] = _SHARED["profile"].replace(annotation=ProfilesOpt)

    def decorate(func: F) -> F:
        command = func.__module__.rpartition(".")[2]
        shared_params["output_format"] = _format_param(command)
        # Resolve string annotations in the command's own module, so Typer sees real types on the wrapper.
        hints = typing.get_type_hints(func, include_extras=True)
        signature = inspect.signature(func)
        own = [
            p.replace(annotation=hints.get(name, p.annotation))
            for name, p in signature.parameters.items()
            if name != "inv"
        ]

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            shared = {name: kwargs.pop(name) for name in _SHARED}
            runbooks: tuple[Path, ...] = ()
            profiles: tuple[str, ...] = ()
            if several:
                runbooks = tuple(shared["runbook"] or ()) or ((GLOBAL.runbook,) if GLOBAL.runbook else ())
                given = tuple(dict.fromkeys(shared["profile"] or ()))
                profiles = given or ((GLOBAL.profile,) if GLOBAL.profile else ())
                runbook_path, profile = (runbooks[0] if runbooks else None), (profiles[0] if profiles else None)
            else:
                runbook_path, profile = shared["runbook"] or GLOBAL.runbook, shared["profile"] or GLOBAL.profile
            inv = Invocation(
                runbook_path=runbook_path,
                env_file=shared["env_file"] or GLOBAL.env_file,
                profile=profile,
                format=shared["output_format"].lower(),
                debug=shared["debug"] or GLOBAL.debug,
                runbook_paths=runbooks,
                profiles=profiles,
            )
            return run_guarded(lambda: func(inv, **kwargs), inv.debug, error_exit, inv.format, command)

        wrapper.__signature__ = signature.replace(parameters=[*own, *shared_params.values()])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **{p.name: p.annotation for p in own},
            **{name: p.annotation for name, p in shared_params.items()},
            "return": hints.get("return", None),
        }
        return wrapper  # type: ignore[return-value]

    return decorate


def run_guarded(
    call: Callable[[], Any], debug: bool, error_exit: int | None, fmt: str = "table", command: str | None = None
) -> Any:
    """Run one command: stdout and stderr masked as they are written, SIGTERM handled like Ctrl-C, every error one
    line with its exit code. An interrupted command completes its open audit records ("interrupted") first."""
    from cronctl import db
    from cronctl.sources.http_deadline import reset

    reset()
    db.set_connect_hook(None)  # set again once this command's runbook is known
    with masked_output(), terminate_as_interrupt():
        return _run(call, debug, error_exit, fmt, command)


def _run(call: Callable[[], Any], debug: bool, error_exit: int | None, fmt: str, command: str | None = None) -> Any:
    from cronctl.output import terminal

    if fmt not in formats.names(command):
        terminal.error(formats.unknown(fmt, command))
        raise typer.Exit(error_exit if error_exit is not None else ExitCode.USAGE)
    try:
        return call()
    except (typer.Exit, typer.Abort):
        raise
    except CronctlError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        terminal.error(" ".join(exc.message.split()))
        if exc.hint:
            terminal.status(f"hint: {exc.hint}")
        raise typer.Exit(error_exit if error_exit is not None else int(exc.exit_code)) from None
    except KeyboardInterrupt as exc:
        from cronctl.audit import interrupt_open_records
        from cronctl.sources.http_deadline import abort_all

        signum = getattr(exc, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        abort_all()
        interrupt_open_records(f"interrupted by {name}")
        terminal.error(f"interrupted by {name}")
        raise typer.Exit(128 + int(signum)) from None
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()  # through the masked stderr, unlike an uncaught exception
        text = " ".join(str(exc).split())
        terminal.error(f"internal error: {type(exc).__name__}: {text} (run with --debug for the traceback)")
        raise typer.Exit(error_exit if error_exit is not None else INTERNAL_ERROR) from None


@contextmanager
def masked_output() -> Iterator[None]:
    """Every write to stdout and stderr masks registered secrets first: the last step of every sink."""
    from cronctl.redact import MaskingStream

    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, MaskingStream):
        sys.stdout = MaskingStream(sys.stdout)
    if not isinstance(sys.stderr, MaskingStream):
        sys.stderr = MaskingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that open audit records are completed before the process ends."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise `Terminated` in the main thread while the command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Terminated(signum)

    saved: dict[int, Any] = {}
    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is None:
            continue
        with suppress(ValueError, OSError):
            saved[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)
