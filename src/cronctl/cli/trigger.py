"""`cronctl trigger`: fire jobs by hand exactly as their scheduler would, and judge the answers."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronctl.auth import ad_hoc_forms
from cronctl.cli.common import Invocation, command_options
from cronctl.errors import UsageError

if TYPE_CHECKING:
    from cronctl.runbook.model import AuthSpec, JobSpec
    from cronctl.services.trigger import Repeat
    from cronctl.sources.http_trigger import BodyOptions

AD_HOC_AUTH = ad_hoc_forms()  # each auth scheme names its own --auth forms
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_RUNS = 10_000  # --repeat / --until-ok: a by-hand trigger loop, not a load test
MAX_DATA_FILE = 4 * 1024 * 1024  # bytes read from `--data @file`; a bigger body is refused, not read

HELP = """Fire jobs by hand exactly as their scheduler would: the runbook's method, URL, headers, JSON body,
timeout and auth (Bearer, apikey, a secret header, or an HMAC signature over the exact bytes sent). Each
answer is judged with the job's success rule: ok, skipped, failed (non-2xx, redirect, rule does not hold)
or error (no answer). Redirects are never followed. Jobs marked idempotent are retried on 429
(Retry-After), 5xx and timeouts, 3 s then 6 s. Every sent request is written to the audit log.

Several jobs run concurrently, one row each. Exit 0 only when every verdict is ok.

\b
Examples:
  cronctl trigger notification-worker -r runbooks/billing-pgcron.toml --dry-run
  cronctl trigger scheduled-dispatcher --yes --until-ok 3 --interval 10s
  cronctl trigger enrolment-sync --trigger-type RETRY --set category_id=303 --verify
  cronctl trigger refresh-tokens sync-campaigns cleanup-expired-tokens --yes -f json
  cronctl trigger generate-t5-invoices --dispatch --set dry_run=true
  cronctl trigger generate-t5-invoices --dispatch --verify --timeout 15m --yes
  cronctl trigger --url https://app.example.com/api/cron/sync --auth bearer --secret-env CRON_SECRET
"""


def register(app: Any) -> None:
    app.command("trigger", help=HELP)(trigger)


@command_options()
def trigger(
    inv: Invocation,
    jobs: Annotated[list[str] | None, typer.Argument(help="Job names from the runbook.", show_default=False)] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Ad-hoc mode: fire this URL (no runbook needed).", show_default=False)
    ] = None,
    method: Annotated[
        str | None,
        typer.Option("--method", help="Ad-hoc HTTP method (default GET, POST with a body).", show_default=False),
    ] = None,
    auth: Annotated[str, typer.Option("--auth", help=f"Ad-hoc auth: {' | '.join(AD_HOC_AUTH)}.")] = "none",
    secret_env: Annotated[
        str | None, typer.Option("--secret-env", help="Ad-hoc: variable holding the secret.", show_default=False)
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="JSON body, or @file with JSON; replaces the body.", show_default=False)
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Body field key=value (numbers and true/false are "
            "typed; dotted keys nest). Workflow inputs with --dispatch.",
            show_default=False,
        ),
    ] = None,
    trigger_type: Annotated[
        str | None,
        typer.Option("--trigger-type", help="MANUAL or RETRY: fills the job's trigger_type field.", show_default=False),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            help="Override the job's timeout, e.g. 10s (--dispatch --verify: how long to wait for the run).",
            show_default=False,
        ),
    ] = None,
    dispatch: Annotated[bool, typer.Option("--dispatch", help="Fire through GitHub's workflow_dispatch.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request as curl (secrets as $VAR); send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    repeat: Annotated[
        int | None, typer.Option("--repeat", help="Trigger N times (with --until-ok: at most N).", show_default=False)
    ] = None,
    interval: Annotated[str, typer.Option("--interval", help="Pause between repeated triggers.")] = "2s",
    until_ok: Annotated[
        int | None, typer.Option("--until-ok", help="Stop after K consecutive ok verdicts.", show_default=False)
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Afterwards, read the job's newest run from its history; with --dispatch, wait (up to the "
            "job's timeout) for the workflow run the dispatch created and judge the trigger by it.",
        ),
    ] = False,
) -> None:
    from cronctl.durations import parse_duration
    from cronctl.output import terminal
    from cronctl.services import trigger as service

    names = list(dict.fromkeys(jobs or []))
    if url is not None and names:
        raise UsageError("give job names or --url, not both")
    if url is None and not names:
        raise UsageError("name at least one job (cronctl jobs lists them), or use --url for an ad-hoc request")
    if url is None and (method or secret_env or auth != "none"):
        raise UsageError("--method, --auth and --secret-env are for ad-hoc requests with --url")
    plan_repeat = _repeat(repeat, until_ok, _duration(interval, "--interval", parse_duration))
    timeout_s = _duration(timeout, "--timeout", parse_duration) if timeout is not None else None
    body = _body_options(data, sets or [], trigger_type)
    has_body = body.has_data or bool(body.sets)
    ad_hoc = None if url is None else _ad_hoc_job(url, method, auth, secret_env, has_body, timeout_s)
    report = service.trigger(
        inv, names, ad_hoc=ad_hoc, body=body, repeat=plan_repeat, timeout=timeout_s, dispatch=dispatch,
        dry_run=dry_run, verify=verify, confirm=lambda question: terminal.confirm(question, assume_yes=yes),
        progress=_progress(),
    )  # fmt: skip
    inv.emit(report)


def _duration(text: str, option: str, parse: Any) -> float:
    try:
        return float(parse(text))
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _repeat(repeat: int | None, until_ok: int | None, interval: float) -> Repeat:
    from cronctl.services.trigger import Repeat

    if repeat is not None and not 1 <= repeat <= MAX_RUNS:
        raise UsageError(f"--repeat must be between 1 and {MAX_RUNS}")
    if until_ok is not None and not 1 <= until_ok <= MAX_RUNS:
        raise UsageError(f"--until-ok must be between 1 and {MAX_RUNS}")
    if until_ok is not None:
        runs = repeat if repeat is not None else max(10, 3 * until_ok)
        if runs < until_ok:
            raise UsageError(f"--repeat {runs} cannot reach --until-ok {until_ok}")
        return Repeat(runs=runs, interval=interval, until_ok=until_ok)
    return Repeat(runs=repeat or 1, interval=interval)


def parse_set(text: str) -> tuple[str, Any]:
    """`key=value`; the value is typed when it reads as a JSON number, boolean or null."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set '{text}': expected key=value")
    value: Any = raw
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null", raw.strip()):
        value = json.loads(raw.strip())
    return key, value


