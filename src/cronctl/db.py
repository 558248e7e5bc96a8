"""PostgreSQL connections with the timeouts and read-only default every command relies on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cronctl.errors import CronctlError, PermissionDenied, SourceUnavailable, UsageError

if TYPE_CHECKING:
    import psycopg


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
    fields = dict(item.split("=", 1) for item in dsn.split() if "=" in item)
    return f"{fields.get('host', 'localhost')}:{fields.get('port', '5432')}/{fields.get('dbname', '')}"


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
        raise SourceUnavailable(f"cannot connect to database {describe_target(dsn)}: {first_line(exc)}") from None
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"invalid database URL: {first_line(exc)}") from None
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
