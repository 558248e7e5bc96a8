"""PostgreSQL connections with the timeouts and read-only default every command relies on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cronctl.errors import CronctlError, PermissionDenied, SourceUnavailable, UsageError

if TYPE_CHECKING:
    import psycopg


_on_connect: Callable[[Any], None] | None = None


def set_connect_hook(hook: Callable[[Any], None] | None) -> None:
    """Run `hook(conn)` on every new connection (the runbook's secrets table registers its values for masking)."""
    global _on_connect
    _on_connect = hook


def describe_target(dsn: str) -> str:
    """host:port/dbname without credentials, for messages."""
    if "://" in dsn:
        try:
            parts = urlsplit(dsn)
            host = parts.hostname or "localhost"
            port = f":{parts.port}" if parts.port else ""
            return f"{host}{port}{parts.path or '/'}"
        except ValueError:
            return "(unparseable database URL)"
    if "=" not in dsn:
        return "(unparseable database URL)"
    fields = dict(item.split("=", 1) for item in dsn.split() if "=" in item)
    return f"{fields.get('host', 'localhost')}:{fields.get('port', '5432')}/{fields.get('dbname', '')}"


def scrub(message: str, dsn: str, *, any_part: bool = False) -> str:
    """`message` without the connection string's secrets: libpq quotes the part it could not parse, and that part
    may hold the password. `any_part` hides every quoted piece of the connection string (parse errors); otherwise
    only pieces that hold a password or userinfo are hidden (a host name that does not resolve is worth showing)."""
    from cronctl.redact import redact, url_passwords

    passwords = [p for p in url_passwords(dsn) if len(p) >= 3]

    def hide(match: re.Match[str]) -> str:
        inner = match.group(2)
        secret = "@" in inner or "://" in inner or any(p in inner for p in passwords)
        if len(inner) >= 3 and (secret or (any_part and inner in dsn)):
            return f"{match.group(1)}(part of the URL, not shown){match.group(1)}"
        return match.group(0)

    text = message.replace(dsn, "(the URL)") if len(dsn) >= 3 else message
    return redact(re.sub(r"([\"'])(.*?)\1", hide, text))


def connect(
    dsn: str,
    *,
    read_only: bool = True,
    statement_timeout: float = 5.0,
    connect_timeout: float = 5.0,
    autocommit: bool = False,
) -> psycopg.Connection[Any]:
    """Open a connection; read-only sessions cannot change anything even by mistake."""
    import psycopg

    from cronctl.redact import register_url_password

    register_url_password(dsn)  # also when the URL does not parse: no error line may repeat the password

    options = [
        f"-c statement_timeout={int(statement_timeout * 1000)}",
        f"-c lock_timeout={int(statement_timeout * 1000)}",
        f"-c idle_in_transaction_session_timeout={int(max(statement_timeout * 4, 10) * 1000)}",
    ]
    if read_only:
        options.append("-c default_transaction_read_only=on")
    try:
        conn = psycopg.connect(
            dsn,
            connect_timeout=max(1, round(connect_timeout)),
            application_name="cronctl",
            options=" ".join(options),
            autocommit=autocommit,
        )
    except psycopg.OperationalError as exc:
        reason = scrub(first_line(exc), dsn)
        raise SourceUnavailable(f"cannot connect to database {describe_target(dsn)}: {reason}") from None
    except (psycopg.ProgrammingError, ValueError, TypeError) as exc:
        raise UsageError(f"invalid database URL: {scrub(first_line(exc), dsn, any_part=True)}") from None
    if _on_connect is not None:
        _on_connect(conn)
    return conn


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # libpq puts "connection to server at ... failed:" before the reason; keep the reason.
    if len(lines) > 1 and lines[0].startswith("connection to server"):
        return lines[-1]
    return lines[0].removeprefix("FATAL:").strip() if lines else text


def translate(exc: Exception, what: str) -> CronctlError:
    """A one-line error for a database failure while doing `what`."""
    import psycopg
    from psycopg import errors

    if isinstance(exc, CronctlError):
        return exc
    if isinstance(exc, errors.QueryCanceled):
        return SourceUnavailable(f"{what}: statement timeout ({first_line(exc)})")
    if isinstance(exc, errors.LockNotAvailable):
        return SourceUnavailable(f"{what}: waited too long for a lock ({first_line(exc)})")
    if isinstance(exc, (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)):
        return PermissionDenied(f"{what}: permission denied ({first_line(exc)})")
    if isinstance(
        exc, (errors.UndefinedTable, errors.UndefinedColumn, errors.InvalidSchemaName, errors.UndefinedFunction)
    ):
        return SourceUnavailable(f"{what}: {first_line(exc)}")
    if isinstance(exc, psycopg.OperationalError):
        return SourceUnavailable(f"{what}: database connection lost ({first_line(exc)})")
    if isinstance(exc, psycopg.Error):
        return SourceUnavailable(f"{what}: {first_line(exc)}")
    return SourceUnavailable(f"{what}: {exc}")


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Turn any database exception inside the block into a one-line CronctlError."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, what) from None
