"""Errors that end a command with one line and a documented exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes shared by every command (triage maps errors to its own 0-3 scheme)."""

    OK = 0
    NOT_OK = 1  # the command ran; what it found is not healthy (failed verdict, stale locks, warnings)
    USAGE = 2  # bad option, unknown job, invalid runbook or cron expression
    UNAVAILABLE = 3  # database, Redis or endpoint unreachable; a timeout; a missing table or variable
    PERMISSION = 4  # the connected role may not do this (read-only role, missing grant)
    ABORTED = 5  # a confirmation was declined; nothing was changed


class CronctlError(Exception):
    """A failure to report as one line, without a traceback."""

    exit_code: ExitCode = ExitCode.UNAVAILABLE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(CronctlError):
    exit_code = ExitCode.USAGE


class RunbookError(UsageError):
    """A runbook that cannot be read or does not validate; the message names file and key."""


class UnknownJobError(UsageError):
    pass


class ScheduleError(UsageError):
    pass


class MissingVariableError(CronctlError):
    exit_code = ExitCode.UNAVAILABLE


class SourceUnavailable(CronctlError):
    """A database, Redis, HTTP endpoint, schema or table that cannot be reached or read."""

    exit_code = ExitCode.UNAVAILABLE


class PermissionDenied(CronctlError):
    exit_code = ExitCode.PERMISSION


class Aborted(CronctlError):
    exit_code = ExitCode.ABORTED