def _body_options(data: str | None, sets: list[str], trigger_type: str | None) -> BodyOptions:
    from cronctl.sources.http_trigger import BodyOptions

    document: Any = None
    if data is not None:
        text, where = data, "--data"
        if data.startswith("@"):
            from cronctl.userfiles import read_bounded

            path = Path(data[1:])
            try:
                text = read_bounded(path, MAX_DATA_FILE).decode("utf-8")
            except OSError as exc:
                raise UsageError(f"--data: cannot read {path}: {exc.strerror or exc}") from None
            except UnicodeDecodeError:
                raise UsageError(f"--data: {path} is not UTF-8 text") from None
            where = f"--data {path}"
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc})") from None
    if trigger_type is not None:
        trigger_type = trigger_type.upper()
        if trigger_type not in ("MANUAL", "RETRY", "SCHEDULER"):
            raise UsageError("--trigger-type must be MANUAL or RETRY")
    return BodyOptions(
        data=document, has_data=data is not None, sets=tuple(parse_set(s) for s in sets), trigger_type=trigger_type
    )


def _ad_hoc_auth(auth: str, secret_env: str | None) -> AuthSpec:
    from cronctl.runbook.model import AuthSpec

    kind, _, header = auth.partition(":")
    kind = kind.strip().lower()
    if kind not in {form.partition(":")[0] for form in AD_HOC_AUTH}:  # the registry's forms, `header:<Name>` too
        raise UsageError(f"--auth '{auth}' is not one of: {', '.join(AD_HOC_AUTH)}")
    if kind == "none":
        return AuthSpec()
    if not secret_env:
        raise UsageError(f"--auth {auth} needs --secret-env VAR (the variable holding the secret)")
    if not _ENV_NAME.match(secret_env):
        raise UsageError(f"--secret-env '{secret_env}' is not a variable name (pass the name, never the value)")
    if kind == "header":
        if not header.strip():
            raise UsageError("--auth header needs the header name, e.g. --auth header:X-Cron-Secret")
        return AuthSpec(kind="header", secret_env=secret_env, header=header.strip())
    if kind == "bearer+apikey":
        return AuthSpec(kind="bearer", secret_env=secret_env, apikey_env=secret_env)
    if kind == "apikey":
        return AuthSpec(kind="apikey", secret_env=secret_env, apikey_env=secret_env)
    return AuthSpec(kind=kind, secret_env=secret_env)


def _ad_hoc_job(
    url: str, method: str | None, auth: str, secret_env: str | None, has_body: bool, timeout: float | None
) -> JobSpec:
    from cronctl.runbook.model import JobSpec

    verb = (method or ("POST" if has_body else "GET")).upper()
    if verb not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        raise UsageError(f"--method '{method}' is not an HTTP method")
    return JobSpec(name="adhoc", method=verb, url=url, timeout=timeout or 30.0, auth=_ad_hoc_auth(auth, secret_env))


class ProgressPrinter:
    """Thread-safe progress on stderr: one rewritten line on a terminal, plain lines otherwise."""

    def __init__(self, write: Callable[[str], None], live: bool) -> None:
        self._write = write
        self._live = live
        self._lock = threading.Lock()

    def __call__(self, job: str, message: str) -> None:
        with self._lock:
            self._write(f"\r\x1b[K{job}: {message}" if self._live else f"{job}: {message}\n")

    def finish(self) -> None:
        if self._live:
            with self._lock:
                self._write("\r\x1b[K")


def _progress() -> ProgressPrinter:
    import os

    from cronctl.redact import redact

    quiet = bool(os.environ.get("CRONCTL_QUIET"))
    live = sys.stderr.isatty() and not quiet

    def write(text: str) -> None:
        if quiet:
            return
        sys.stderr.write(redact(text))
        sys.stderr.flush()

    return ProgressPrinter(write, live)
